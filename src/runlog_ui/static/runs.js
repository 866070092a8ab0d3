// The experiments list and an experiment's runs table: server-side sort, filter, paging, a column
// picker over thousands of keys, children folded under their parents, picking runs to compare.

import {api, ApiError, append, clear, debounce, errorBox, fmtDuration, fmtTime, fmtValue, h, link, statusBadge,
  withEmbed} from "./dom.js";

const PAGE_SIZE = 100;

export async function experimentsPage(page, root, setCrumbs) {
  setCrumbs([]);
  const data = await api("experiments");
  clear(root);
  root.append(h("h1", null, "Experiments"));
  if (!data.experiments.length) {
    root.append(h("p", {class: "muted"}, "No experiments yet: start a run and it shows here."));
    return;
  }
  const body = h("tbody");
  for (const exp of data.experiments) {
    body.append(h("tr", null,
      h("td", null, link(`/experiments/${exp.id}`, exp.name)),
      h("td", {class: "num"}, String(exp.runs)),
      h("td", {class: "num"}, exp.running ? h("span", {class: "status status-running"}, `${exp.running} running`) : ""),
      h("td", null, fmtTime(exp.last_start))));
  }
  root.append(h("table", {class: "grid", id: "experiments"},
    h("thead", null, h("tr", null, h("th", null, "Name"), h("th", {class: "num"}, "Runs"), h("th", null, ""),
      h("th", null, "Last run started"))), body));
}

// Sortable built-in columns and the attribute each sorts by.
const BUILTIN = [
  {key: "status", label: "Status", sort: "attributes.status"},
  {key: "name", label: "Name", sort: "attributes.name"},
  {key: "start", label: "Started", sort: "attributes.start_time"},
  {key: "duration", label: "Duration", sort: "attributes.duration", cls: "num"},
];

function columnValue(run, column) {
  const dot = column.indexOf(".");
  const ns = column.slice(0, dot), key = column.slice(dot + 1);
  const bag = run[ns] || {};
  return bag[key];
}

