// A metric's card on the run page: its name, latest value and chart (built when scrolled into view,
// downsampled at its pixel width, zoom refetches at full resolution, live points appended from a
// cursor, widened on request); a resumed run's chart draws each step's latest pass, marks where the
// run began again and draws the earlier pass on request (#19). A single value: a line, no chart.

import {api, errorBox, fmtNum, h} from "./dom.js";
import {LineChart, joinSeries, toNumbers} from "./charts.js";

const LINE = {label: "", color: "#2563eb"};
const EARLIER = {label: "earlier pass", color: "#9ca3af", width: 1, dash: [4, 3]};

// One metric's card: its name, latest value and chart (created when first visible).
export class MetricCard {
  constructor(ctx, info) {
    this.ctx = ctx;
    this.info = info;
    this.chart = null;
    this.cursor = 0;
    this.zoom = null;
    this.busy = false;
    this.resumed = [];  // where a resumed run went back in steps and logged them again (#19)
    this.latest = h("span", {class: "latest"});
    this.chartEl = h("div", {class: "chart"});
    // a resumed run's earlier pass, on request: shown only when the series has one
    this.earlierBox = h("input", {type: "checkbox", class: "earlier-toggle"});
    this.earlierBox.addEventListener("change", () => {
      if (!this.chart) return;
      this.chart.setLines(this.lines());
      this.load();
    });
    this.resumeNote = h("label", {class: "resume-note hidden", title: "the run was resumed and logged these steps again"},
      h("span", {class: "resume-text"}), this.earlierBox, " earlier pass");
    this.widen = h("button", {type: "button", class: "widen", title: "widen the chart", "aria-label": "widen the chart",
      "aria-pressed": "false", onclick: () => this.toggleWide()}, "⤢");
    this.el = h("div", {class: "card metric-card", dataset: {metric: info.name}},
      h("div", {class: "card-head"}, h("span", {class: "metric-name", title: info.name}, info.name), this.resumeNote,
        h("span", {class: "head-right"}, this.latest, this.widen)),
      this.chartEl);
    this.el.runlogCard = this;
    this.showLatest();
  }

  showLatest() {
    this.latest.textContent = fmtNum(this.info.last_value);
    this.latest.title = `step ${this.info.last_step}, ${this.info.count} points`;
  }

  xParam() {
    return this.ctx.opts.x === "step" ? "step" : "time";
  }

  shiftX(xs) {
    if (this.ctx.opts.x !== "relative") return xs;
    const t0 = this.ctx.run.start_time;
    return xs.map((x) => x - t0);
  }

  lines() {
    const line = {...LINE, label: this.info.name};
    return this.earlierBox.checked && this.resumed.length ? [line, EARLIER] : [line];
  }

  // a chart the whole width of the grid and taller, drawn again at its new width (or back)
  toggleWide() {
    const wide = !this.el.classList.contains("wide-card");
    this.el.classList.toggle("wide-card", wide);
    this.widen.setAttribute("aria-pressed", String(wide));
    this.widen.title = wide ? "back to the grid" : "widen the chart";
    if (!this.chart) return;
    this.chart.setHeight(wide ? 360 : 190);
    this.load();
  }

  marks() {
    const mode = this.ctx.opts.x;
    const t0 = this.ctx.run.start_time;
    return this.resumed.map((r) => ({label: "resumed", x: mode === "step" ? r.step : mode === "time" ? r.time : r.time - t0}));
  }

  showResumed(resumed) {
    this.resumed = resumed || [];
    this.el.dataset.resumed = this.resumed.map((r) => r.step).join(",");
    this.resumeNote.classList.toggle("hidden", !this.resumed.length);
    this.resumeNote.querySelector(".resume-text").textContent = this.resumed.length
      ? `resumed at step ${this.resumed.map((r) => r.step).join(", ")} ·` : "";
    if (this.chart) this.chart.setMarks(this.marks());
  }

