// leadscore dashboard: a vanilla JavaScript module over the REST API (/api/v1).
// Views live in the URL fragment (#/contacts, #/contact/ID, #/model, #/reports,
// #/automation). Every element is built with h() (textContent, never innerHTML), so
// contact data cannot inject markup. See docs/dashboard.md.

const KEY = "leadscore.key";
let me = null; // GET /api/v1/me: role, name, model vocabulary

// ---------------------------------------------------------------- helpers

function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);
const fmt = (n, d = 1) => (typeof n === "number" ? Number(n.toFixed(d)).toString() : "–");
const pct = (r) => (typeof r === "number" ? `${fmt(100 * r)} %` : "–");
const when = (t) => (t ? new Date(t).toLocaleString() : "–");
const isAdmin = () => me && me.role === "admin";
const enc = encodeURIComponent;

function badge(label) {
  const cls = ["hot", "warm", "cold"].includes(label) ? label : "none";
  return h("span", { class: `badge ${cls}` }, label || "none");
}

function status(text) {
  $("#status").textContent = text || "";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
  });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: { message: text } }; }
  if (response.status === 401) { signOut("Your key was refused; sign in again."); }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function view(...children) {
  const root = $("#view");
  root.replaceChildren(...children);
  return root;
}

function section(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...children);
}

function table(headers, rows, opts = {}) {
  return h("table", opts,
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label || c)))),
    h("tbody", {}, rows));
}

function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 8)}`;
  control.id = id;
  return h("div", {}, h("label", { for: id }, label), control);
}

function select(name, values, current, emptyLabel = "any") {
  return h("select", { name },
    h("option", { value: "" }, emptyLabel),
    values.map((v) => h("option", { value: v, selected: v === current }, v)));
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").map(decodeURIComponent), params: new URLSearchParams(query) };
}

// ---------------------------------------------------------------- sign-in

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    me = await api("/api/v1/me");
  } catch (e) {
    sessionStorage.removeItem(KEY);
    me = null;
    throw e;
  }
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  me = null;
  showSignIn(message);
}

function showSignIn(message) {
  $("#nav").hidden = true;
  $("#who").hidden = true;
  $("#signout").hidden = true;
  $("#view").replaceChildren();
  $("#signin").hidden = false;
  $("#signin-error").textContent = message || "";
  $("#key").focus();
}

function showChrome() {
  $("#signin").hidden = true;
  $("#nav").hidden = false;
  $("#signout").hidden = false;
  const who = $("#who");
  who.hidden = false;
  who.textContent = `${me.name} · ${me.role} · model ${me.model.name} v${me.model.version ?? "–"}`;
}

// ---------------------------------------------------------------- contacts

async function contactsView(params) {
  const m = me.model;
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter contacts" },
    field("Search", h("input", { type: "search", name: "q", value: params.get("q") || "",
      placeholder: "name, e-mail, company, id" })),
    field("Label", select("label", m.labels, params.get("label"))),
    field("Grade", select("grade", m.grades, params.get("grade"))),
    field("Stage", select("stage", m.stages, params.get("stage"))),
    field("Owner", select("owner", m.members, params.get("owner"))),
    field("Group", select("group", m.groups, params.get("group"))),
    h("div", {}, h("button", { type: "submit" }, "Apply")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/contacts?${q}`;
  });
  form.querySelectorAll("select").forEach((s) => s.addEventListener("change", () => form.requestSubmit()));
  const query = new URLSearchParams();
  for (const k of ["q", "label", "grade", "stage", "owner", "group", "cursor"]) {
    if (params.get(k)) query.set(k, params.get(k));
  }
  query.set("limit", "50");
  const page = await api(`/api/v1/contacts?${query}`);
  // With a group the list is ordered by the group's points: they get their own column.
  const group = params.get("group");
  const groupPoints = (r) => (r.groups && typeof r.groups[group] === "number" ? r.groups[group] : 0);
  const max = Math.max(1, ...page.items.map((r) => r.score));
  const rows = page.items.map((r) =>
    h("tr", { class: r.label || "" },
      group ? h("td", { class: "num group-points" }, fmt(groupPoints(r))) : null,
      h("td", { class: "num" }, String(r.score),
        h("span", { class: "scorebar hide-sm", style: null, "data-w": Math.max(0, r.score) / max })),
      h("td", {}, h("a", { href: `#/contact/${enc(r.contact_id)}`, class: "contact-link" }, r.contact_id)),
      h("td", {}, badge(r.label)),
      h("td", {}, r.grade || "–"),
      h("td", { class: "hide-sm" }, r.stage || "–"),
      h("td", { class: "hide-sm" }, r.owner || "–")));
  const headers = ["Score", "Contact", "Label", "Grade", { label: "Stage" }, "Owner"];
  if (group) headers.unshift({ label: `${group} points`, num: true });
  const t = table(headers, rows, { id: "contacts",
    "aria-label": group ? `Contacts with points in ${group}, most first` : "Contacts by score, best first" });
  t.querySelectorAll("thead th").forEach((th, i) => { if (i >= 4 + (group ? 1 : 0)) th.classList.add("hide-sm"); });
  // Widths through CSSOM (the CSP forbids inline style attributes).
  t.querySelectorAll(".scorebar").forEach((s) => { s.style.width = `${Math.round(60 * s.dataset.w)}px`; });
  const stack = (params.get("prev") || "").split(",").filter(Boolean);
  const go = (cursor, prev) => {
    const q = new URLSearchParams(params);
    cursor ? q.set("cursor", cursor) : q.delete("cursor");
    prev.length ? q.set("prev", prev.join(",")) : q.delete("prev");
    location.hash = `#/contacts?${q}`;
  };
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: !params.get("cursor"),
      onclick: () => { const p = stack.slice(); const c = p.pop(); go(c === "-" ? "" : c, p); } }, "← Previous"),
    h("button", { type: "button", class: "secondary", id: "next-page", disabled: !page.next,
      onclick: () => go(page.next, [...stack, params.get("cursor") || "-"]) }, "Next →"),
    h("span", { class: "muted" }, `${page.items.length} shown`));
  view(h("h1", {}, "Contacts"), h("div", { class: "card" }, form),
    h("div", { class: "card" }, page.items.length ? t : h("p", {}, "No contacts match."), pager));
}

