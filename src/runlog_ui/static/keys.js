// A run's params or tags, a page at a time: the first page comes with the run, "Show more" loads the
// next one after the last key shown, and the filter asks the server for the keys containing a text.
// A run with millions of params shows its first 200 at once instead of never (#24).

import {api, clear, debounce, errorBox, fmtValue, h} from "./dom.js";

const PAGE = 200;

// run: the run's JSON (run.params, run.params_total, run.params_next); namespace: "params" or "tags".
export function keyTable(run, namespace) {
  const body = h("tbody");
  const table = h("table", {class: "grid kv", id: `${namespace}-table`}, body);
  const none = h("p", {class: "muted"}, "None.");
  const count = h("span", {class: "muted small", id: `${namespace}-count`});
  const more = h("button", {type: "button", id: `${namespace}-more`, class: "more"}, "Show more");
  const filter = h("input", {type: "search", id: `${namespace}-filter`, class: "key-filter",
    placeholder: `filter ${namespace}`, "aria-label": `filter ${namespace}`});
  const problems = h("div");
  const state = {shown: 0, total: 0, next: null, query: "", loading: false};

  const show = (values, total, next) => {
    for (const [key, value] of Object.entries(values || {})) {
      body.append(h("tr", null, h("th", null, key), h("td", null, fmtValue(value))));
      state.shown += 1;
    }
    state.total = total;
    state.next = next;
    table.classList.toggle("hidden", state.shown === 0);
    none.classList.toggle("hidden", state.shown > 0);
    none.textContent = state.query ? "No key contains that." : "None.";
    count.textContent = state.total > state.shown ? `${state.shown.toLocaleString()} of ${state.total.toLocaleString()}` : "";
    more.classList.toggle("hidden", next === null || next === undefined);
  };

  const load = async (fresh) => {
    if (state.loading && !fresh) return;
    state.loading = true;
    more.disabled = true;
    const query = state.query;
    try {
      const data = await api(`runs/${encodeURIComponent(run.id)}/${namespace}`,
        {after: fresh ? undefined : state.next, limit: PAGE, q: query});
      if (query !== state.query) return; // a newer filter was typed meanwhile
      if (fresh) {
        clear(body);
        state.shown = 0;
      }
      show(data[namespace], data.total, data.next);
    } catch (err) {
      clear(problems).append(errorBox(err));
    } finally {
      state.loading = false;
      more.disabled = false;
    }
  };

  more.addEventListener("click", () => load(false));
  filter.addEventListener("input", debounce(() => {
    state.query = filter.value;
    load(true);
  }, 250));

  show(run[namespace], run[`${namespace}_total`] ?? Object.keys(run[namespace] || {}).length, run[`${namespace}_next`] ?? null);
  // a filter box only where there is something to look through
  const tools = state.total > PAGE ? h("div", {class: "toolbar"}, filter, count) : h("div", {class: "toolbar"}, count);
  return h("div", {class: "key-table"}, tools, none, table, more, problems);
}
