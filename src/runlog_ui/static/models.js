// The model registry (issue 20): the /models page, and the list of a run's models on its page.

import {api, clear, errorBox, fmtTime, h, link} from "./dom.js";

function modelTable(models, withRun) {
  const body = h("tbody");
  for (const m of models) {
    body.append(h("tr", null,
      h("td", null, m.name), h("td", {class: "num"}, String(m.version)),
      h("td", {class: "mono"}, m.path),
      h("td", {class: "num"}, String(m.files.length)),
      withRun ? h("td", {class: "mono"}, link(`/runs/${encodeURIComponent(m.run_id)}`, m.run_id)) : null,
      h("td", null, Object.entries(m.tags).map(([k, v]) => `${k}=${v}`).join(", ")),
      h("td", null, fmtTime(m.created_time))));
  }
  return h("table", {class: "grid", id: withRun ? "models" : "run-models"},
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", {class: "num"}, "Version"), h("th", null, "Path"),
      h("th", {class: "num"}, "Files"), withRun ? h("th", null, "Run") : null, h("th", null, "Tags"),
      h("th", null, "Registered"))), body);
}

export async function modelsPage(page, root, setCrumbs) {
  setCrumbs([["Models", null]]);
  document.title = "Models · runlog";
  const data = await api("models");
  clear(root).append(h("h1", null, "Models"));
  if (!data.models.length) {
    root.append(h("p", {class: "muted"}, "No registered models: run.register_model(name, model_path) adds one."));
    return;
  }
  root.append(modelTable(data.models, true));
}

// A section listing the run's models; empty (hidden) when it has none.
export function runModels(runId) {
  const el = h("section", {id: "models-section", class: "section", hidden: true});
  api(`runs/${encodeURIComponent(runId)}/models`).then((data) => {
    if (!data.models.length) return;
    el.hidden = false;
    el.append(h("h2", null, `Models (${data.models.length})`), modelTable(data.models, false));
  }).catch((err) => { el.hidden = false; el.append(errorBox(err)); });
  return el;
}