// ---------------------------------------------------------------- one contact

function scoreChart(history) {
  const points = history.map((r) => ({ t: Date.parse(r.as_of), s: r.score }));
  const W = 640, H = 200, P = 34;
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "score-chart",
    "aria-label": `Score over time, ${points.length} changes` });
  if (points.length === 0) return h("p", {}, "No history yet.");
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const smin = Math.min(0, ...points.map((p) => p.s)), smax = Math.max(10, ...points.map((p) => p.s));
  const x = (t) => P + ((t - t0) / (t1 - t0)) * (W - 2 * P);
  const y = (s) => H - P - ((s - smin) / (smax - smin)) * (H - 2 * P);
  svg.append(h("svg:line", { x1: P, y1: y(smin), x2: W - P, y2: y(smin), stroke: "#aab3bd" }));
  svg.append(h("svg:line", { x1: P, y1: P, x2: P, y2: H - P, stroke: "#aab3bd" }));
  svg.append(h("svg:text", { x: 2, y: y(smax) + 4 }, String(smax)));
  svg.append(h("svg:text", { x: 2, y: y(smin) + 4 }, String(smin)));
  svg.append(h("svg:text", { x: P, y: H - 8 }, new Date(t0).toLocaleDateString()));
  svg.append(h("svg:text", { x: W - P, y: H - 8, "text-anchor": "end" }, new Date(t1).toLocaleDateString()));
  // A step line: a score holds until the next change.
  let d = "";
  points.forEach((p, i) => {
    d += i === 0 ? `M${x(p.t)},${y(p.s)}` : `H${x(p.t)}V${y(p.s)}`;
  });
  d += `H${W - P}`;
  svg.append(h("svg:path", { d, fill: "none", stroke: "#1f5fbf", "stroke-width": 2 }));
  for (const p of points) {
    svg.append(h("svg:circle", { cx: x(p.t), cy: y(p.s), r: 3, fill: "#1f5fbf" },
      h("svg:title", {}, `${new Date(p.t).toLocaleString()}: ${p.s}`)));
  }
  return svg;
}

const STATUS_TEXT = {
  counted: "counted",
  limit_reached: "not counted: limit reached",
  outside_window: "not counted: outside the rule's window",
  reset: "not counted: before a stage reset",
  future: "not counted yet: in the future",
  machine: "a machine's open or click: see the machine line",
};

