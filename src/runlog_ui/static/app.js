// The single-page application: routes a path to its page, navigates without reloading.
// Pages: /, /experiments/<id>, /runs/<run id>, /compare?runs=a,b, /models; ?embed=1 hides the top bar.

import {EMBED, Page, clear, errorBox, h, link} from "./dom.js";
import {experimentsPage, runsPage} from "./runs.js";
import {runPage} from "./run.js";
import {comparePage} from "./compare.js";
import {modelsPage} from "./models.js";

const root = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
let current = null;

if (EMBED) document.body.classList.add("embed");

function setCrumbs(items) {
  clear(crumbs);
  for (const [label, href] of items) {
    crumbs.append(h("span", {class: "sep"}, "/"), href ? link(href, label) : h("span", null, label));
  }
}

async function route() {
  if (current) current.leave();
  const page = new Page();
  current = page;
  document.title = "runlog";
  const path = decodeURIComponent(location.pathname).replace(/\/+$/, "") || "/";
  let m;
  try {
    if (path === "/") await experimentsPage(page, root, setCrumbs);
    else if ((m = path.match(/^\/experiments\/([^/]+)$/))) await runsPage(page, root, setCrumbs, m[1]);
    else if ((m = path.match(/^\/runs\/([^/]+)$/))) await runPage(page, root, setCrumbs, m[1]);
    else if (path === "/compare") await comparePage(page, root, setCrumbs);
    else if (path === "/models") await modelsPage(page, root, setCrumbs);
    else {
      setCrumbs([]);
      clear(root).append(h("h1", null, "Not found"), h("p", null, "No page at ", h("code", null, path), ". ",
        link("/", "Experiments")));
    }
  } catch (err) {
    if (page !== current) return;
    console.error(err);
    clear(root).append(h("h1", null, err.status === 404 ? "Not found" : "Something went wrong"), errorBox(err));
  }
  root.dataset.ready = "1";
}

function navigate(href) {
  history.pushState(null, "", href);
  delete root.dataset.ready;
  window.scrollTo(0, 0);
  route();
}
window.runlogNavigate = navigate;

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);

route();
