/*
 * app.js - the dashboard of `deardiary serve` (served from /ui/, compiled into the binary).
 *
 * A page per hash route; every read and write goes through the REST API with the user's
 * token (the same routes, guards and rules as any client), the /v1/ routes where the
 * original has none (README "Dashboard"). uPlot draws every chart; the series come from
 * the server already in step order.
 *
 *   #/                        projects the user may read
 *   #/project/P               its experiments and models
 *   #/experiment/E?offset=N   the iteration table (a server page; sort and filter here)
 *   #/iteration/I             one iteration, one chart per metric key
 *   #/compare/I1,I2,...       curves overlaid, parameters side by side
 *   #/model/M                 versions, stages (editable), aliases, stage history
 *   #/login                   when auth is on and there is no valid token
 *
 * For tests and benchmarks: document.body.dataset.page names the page once it has drawn
 * (and the performance mark "dd-drawn" is set then), and window.ddCharts holds the uPlot
 * instances of the page ({key, plot}).
 */
"use strict";

const STATUS = {1: "RUNNING", 2: "SUCCEEDED", 3: "FAILED", 4: "KILLED"};
const STAGE = {1: "NO_STAGE", 2: "STAGING", 3: "PRODUCTION", 4: "ARCHIVED"};
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                "#b07aa1", "#ff9da7", "#9c755f", "#bab0ab"];
const POLL_MS = 2000;          /* live update of running iterations */
const MAX_POINTS = 2000;       /* per series: 500 M4 columns, about a chart's width */
const TOKEN_KEY = "deardiary.token";
const HISTORY_PAGE = 100;      /* stage changes a model page shows, then "Older changes" */

const app = {auth: false, me: null, perms: null, timer: null, gen: 0};
window.ddCharts = [];

/* ------------------------------------------------------------------ helpers */

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function link(href, text) { return el("a", {href}, text); }

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ("HTTP " + status));
    this.status = status;
    this.code = body && body.code;
  }
}

/* One API call with the user's token; JSON in and out. A 401 sends the user to the login
 * page (the token expired or the user is gone). */
async function api(method, path, body) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers,
                               body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (r.status === 401 && app.auth) {
    localStorage.removeItem(TOKEN_KEY);
    go("#/login");
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}
const get = (path) => api("GET", path);

/* Every row of a paged route (limit 200 a page). */
async function getAll(path) {
  const rows = [];
  for (let offset = 0; ; offset += 200) {
    const page = await get(path + (path.includes("?") ? "&" : "?") + "limit=200&offset=" + offset);
    rows.push(...page.data);
    if (rows.length >= page.total || page.data.length === 0) return rows;
  }
}

function statusBadge(id) {
  const name = STATUS[id] || "UNKNOWN";
  return el("span", {class: "status status-" + name}, name);
}

function fmtDate(s) { return s ? s.replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }

function durationSeconds(it) {
  if (!it.created_date) return null;
  const end = it.end_date ? Date.parse(it.end_date) : Date.now();
  return Math.max(0, (end - Date.parse(it.created_date)) / 1000);
}

function fmtDuration(s) {
  if (s === null) return "";
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " m " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " m";
}

function fmtNumber(v) {
  if (typeof v !== "number") return v;
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function crumbs(...items) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...items.map(([href, text]) => link(href, text)));
}

/* May the user change what is in project `pid` (update permission)? */
function canUpdate(pid) {
  if (!app.auth || (app.me && app.me.is_admin)) return true;
  return (app.perms || []).some((p) => p.project_id === pid && p.update_permission);
}

/* ------------------------------------------------------------------ charts */

/* A uPlot chart of `xs` against one or more `ys` arrays (null where a line has no point). */
function chart(container, title, xs, lines) {
  const box = el("div", {class: "chart", "data-key": title}, el("h3", {}, title));
  container.append(box);
  const series = [{label: "step"}].concat(lines.map((l, i) => ({
    label: l.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
    points: {show: xs.length <= 200},
  })));
  const opts = {width: 520, height: 260, series, scales: {x: {time: false}},
                axes: [{label: "step"}, {label: "value"}], legend: {show: true}};
  const plot = new uPlot(opts, [xs].concat(lines.map((l) => l.values)), box);
  window.ddCharts.push({key: title, plot});
  return plot;
}

