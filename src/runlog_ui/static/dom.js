// Small helpers shared by every page: building elements (logged data only ever as text),
// the one fetch helper, formatting, and the lifetime of the page being shown.

export const EMBED = new URLSearchParams(location.search).get("embed") === "1";
// A page framed by a notebook (?embed=1&token=...) gets no login cookie (the frame is another site's):
// it sends the server's token itself, as a header to the API and in the URLs of files and links.
const TOKEN = EMBED ? new URLSearchParams(location.search).get("token") : null;

// h("a", {href: "/x", class: "y", onclick: fn}, "text", child): children that are strings or
// numbers become text nodes, so nothing logged is ever parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "checked" || key === "value" || key === "disabled" || key === "selected") el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A link inside the application: navigates without reloading (see app.js) and keeps ?embed=1.
export function link(href, ...children) {
  return h("a", {href: withEmbed(href), "data-nav": true}, ...children);
}

export function withEmbed(href) {
  if (!EMBED) return href;
  return href + (href.includes("?") ? "&" : "?") + "embed=1" + (TOKEN ? "&token=" + encodeURIComponent(TOKEN) : "");
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The one fetch helper: GET /api/<path> with query parameters, JSON back, errors as ApiError.
export async function api(path, params, init) {
  const url = new URL("/api/" + path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  let response;
  try {
    const headers = TOKEN ? {authorization: "Bearer " + TOKEN} : {};
    response = await fetch(url, {credentials: "same-origin", ...init, headers: {...headers, ...(init && init.headers)}});
  } catch (err) {
    throw new ApiError(0, {error: "the server did not answer: " + err.message});
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export function fileUrl(runId, name) {
  return `/api/runs/${encodeURIComponent(runId)}/files/` + name.split("/").map(encodeURIComponent).join("/") +
    (TOKEN ? "?token=" + encodeURIComponent(TOKEN) : "");
}

// NaN and +/-inf travel as strings; charts want numbers (null for a gap).
export function num(value) {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (typeof value === "boolean") return value ? 1 : 0;
  return null;
}

export function finite(value) {
  const n = num(value);
  return n === null || !Number.isFinite(n) ? null : n;
}

export function fmtNum(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return fmtBool(value);
  if (typeof value !== "number") return fmtValue(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e7)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

// Booleans are spelled as Python and `runlog` print them (#19)
export function fmtBool(value) {
  return value ? "True" : "False";
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return fmtNum(value);
  if (typeof value === "boolean") return fmtBool(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}h ${String(mm).padStart(2, "0")}m` : `${mm}m ${String(ss).padStart(2, "0")}s`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

export function statusBadge(status) {
  return h("span", {class: "status status-" + String(status || "").toLowerCase()}, status || "");
}

export function errorBox(err) {
  return h("div", {class: "error"}, err instanceof Error ? err.message : String(err));
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// The page being shown: its timers and observers end when the user navigates away.
export class Page {
  constructor() {
    this.alive = true;
    this.cleanups = [];
  }

  onLeave(fn) {
    this.cleanups.push(fn);
  }

  // Calls fn about every `ms` (after the previous call finished) until fn returns false or the page ends.
  poll(fn, ms) {
    let timer = null;
    const tick = async () => {
      if (!this.alive) return;
      let again = true;
      try {
        again = (await fn()) !== false;
      } catch (err) {
        console.warn("poll failed", err);
      }
      if (again && this.alive) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    this.onLeave(() => clearTimeout(timer));
  }

  leave() {
    this.alive = false;
    for (const fn of this.cleanups.splice(0)) {
      try {
        fn();
      } catch (err) {
        console.warn(err);
      }
    }
  }
}

export function table(headers, rows, attrs) {
  return h("table", attrs || {class: "grid"},
    h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))),
    h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c))))));
}