export async function runsPage(page, root, setCrumbs, experimentId) {
  const params = new URLSearchParams(location.search);
  const state = {
    filter: params.get("filter") || "",
    sort: params.get("sort") || "",
    columns: params.get("columns") ? params.get("columns").split(",").filter(Boolean) : null,
    offset: Number(params.get("offset") || 0),
    expanded: new Set(),
    selected: new Set(),
    shownColumns: [],
  };
  // the first page of runs is asked for first; the experiment's name follows (one request at a time
  // keeps the table's answer from sharing the server with the experiment list)
  const firstQuery = {filter: state.filter, sort: state.sort, columns: state.columns ? state.columns.join(",") : undefined,
    limit: PAGE_SIZE, offset: state.offset};
  let prefetched = api(`experiments/${experimentId}/runs`, firstQuery);
  prefetched.catch(() => {});
  const title = h("h1", null, `Experiment ${experimentId}`);
  const count = h("span", {class: "muted"});
  setCrumbs([[`Experiment ${experimentId}`, null]]);
  const named = prefetched.then(() => null, () => null).then(() => api("experiments")).then((answer) => {
    const exp = answer.experiments.find((e) => String(e.id) === String(experimentId));
    if (!exp || !page.alive) return;
    title.textContent = exp.name;
    // counted as the table below counts them: top-level runs, their children folded under them (#19)
    const children = exp.children || 0;
    const top = exp.runs - children;
    count.textContent = `${top} run${top === 1 ? "" : "s"}` +
      (children ? ` · ${children} child run${children === 1 ? "" : "s"} folded under ${top === 1 ? "it" : "them"}` : "");
    setCrumbs([[exp.name, null]]);
    document.title = `${exp.name} · runlog`;
  });
  named.catch(() => {});

  const filterInput = h("input", {type: "search", id: "filter", class: "filter", value: state.filter, spellcheck: "false",
    placeholder: "filter, e.g.  metrics.loss < 0.5 and params.lr = 0.01 and status = 'Completed'"});
  const filterError = h("div", {id: "filter-error"});
  const compareButton = h("button", {id: "compare", class: "primary", disabled: true}, "Compare");
  const pickerButton = h("button", {id: "columns-button"}, "Columns");
  const picker = h("div", {id: "column-picker", class: "popover hidden"});
  const summary = h("span", {id: "total", class: "muted"});
  const prev = h("button", {id: "prev"}, "‹ Prev");
  const next = h("button", {id: "next"}, "Next ›");
  const head = h("thead");
  const body = h("tbody");
  const tableEl = h("table", {class: "grid runs", id: "runs"}, head, body);

  clear(root);
  root.append(
    h("div", {class: "page-head"}, title, count),
    h("form", {class: "toolbar", id: "filter-form"}, filterInput, h("button", {type: "submit"}, "Apply"),
      h("div", {class: "picker-wrap"}, pickerButton, picker), compareButton),
    filterError,
    h("div", {class: "table-wrap"}, tableEl),
    h("div", {class: "pager"}, prev, summary, next));

  const saveUrl = () => {
    const q = new URLSearchParams();
    if (state.filter) q.set("filter", state.filter);
    if (state.sort) q.set("sort", state.sort);
    if (state.columns) q.set("columns", state.columns.join(","));
    if (state.offset) q.set("offset", String(state.offset));
    const href = withEmbed(location.pathname + (q.toString() ? "?" + q : ""));
    history.replaceState(history.state, "", href);
  };

  const query = (extra) => ({
    filter: state.filter, sort: state.sort, columns: state.columns ? state.columns.join(",") : undefined,
    limit: PAGE_SIZE, ...extra,
  });

  function sortHeader(label, sortKey, cls) {
    const [key, dir] = state.sort.split(/\s+/);
    const active = key === sortKey;
    const arrow = active ? (dir === "desc" ? " ▼" : " ▲") : "";
    const sortBy = () => {
      state.sort = active && dir !== "desc" ? `${sortKey} desc` : active ? "" : `${sortKey} asc`;
      state.offset = 0;
      load();
    };
    return h("th", {class: "sortable" + (cls ? " " + cls : "") + (active ? " sorted" : ""), title: `sort by ${sortKey}`,
      tabindex: 0, "aria-sort": active ? (dir === "desc" ? "descending" : "ascending") : "none",
      dataset: {sort: sortKey}, onclick: sortBy, onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          sortBy();
        }
      }}, label, arrow);
  }

  function renderHead() {
    clear(head);
    const tr = h("tr", null, h("th", {class: "check"}, ""), h("th", {class: "fold"}, ""));
    for (const col of BUILTIN) tr.append(sortHeader(col.label, col.sort, col.cls));
    for (const col of state.shownColumns) {
      const [ns, ...rest] = col.split(".");
      tr.append(sortHeader(h("span", null, h("span", {class: "ns"}, ns + "."), rest.join(".")), col, "num"));
    }
    head.append(tr);
  }

  // the header of an expanded parent's children when they have columns of their own (a search's
  // children score metrics the parent does not have): shown above them, under the parent's row
  function childHead(columns) {
    const tr = h("tr", {class: "child-head"}, h("td", {class: "check"}, ""), h("td", {class: "fold"}, ""),
      h("td", {colspan: BUILTIN.length}, ""));
    for (const col of columns) {
      const [ns, ...rest] = col.split(".");
      tr.append(h("td", {class: "num"}, h("span", {class: "ns"}, ns + "."), rest.join(".")));
    }
    return tr;
  }

  function runRow(run, depth, columns) {
    const check = h("input", {type: "checkbox", checked: state.selected.has(run.id), "aria-label": "pick run",
      onchange: (e) => {
        if (e.target.checked) state.selected.add(run.id);
        else state.selected.delete(run.id);
        compareButton.disabled = state.selected.size < 2;
        compareButton.textContent = state.selected.size ? `Compare (${state.selected.size})` : "Compare";
      }});
    let fold = "";
    if (run.children) {
      const open = state.expanded.has(run.id);
      fold = h("button", {class: "fold-button", title: `${run.children} child runs`, "aria-expanded": String(open),
        onclick: () => {
          if (state.expanded.has(run.id)) state.expanded.delete(run.id);
          else state.expanded.add(run.id);
          render(lastData);
        }}, (open ? "▾ " : "▸ ") + run.children);
    }
    const tr = h("tr", {dataset: {run: run.id}, class: depth ? "child" : ""},
      h("td", {class: "check"}, check),
      h("td", {class: "fold"}, fold),
      h("td", {class: "status-cell"}, statusBadge(run.status)),
      h("td", {class: "name" + (depth ? " indent" : "")}, link(`/runs/${run.id}`, run.name || run.id)),
      h("td", {class: "time"}, fmtTime(run.start_time)),
      h("td", {class: "num"}, fmtDuration(run.duration)));
    for (const col of columns || state.shownColumns) {
      const value = columnValue(run, col);
      tr.append(h("td", {class: typeof value === "number" ? "num" : "", title: fmtValue(value)}, fmtValue(value)));
    }
    return tr;
  }

  let lastData = null;
  const childCache = new Map();

  async function render(data) {
    lastData = data;
    state.shownColumns = data.columns || [];
    renderHead();
    const rows = [];
    for (const run of data.runs) {
      rows.push(runRow(run, 0));
      if (run.children && state.expanded.has(run.id)) {
        let kids = childCache.get(run.id);
        if (!kids) {
          // without columns picked by hand, the server picks the children's own (their shared metrics)
          kids = await api(`experiments/${experimentId}/runs`,
            {...query({parent: run.id, limit: 1000}), columns: state.columns ? state.columns.join(",") : undefined});
          childCache.set(run.id, kids);
        }
        const own = kids.columns || state.shownColumns;
        const same = own.length === state.shownColumns.length && own.every((c, i) => c === state.shownColumns[i]);
        if (!same && kids.runs.length) rows.push(childHead(own));
        for (const kid of kids.runs) rows.push(runRow(kid, 1, own));
      }
    }
    clear(body);
    append(body, rows);
    if (!data.runs.length) {
      body.append(h("tr", null, h("td", {colspan: 6 + state.shownColumns.length, class: "muted empty"},
        state.filter ? "No run matches the filter." : "No runs.")));
    }
    const first = data.total ? data.offset + 1 : 0;
    summary.textContent = `${first}–${data.offset + data.runs.length} of ${data.total} runs`;
    prev.disabled = data.offset <= 0;
    next.disabled = data.offset + data.runs.length >= data.total;
  }

  function showFilterError(err) {
    clear(filterError);
    if (!err) return;
    const body = err.body || {};
    const box = h("div", {class: "error filter-error"}, h("div", null, err.message));
    if (body.filter !== undefined && body.position !== undefined && body.position !== null) {
      box.append(h("pre", {class: "caret"}, body.filter + "\n" + " ".repeat(Math.max(0, body.position)) + "^"));
    }
    filterError.append(box);
  }

  async function fetchPage() {
    if (prefetched) {
      const first = prefetched;
      prefetched = null;
      return first;
    }
    return api(`experiments/${experimentId}/runs`, query({offset: state.offset}));
  }

  async function load() {
    saveUrl();
    childCache.clear();
    try {
      const data = await fetchPage();
      showFilterError(null);
      await render(data);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) showFilterError(err);
      else throw err;
    }
  }

  root.querySelector("#filter-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filter = filterInput.value.trim();
    state.offset = 0;
    load();
  });
  prev.addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE_SIZE);
    load();
  });
  next.addEventListener("click", () => {
    state.offset += PAGE_SIZE;
    load();
  });
  compareButton.addEventListener("click", () => {
    const href = withEmbed("/compare?runs=" + [...state.selected].map(encodeURIComponent).join(","));
    window.runlogNavigate(href);
  });
  setupPicker(page, picker, pickerButton, experimentId, state, load);

  await load();

  // Live: while a listed run is Running, refresh the page (statuses, durations, latest metrics).
  page.poll(async () => {
    if (!lastData) return true;
    const running = lastData.runs.some((r) => r.status === "Running") ||
      [...childCache.values()].some((kids) => kids.some((r) => r.status === "Running"));
    if (!running || document.hidden) return true;
    try {
      const data = await fetchPage();
      childCache.clear();
      await render(data);
    } catch (err) {
      console.warn(err);
    }
    return true;
  }, 2000);
}