/* Overlay several series ({label, steps, values}) on one x axis: uPlot.join aligns them,
 * with nulls where a series has no point at a step. */
function overlay(seriesList) {
  const joined = uPlot.join(seriesList.map((s) => [s.steps, s.values]));
  /* join leaves `undefined` where a series has no point: make it uPlot's documented gap */
  return {xs: joined[0], lines: seriesList.map((s, i) => ({
    label: s.label, values: Array.from(joined[i + 1], (v) => (v === undefined ? null : v))}))};
}

/* ------------------------------------------------------------------ pages */

async function pageLogin(view) {
  const msg = el("p", {class: "error", id: "login-error"});
  const user = el("input", {name: "username", id: "username", autocomplete: "username"});
  const pass = el("input", {name: "password", id: "password", type: "password",
                            autocomplete: "current-password"});
  const form = el("form", {class: "login", id: "login-form"},
                  el("label", {}, "User ", user), el("label", {}, "Password ", pass),
                  el("button", {type: "submit", id: "login-submit"}, "Log in"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch("/auth", {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify({username: user.value,
                                                          password: pass.value})});
    const body = await r.json();
    if (!r.ok) { msg.textContent = body.message || "Login failed"; return; }
    localStorage.setItem(TOKEN_KEY, body.access_token);
    await loadMe();
    go("#/");
  });
  crumbs();
  view.replaceChildren(el("h1", {}, "Log in"), form);
}

async function pageProjects(view) {
  crumbs();
  const projects = await get("/project/");
  const rows = projects.map((p) => el("tr", {"data-id": p.id},
    el("td", {}, link("#/project/" + p.id, p.name)), el("td", {}, p.description),
    el("td", {}, fmtDate(p.created_date))));
  view.replaceChildren(el("h1", {}, "Projects"),
    projects.length ? el("table", {id: "projects"},
                         el("tr", {}, el("th", {}, "name"), el("th", {}, "description"),
                            el("th", {}, "created")), rows)
                    : el("p", {class: "muted"}, "No projects you may read."));
}

async function pageProject(view, pid) {
  const [p, exps, models] = await Promise.all([get("/project/" + pid),
    getAll("/experiment/project/" + pid), getAll("/model/project/" + pid)]);
  crumbs(["#/", "projects"], ["#/project/" + pid, p.name]);
  const expStatus = {1: "IN_PROGRESS", 2: "STOPPED", 3: "FINISHED"};
  view.replaceChildren(el("h1", {}, p.name), el("p", {}, p.description),
    el("h2", {}, "Experiments"),
    exps.length ? el("table", {id: "experiments"},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "status"), el("th", {}, "created")),
      exps.map((e) => el("tr", {"data-id": e.id}, el("td", {}, link("#/experiment/" + e.id, e.name)),
                         el("td", {}, expStatus[e.status_id] || e.status_id),
                         el("td", {}, fmtDate(e.created_date)))))
      : el("p", {class: "muted"}, "No experiments."),
    el("h2", {}, "Models"),
    models.length ? el("table", {id: "models"},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "description")),
      models.map((m) => el("tr", {"data-id": m.id}, el("td", {}, link("#/model/" + m.id, m.name)),
                           el("td", {}, m.description))))
      : el("p", {class: "muted"}, "No models."));
}

