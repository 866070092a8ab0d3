// uPlot charts: one line chart per metric (or one per metric with a line per run when comparing),
// x as step, wall time or time since the run started, log scale, EMA smoothing, drag-to-zoom.

import {fmtNum, finite} from "./dom.js";

const uPlot = window.uPlot;

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777",
  "#65a30d", "#4f46e5", "#b45309", "#0d9488", "#7c3aed", "#e11d48", "#0284c7", "#ca8a04", "#475569"];

// Exponential moving average, debiased like TensorBoard's, skipping gaps.
export function ema(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y)) {
      out[i] = null;
      continue;
    }
    last = last * weight + (1 - weight) * y;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

export function toNumbers(values) {
  const out = new Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = finite(values[i]);
  return out;
}

// Steps are whole numbers: no tick at step 0.5.
const STEP_INCRS = [];
for (let exp = 0; exp < 16; exp++) for (const m of [1, 2, 5]) STEP_INCRS.push(m * 10 ** exp);

// Room for the longest y tick label (about 7 px a character at 11 px).
function yAxisSize(u, values) {
  const longest = Math.max(3, ...(values || []).map((v) => String(v).length));
  return Math.min(90, 18 + 7 * longest);
}

function fade(color) {
  return color + "44";
}

function xAxisLabel(xMode) {
  return {step: "step", time: "wall time", relative: "seconds since start"}[xMode] || xMode;
}

// A uPlot line chart in `el`. lines: [{label, color}]; data is set later with setData().
// Options: xMode ("step" | "time" | "relative"), log (bool), smoothing (0..0.99),
// onZoom(min, max) called after a drag selection (x in display units), onReset() on double click.
// marks: [{x, label}] drawn as dashed vertical lines (where a resumed run began again).
export class LineChart {
  constructor(el, {lines, xMode = "step", log = false, smoothing = 0, height = 190, onZoom, onReset, points, xLabels, logX = false, xName, marks}) {
    this.el = el;
    this.lines = lines;
    this.xMode = xMode;
    this.log = log;
    this.smoothing = smoothing;
    this.height = height;
    this.onZoom = onZoom;
    this.onReset = onReset;
    this.points = points;
    this.xLabels = xLabels || null;
    this.logX = logX;
    this.xName = xName;
    this.marks = marks || [];
    this.xs = [];
    this.ys = lines.map(() => []);
    this.plot = null;
    this.build();
    this.resizer = new ResizeObserver(() => {
      const width = this.width();
      if (this.plot && width && (Math.abs(width - this.plot.width) > 2 || this.plot.height !== this.height)) {
        this.plot.setSize({width, height: this.height});
      }
    });
    this.resizer.observe(el);
  }

  width() {
    return Math.max(200, Math.floor(this.el.clientWidth || 400));
  }