async function contactView(id) {
  const base = `/api/v1/contacts/${enc(id)}`;
  const [score, record, timeline, history, automation, adjustments] = await Promise.all([
    api(`${base}/score`),
    api(base).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
    api(`${base}/timeline`),
    api(`${base}/scores`),
    api(`${base}/automation`),
    api(`${base}/adjustments`),
  ]);
  const head = h("div", { class: "card row" },
    h("div", {}, h("div", { class: "muted" }, "Score"), h("div", { class: "big", id: "score" }, String(score.score))),
    h("div", {}, badge(score.label), " grade ", h("strong", {}, score.grade || "–")),
    h("div", {}, "stage ", h("strong", {}, score.stage || "–"), " · owner ",
      h("strong", {}, automation.owner || "–")),
    h("div", { class: "muted" }, `fit ${fmt(score.fit)} · engagement ${fmt(score.engagement)} · manual ${fmt(score.manual)}`));
  const attrs = record ? Object.entries(record.attributes) : [];
  const attributes = section("Attributes",
    attrs.length ? h("dl", { class: "attrs" }, attrs.flatMap(([k, v]) => [h("dt", {}, k),
      h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]))
      : h("p", { class: "muted" }, "No attributes set through the API (identify traits live in the timeline)."));
  const explain = section("Why this score",
    table(["Rule", "Kind", { label: "Count", num: true }, { label: "Points", num: true }],
      score.explain.map((l) => h("tr", { "data-rule": l.rule },
        h("td", {}, l.label || l.rule, l.author ? h("span", { class: "muted" }, ` (by ${l.author})`) : null,
          l.not_counted ? h("div", { class: "muted" }, `${l.not_counted} not counted (limit)`) : null,
          l.capped ? h("div", { class: "muted" }, `${fmt(l.capped)} taken by the group cap`) : null),
        h("td", {}, l.kind),
        h("td", { class: "num" }, String(l.count)),
        h("td", { class: "num points" }, fmt(l.points, 2)))),
      { id: "explain" }));
  const items = timeline.items.map((e) =>
    h("li", { class: e.rules.some((r) => r.status === "counted") ? "scored" : "", "data-points": e.points },
      h("strong", {}, e.event), " ", h("span", { class: "muted" }, when(e.at)),
      e.duplicate ? h("span", { class: "muted" }, " · duplicate, not counted") : null,
      e.rules.length ? h("ul", { class: "hits" }, e.rules.map((r) =>
        h("li", { "data-rule": r.rule, "data-status": r.status },
          `${r.label || r.rule}: `, h("strong", {}, `${fmt(r.points, 2)} pts`),
          r.status !== "counted" ? ` (${STATUS_TEXT[r.status] || r.status})` : ` of ${fmt(r.base_points)}`)))
        : h("div", { class: "muted" }, "matched no rule")));
  const tl = section(`Timeline (${timeline.items.length} events)`,
    items.length ? h("ol", { class: "timeline", id: "timeline" }, items) : h("p", { class: "muted" }, "No events."));
  const chart = section("Score over time", scoreChart(history.items));
  const stages = section("Stage and owner history",
    table(["When", "What", "Why"],
      [...automation.stages.map((s) => ({ at: s.at, what: `stage → ${s.stage}`, why: `${s.reason} (${s.actor})` })),
        ...automation.assignments.map((a) => ({ at: a.at, what: `owner → ${a.owner || "none"} (${a.team})`, why: a.reason }))]
        .sort((a, b) => a.at.localeCompare(b.at))
        .map((r) => h("tr", {}, h("td", {}, when(r.at)), h("td", {}, r.what), h("td", {}, r.why)))),
    automation.tags.length ? h("p", {}, "Tags: ", automation.tags.join(", ")) : null);
  const adjList = adjustments.items.length
    ? h("ul", {}, adjustments.items.map((a) => h("li", {}, `${a.points > 0 ? "+" : ""}${a.points} — ${a.reason} `,
      h("span", { class: "muted" }, `(${a.author}, ${when(a.at)})`))))
    : h("p", { class: "muted" }, "No manual adjustments.");
  let adjForm = null;
  if (isAdmin()) {
    const msg = h("p", { role: "alert", class: "error", id: "adjust-error" });
    adjForm = h("form", { id: "adjust", class: "row", "aria-label": "Manual adjustment" },
      field("Points", h("input", { name: "points", type: "number", step: "any", required: true, id: "adjust-points" })),
      field("Reason (required)", h("input", { name: "reason", required: true, maxlength: 2000, id: "adjust-reason", size: 40 })),
      field("Group", select("group", me.model.groups, "", "no group")),
      h("div", {}, h("button", { type: "submit" }, "Add adjustment")), msg);
    adjForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(adjForm);
      msg.textContent = "";
      try {
        await api(`${base}/adjustments`, { method: "POST", json: {
          points: Number(data.get("points")), reason: String(data.get("reason")), group: data.get("group") || null } });
        status("Adjustment saved; the contact was rescored.");
        await contactView(id);
      } catch (err) {
        msg.textContent = err.message;
      }
    });
  }
  view(h("p", {}, h("a", { href: "#/contacts" }, "← Contacts")),
    h("h1", {}, id), head,
    h("div", { class: "grid" }, explain, chart),
    tl,
    h("div", { class: "grid" }, attributes, stages),
    section("Manual adjustments", adjList, adjForm));
}

// ---------------------------------------------------------------- model