/* The iteration table: one server page at a time; sorting and filtering act on it. */
async function pageExperiment(view, eid, query) {
  const limit = Math.min(1000, Math.max(1, parseInt(query.get("limit") || "100", 10) || 100));
  const offset = Math.max(0, parseInt(query.get("offset") || "0", 10) || 0);
  const e = await get("/experiment/" + eid);
  const p = await get("/project/" + e.project_id);
  crumbs(["#/", "projects"], ["#/project/" + p.id, p.name], ["#/experiment/" + eid, e.name]);
  const state = {sort: "id", dir: 1, filter: "", page: null};
  const table = el("table", {id: "iterations"});
  const info = el("span", {id: "page-info"});
  const filter = el("input", {id: "filter", placeholder: "filter rows (words, key=value)",
                              size: 30});
  const compare = el("button", {id: "compare", disabled: true}, "Compare selected");
  const selected = new Set();
  const pageLink = (o) => "#/experiment/" + eid + "?offset=" + o + "&limit=" + limit;
  const prev = el("a", {id: "prev", href: pageLink(Math.max(0, offset - limit))}, "‹ prev");
  const next = el("a", {id: "next", href: pageLink(offset + limit)}, "next ›");
  compare.addEventListener("click", () => {
    location.hash = "#/compare/" + [...selected].sort((a, b) => a - b).join(",");
  });
  filter.addEventListener("input", () => { state.filter = filter.value; draw(); });

  function columns(rows) {
    const params = new Set(), metrics = new Set();
    for (const r of rows) {
      Object.keys(r.params).forEach((k) => params.add(k));
      Object.keys(r.metrics).forEach((k) => metrics.add(k));
    }
    const cols = [
      {name: "id", get: (r) => r.id, cell: (r) => link("#/iteration/" + r.id, r.id)},
      {name: "status", get: (r) => STATUS[r.status_id], cell: (r) => statusBadge(r.status_id)},
      {name: "created", get: (r) => r.created_date, cell: (r) => fmtDate(r.created_date)},
      {name: "duration", get: durationSeconds, cell: (r) => fmtDuration(durationSeconds(r))},
      {name: "parent", get: (r) => r.parent_iteration_id,
       cell: (r) => r.parent_iteration_id ? link("#/iteration/" + r.parent_iteration_id,
                                                 r.parent_iteration_id) : ""},
    ];
    for (const k of [...params].sort()) {
      cols.push({name: "params." + k, key: k, get: (r) => numOrText(r.params[k]),
                 cell: (r) => r.params[k] === undefined ? "" : r.params[k]});
    }
    for (const k of [...metrics].sort()) {
      cols.push({name: "metrics." + k, key: k, get: (r) => r.metrics[k],
                 cell: (r) => r.metrics[k] === undefined ? "" : fmtNumber(r.metrics[k]),
                 num: true});
    }
    return cols;
  }

  function matches(r, cols, words) {
    return words.every((w) => {
      const eq = w.indexOf("=");
      if (eq > 0) {
        const k = w.slice(0, eq), v = w.slice(eq + 1);
        const c = cols.find((c) => c.name === k || c.key === k);
        return c !== undefined && String(c.get(r) ?? "") === v;
      }
      return cols.some((c) => String(c.get(r) ?? "").toLowerCase().includes(w.toLowerCase()));
    });
  }

  function draw() {
    const rows = state.page.data;
    const cols = columns(rows);
    const words = state.filter.split(/\s+/).filter(Boolean);
    const sortCol = cols.find((c) => c.name === state.sort) || cols[0];
    const shown = rows.filter((r) => matches(r, cols, words)).sort((a, b) => {
      const x = sortCol.get(a), y = sortCol.get(b);
      if (x === y) return a.id - b.id;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y
              : String(x).localeCompare(String(y))) * state.dir;
    });
    const head = el("tr", {}, el("th", {class: "select"}, ""), cols.map((c) => el("th", {
      "data-col": c.name,
      class: c.name === sortCol.name ? (state.dir > 0 ? "sorted-asc" : "sorted-desc") : null,
      onclick: () => {
        state.dir = state.sort === c.name ? -state.dir : 1;
        state.sort = c.name;
        draw();
      }}, c.name)));
    const body = shown.map((r) => {
      const box = el("input", {type: "checkbox", class: "pick", "data-id": r.id,
                               checked: selected.has(r.id) ? "checked" : null});
      box.addEventListener("change", () => {
        if (box.checked) selected.add(r.id); else selected.delete(r.id);
        compare.disabled = selected.size < 2;
      });
      return el("tr", {"data-id": r.id}, el("td", {}, box),
                cols.map((c) => el("td", {"data-col": c.name, class: c.num ? "num" : null},
                                   c.cell(r))));
    });
    table.replaceChildren(head, ...body);
    const p = state.page;
    info.textContent = p.total ? `rows ${p.offset + 1}–${p.offset + rows.length} of ${p.total}`
                                 + (words.length ? `, ${shown.length} shown` : "")
                               : "no iterations";
    prev.style.visibility = p.offset > 0 ? "visible" : "hidden";
    next.style.visibility = p.offset + rows.length < p.total ? "visible" : "hidden";
  }

  async function load() {
    const page = await get(`/v1/experiment/${eid}/iterations?limit=${limit}&offset=${offset}`);
    /* redraw only what changed: a poll must not rebuild a table the user is clicking in */
    if (!state.page || JSON.stringify(page) !== JSON.stringify(state.page)) {
      state.page = page;
      draw();
    }
    return state.page.data.some((r) => r.status_id === 1);
  }
  view.replaceChildren(el("h1", {}, e.name), el("p", {}, e.description),
                       el("div", {class: "toolbar"}, filter, compare, prev, info, next), table);
  const running = await load();
  if (running) poll(async () => load());
}

