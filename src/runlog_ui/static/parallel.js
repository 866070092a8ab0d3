// Parallel coordinates for a sweep's children (#17): one vertical axis per param and the objective as
// the last one, one line per child colored by its objective (the best the most saturated, drawn on top).
// Numeric params on a linear axis (log when positive and spanning 100x or more); any other param as
// categories, evenly spaced in sorted order. SVG built element by element: logged text stays text.

import {fmtNum, fmtValue, num} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const MAX_AXES = 20;
// worst to best
const STOPS = [[147, 197, 253], [99, 102, 241], [162, 28, 175], [220, 38, 38]];

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function colorAt(t) {
  const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

// An axis for one column of values: position(value) in 0..1 (1 = top) or null, and its tick labels.
function axisFor(name, values, kind) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const numeric = present.length > 0 && present.every((v) => typeof v === "number" || (num(v) !== null && typeof v !== "boolean"));
  if (!numeric) {
    const categories = [...new Set(present.map(fmtValue))].sort();
    const n = categories.length;
    const at = (v) => {
      if (v === null || v === undefined) return null;
      const i = categories.indexOf(fmtValue(v));
      return n === 1 ? 0.5 : i / (n - 1);
    };
    return {name, kind, categorical: true, at, ticks: categories.map((c) => ({label: c, pos: at(c)}))};
  }
  const finite = present.map(num).filter(Number.isFinite);
  let lo = Math.min(...finite), hi = Math.max(...finite);
  const log = finite.length > 1 && lo > 0 && hi / lo >= 100;
  const f = log ? Math.log10 : (v) => v;
  if (!finite.length) lo = hi = 0;
  const a = f(lo), b = f(hi);
  const at = (v) => {
    const x = num(v);
    if (x === null || !Number.isFinite(x)) return null;
    return b === a ? 0.5 : (f(x) - a) / (b - a);
  };
  const powers = [];  // a log axis: its powers of ten, when it spans two or more
  for (let k = Math.ceil(a - 1e-9); log && k <= Math.floor(b + 1e-9); k++) powers.push(k);
  const ticks = lo === hi ? [{label: fmtNum(lo), pos: 0.5}]
    : powers.length >= 2 ? powers.map((k) => ({label: fmtNum(10 ** k), pos: (k - a) / (b - a)}))
    : [0, 0.25, 0.5, 0.75, 1].map((p) => {
      const v = log ? 10 ** (a + p * (b - a)) : lo + p * (hi - lo);
      return {label: fmtNum(Number(v.toPrecision(3))), pos: p};
    });
  return {name, kind, categorical: false, log, at, ticks};
}

// runs: [{id, name, params: {...}, metrics: {...}}]; params: the axes' names; objective: the metric;
// goal: "maximize" | "minimize". Returns the element (drawn again when its width changes).
export function parallelCoordinates(runs, params, objective, goal, onPick) {
  const holder = document.createElement("div");
  holder.className = "parallel";
  holder.id = "parallel";
  const shown = params.slice(0, MAX_AXES);
  const axes = [...shown.map((p) => axisFor(p, runs.map((r) => (r.params || {})[p]), "param")),
    axisFor(objective, runs.map((r) => (r.metrics || {})[objective]), "objective")];
  const scored = runs.map((r) => ({run: r, score: num((r.metrics || {})[objective])}));
  const finiteScores = scored.map((s) => s.score).filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(...finiteScores), hi = Math.max(...finiteScores);
  const goodness = (v) => {  // 0 worst .. 1 best
    if (v === null || !Number.isFinite(v)) return null;
    const t = hi === lo ? 1 : (v - lo) / (hi - lo);
    return goal === "minimize" ? 1 - t : t;
  };
  holder.dataset.axes = axes.map((a) => a.name).join("\n");
  holder.dataset.lines = String(runs.length);

  let drawnWidth = 0;
  const draw = () => {
    const width = Math.max(420, Math.floor(holder.clientWidth || 900));
    if (Math.abs(width - drawnWidth) < 2) return;
    drawnWidth = width;
    const height = 300, top = 34, bottom = 22, left = 50, right = 60;
    const x = (i) => left + (axes.length === 1 ? 0 : (i * (width - left - right)) / (axes.length - 1));
    const y = (p) => top + (1 - p) * (height - top - bottom);
    const root = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `parallel coordinates: ${axes.map((a) => a.name).join(", ")}`});
    const lines = svg("g", {class: "pc-lines"});
    // worst first, best last (on top); children without an objective in gray, underneath
    const order = [...scored].sort((p, q) => (goodness(p.score) ?? -1) - (goodness(q.score) ?? -1));
    for (const {run, score} of order) {
      let d = "", pen = false;
      axes.forEach((axis, i) => {
        const value = axis.kind === "objective" ? (run.metrics || {})[objective] : (run.params || {})[axis.name];
        const p = axis.at(value);
        if (p === null) {
          pen = false;
          return;
        }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p).toFixed(1)}`;
        pen = true;
      });
      const g = goodness(score);
      const path = svg("path", {d, class: "pc-line", stroke: g === null ? "#d1d5db" : colorAt(g), "data-run": run.id});
      path.append(svg("title", null, `${run.name || run.id} · ${objective} = ${fmtValue((run.metrics || {})[objective])}`));
      if (onPick) path.addEventListener("click", () => onPick(run));
      lines.append(path);
    }
    root.append(lines);
    axes.forEach((axis, i) => {
      const g = svg("g", {class: "pc-axis", "data-axis": axis.name, "data-kind": axis.kind});
      g.append(svg("line", {x1: x(i), x2: x(i), y1: y(1), y2: y(0)}));
      const name = axis.name.length > 22 ? axis.name.slice(0, 21) + "…" : axis.name;
      const anchor = i === 0 ? "start" : i === axes.length - 1 ? "end" : "middle";
      const label = svg("text", {x: x(i), y: 12, "text-anchor": anchor, class: "pc-name"}, name + (axis.log ? " (log)" : ""));
      g.append(svg("title", null, axis.name), label);
      if (axis.kind === "objective") {
        g.append(svg("text", {x: x(i), y: 25, "text-anchor": anchor, class: "pc-goal"},
          goal === "minimize" ? "lower is better" : goal === "maximize" ? "higher is better" : "objective"));
      }
      for (const tick of axis.ticks) {
        const text = tick.label.length > 14 ? tick.label.slice(0, 13) + "…" : tick.label;
        const t = svg("text", {x: x(i) + (i === axes.length - 1 ? -5 : 5), y: y(tick.pos) + 3, class: "pc-tick",
          "text-anchor": i === axes.length - 1 ? "end" : "start", "data-value": tick.label}, text);
        g.append(svg("line", {x1: x(i) - 3, x2: x(i) + 3, y1: y(tick.pos), y2: y(tick.pos)}), t);
      }
      root.append(g);
    });
    while (holder.firstChild) holder.firstChild.remove();
    holder.append(root);
  };
  const resizer = new ResizeObserver(() => draw());
  resizer.observe(holder);
  holder.runlogDestroy = () => resizer.disconnect();
  return holder;
}