  build() {
    if (this.plot) this.plot.destroy();
    const smoothed = this.smoothing > 0;
    const series = [{label: this.xName || xAxisLabel(this.xMode), value: (u, v) => this.fmtX(v)}];
    for (const line of this.lines) {
      if (smoothed) {
        series.push({label: line.label + " (raw)", stroke: fade(line.color), width: 1, spanGaps: true,
          value: (u, v) => fmtNum(v), points: {show: false}});
      }
      series.push({label: line.label, stroke: line.color, width: line.width || 1.5, dash: line.dash, spanGaps: true,
        value: (u, v) => fmtNum(v),
        // a point per value while there are few of them: a single point still shows
        points: this.points ? {show: true, size: 6, fill: line.color} : {show: (u) => u.data[0].length <= 60, size: 5},
        paths: this.points ? () => null : undefined});
    }
    const opts = {
      width: this.width(),
      height: this.height,
      series,
      legend: {live: true},
      cursor: {drag: {x: true, y: false, setScale: false}, points: {size: 6}},
      scales: {x: this.logX ? {time: false, distr: 3} : {time: this.xMode === "time"}, y: this.log ? {distr: 3} : {}},
      axes: [
        {stroke: "#6b7280", grid: {stroke: "#eef0f3"}, ticks: {stroke: "#e5e7eb"}, size: 34,
          values: this.xMode === "time" ? undefined : (u, vals) => vals.map((v) => this.fmtX(v)),
          incrs: this.xMode === "step" && !this.points ? STEP_INCRS : undefined},
        {stroke: "#6b7280", grid: {stroke: "#eef0f3"}, ticks: {stroke: "#e5e7eb"}, size: yAxisSize,
          values: (u, vals) => vals.map((v) => fmtNum(v))},
      ],
      hooks: {
        draw: [(u) => this.drawMarks(u)],
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
          if (this.onZoom) this.onZoom(min, max);
          else u.setScale("x", {min, max});
        }],
      },
    };
    this.plot = new uPlot(opts, this.data(), this.el);
    this.plot.over.addEventListener("dblclick", () => {
      if (this.onReset) this.onReset();
    });
  }

  // dashed vertical lines with a label at each mark inside the plotted x range
  drawMarks(u) {
    if (!this.marks.length) return;
    const ctx = u.ctx, ratio = window.devicePixelRatio || 1, {left, top, width, height} = u.bbox;
    ctx.save();
    ctx.strokeStyle = "#d97706";
    ctx.fillStyle = "#b45309";
    ctx.lineWidth = ratio;
    ctx.setLineDash([4 * ratio, 3 * ratio]);
    ctx.font = `${10 * ratio}px system-ui, sans-serif`;
    ctx.textAlign = "left";
    ctx.textBaseline = "alphabetic";
    for (const mark of this.marks) {
      const px = u.valToPos(mark.x, "x", true);
      if (!Number.isFinite(px) || px < left - 1 || px > left + width + 1) continue;
      ctx.beginPath();
      ctx.moveTo(px, top);
      ctx.lineTo(px, top + height);
      ctx.stroke();
      ctx.fillText(mark.label, Math.min(px + 3 * ratio, left + width - 50 * ratio), top + 11 * ratio);
    }
    ctx.restore();
  }

  setMarks(marks) {
    this.marks = marks || [];
    if (this.plot) this.plot.redraw(false, false);
  }

  // another set of lines (a line added or taken away): the chart is built again
  setLines(lines) {
    this.lines = lines;
    this.ys = lines.map((l, i) => this.ys[i] || []);
    this.build();
  }

  setHeight(height) {
    this.height = height;
    if (this.plot) this.plot.setSize({width: this.width(), height});
  }

  fmtX(v) {
    if (v === null || v === undefined) return "";
    if (this.xLabels) return Number.isInteger(v) && this.xLabels[v] !== undefined ? this.xLabels[v] : "";
    if (this.xMode === "time") return new Date(v * 1000).toLocaleTimeString();
    return fmtNum(v);
  }

  data() {
    const out = [this.xs];
    for (const ys of this.ys) {
      const clean = this.log ? ys.map((y) => (y !== null && y > 0 ? y : null)) : ys;
      if (this.smoothing > 0) out.push(clean, ema(clean, this.smoothing));
      else out.push(clean);
    }
    return out;
  }

  // xs: numbers; ys: one array of numbers (or null) per line, aligned with xs.
  setData(xs, ys) {
    this.xs = xs;
    this.ys = ys;
    this.plot.setData(this.data(), true);
  }

  appendPoints(xs, ys) {
    if (!xs.length) return;
    this.xs = this.xs.concat(xs);
    this.ys = this.ys.map((old, i) => old.concat(ys[i]));
    this.plot.setData(this.data(), true);
  }

  setOptions({xMode, log, smoothing}) {
    let rebuild = false;
    if (xMode !== undefined && xMode !== this.xMode) {
      this.xMode = xMode;
      rebuild = true;
    }
    if (log !== undefined && log !== this.log) {
      this.log = log;
      rebuild = true;
    }
    if (smoothing !== undefined && (smoothing > 0) !== (this.smoothing > 0)) rebuild = true;
    if (smoothing !== undefined) this.smoothing = smoothing;
    if (rebuild) this.build();
    else this.plot.setData(this.data(), true);
  }

  destroy() {
    this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }
}

// Aligns several (x, y) series on one x axis for uPlot (nulls where a series has no point).
export function joinSeries(list) {
  if (!list.length) return {xs: [], ys: []};
  if (list.length === 1) return {xs: list[0].x, ys: [list[0].y]};
  const joined = uPlot.join(list.map((s) => [s.x, s.y]));
  return {xs: joined[0], ys: joined.slice(1)};
}

// Charts are built only when their card scrolls into view: a run with 1,000 metrics stays responsive.
export function lazy(page, onVisible) {
  const seen = new WeakSet();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting || seen.has(entry.target)) continue;
      seen.add(entry.target);
      observer.unobserve(entry.target);
      onVisible(entry.target);
    }
  }, {rootMargin: "300px 0px"});
  page.onLeave(() => observer.disconnect());
  return (el) => observer.observe(el);
}