async function modelView(params) {
  const list = await api("/api/v1/models");
  const versions = list.items.map((m) => m.version);
  const active = list.items.find((m) => m.active);
  const rows = list.items.slice().reverse().map((m) => h("tr", {},
    h("td", { class: "num" }, String(m.version)), h("td", {}, m.name),
    h("td", {}, m.active ? h("strong", {}, "active") : (m.activated_at ? "was active" : "")),
    h("td", { class: "hide-sm" }, when(m.created_at)),
    h("td", {}, isAdmin() && !m.active ? h("button", { type: "button", class: "secondary",
      onclick: async () => {
        if (!confirm(`Activate version ${m.version}? Every contact is rescored.`)) return;
        try {
          await api(`/api/v1/models/${m.version}/activate`, { method: "POST" });
          me = await api("/api/v1/me");
          showChrome();
          status(`Version ${m.version} is active; contacts are being rescored.`);
          await modelView(params);
        } catch (e) { status(e.message); }
      } }, "Activate") : null)));
  const versionsCard = section("Versions",
    table(["Version", "Name", "", { label: "Created" }, ""], rows, { id: "versions" }));
  // Diff between any two versions.
  const from = select("from", versions.map(String), params.get("from") || String(versions[Math.max(0, versions.length - 2)] ?? ""), "—");
  const to = select("to", versions.map(String), params.get("to") || String(versions[versions.length - 1] ?? ""), "—");
  const diffOut = h("pre", { class: "diff", id: "diff", "aria-live": "polite" });
  const diffForm = h("form", { class: "row" }, field("From", from), field("To", to),
    h("div", {}, h("button", { type: "submit", class: "secondary" }, "Show diff")));
  diffForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!from.value || !to.value) return;
    try {
      const d = await api(`/api/v1/models/${from.value}/diff/${to.value}`);
      diffOut.replaceChildren(...(d.unified || "(no differences)").split("\n").map((line) =>
        h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : null }, `${line}\n`)));
    } catch (err) { diffOut.textContent = err.message; }
  });
  const diffCard = section("Compare versions", diffForm, diffOut);
  const backtestCard = backtestSection(list.items, active, params);
  let editorCard = null;
  const text = active ? (await api(`/api/v1/models/${active.version}`)).text : "";
  const area = h("textarea", { id: "model-text", rows: 22, spellcheck: "false", "aria-describedby": "model-diagnostics",
    readonly: !isAdmin() }, text);
  const diagnostics = h("ul", { class: "diag", id: "model-diagnostics", role: "alert" });
  const goTo = (line) => {
    const lines = area.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || "").length);
  };
  const children = [field("Model (TOML)", area), diagnostics];
  if (isAdmin()) {
    const upload = h("button", { type: "button", id: "model-upload" }, "Validate and save as a new version");
    upload.addEventListener("click", async () => {
      diagnostics.replaceChildren();
      try {
        const saved = await api("/api/v1/models", { method: "POST", body: area.value });
        diagnostics.append(h("li", { class: "ok" }, `Saved as version ${saved.version} (not active yet).`),
          ...saved.warnings.map((w) => h("li", {}, `warning: ${w.message || JSON.stringify(w)}`)));
        await modelView(new URLSearchParams({ from: active ? active.version : saved.version, to: saved.version }));
        $("#model-diagnostics").prepend(h("li", { class: "ok" }, `Saved as version ${saved.version} (not active yet).`));
      } catch (err) {
        const diags = (err.body && err.body.diagnostics) || [];
        diagnostics.append(h("li", { class: "error" }, err.message),
          ...diags.map((d) => h("li", { class: d.severity === "error" ? "error diagnostic" : "diagnostic" },
            h("button", { type: "button", class: "link", onclick: () => goTo(d.line) },
              `line ${d.line}, column ${d.column}`),
            `: ${d.message}`, d.help ? h("span", { class: "muted" }, ` — ${d.help}`) : null)));
      }
    });
    children.push(h("div", { class: "row" }, upload));
  }
  editorCard = section(isAdmin() ? "Edit (saved as a new version)" : "Active model (read-only)", ...children);
  view(h("h1", {}, "The model"),
    h("p", {}, active ? `Active: version ${active.version}, “${active.name}”.` : "No stored model is active."),
    versionsCard, diffCard, backtestCard, editorCard);
}

const BACKTEST_ROWS = [
  ["contacts", "Contacts with an outcome", String],
  ["converters", "Converted", String],
  ["qualified", "Qualified by the model", String],
  ["precision", "Precision (qualified who converted)", pct],
  ["recall", "Recall (converters qualified)", pct],
  ["top10_capture", "Converters in the best 10 %", pct],
  ["top20_capture", "Converters in the best 20 %", pct],
  ["auc", "ROC AUC", (v) => (typeof v === "number" ? fmt(v, 3) : "–")],
];

/** The models of a backtest answer (`{"models":[{"model","evaluation"}]}`, candidate
 *  first), as [name, evaluation] pairs. */
function backtestModels(answer) {
  if (Array.isArray(answer.models)) return answer.models.map((m, i) => [m.model ?? (i ? "active" : "candidate"), m.evaluation || m]);
  return ["candidate", "active", "baseline"].filter((k) => answer[k]).map((k) => [k, answer[k].evaluation || answer[k]]);
}

/** "Backtest against active": a candidate version's evaluation beside the active model's
 *  (POST /api/v1/models/{version}/backtest), before anyone activates it. */