function numOrText(s) {
  if (s === undefined) return undefined;
  const n = Number(s);
  return s.trim() !== "" && Number.isFinite(n) ? n : s;
}

function kvTable(id, obj) {
  const keys = Object.keys(obj).sort();
  if (!keys.length) return el("p", {class: "muted", id}, "None.");
  return el("table", {id}, keys.map((k) => el("tr", {"data-key": k}, el("th", {}, k),
                                              el("td", {}, obj[k]))));
}

async function download(res) {
  const token = localStorage.getItem(TOKEN_KEY);
  const r = await fetch("/resource/" + res.id + "/data",
                        {headers: token ? {"Authorization": "Bearer " + token} : {}});
  if (!r.ok) throw new ApiError(r.status, null);
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", {href: url, download: res.name});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/* Every series of iteration `iid` ({key, steps, values}), downsampled for a chart: one
 * request per key, in parallel (the server reads each on its own thread). */
async function fetchSeries(iid) {
  const keys = (await get("/v1/iteration/" + iid + "/series?summary=true")).series;
  const one = (k) => get("/v1/iteration/" + iid + "/series?max_points=" + MAX_POINTS +
                         "&key=" + encodeURIComponent(k.key)).then((d) => d.series);
  return (await Promise.all(keys.map(one))).flat();
}

async function pageIteration(view, iid) {
  const seriesFirst = fetchSeries(iid);   /* the slowest read: start it first */
  seriesFirst.catch(() => {});   /* its failure is reported where it is awaited */
  const it = await get("/iteration/" + iid);
  const e = await get("/experiment/" + it.experiment_id);
  const p = await get("/project/" + e.project_id);
  crumbs(["#/", "projects"], ["#/project/" + p.id, p.name],
         ["#/experiment/" + e.id, e.name], ["#/iteration/" + iid, "iteration " + iid]);
  const [params, tags, resources, env, models] = await Promise.all([
    getAll("/parameter/iteration/" + iid), get("/tag/iteration/" + iid),
    getAll("/resource/experiment/" + e.id), get("/v1/iteration/" + iid + "/env"),
    getAll("/model/project/" + p.id)]);
  const versions = [];
  for (const m of models) {
    for (const v of await getAll("/modelversion/model/" + m.id)) {
      if (v.iteration_id === it.id) versions.push({model: m, v});
    }
  }
  const paramObj = {};
  params.forEach((x) => { paramObj[x.key] = x.value; });

  const status = el("span", {id: "status"}, statusBadge(it.status_id));
  const ended = el("span", {id: "ended"}, fmtDate(it.end_date));
  const notes = el("textarea", {id: "notes"});
  notes.value = it.notes || "";
  const notesMsg = el("span", {id: "notes-msg", class: "muted"});
  const saveNotes = el("button", {id: "save-notes"}, "Save notes");
  const editable = it.status_id === 1 && canUpdate(p.id);
  notes.disabled = saveNotes.disabled = !editable;
  if (!editable) {
    notesMsg.textContent = it.status_id !== 1 ? "an ended iteration is read-only"
                                              : "you may not update this project";
  }
  saveNotes.addEventListener("click", async () => {
    try {
      await api("PATCH", "/iteration/" + iid, {notes: notes.value});
      notesMsg.textContent = "saved";
    } catch (err) {
      notesMsg.textContent = err.message;
    }
  });
  const charts = el("div", {class: "charts", id: "charts"});
  const snapshot = {git_sha: it.git_sha, git_dirty: String(it.git_dirty),
                    entrypoint: it.entrypoint, julia_version: it.julia_version};
  view.replaceChildren(
    el("h1", {}, "Iteration " + iid, " ", status),
    el("dl", {class: "kv"},
       el("dt", {}, "experiment"), el("dd", {}, link("#/experiment/" + e.id, e.name)),
       el("dt", {}, "created"), el("dd", {id: "created"}, fmtDate(it.created_date)),
       el("dt", {}, "ended"), el("dd", {}, ended),
       el("dt", {}, "parent"), el("dd", {}, it.parent_iteration_id
         ? link("#/iteration/" + it.parent_iteration_id, it.parent_iteration_id) : "none")),
    it.error_message ? el("div", {}, el("h2", {}, "Error"),
                          el("pre", {class: "error", id: "error"}, it.error_message)) : null,
    el("h2", {}, "Notes"), notes, el("div", {}, saveNotes, " ", notesMsg),
    el("h2", {}, "Metrics"), charts,
    el("h2", {}, "Parameters"), kvTable("params", paramObj),
    el("h2", {}, "Tags"), tags.length ? el("p", {id: "tags"}, tags.map((t) => t.value).join(", "))
                                      : el("p", {class: "muted", id: "tags"}, "None."),
    el("h2", {}, "Environment"), kvTable("env", snapshot),
    [["Project.toml", it.project_toml], ["Manifest.toml", it.manifest_toml]]
      .filter(([, text]) => text).map(([name, text]) => el("details", {class: "env-file"},
        el("summary", {}, name), el("pre", {}, text))),
    env.files.map((f) => el("details", {class: "env-file"},
      el("summary", {}, f.name + " (" + fmtBytes(f.size) + ")"),
      f.text === null ? el("p", {class: "muted"}, "binary or large file") : el("pre", {}, f.text))),
    el("h2", {}, "Resources of the experiment"),
    resources.length ? el("table", {id: "resources"},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "size"), el("th", {}, "sha256"),
         el("th", {}, "")),
      resources.map((r) => el("tr", {"data-id": r.id}, el("td", {}, r.name),
        el("td", {class: "num"}, fmtBytes(r.size_bytes)), el("td", {}, el("code", {}, r.content_hash)),
        el("td", {}, el("a", {href: "/resource/" + r.id + "/data", class: "download",
                              onclick: (ev) => { ev.preventDefault(); download(r); }},
                        "download")))))
      : el("p", {class: "muted"}, "None."),
    el("h2", {}, "Model versions produced"),
    versions.length ? el("table", {id: "versions"}, versions.map(({model, v}) =>
      el("tr", {}, el("td", {}, link("#/model/" + model.id, model.name + " v" + v.version)),
         el("td", {class: "stage-" + STAGE[v.stage_id]}, STAGE[v.stage_id]))))
      : el("p", {class: "muted"}, "None."));

  const plots = new Map();
  async function loadSeries(pending) {
    const series = await (pending || fetchSeries(iid));
    if (!series.length && !plots.size) {
      charts.replaceChildren(el("p", {class: "muted"}, "No metrics recorded."));
    }
    for (const s of series) {
      const plot = plots.get(s.key);
      if (plot) plot.setData([s.steps, s.values]);
      else plots.set(s.key, chart(charts, s.key, s.steps, [{label: s.key, values: s.values}]));
    }
  }
  await loadSeries(seriesFirst);
  if (it.status_id === 1) {
    poll(async () => {
      const now = await get("/iteration/" + iid);
      status.replaceChildren(statusBadge(now.status_id));
      ended.textContent = fmtDate(now.end_date);
      await loadSeries();
      return now.status_id === 1;
    });
  }
}