  create() {
    const {opts} = this.ctx;
    this.chart = new LineChart(this.chartEl, {
      lines: this.lines(), xMode: opts.x, log: opts.log, smoothing: opts.smoothing,
      onZoom: (min, max) => {
        const shift = opts.x === "relative" ? this.ctx.run.start_time : 0;
        this.zoom = {start: min + shift, end: max + shift};
        this.load();
      },
      onReset: () => {
        this.zoom = null;
        this.load();
      },
    });
    return this.load();
  }

  async load() {
    this.busy = true;
    // answers can arrive out of order (x switched twice quickly): only the latest request's is drawn
    const request = (this.requests = (this.requests || 0) + 1);
    try {
      const earlier = this.earlierBox.checked;
      const data = await api(`runs/${this.ctx.run.id}/metric`, {
        name: this.info.name, x: this.xParam(), width: this.chart.width(), earlier: earlier ? 1 : undefined,
        start: this.zoom ? this.zoom.start : undefined, end: this.zoom ? this.zoom.end : undefined});
      if (!this.chart || request !== this.requests) return;
      this.cursor = data.cursor;
      const had = this.resumed.length;
      this.showResumed(data.resumed);
      if (!!had !== !!this.resumed.length && earlier) this.chart.setLines(this.lines());
      if (this.chart.lines.length > 1) {
        const old = data.earlier || {x: [], y: []};
        const joined = joinSeries([{x: this.shiftX(data.x), y: toNumbers(data.y)}, {x: this.shiftX(old.x), y: toNumbers(old.y)}]);
        this.chart.setData(joined.xs, joined.ys);
        this.el.dataset.earlierPoints = String(old.x.length);
      } else {
        this.chart.setData(this.shiftX(data.x), [toNumbers(data.y)]);
        delete this.el.dataset.earlierPoints;
      }
      this.el.classList.toggle("zoomed", !!this.zoom);
      this.el.dataset.points = String(data.x.length);
      this.el.dataset.x = this.ctx.opts.x;  // what the drawn data's x is (step, time or relative)
    } catch (err) {
      this.chartEl.append(errorBox(err));
    } finally {
      if (request === this.requests) this.busy = false;
    }
  }

  // Live: only the points after the cursor are fetched and appended.
  async update(info) {
    this.info = info;
    this.showLatest();
    if (!this.chart || this.busy || this.zoom || info.count <= this.cursor) return;
    this.busy = true;
    try {
      const data = await api(`runs/${this.ctx.run.id}/metric`, {name: info.name, x: this.xParam(), since: this.cursor});
      if (!this.chart) return;
      if (data.reload || this.chart.lines.length > 1) {  // the run went back in steps: draw it all again
        this.busy = false;
        await this.load();
        return;
      }
      this.cursor = data.cursor;
      this.chart.appendPoints(this.shiftX(data.x), [toNumbers(data.y)]);
      this.el.dataset.points = String(this.chart.xs.length);
    } finally {
      this.busy = false;
    }
  }

  setOptions(changedX) {
    if (!this.chart) return;
    const {opts} = this.ctx;
    this.chart.setOptions({xMode: opts.x, log: opts.log, smoothing: opts.smoothing});
    this.chart.setMarks(this.marks());
    if (changedX) {
      this.zoom = null;
      this.load();
    }
  }

  destroy() {
    if (this.chart) this.chart.destroy();
    this.chart = null;
  }
}

// A metric of a finished run with a single value: a line in a compact grid, no chart.
export class ValueCard {
  constructor(ctx, info) {
    this.info = info;
    this.latest = h("span", {class: "latest"}, fmtNum(info.last_value));
    this.el = h("div", {class: "metric-card value-card", dataset: {metric: info.name}, title: `step ${info.last_step}`},
      h("span", {class: "metric-name", title: info.name}, info.name), this.latest);
  }

  update(info) {
    this.info = info;
    this.latest.textContent = fmtNum(info.last_value);
  }
}
