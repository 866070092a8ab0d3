// A sweep or search parent: its children's scores against their params, as a table sorted by a
// chosen metric, a scatter of a chosen param against a chosen metric, and parallel coordinates of
// every param against the objective. The objective and its direction are the parent's tags
// runlog.sweep.primary_metric and runlog.sweep.goal when it has them (Optuna, Ray Tune, HyperDrive,
// scikit-learn searches set them), else guessed from the metrics' names.

import {api, clear, fmtValue, h, link, num, statusBadge, withEmbed} from "./dom.js";
import {LineChart} from "./charts.js";
import {parallelCoordinates} from "./parallel.js";

const MAX_KEYS = 40;
const PRIMARY = "runlog.sweep.primary_metric";
const GOAL = "runlog.sweep.goal";

async function sweepTags(parent) {
  const tags = parent.tags || {};
  if (tags[PRIMARY] !== undefined || parent.tags_next === null) return tags;
  return (await api(`runs/${encodeURIComponent(parent.id)}/tags`, {q: "runlog.sweep."})).tags || {};
}

export async function sweepView(page, parent) {
  const eid = parent.experiment_id;
  const [keys, tags] = await Promise.all([api(`experiments/${eid}/keys`, {limit: 200}), sweepTags(parent)]);
  const primary = tags[PRIMARY] !== undefined && tags[PRIMARY] !== null ? String(tags[PRIMARY]) : null;
  const goal = ["maximize", "minimize"].includes(String(tags[GOAL]).toLowerCase()) ? String(tags[GOAL]).toLowerCase() : null;
  const metricKeys = (keys.metrics || []).slice(0, MAX_KEYS);
  if (primary && !metricKeys.includes(primary)) metricKeys.unshift(primary);
  const columns = [...metricKeys.map((k) => "metrics." + k),
    ...(keys.params || []).slice(0, MAX_KEYS).map((k) => "params." + k)];
  const data = await api(`experiments/${eid}/runs`, {parent: parent.id, columns: columns.join(","), limit: 1000});
  const kids = data.runs;
  if (!kids.length) return null;
  const present = (ns) => {
    const seen = new Set();
    for (const r of kids) for (const k of Object.keys(r[ns] || {})) seen.add(k);
    return [...seen].sort();
  };
  const metrics = present("metrics");
  const params = present("params");
  if (!metrics.length) return null;

  const guessed = metrics.find((m) => /score|acc|auc|f1|r2/i.test(m) && !/std|time|rank/i.test(m)) || metrics[0];
  const preferred = primary && metrics.includes(primary) ? primary : guessed;
  const scoreSelect = h("select", {id: "sweep-score", "aria-label": "score"},
    metrics.map((m) => h("option", {value: m, selected: m === preferred}, m)));
  const order = h("select", {id: "sweep-order", "aria-label": "order"},
    h("option", {value: "desc"}, "highest first"), h("option", {value: "asc"}, "lowest first"));
  if (preferred === primary && goal) order.value = goal === "minimize" ? "asc" : "desc";
  else if (/loss|err|rmse|mae|mse/i.test(preferred)) order.value = "asc";
  const xSelect = h("select", {id: "sweep-param", "aria-label": "param"}, params.map((p) => h("option", {value: p}, p)));
  const ySelect = h("select", {id: "sweep-metric", "aria-label": "metric"},
    metrics.map((m) => h("option", {value: m, selected: m === preferred}, m)));
  const tableHolder = h("div", {class: "table-wrap"});
  const chartEl = h("div", {class: "chart scatter"});
  const parallelHolder = h("div", {class: "parallel-wrap"});
  let chart = null;
  let parallel = null;
  page.onLeave(() => {
    if (chart) chart.destroy();
    if (parallel) parallel.runlogDestroy();
  });

  // params against the objective: the score chosen above, in the direction chosen above
  const renderParallel = () => {
    if (parallel) parallel.runlogDestroy();
    parallel = parallelCoordinates(kids, params, scoreSelect.value, order.value === "asc" ? "minimize" : "maximize",
      (run) => window.runlogNavigate(withEmbed(`/runs/${run.id}`)));
    clear(parallelHolder).append(parallel);
  };

  const renderTable = () => {
    const score = scoreSelect.value;
    const sign = order.value === "asc" ? 1 : -1;
    const val = (r) => {
      const v = num((r.metrics || {})[score]);
      return v === null || Number.isNaN(v) ? null : v;
    };
    const sorted = [...kids].sort((a, b) => {
      const va = val(a), vb = val(b);
      if (va === null) return 1;
      if (vb === null) return -1;
      return sign * (va - vb);
    });
    const head = h("tr", null, h("th", null, "#"), h("th", null, "Status"), h("th", null, "Run"),
      h("th", {class: "num sorted"}, score), params.map((p) => h("th", null, p)));
    const rows = sorted.map((r, i) => h("tr", null, h("td", {class: "num muted"}, String(i + 1)),
      h("td", null, statusBadge(r.status)), h("td", null, link(`/runs/${r.id}`, r.name || r.id)),
      h("td", {class: "num"}, fmtValue((r.metrics || {})[score])),
      params.map((p) => h("td", null, fmtValue((r.params || {})[p])))));
    clear(tableHolder).append(h("table", {class: "grid", id: "sweep-table"}, h("thead", null, head), h("tbody", null, rows)));
  };

  const renderScatter = () => {
    if (!params.length) return;
    const px = xSelect.value, my = ySelect.value;
    const rawX = kids.map((r) => (r.params || {})[px]);
    const numeric = rawX.every((v) => v === null || v === undefined || num(v) !== null || !Number.isNaN(Number(v)));
    let categories = null;
    let xs;
    if (numeric) xs = rawX.map((v) => (v === null || v === undefined ? null : Number(v)));
    else {
      categories = [...new Set(rawX.map((v) => fmtValue(v)))].sort();
      xs = rawX.map((v) => categories.indexOf(fmtValue(v)));
    }
    const positive = xs.filter((x) => x !== null && Number.isFinite(x));
    const logX = !categories && positive.length > 1 && positive.every((x) => x > 0) &&
      Math.max(...positive) / Math.min(...positive) >= 100;
    const pts = kids.map((r, i) => [xs[i], num((r.metrics || {})[my])])
      .filter(([x, y]) => x !== null && y !== null && Number.isFinite(x) && Number.isFinite(y))
      .sort((a, b) => a[0] - b[0]);
    if (chart) chart.destroy();
    clear(chartEl);
    chart = new LineChart(chartEl, {lines: [{label: my, color: "#9333ea"}], points: true, height: 240,
      xLabels: categories, logX, xName: px + (logX ? " (log)" : "")});
    chart.setData(pts.map((p) => p[0]), [pts.map((p) => p[1])]);
  };

  scoreSelect.addEventListener("change", () => {
    renderTable();
    renderParallel();
  });
  order.addEventListener("change", () => {
    renderTable();
    renderParallel();
  });
  xSelect.addEventListener("change", renderScatter);
  ySelect.addEventListener("change", renderScatter);

  const objective = primary ? h("span", {class: "muted small", id: "sweep-objective"},
    `objective: ${primary}${goal ? ` (${goal})` : ""}`) : null;
  const el = h("div", {class: "sweep", id: "sweep"},
    h("h3", null, `Children by score (${kids.length})`),
    h("div", {class: "toolbar"}, h("label", null, "score ", scoreSelect), order, objective),
    tableHolder,
    params.length ? [h("h3", null, "Params against the score"), parallelHolder,
      h("h3", null, "Param against metric"),
      h("div", {class: "toolbar"}, h("label", null, "x: param ", xSelect), h("label", null, "y: metric ", ySelect)),
      chartEl] : null);
  renderTable();
  if (params.length) renderParallel();
  // the scatter needs its width: draw it once the view is in the document
  requestAnimationFrame(() => requestAnimationFrame(renderScatter));
  return el;
}