async function pageCompare(view, ids) {
  const its = await Promise.all(ids.map((id) => get("/iteration/" + id)));
  const e = await get("/experiment/" + its[0].experiment_id);
  const p = await get("/project/" + e.project_id);
  crumbs(["#/", "projects"], ["#/project/" + p.id, p.name], ["#/experiment/" + e.id, e.name],
         ["#/compare/" + ids.join(","), "compare"]);
  const [params, series] = await Promise.all([
    Promise.all(ids.map((id) => getAll("/parameter/iteration/" + id))),
    Promise.all(ids.map(fetchSeries))]);
  const keys = new Set();
  params.forEach((ps) => ps.forEach((x) => keys.add(x.key)));
  const value = (i, k) => { const x = params[i].find((x) => x.key === k); return x ? x.value : ""; };
  const rows = [...keys].sort().map((k) => {
    const vals = ids.map((_, i) => value(i, k));
    const differ = vals.some((v) => v !== vals[0]);
    return el("tr", {class: differ ? "diff" : null, "data-key": k}, el("th", {}, k),
              vals.map((v) => el("td", {}, v)));
  });
  const charts = el("div", {class: "charts", id: "charts"});
  view.replaceChildren(el("h1", {}, "Compare iterations " + ids.join(", ")),
    el("h2", {}, "Parameters"),
    el("table", {id: "compare-params"},
       el("tr", {}, el("th", {}, "key"), its.map((it) => el("th", {},
          link("#/iteration/" + it.id, "iteration " + it.id), " ", statusBadge(it.status_id)))),
       rows),
    el("h2", {}, "Metrics"), charts);
  const metricKeys = new Set();
  series.forEach((s) => s.forEach((x) => metricKeys.add(x.key)));
  for (const k of [...metricKeys].sort()) {
    const list = [];
    series.forEach((s, i) => {
      const x = s.find((x) => x.key === k);
      if (x) list.push({label: "iteration " + ids[i], steps: x.steps, values: x.values});
    });
    const o = overlay(list);
    chart(charts, k, o.xs, o.lines);
  }
  if (!metricKeys.size) charts.replaceChildren(el("p", {class: "muted"}, "No metrics recorded."));
}

