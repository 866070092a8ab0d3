// A run's page: status and times (live), params, tags, a chart per metric (built when scrolled into
// view, downsampled at its pixel width, zoom refetches at full resolution, live points appended from
// a cursor), images, rows and tables, lists, logs with a live tail, files, system metrics, children.

import {runModels} from "./models.js";
import {api, clear, errorBox, fileUrl, fmtBytes, fmtDuration, fmtTime, fmtValue, h, link,
  statusBadge, table, withEmbed} from "./dom.js";
import {lazy} from "./charts.js";
import {MetricCard, ValueCard} from "./metric_card.js";
import {sweepView} from "./sweep.js";
import {keyTable} from "./keys.js";

const SCALAR = new Set(["number", "bool"]);

function section(id, title, ...children) {
  return h("section", {id, class: "section"}, h("h2", null, title), ...children);
}

// A gallery for one image series: the image at the chosen step, a slider over the steps.
class ImageCard {
  constructor(ctx, info) {
    this.ctx = ctx;
    this.info = info;
    this.points = [];
    this.img = h("img", {class: "gallery-img", alt: info.name});
    this.slider = h("input", {type: "range", min: 0, max: 0, value: 0, class: "step-slider", "aria-label": "step"});
    this.label = h("span", {class: "muted small step-label"});
    this.el = h("div", {class: "card image-card", dataset: {series: info.name}},
      h("div", {class: "card-head"}, h("span", {class: "metric-name", title: info.name}, info.name), this.label),
      h("div", {class: "gallery-frame"}, this.img), this.slider);
    this.slider.addEventListener("input", () => this.show(Number(this.slider.value)));
  }

  async load() {
    const data = await api(`runs/${this.ctx.run.id}/series`, {name: this.info.name, offset: this.points.length,
      limit: 5000});
    const atEnd = Number(this.slider.value) >= this.points.length - 1;
    this.points = this.points.concat(data.points);
    this.slider.max = String(Math.max(0, this.points.length - 1));
    this.slider.disabled = this.points.length < 2;
    if (atEnd) this.slider.value = this.slider.max;
    this.show(Number(this.slider.value));
  }

  show(i) {
    const point = this.points[i];
    if (!point) return;
    this.img.src = fileUrl(this.ctx.run.id, String(point.value));
    this.img.title = String(point.value);
    this.label.textContent = `step ${point.step} · ${i + 1}/${this.points.length}`;
  }

  async update(info) {
    const grew = info.count > this.info.count;
    this.info = info;
    if (grew && this.loaded) await this.load();
  }
}

// Rows, tables, lists and strings: HTML tables (reloaded when the series grows).
class DataCard {
  constructor(ctx, info) {
    this.ctx = ctx;
    this.info = info;
    this.body = h("div", {class: "data-body"});
    this.el = h("div", {class: "card data-card", dataset: {series: info.name}},
      h("div", {class: "card-head"}, h("span", {class: "metric-name", title: info.name}, info.name),
        h("span", {class: "muted small"}, `${info.kind} · ${info.count} point${info.count === 1 ? "" : "s"}`)),
      this.body);
  }

  async load() {
    const data = await api(`runs/${this.ctx.run.id}/series`, {name: this.info.name, limit: 5000});
    clear(this.body).append(renderData(this.info.kind, data.points));
  }

  async update(info) {
    const grew = info.count > this.info.count;
    this.info = info;
    if (grew && this.loaded) await this.load();
  }
}