function backtestSection(models, active, params) {
  const candidates = models.filter((m) => !m.active).map((m) => String(m.version));
  if (!active || candidates.length === 0) {
    return section("Backtest against active", h("p", { class: "muted" },
      "Save a new version to compare it with the active model on the stored outcomes."));
  }
  const choice = select("version", candidates.slice().reverse(), params.get("to") || candidates[candidates.length - 1], "—");
  choice.id = "backtest-version";
  const out = h("div", { id: "backtest", "aria-live": "polite" });
  const form = h("form", { class: "row", "aria-label": "Backtest a version" }, field("Candidate version", choice),
    h("div", {}, h("button", { type: "submit", class: "secondary", id: "backtest-run" }, "Backtest against active")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!choice.value) return;
    out.replaceChildren(h("p", { class: "muted" }, "Scoring the stored outcomes…"));
    try {
      const answer = await api(`/api/v1/models/${enc(choice.value)}/backtest`, { method: "POST" });
      const pairs = backtestModels(answer);
      const better = (key, i) => {
        if (pairs.length < 2 || i !== 0 || ["contacts", "converters", "qualified"].includes(key)) return null;
        const [a, b] = [pairs[0][1][key], pairs[1][1][key]];
        if (typeof a !== "number" || typeof b !== "number" || a === b) return null;
        return a > b ? "ok" : "error";
      };
      out.replaceChildren(table(["", ...pairs.map(([name], i) =>
        ({ label: i === 0 ? `candidate: ${name}` : name, num: true }))],
      BACKTEST_ROWS.map(([key, label, show]) => h("tr", { "data-metric": key }, h("td", {}, label),
        pairs.map(([, ev], i) => h("td", { class: `num ${better(key, i) || ""}` }, show(ev[key])))))),
      h("p", { class: "muted" }, "Green: the candidate does better than the active model; red: worse."));
    } catch (err) {
      out.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  });
  return section("Backtest against active", h("p", { class: "muted" },
    "How a saved version would have ranked the contacts with a stored outcome, beside the active model."), form, out);
}

// ---------------------------------------------------------------- reports

function barChart(id, label, bars, colorOf, opts = {}) {
  const W = 640, H = 220, P = 30;
  const value = (b) => (typeof b.value === "number" ? b.value : b.count);
  const max = opts.max ?? Math.max(1, ...bars.map(value));
  const bw = (W - 2 * P) / Math.max(1, bars.length);
  const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id, "aria-label": label });
  svg.append(h("svg:line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#aab3bd" }));
  svg.append(h("svg:text", { x: 2, y: P }, opts.axis ? opts.axis(max) : String(max)));
  bars.forEach((b, i) => {
    const bh = ((H - 2 * P) * Math.max(0, value(b))) / max;
    svg.append(h("svg:rect", { x: P + i * bw + 1, y: H - P - bh, width: Math.max(1, bw - 2), height: bh,
      fill: colorOf(b), class: "bar", "data-name": b.name }, h("svg:title", {}, `${b.name}: ${b.tip ?? b.text ?? b.count}`)));
    if (b.text !== undefined && bars.length <= 16) {
      svg.append(h("svg:text", { x: P + i * bw + bw / 2, y: H - P - bh - 4, "text-anchor": "middle" }, b.text));
    }
    if (bars.length <= 16 || i % Math.ceil(bars.length / 16) === 0) {
      svg.append(h("svg:text", { x: P + i * bw + bw / 2, y: H - P + 14, "text-anchor": "middle" }, b.short ?? b.name));
    }
  });
  return svg;
}

const LABEL_COLORS = { hot: "#c62828", warm: "#d9822b", cold: "#2f6db5" };

async function reportsView() {
  const d = await api("/api/v1/reports/distribution?bucket=10");
  const top = (labels) => Object.entries(labels).sort((a, b) => b[1] - a[1])[0]?.[0];
  const hist = barChart("histogram", `Score distribution of ${d.total} contacts, buckets of ${d.bucket} points`,
    d.buckets.map((b) => ({ name: `${b.from} to ${b.to}`, short: String(b.from), count: b.count, label: top(b.labels) })),
    (b) => LABEL_COLORS[b.label] || "#7a8591");
  const funnel = barChart("funnel", "Contacts per lifecycle stage, in the model's order",
    d.stages.map((s) => ({ name: s.name, count: s.count })), () => "#1f5fbf");
  const counts = (title, list) => section(title, table(["", { label: "Contacts", num: true }, { label: "Share", num: true }],
    list.map((c) => h("tr", {}, h("td", {}, title === "Labels" ? badge(c.name) : c.name),
      h("td", { class: "num" }, String(c.count)),
      h("td", { class: "num" }, d.total ? `${fmt((100 * c.count) / d.total)} %` : "–")))));
  // 404: no outcome stored yet (422 from servers before that answer); either way
  // there is no report to draw yet.
  const outcomes = await api("/api/v1/reports/outcomes")
    .catch((e) => (e.status === 404 || e.status === 422 ? { contacts: 0 } : Promise.reject(e)));
  view(h("h1", {}, "Reports"),
    h("p", {}, `${d.total} contacts scored · mean ${fmt(d.mean)} · min ${fmt(d.min)} · max ${fmt(d.max)}`),
    h("div", { class: "grid" },
      section("Score distribution", hist),
      section("Contacts per stage now", funnel)),
    h("div", { class: "grid" }, counts("Labels", d.labels), counts("Grades", d.grades), counts("Stages", d.stages)),
    h("h2", {}, "Outcomes: what preceded a sale"),
    outcomeReports(outcomes));
}