async function pageModel(view, mid) {
  const m = await get("/model/" + mid);
  const p = await get("/project/" + m.project_id);
  crumbs(["#/", "projects"], ["#/project/" + p.id, p.name], ["#/model/" + mid, m.name]);
  const [versions, aliases, history] = await Promise.all([
    getAll("/modelversion/model/" + mid), get("/v1/model/" + mid + "/aliases"),
    get("/v1/model/" + mid + "/stagehistory?limit=" + HISTORY_PAGE)]);
  const msg = el("p", {id: "stage-msg", class: "muted"});
  const editable = canUpdate(p.id);
  const rows = versions.map((v) => {
    const select = el("select", {class: "stage", "data-id": v.id, disabled: !editable},
      Object.entries(STAGE).map(([id, name]) =>
        el("option", {value: id, selected: Number(id) === v.stage_id ? "selected" : null}, name)));
    select.addEventListener("change", async () => {
      try {
        await api("PATCH", "/modelversion/" + v.id, {stage_id: Number(select.value)});
        msg.textContent = "version " + v.version + " is now " + STAGE[select.value];
        route();   /* PRODUCTION archives the incumbent: show every row as it is now */
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    const names = aliases.filter((a) => a.modelversion_id === v.id).map((a) => a.alias);
    return el("tr", {"data-id": v.id, "data-version": v.version},
      el("td", {}, "v" + v.version), el("td", {class: "stage-" + STAGE[v.stage_id]}, select),
      el("td", {class: "aliases"}, names.join(", ")),
      el("td", {}, link("#/iteration/" + v.iteration_id, "iteration " + v.iteration_id)),
      el("td", {}, v.resource_id === null ? "" : "resource " + v.resource_id),
      el("td", {}, fmtDate(v.created_date)), el("td", {}, v.description));
  });
  view.replaceChildren(el("h1", {}, "Model " + m.name), el("p", {}, m.description),
    el("h2", {}, "Versions"),
    versions.length ? el("table", {id: "model-versions"},
      el("tr", {}, ["version", "stage", "aliases", "source iteration", "resource", "created",
                    "description"].map((h) => el("th", {}, h))), rows)
      : el("p", {class: "muted"}, "No versions."),
    msg,
    el("h2", {}, "Stage history"), historyTable(mid, history));
}

/* One row of the stage history: when, which version, from -> to (from nothing: it was
 * registered), by whom ("" when not known: no auth, a single-user mount). */
function historyRow(h) {
  return el("tr", {"data-id": h.id, "data-version": h.version},
    el("td", {class: "when"}, fmtDate(h.changed_at)),
    el("td", {class: "version"}, "v" + h.version),
    el("td", {class: "change"},
       el("span", {class: "from"}, h.from_stage === null ? "registered" : h.from_stage),
       " \u2192 ", el("span", {class: "to stage-" + h.to_stage}, h.to_stage)),
    el("td", {class: "user"}, h.username === null ? "" : h.username));
}

/* The newest HISTORY_PAGE changes, newest first; "Older changes" fetches the next page
 * (the server bounds each request). */
function historyTable(mid, first) {
  if (!first.data.length) {
    return el("p", {class: "muted", id: "stage-history"}, "No stage changes.");
  }
  const table = el("table", {id: "stage-history"},
    el("tr", {}, ["time", "version", "change", "user"].map((h) => el("th", {}, h))),
    first.data.map(historyRow));
  const box = el("div", {}, table);
  let shown = first.data.length;
  if (shown < first.total) {
    const more = el("button", {id: "history-more"}, "Older changes");
    more.addEventListener("click", async () => {
      const page = await get("/v1/model/" + mid + "/stagehistory?limit=" + HISTORY_PAGE +
                             "&offset=" + shown);
      page.data.forEach((h) => table.append(historyRow(h)));
      shown += page.data.length;
      if (shown >= page.total || !page.data.length) more.remove();
    });
    box.append(more);
  }
  return box;
}

/* ------------------------------------------------------------------ routing */

/* Show the page of `hash`, also when it is the current one (no hashchange then). */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/* Re-run `step` every POLL_MS while it returns true and the page is still shown. */
function poll(step) {
  const gen = app.gen;
  const tick = async () => {
    if (gen !== app.gen) return;
    let again = false;
    try { again = await step(); } catch (err) { showError(err); return; }
    if (again && gen === app.gen) app.timer = setTimeout(tick, POLL_MS);
  };
  app.timer = setTimeout(tick, POLL_MS);
}

function showError(err) {
  const view = document.getElementById("view");
  view.append(el("p", {class: "error", id: "page-error"},
                 err.status === 403 ? "You may not read this." : err.message));
}

async function loadMe() {
  app.me = null;
  app.perms = null;
  const who = document.getElementById("who");
  if (app.auth && !localStorage.getItem(TOKEN_KEY)) { who.replaceChildren(); return; }
  app.me = await get("/auth/me");
  if (app.auth && !app.me.is_admin) app.perms = await get("/user/" + app.me.id + "/permissions");
  const out = el("button", {id: "logout"}, "Log out");
  out.addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    app.me = null;
    go("#/login");
  });
  who.replaceChildren(app.me.username, app.auth ? out : "");
}

async function route() {
  app.gen++;
  clearTimeout(app.timer);
  window.ddCharts.forEach((c) => c.plot.destroy());
  window.ddCharts = [];
  delete document.body.dataset.page;
  const view = document.getElementById("view");
  const [path, qs] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(qs || "");
  const parts = (path || "/").split("/").filter(Boolean);
  let page = parts[0] || "projects";
  try {
    if (app.auth && !localStorage.getItem(TOKEN_KEY)) page = "login";
    if (page === "login") await pageLogin(view);
    else if (page === "projects") await pageProjects(view);
    else if (page === "project") await pageProject(view, Number(parts[1]));
    else if (page === "experiment") await pageExperiment(view, Number(parts[1]), query);
    else if (page === "iteration") await pageIteration(view, Number(parts[1]));
    else if (page === "compare") await pageCompare(view, parts[1].split(",").map(Number));
    else if (page === "model") await pageModel(view, Number(parts[1]));
    else view.replaceChildren(el("p", {}, "No such page."));
  } catch (err) {
    view.replaceChildren();
    showError(err);
  }
  document.body.dataset.page = page;
  performance.mark("dd-drawn");   /* bench/dashboard.py reads it: the page is on screen */
}

async function start() {
  app.auth = (await get("/v1/auth/mode")).enabled;
  try { await loadMe(); } catch (err) { /* a stale token: the login page follows */ }
  window.addEventListener("hashchange", route);
  await route();
}

start();