function renderData(kind, points) {
  if (!points.length) return h("p", {class: "muted"}, "No points.");
  if (kind === "row") {
    const cols = [];
    for (const p of points) for (const k of Object.keys(p.value || {})) if (!cols.includes(k)) cols.push(k);
    return table(["step", ...cols], points.map((p) => [String(p.step), ...cols.map((c) => fmtValue((p.value || {})[c]))]));
  }
  if (kind === "table") {
    const holder = h("div");
    const showTable = (p) => {
      const value = p.value || {};
      const cols = Object.keys(value);
      const n = Math.max(0, ...cols.map((c) => (Array.isArray(value[c]) ? value[c].length : 0)));
      const rows = [];
      for (let i = 0; i < n; i++) rows.push(cols.map((c) => fmtValue((value[c] || [])[i])));
      clear(holder).append(table(cols, rows));
    };
    if (points.length === 1) {
      showTable(points[0]);
      return holder;
    }
    const select = h("select", {"aria-label": "step"},
      points.map((p, i) => h("option", {value: String(i), selected: i === points.length - 1}, `step ${p.step}`)));
    select.addEventListener("change", () => showTable(points[Number(select.value)]));
    showTable(points[points.length - 1]);
    return h("div", null, select, holder);
  }
  if (kind === "list") {
    // a list is stored one item a point, at consecutive steps, all with the time it was logged:
    // a row per list logged, its items as values (#19: not a one-item list per item)
    const lists = [];
    for (const p of points) {
      const last = lists[lists.length - 1];
      if (last && last.time === p.time && p.step === last.to + 1) {
        last.to = p.step;
        last.values.push(p.value);
      } else lists.push({from: p.step, to: p.step, time: p.time, values: [p.value]});
    }
    return table(["steps", "values"], lists.map((l) => [l.from === l.to ? String(l.from) : `${l.from}–${l.to}`,
      h("span", {class: "value-list"}, l.values.map(fmtValue).join(", "))]));
  }
  return table(["step", "value"], points.map((p) => [String(p.step), fmtValue(p.value)]));
}

// A log artifact's tail, following it while the run lives.
class LogPanel {
  constructor(ctx, name) {
    this.ctx = ctx;
    this.name = name;
    this.next = null;
    this.pre = h("pre", {class: "log", dataset: {log: name}});
    this.el = h("div", {class: "log-panel"}, h("div", {class: "card-head"}, h("span", {class: "metric-name"}, name),
      h("a", {href: fileUrl(ctx.run.id, name), download: name.split("/").pop()}, "download")), this.pre);
  }

  async tail() {
    let data;
    try {
      data = await api(`runs/${this.ctx.run.id}/log`, {name: this.name, offset: this.next === null ? undefined : this.next});
    } catch (err) {
      if (err.status === 404) return; // not written yet
      throw err;
    }
    const stick = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    if (data.text) {
      this.pre.append(document.createTextNode(data.text));
      // keep the page light on long logs: drop the oldest text past about 256 KB
      while (this.pre.childNodes.length > 1 && this.pre.textContent.length > 262144) this.pre.firstChild.remove();
    }
    this.next = data.next;
    if (stick) this.pre.scrollTop = this.pre.scrollHeight;
  }
}

function isLog(name) {
  return name.startsWith("logs/") && /\.(txt|log)$/i.test(name);
}