/** Days, hours or minutes for a number of seconds. */
function duration(seconds) {
  if (typeof seconds !== "number") return "–";
  if (seconds >= 86400) return `${fmt(seconds / 86400)} d`;
  if (seconds >= 3600) return `${fmt(seconds / 3600)} h`;
  return `${fmt(seconds / 60)} min`;
}

/** The time a funnel step took, in whichever field the report gives it. */
function stepTime(step) {
  for (const [k, v] of Object.entries(step)) {
    if (typeof v !== "number" || k === "contacts" || k === "to_next") continue;
    if (/seconds|secs/.test(k)) return { key: k, text: duration(v) };
    if (/days/.test(k)) return { key: k, text: `${fmt(v)} d` };
    if (/hours/.test(k)) return { key: k, text: `${fmt(v)} h` };
  }
  return null;
}

/** Conversion by band and grade, rule lift and the funnel, from GET /api/v1/reports/outcomes
 *  (the JSON of `leadscore report --format json`). */
function outcomeReports(o) {
  if (!o.contacts) {
    return h("p", { class: "muted", id: "no-outcomes" },
      "No outcomes stored yet: a CRM sends them to POST /api/v1/contacts/{id}/outcomes "
      + "(or as Order Completed, Opportunity Won and Opportunity Lost events).");
  }
  const rates = (groups) => (groups || []).filter((g) => g.contacts > 0).map((g) => ({
    name: g.name, value: g.rate || 0, count: g.contacts,
    text: pct(g.rate), tip: `${pct(g.rate)} (${g.converters} of ${g.contacts})` }));
  const rateOpts = { max: 1, axis: () => "100 %" };
  const bandChart = barChart("conversion-band", "Conversion rate by score band, lowest band first",
    rates(o.by_band), () => "#1f5fbf", rateOpts);
  const gradeChart = barChart("conversion-grade", "Conversion rate by grade, in the model's order",
    rates(o.by_grade), () => "#2e7d32", rateOpts);
  const groupTable = (title, groups, unit = "Contacts") => table([title, { label: unit, num: true },
    { label: "Converted", num: true }, { label: "Rate", num: true }],
  (groups || []).map((g) => h("tr", {}, h("td", {}, title === "Label" ? badge(g.name) : g.name),
    h("td", { class: "num" }, String(g.contacts)), h("td", { class: "num" }, String(g.converters)),
    h("td", { class: "num" }, pct(g.rate)))));
  // Rule lift: horizontal bars, 1 (no better than average) marked.
  const rules = (o.rules || []).filter((r) => typeof r.lift === "number");
  const W = 640, row = 22, L = 200, H = Math.max(1, rules.length) * row + 30;
  const maxLift = Math.max(2, ...rules.map((r) => r.lift));
  const x = (v) => L + (v / maxLift) * (W - L - 60);
  const lift = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "rule-lift",
    "aria-label": `Lift of ${rules.length} rules among converters, highest first; 1 is the average` });
  rules.forEach((r, i) => {
    const y = 10 + i * row;
    lift.append(h("svg:text", { x: L - 6, y: y + 13, "text-anchor": "end" }, r.rule));
    lift.append(h("svg:rect", { x: L, y, width: Math.max(1, x(r.lift) - L), height: row - 6, class: "bar",
      fill: r.lift >= 1 ? "#2e7d32" : "#b3261e", "data-name": r.rule },
    h("svg:title", {}, `${r.rule}: lift ${fmt(r.lift, 2)}, fired for ${pct(r.converter_share)} of converters`)));
    lift.append(h("svg:text", { x: x(r.lift) + 4, y: y + 13 }, fmt(r.lift, 2)));
  });
  lift.append(h("svg:line", { x1: x(1), y1: 4, x2: x(1), y2: H - 16, stroke: "#1b1f24", "stroke-dasharray": "4 3" }));
  lift.append(h("svg:text", { x: x(1), y: H - 4, "text-anchor": "middle" }, "average (1)"));
  const ruleTable = table(["Rule", { label: "Lift", num: true }, { label: "Converters", num: true },
    { label: "Others", num: true }, { label: "Points share", num: true }],
  (o.rules || []).map((r) => h("tr", {}, h("td", {}, r.rule, h("span", { class: "muted" }, ` ${r.kind}`)),
    h("td", { class: "num" }, typeof r.lift === "number" ? fmt(r.lift, 2) : "–"),
    h("td", { class: "num" }, pct(r.converter_share)), h("td", { class: "num" }, pct(r.non_converter_share)),
    h("td", { class: "num" }, pct(r.points_share)))), { id: "rules-table" });
  const steps = o.funnel || [];
  const funnel = barChart("outcome-funnel", "Funnel: contacts that reached each stage, then won",
    steps.map((s) => ({ name: s.step, count: s.contacts, text: String(s.contacts) })), (b) => (b.name === "won" ? "#2e7d32" : "#1f5fbf"));
  const funnelTable = table(["Step", { label: "Contacts", num: true }, { label: "To next", num: true },
    { label: "Time to next", num: true }],
  steps.map((s) => h("tr", {}, h("td", {}, s.step), h("td", { class: "num" }, String(s.contacts)),
    h("td", { class: "num" }, pct(s.to_next)), h("td", { class: "num" }, stepTime(s)?.text ?? "–"))),
  { id: "funnel-table" });
  return h("div", { id: "outcomes" },
    h("p", {}, `${o.contacts} contacts with an outcome · ${o.converters} converted (${pct(o.rate)})`),
    h("div", { class: "grid" },
      section("Conversion by score band", bandChart),
      section("Conversion by grade", gradeChart, groupTable("Grade", o.by_grade))),
    h("div", { class: "grid" },
      section("Rule lift among converters", rules.length ? lift : h("p", { class: "muted" }, "No rule fired."), ruleTable),
      section("Funnel to a sale", funnel, funnelTable)),
    h("div", { class: "grid" }, section("Conversion by label", groupTable("Label", o.by_label)),
      section("Conversion by stage", groupTable("Stage", o.by_stage))),
    o.accounts ? accountReports(o.accounts, rates, rateOpts, groupTable) : null);
}