function setupPicker(page, picker, button, experimentId, state, reload) {
  const search = h("input", {type: "search", id: "column-search", placeholder: "search metrics, params, tags…"});
  const list = h("div", {class: "picker-list"});
  const note = h("div", {class: "muted small"});
  picker.append(search, list, note,
    h("div", {class: "picker-foot"}, h("button", {onclick: () => {
      state.columns = null;
      state.offset = 0;
      reload();
      refresh();
    }}, "Default columns"), h("button", {onclick: () => picker.classList.add("hidden")}, "Close")));

  const refresh = async () => {
    let keys;
    try {
      keys = await api(`experiments/${experimentId}/keys`, {q: search.value.trim(), limit: 200});
    } catch (err) {
      clear(list).append(errorBox(err));
      return;
    }
    clear(list);
    const current = new Set(state.columns || state.shownColumns);
    for (const ns of ["metrics", "params", "tags"]) {
      if (!keys[ns] || !keys[ns].length) continue;
      list.append(h("div", {class: "picker-group"}, ns));
      for (const key of keys[ns]) {
        const col = `${ns}.${key}`;
        list.append(h("label", {class: "picker-item"},
          h("input", {type: "checkbox", checked: current.has(col), dataset: {column: col}, onchange: (e) => {
            const cols = state.columns ? [...state.columns] : [...state.shownColumns];
            const at = cols.indexOf(col);
            if (e.target.checked && at < 0) cols.push(col);
            if (!e.target.checked && at >= 0) cols.splice(at, 1);
            state.columns = cols;
            reload();
          }}), h("span", null, key)));
      }
    }
    note.textContent = keys.truncated ? "More keys match: type to narrow the list." : "";
    if (!list.firstChild) list.append(h("div", {class: "muted"}, "No key matches."));
  };
  const debounced = debounce(refresh, 200);
  search.addEventListener("input", debounced);
  button.addEventListener("click", () => {
    picker.classList.toggle("hidden");
    if (!picker.classList.contains("hidden")) {
      refresh();
      search.focus();
    }
  });
  const close = (e) => {
    if (!picker.contains(e.target) && e.target !== button) picker.classList.add("hidden");
  };
  const escape = (e) => {
    if (e.key === "Escape") picker.classList.add("hidden");
  };
  document.addEventListener("mousedown", close);
  document.addEventListener("keydown", escape);
  page.onLeave(() => {
    document.removeEventListener("mousedown", close);
    document.removeEventListener("keydown", escape);
  });
}