export async function runPage(page, root, setCrumbs, runId) {
  const run = await api(`runs/${encodeURIComponent(runId)}`);
  if (run.id !== runId) {  // opened by a unique id prefix: the address shows the whole id
    history.replaceState(history.state, "", withEmbed(`/runs/${encodeURIComponent(run.id)}`) + location.hash);
  }
  setCrumbs([[run.experiment_name, `/experiments/${run.experiment_id}`], [run.name || run.id, null]]);
  const ctx = {run, opts: {x: "step", log: false, smoothing: 0}};
  document.title = `${run.name || run.id} · runlog`;

  // header
  const status = h("span", {id: "run-status"}, statusBadge(run.status));
  const ended = h("span", {id: "run-end"});
  const duration = h("span", {id: "run-duration"});
  const errorEl = h("div", {id: "run-error"});
  const showTimes = () => {
    clear(status).append(statusBadge(run.status));
    ended.textContent = run.end_time ? fmtTime(run.end_time) : "—";
    const dur = run.end_time ? run.end_time - run.start_time
      : run.status === "Running" ? Date.now() / 1000 - run.start_time : run.duration;
    duration.textContent = fmtDuration(dur);
    clear(errorEl);
    if (run.error) errorEl.append(h("pre", {class: "error run-error"}, run.error));
  };
  const meta = h("dl", {class: "meta"},
    h("dt", null, "Started"), h("dd", {id: "run-start"}, fmtTime(run.start_time)),
    h("dt", null, "Ended"), h("dd", null, ended),
    h("dt", null, "Duration"), h("dd", null, duration),
    h("dt", null, "Run id"), h("dd", {class: "mono"}, run.id),
    run.host ? [h("dt", null, "Host"), h("dd", null, `${run.host}${run.pid ? " · pid " + run.pid : ""}`)] : null,
    run.parent_id ? [h("dt", null, "Parent"), h("dd", null, link(`/runs/${run.parent_id}`, run.parent_id))] : null);
  showTimes();

  const series = run.series || [];
  const scalars = series.filter((s) => SCALAR.has(s.kind) && !s.name.startsWith("system/"));
  const system = series.filter((s) => SCALAR.has(s.kind) && s.name.startsWith("system/"));
  const images = series.filter((s) => s.kind === "image");
  const data = series.filter((s) => !SCALAR.has(s.kind) && s.kind !== "image");
  const files = run.files || [];
  const logs = files.filter((f) => isLog(f.name)).map((f) => f.name);

  // chart controls (shared by every chart on the page)
  const xSelect = h("select", {id: "x-axis", "aria-label": "x axis"},
    h("option", {value: "step"}, "Step"), h("option", {value: "time"}, "Wall time"),
    h("option", {value: "relative"}, "Relative time"));
  const logBox = h("input", {type: "checkbox", id: "log-scale"});
  const smooth = h("input", {type: "range", id: "smoothing", min: 0, max: 0.99, step: 0.01, value: 0});
  const smoothLabel = h("span", {class: "muted small mono"}, "0.00");
  const metricSearch = h("input", {type: "search", id: "metric-search", placeholder: `search ${scalars.length} metric${scalars.length === 1 ? "" : "s"}`});
  const controls = h("div", {class: "toolbar chart-controls"},
    h("label", null, "x ", xSelect), h("label", null, logBox, " log scale"),
    h("label", null, "smoothing ", smooth, smoothLabel), h("span", {class: "spacer"}), metricSearch);

  const noMetrics = h("p", {class: "muted"}, "No metrics logged.");
  const cards = new Map();
  const watch = lazy(page, (el) => {
    const card = el.runlogCard;
    if (card instanceof MetricCard) card.create();
    else {
      card.loaded = true;
      card.load().catch((err) => card.el.append(errorBox(err)));
    }
  });
  page.onLeave(() => cards.forEach((c) => c.destroy && c.destroy()));
  const addCard = (grid, card) => {
    card.el.runlogCard = card;
    if (grid.parentNode) grid.parentNode.classList.remove("hidden");
    if (grid === metricGrid) noMetrics.remove();
    cards.set(card.info.name, card);
    grid.append(card.el);
    watch(card.el);
  };

  const metricGrid = h("div", {class: "cards", id: "metrics"});
  const systemGrid = h("div", {class: "cards", id: "system-metrics"});
  const imageGrid = h("div", {class: "cards", id: "images"});
  const dataGrid = h("div", {class: "cards wide", id: "data"});
  // a finished run's single-valued metrics (a search's best score, a test loss) need no chart
  const single = (s) => run.status !== "Running" && s.count === 1;
  const valueGrid = h("div", {class: "values", id: "values"});
  for (const s of scalars) {
    if (single(s)) {
      const card = new ValueCard(ctx, s);
      cards.set(s.name, card);
      valueGrid.append(card.el);
    } else addCard(metricGrid, new MetricCard(ctx, s));
  }
  system.forEach((s) => addCard(systemGrid, new MetricCard(ctx, s)));
  images.forEach((s) => addCard(imageGrid, new ImageCard(ctx, s)));
  data.forEach((s) => addCard(dataGrid, new DataCard(ctx, s)));

  const each = (fn) => cards.forEach((c) => c instanceof MetricCard && fn(c));
  xSelect.addEventListener("change", () => {
    ctx.opts.x = xSelect.value;
    each((c) => c.setOptions(true));
  });
  logBox.addEventListener("change", () => {
    ctx.opts.log = logBox.checked;
    each((c) => c.setOptions(false));
  });
  smooth.addEventListener("input", () => {
    ctx.opts.smoothing = Number(smooth.value);
    smoothLabel.textContent = ctx.opts.smoothing.toFixed(2);
    each((c) => c.setOptions(false));
  });
  metricSearch.addEventListener("input", () => {
    const q = metricSearch.value.trim().toLowerCase();
    for (const el of [...valueGrid.children, ...metricGrid.children]) el.classList.toggle("hidden", !!q && !el.dataset.metric.toLowerCase().includes(q));
  });

  const filesBody = h("tbody");
  const noFiles = h("p", {class: "muted"}, "No files.");
  const renderFiles = (list) => {
    noFiles.classList.toggle("hidden", list.length > 0);
    if (filesBody.parentNode) filesBody.parentNode.classList.toggle("hidden", !list.length);
    clear(filesBody);
    for (const f of list) {
      filesBody.append(h("tr", null,
        h("td", null, h("a", {href: fileUrl(run.id, f.name), download: f.name.split("/").pop(), class: "file-link"}, f.name)),
        h("td", {class: "num"}, fmtBytes(f.size)), h("td", null, fmtTime(f.time))));
    }
  };

  const logPanels = logs.map((name) => new LogPanel(ctx, name));
  const childrenEl = h("div", {id: "children"});

  const optional = (id, title, grid, list) => {
    const el = section(id, title, grid);
    if (!list.length) el.classList.add("hidden");
    return el;
  };
  clear(root);
  root.append(
    h("div", {class: "page-head"}, h("h1", {id: "run-name"}, run.name || run.id), status,
      run.deleted_time ? h("span", {id: "run-deleted", class: "status"}, `Deleted ${fmtTime(run.deleted_time)}`) : null),
    meta, errorEl,
    h("div", {class: "two-col"}, section("params", "Params", keyTable(run, "params")),
      section("tags", "Tags", keyTable(run, "tags"))),
    section("metrics-section", "Metrics", scalars.length ? null : noMetrics, valueGrid, controls, metricGrid),
    optional("images-section", "Images", imageGrid, images),
    optional("data-section", "Tables, rows and lists", dataGrid, data),
    optional("logs", "Logs", logPanels.map((p) => p.el), logPanels),
    section("files", "Files", h("table", {class: "grid", id: "files-table"},
      h("thead", null, h("tr", null, h("th", null, "Name"), h("th", {class: "num"}, "Size"), h("th", null, "Time"))),
      filesBody), noFiles),
    optional("system", "System metrics", systemGrid, system),
    runModels(run.id));
  renderFiles(files);
  if (run.children && run.children.length) root.append(section("children-section", `Children (${run.children.length})`, childrenEl));

  if (run.children && run.children.length) {
    // the plain list, until (unless) the sweep view with each child's score and params replaces it
    const plain = table(["Status", "Name"], run.children.map((c) => [statusBadge(c.status), link(`/runs/${c.id}`, c.name || c.id)]),
      {class: "grid", id: "children-table"});
    childrenEl.append(plain);
    sweepView(page, run).then((el) => {
      if (!el) return;
      plain.remove();
      childrenEl.append(el);
    }).catch((err) => childrenEl.append(errorBox(err)));
  }

  await Promise.all(logPanels.map((p) => p.tail().catch((err) => p.el.append(errorBox(err)))));

  if (run.status !== "Running") return;

  // Live: about once a second, status, times and each series' count; new points only.
  let fileCount = files.length;
  let polls = 0;
  page.poll(async () => {
    const live = await api(`runs/${run.id}/live`);
    Object.assign(run, {status: live.status, end_time: live.end_time, heartbeat: live.heartbeat});
    if (live.error !== undefined) run.error = live.error;
    showTimes();
    const updates = [];
    for (const info of live.series || []) {
      const card = cards.get(info.name);
      if (card) updates.push(card.update(info));
      else {
        const kind = info.kind || "number";
        if (SCALAR.has(kind)) addCard(info.name.startsWith("system/") ? systemGrid : metricGrid, new MetricCard(ctx, info));
        else if (kind === "image") addCard(imageGrid, new ImageCard(ctx, info));
        else addCard(dataGrid, new DataCard(ctx, info));
      }
    }
    updates.push(...logPanels.map((p) => p.tail()));
    polls += 1;
    // a new file shows at once; sizes of growing ones (logs) every few seconds
    if (typeof live.files === "number" && (live.files !== fileCount || polls % 5 === 0)) {
      fileCount = live.files;
      updates.push(api(`runs/${run.id}`).then((full) => {
        renderFiles(full.files || []);
        for (const f of full.files || []) {
          if (isLog(f.name) && !logPanels.some((p) => p.name === f.name)) {
            const panel = new LogPanel(ctx, f.name);
            logPanels.push(panel);
            const logsSection = root.querySelector("#logs");
            logsSection.classList.remove("hidden");
            logsSection.append(panel.el);
            updates.push(panel.tail());
          }
        }
      }));
    }
    await Promise.allSettled(updates);
    return run.status === "Running";
  }, 1000);
}