/** The account report (the `accounts` member of the outcome report, with an `[account]`
 *  model): conversion by account score band, and the account score against the best
 *  member's contact score as predictors of the account's conversion. */
function accountReports(a, rates, rateOpts, groupTable) {
  const bandChart = barChart("account-conversion-band",
    `Account conversion rate by account score band of ${a.band_width} points, lowest band first`,
    rates(a.by_band), () => "#6a3fb5", rateOpts);
  const predictors = [["account score", a.account_score], ["best member score", a.best_member_score]];
  const auc = barChart("account-auc", "ROC AUC of the account score and of the best member's contact score",
    predictors.map(([name, e]) => ({ name, value: e.auc ?? 0, text: fmt(e.auc, 3), tip: `AUC ${fmt(e.auc, 3)}` })),
    (b) => (b.name === "account score" ? "#6a3fb5" : "#7a8591"), { max: 1, axis: () => "1" });
  const rows = [["ROC AUC", (e) => fmt(e.auc, 3)], ["Qualified", (e) => String(e.qualified)],
    ["Precision", (e) => pct(e.precision)], ["Recall", (e) => pct(e.recall)],
    ["Converters in top 10 %", (e) => pct(e.top10_capture)], ["Converters in top 20 %", (e) => pct(e.top20_capture)]];
  const compare = table(["", { label: "Account score", num: true }, { label: "Best member", num: true }],
    rows.map(([name, f]) => h("tr", {}, h("td", {}, name),
      h("td", { class: "num" }, f(a.account_score)), h("td", { class: "num" }, f(a.best_member_score)))),
    { id: "account-predictors" });
  const [x, y] = [a.account_score.auc, a.best_member_score.auc];
  const verdict = typeof x === "number" && typeof y === "number"
    ? `The account score ranks accounts ${x > y ? "better" : x < y ? "worse" : "no better"} than their best contact's own score (AUC ${fmt(x, 3)} vs ${fmt(y, 3)}).`
    : "Not enough converted and unconverted accounts to compare.";
  return h("div", { id: "accounts-report" },
    h("h2", {}, "Accounts: buying groups"),
    h("p", {}, `${a.accounts} accounts of ${a.members} contacts · ${a.converters} converted (${pct(a.rate)}) · `
      + "each scored just before its first member outcome"),
    h("div", { class: "grid" },
      section("Account conversion by account score band", bandChart, groupTable("Account band", a.by_band, "Accounts")),
      section("Account score vs best member score", h("p", { id: "account-verdict" }, verdict), auc, compare,
        h("p", { class: "muted" }, "Qualified: the account's second stage or later, against some member at the MQL stage or later."))),
    h("div", { class: "grid" }, section("Conversion by account label", groupTable("Account label", a.by_label, "Accounts")),
      section("Conversion by account stage", groupTable("Account stage", a.by_stage, "Accounts"))));
}

// ---------------------------------------------------------------- automation

