// Comparing runs: a params/metrics table highlighting what differs, a chart per metric with a line
// per run, and for a sweep parent its children's scores against their params.

import {api, clear, errorBox, fmtValue, h, link, statusBadge} from "./dom.js";
import {LineChart, PALETTE, joinSeries, lazy, toNumbers} from "./charts.js";
import {sweepView} from "./sweep.js";

export async function comparePage(page, root, setCrumbs) {
  const ids = (new URLSearchParams(location.search).get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean);
  setCrumbs([["Compare", null]]);
  clear(root);
  if (ids.length === 1) {
    const run = await api(`runs/${encodeURIComponent(ids[0])}`);
    setCrumbs([[run.experiment_name, `/experiments/${run.experiment_id}`], ["Sweep " + (run.name || run.id), null]]);
    root.append(h("div", {class: "page-head"}, h("h1", null, link(`/runs/${run.id}`, run.name || run.id)),
      statusBadge(run.status)));
    const view = run.children && run.children.length ? await sweepView(page, run) : null;
    root.append(view || h("p", {class: "muted"}, "Pick at least two runs to compare (or a run with children)."));
    return;
  }
  const data = await api("compare", {runs: ids.join(",")});
  const runs = data.runs;
  const first = runs[0];
  if (first && first.experiment_id !== undefined) {
    setCrumbs([[first.experiment_name || "experiment", `/experiments/${first.experiment_id}`], ["Compare", null]]);
  }
  const names = runs.map((r) => r.name || r.id);
  const differs = {params: new Set(data.differs.params), metrics: new Set(data.differs.metrics)};
  // a page of keys at a time, in the server's order (runs with millions of params: #24)
  const next = {params: data.params_next ?? null, metrics: data.metrics_next ?? null};
  const totals = {params: data.params_totals || [], metrics: data.metrics_totals || []};

  const onlyDiff = h("input", {type: "checkbox", id: "only-differences"});
  const diffBody = h("tbody");
  const problems = h("div");
  let addCharts = () => {};
  const more = async (ns) => {
    try {
      const page = await api("compare", {runs: ids.join(","), part: ns, [`${ns}_after`]: next[ns]});
      Object.assign(data[ns], page[ns]);
      if (page.metrics_points) Object.assign(points, page.metrics_points);
      page.differs[ns].forEach((k) => differs[ns].add(k));
      next[ns] = page[`${ns}_next`] ?? null;
      renderDiff();
      if (ns === "metrics") addCharts();
    } catch (err) {
      clear(problems).append(errorBox(err));
    }
  };
  const renderDiff = () => {
    clear(diffBody);
    for (const ns of ["params", "metrics"]) {
      const keys = Object.keys(data[ns] || {});
      const shown = keys.filter((k) => !onlyDiff.checked || differs[ns].has(k));
      const most = Math.max(0, ...totals[ns]);
      const of = next[ns] !== null && most > keys.length ? ` (the first ${keys.length.toLocaleString()} of up to ${most.toLocaleString()})` : "";
      diffBody.append(h("tr", {class: "group"}, h("th", {colspan: runs.length + 1},
        `${ns === "params" ? "Params" : "Metrics (latest)"} · ${differs[ns].size} of ${keys.length} differ${of}`)));
      for (const key of shown) {
        const diff = differs[ns].has(key);
        diffBody.append(h("tr", {class: diff ? "differs" : "same", dataset: {key: `${ns}.${key}`}},
          h("th", null, key), data[ns][key].map((v) => h("td", null,
            v === null ? h("span", {class: "muted"}, "—") : fmtValue(v)))));
      }
      if (next[ns] !== null) {
        diffBody.append(h("tr", {class: "more-row"}, h("td", {colspan: runs.length + 1},
          h("button", {type: "button", id: `compare-${ns}-more`, class: "more", onclick: () => more(ns)},
            `Show more ${ns}`))));
      }
    }
  };
  onlyDiff.addEventListener("change", renderDiff);
  renderDiff();

  // charts: one per metric, a line per run
  const opts = {x: "step", log: false, smoothing: 0};
  const xSelect = h("select", {id: "x-axis", "aria-label": "x axis"}, h("option", {value: "step"}, "Step"),
    h("option", {value: "time"}, "Wall time"), h("option", {value: "relative"}, "Relative time"));
  const logBox = h("input", {type: "checkbox", id: "log-scale"});
  const smooth = h("input", {type: "range", id: "smoothing", min: 0, max: 0.99, step: 0.01, value: 0});
  // a chart for a series; a metric with a single value in every run is its row of the table only (#19)
  const points = data.metrics_points || {};
  const chartable = (m) => (data.metrics[m] || []).some((v) => v !== null &&
    (typeof v === "number" || typeof v === "boolean" || ["NaN", "Infinity", "-Infinity"].includes(v))) &&
    (points[m] || [2]).some((n) => n !== null && n > 1);
  const metricNames = Object.keys(data.metrics || {}).filter(chartable);
  const grid = h("div", {class: "cards", id: "compare-charts"});
  const lines = runs.map((r, i) => ({label: names[i], color: PALETTE[i % PALETTE.length]}));
  const cards = [];

  const load = async (card) => {
    const xParam = opts.x === "step" ? "step" : "time";
    const res = await api("compare/metric", {runs: ids.join(","), name: card.name, x: xParam, width: card.chart.width(),
      start: card.zoom ? card.zoom.start : undefined, end: card.zoom ? card.zoom.end : undefined});
    const byRun = new Map(res.series.map((s) => [s.run, s]));
    const list = runs.map((r) => {
      const s = byRun.get(r.id) || {x: [], y: []};
      const shift = opts.x === "relative" ? r.start_time || 0 : 0;
      return {x: shift ? s.x.map((x) => x - shift) : s.x, y: toNumbers(s.y)};
    });
    const joined = joinSeries(list);
    card.chart.setData(joined.xs, joined.ys);
  };
  const watch = lazy(page, (el) => {
    const card = el.compareCard;
    card.chart = new LineChart(card.chartEl, {lines, xMode: opts.x, log: opts.log, smoothing: opts.smoothing,
      onZoom: opts.x === "relative" ? null : (min, max) => {
        card.zoom = {start: min, end: max};
        load(card).catch((err) => card.el.append(errorBox(err)));
      },
      onReset: () => {
        card.zoom = null;
        load(card).catch((err) => card.el.append(errorBox(err)));
      }});
    load(card).catch((err) => card.el.append(errorBox(err)));
  });
  const curvesTitle = h("h2", null, `Metrics (${metricNames.length})`);
  const addCard = (name) => {
    const chartEl = h("div", {class: "chart"});
    // ⤢: the chart the grid's whole width, drawn again at that width (#19)
    const widen = h("button", {type: "button", class: "widen", title: "widen the chart", "aria-label": "widen the chart",
      "aria-pressed": "false", onclick: () => {
        const wide = !el.classList.contains("wide-card");
        el.classList.toggle("wide-card", wide);
        widen.setAttribute("aria-pressed", String(wide));
        if (!card.chart) return;
        card.chart.setHeight(wide ? 360 : 190);
        load(card).catch((err) => card.el.append(errorBox(err)));
      }}, "⤢");
    const el = h("div", {class: "card metric-card", dataset: {metric: name}},
      h("div", {class: "card-head"}, h("span", {class: "metric-name", title: name}, name), widen), chartEl);
    const card = {name, el, chartEl, chart: null, zoom: null};
    el.compareCard = card;
    cards.push(card);
    grid.append(el);
    watch(el);
  };
  metricNames.forEach(addCard);
  addCharts = () => {
    const have = new Set(cards.map((c) => c.name));
    Object.keys(data.metrics).filter((m) => !have.has(m) && chartable(m)).forEach(addCard);
    curvesTitle.textContent = `Metrics (${cards.length})`;
  };
  page.onLeave(() => cards.forEach((c) => c.chart && c.chart.destroy()));
  const applyAll = (refetch) => cards.forEach((c) => {
    if (!c.chart) return;
    c.chart.setOptions({xMode: opts.x, log: opts.log, smoothing: opts.smoothing});
    if (refetch) {
      c.zoom = null;
      load(c).catch((err) => c.el.append(errorBox(err)));
    }
  });
  xSelect.addEventListener("change", () => {
    opts.x = xSelect.value;
    applyAll(true);
  });
  logBox.addEventListener("change", () => {
    opts.log = logBox.checked;
    applyAll(false);
  });
  smooth.addEventListener("input", () => {
    opts.smoothing = Number(smooth.value);
    applyAll(false);
  });

  const legend = h("div", {class: "run-legend"}, runs.map((r, i) => h("span", {class: "legend-item"},
    h("span", {class: "swatch swatch-" + (i % PALETTE.length)}), link(`/runs/${r.id}`, names[i]), " ",
    statusBadge(r.status))));

  root.append(
    h("div", {class: "page-head"}, h("h1", null, `Compare ${runs.length} runs`)), legend,
    h("section", {class: "section", id: "diff"}, h("h2", null, "Params and metrics"),
      h("div", {class: "toolbar"}, h("label", null, onlyDiff, " only what differs")),
      h("div", {class: "table-wrap"}, h("table", {class: "grid diff", id: "diff-table"},
        h("thead", null, h("tr", null, h("th", null, ""), names.map((n) => h("th", null, n)))), diffBody)), problems),
    h("section", {class: "section", id: "curves"}, curvesTitle,
      h("div", {class: "toolbar chart-controls"}, h("label", null, "x ", xSelect), h("label", null, logBox, " log scale"),
        h("label", null, "smoothing ", smooth)), grid));

  for (const r of runs) {
    if (r.children) {
      const full = await api(`runs/${encodeURIComponent(r.id)}`);
      const view = await sweepView(page, full);
      if (view) root.append(h("section", {class: "section"}, h("h2", null, `Sweep: ${names[runs.indexOf(r)]}`), view));
    }
  }
}