async function automationView(params) {
  const member = params.get("member") || me.model.members[0] || "";
  const st = params.get("status") || "";
  const memberSelect = select("member", me.model.members, member, "—");
  const statusSelect = select("status", ["pending", "delivered", "dead"], st, "all");
  const form = h("form", { class: "filters" }, field("Rep", memberSelect), field("Delivery status", statusSelect),
    h("div", {}, h("button", { type: "submit" }, "Show")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/automation?${q}`;
  });
  const [queue, deliveries, teams] = await Promise.all([
    member ? api(`/api/v1/owners/${enc(member)}/queue?limit=50`) : Promise.resolve({ items: [] }),
    api(`/api/v1/webhooks/deliveries?limit=100${st ? `&status=${enc(st)}` : ""}`),
    api("/api/v1/teams"),
  ]);
  // One row per member: how many leads they hold against the team's capacity, so a
  // sales manager sees who routing will skip next.
  const teamRows = teams.items.flatMap((t) => t.members.map((m, i) => h("tr", { class: m.full ? "full" : "", "data-member": m.member },
    h("td", {}, i === 0 ? t.team : ""),
    h("td", {}, h("a", { href: `#/automation?member=${enc(m.member)}` }, m.member)),
    h("td", { class: "num" }, String(m.open)),
    h("td", { class: "num" }, t.capacity == null ? "∞" : String(t.capacity)),
    h("td", {}, m.full ? h("strong", { class: "error" }, "full") : (t.capacity == null ? "open" : `${t.capacity - m.open} free`)))));
  const queueRows = queue.items.map((r) => h("tr", { class: r.label || "" },
    h("td", { class: "num" }, String(r.score)),
    h("td", {}, h("a", { href: `#/contact/${enc(r.contact_id)}` }, r.contact_id)),
    h("td", {}, badge(r.label)), h("td", {}, r.stage || "–")));
  const deliveryRows = deliveries.items.map((d) => h("tr", { class: d.status === "dead" ? "dead" : "", "data-id": d.id },
    h("td", {}, d.status === "dead" ? h("strong", { class: "error" }, "dead") : d.status),
    h("td", {}, d.trigger), h("td", {}, h("a", { href: `#/contact/${enc(d.contact_id)}` }, d.contact_id)),
    h("td", { class: "hide-sm" }, `${d.kind} → ${d.target}`),
    h("td", { class: "num" }, String(d.attempts)),
    h("td", { class: "hide-sm" }, d.last_error || ""),
    h("td", {}, isAdmin() && d.status !== "pending" ? h("button", { type: "button", class: "secondary",
      onclick: async () => {
        try {
          await api(`/api/v1/webhooks/deliveries/${enc(d.id)}/replay`, { method: "POST" });
          status(`Delivery ${d.id} is queued again.`);
          await automationView(params);
        } catch (e) { status(e.message); }
      } }, "Replay") : null)));
  view(h("h1", {}, "Routing and automation"), h("div", { class: "card" }, form),
    section("Team capacity",
      teamRows.length ? table(["Team", "Rep", { label: "Open leads", num: true }, { label: "Capacity", num: true }, "Room"], teamRows, { id: "teams" })
        : h("p", { class: "muted" }, "The active model has no teams.")),
    section(member ? `Queue of ${member}` : "Queue",
      queueRows.length ? table(["Score", "Contact", "Label", "Stage"], queueRows, { id: "queue" })
        : h("p", { class: "muted" }, "No open leads.")),
    section("Webhook and e-mail deliveries",
      deliveryRows.length ? table(["Status", "Trigger", "Contact", "Target", { label: "Tries", num: true }, "Last error", ""],
        deliveryRows, { id: "deliveries" }) : h("p", { class: "muted" }, "No deliveries.")));
}

// ---------------------------------------------------------------- router

async function route() {
  if (!me) return;
  // Which location the view on screen shows, once it is drawn (tests wait for it).
  const rendering = location.hash;
  const { parts, params } = parseHash();
  const name = parts[0] || "contacts";
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").slice(2);
    if (target === name || (name === "contact" && target === "contacts")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  status("");
  $("#view").setAttribute("aria-busy", "true");
  try {
    if (name === "contact" && parts[1]) await contactView(parts.slice(1).join("/"));
    else if (name === "model") await modelView(params);
    else if (name === "reports") await reportsView();
    else if (name === "automation") await automationView(params);
    else await contactsView(params);
    const heading = $("#view h1");
    if (heading) { heading.tabIndex = -1; heading.focus({ preventScroll: true }); }
  } catch (e) {
    if (e.status !== 401) view(h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, e.message));
  } finally {
    $("#view").setAttribute("aria-busy", "false");
    document.body.dataset.ready = "true";
    document.body.dataset.view = rendering;
  }
}

async function start() {
  $("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#signin-error").textContent = "";
    try {
      await signIn($("#key").value.trim());
      $("#key").value = "";
      showChrome();
      if (!location.hash) location.hash = "#/contacts";
      else await route();
    } catch (err) {
      $("#signin-error").textContent = err.status === 403
        ? "This key may not read the API (write keys are for ingestion only)."
        : err.message;
    }
  });
  $("#signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(KEY)) {
    try {
      me = await api("/api/v1/me");
      showChrome();
      await route();
      return;
    } catch { /* fall through to the form */ }
  }
  showSignIn();
}

start();
