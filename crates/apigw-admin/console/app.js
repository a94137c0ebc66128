// apigw console: plain JavaScript over the control-plane API (the same calls the SDKs make,
// with the admin token) and /metrics. Each page registers itself with `page` (resources.js adds
// apps, channels, certificates and domains, policies).
"use strict";

const S = { token: sessionStorage.getItem("apigw.token") || "", base: "", envs: [] };
const $ = (sel, root = document) => root.querySelector(sel);

/** An element: el("p", {class: "x"}, "text", child...). */
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

function say(text) {
  const s = $("#status");
  s.textContent = text;
  clearTimeout(say.t);
  say.t = setTimeout(() => { s.textContent = ""; }, 4000);
}

/** A control-plane call; resolves to {status, json}. */
async function api(method, path, body) {
  const r = await fetch(path.startsWith("/v2/") || path.startsWith("/console") ? path : S.base + path, {
    method,
    headers: { "X-Auth-Token": S.token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  return { status: r.status, json, text };
}

/** The field an APIG error names (`parameterName:plugin_content.api_limit` → `api_limit`). */
function fieldOf(msg) {
  const m = /parameterName:([^\s.(]+(?:\.[^\s.(]+)*)/.exec(msg || "");
  return m ? m[1].split(".").pop().replace(/\[\d+\]$/, "") : "";
}

/** Shows a failed call's error on the field it names in `form`, or under the form. */
function showError(form, res) {
  for (const e of form.querySelectorAll(".error")) e.remove();
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  const msg = (res.json && (res.json.error_msg || res.json.message)) || res.text || `HTTP ${res.status}`;
  const code = (res.json && res.json.error_code) || res.status;
  const name = fieldOf(msg);
  const input = name && form.querySelector(`[data-field="${name}"]`);
  const id = `err-${Math.random().toString(36).slice(2)}`;
  const p = el("p", { class: "error", id, role: "alert" }, `${code}: ${msg}`);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.after(p);
    input.focus();
  } else {
    form.append(p);
  }
}

function field(label, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return el("div", {}, el("label", { for: id }, label), input, help ? el("p", { class: "help" }, help) : null);
}

function select(name, options, value) {
  return el("select", { name, "data-field": name },
    options.map((o) => el("option", { value: o, selected: o === value }, o)));
}

async function loadEnvs() {
  const r = await api("GET", "/envs?limit=500");
  S.envs = (r.json && r.json.envs) || [];
  return S.envs;
}

// ---- sign in ----------------------------------------------------------------------------

async function signIn(token) {
  S.token = token;
  const r = await api("GET", "/console/session");
  if (r.status !== 200) return r;
  S.base = `/v2/${r.json.project_id}/apigw/instances/${r.json.instance_id}`;
  sessionStorage.setItem("apigw.token", token);
  $("#nav").hidden = false;
  await loadEnvs();
  return r;
}

function viewSignIn(main) {
  const token = el("input", { name: "token", type: "password", autocomplete: "current-password", "data-field": "token", required: true });
  const form = el("form", { class: "card", "aria-labelledby": "signin-title" },
    el("h1", { id: "signin-title" }, "Sign in"),
    field("Admin token", token, "The X-Auth-Token of this gateway (credentials.json in its data directory)."),
    el("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await signIn(token.value.trim());
    if (r.status === 200) location.hash = "#/dashboard";
    else showError(form, r);
  });
  main.append(form);
  token.focus();
}

// ---- groups and APIs --------------------------------------------------------------------

async function viewGroups(main) {
  main.append(el("h1", {}, "Groups & APIs"));
  const name = el("input", { name: "name", "data-field": "name", required: true });
  const newGroup = el("form", { class: "card", "aria-label": "New group" },
    el("h2", {}, "New group"), field("Group name", name, "3–64 characters, a letter first; letters, digits and underscores."),
    el("button", { type: "submit" }, "Create group"));
  newGroup.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/api-groups", { name: name.value });
    if (r.status === 201) { say(`Group ${name.value} created`); route(); } else showError(newGroup, r);
  });
  main.append(newGroup);
  const groups = ((await api("GET", "/api-groups?limit=500")).json || {}).groups || [];
  for (const g of groups) main.append(await groupSection(g));
}

async function groupSection(g) {
  const apis = ((await api("GET", `/apis?group_id=${g.id}&limit=500`)).json || {}).apis || [];
  const rows = [];
  for (const a of apis) {
    const bound = ((await api("GET", `/apis/${a.id}/attached-plugins?limit=500`)).json || {}).plugins || [];
    const published = [];
    for (const e of S.envs) {
      const r = await api("GET", `/apis?env_id=${e.id}&id=${a.id}`);
      if (r.json && r.json.total > 0) published.push(e.name);
    }
    const env = select("env", S.envs.map((e) => e.name), "RELEASE");
    env.setAttribute("aria-label", `Environment to publish ${a.name} in`);
    const publish = el("button", { type: "button", class: "secondary", "data-api": a.name, onclick: async () => {
      const e = S.envs.find((x) => x.name === env.value);
      const r = await api("POST", "/apis/action", { action: "online", env_id: e.id, api_id: a.id });
      if (r.status === 201) { say(`${a.name} published in ${e.name}`); route(); } else say(`${r.json && r.json.error_code}: ${r.json && r.json.error_msg}`);
    } }, "Publish");
    rows.push(el("tr", {},
      el("td", {}, a.name), el("td", {}, a.req_method), el("td", {}, a.req_uri),
      el("td", {}, published.join(", ") || "—"),
      el("td", {}, bound.map((b) => `${b.plugin_name} (${b.env_name})`).join(", ") || "—"),
      el("td", {}, env, publish)));
  }
  const sec = el("section", { "aria-label": `Group ${g.name}` },
    el("h2", {}, g.name, " ", el("small", { class: "help" }, g.sl_domain)),
    el("div", { class: "wide" }, el("table", {},
      el("thead", {}, el("tr", {}, ["API", "Method", "Path", "Published in", "Plug-ins", "Publish"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))));
  sec.append(newApiForm(g));
  return sec;
}

function newApiForm(g) {
  const name = el("input", { name: "name", "data-field": "name", required: true });
  const method = select("req_method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"], "GET");
  const path = el("input", { name: "req_uri", "data-field": "req_uri", value: "/", required: true });
  const kind = select("backend_type", ["MOCK", "HTTP"], "MOCK");
  const target = el("input", { name: "backend", "data-field": "result_content" });
  const form = el("form", { class: "card", "aria-label": `New API in ${g.name}` },
    el("h2", {}, `New API in ${g.name}`),
    el("div", { class: "row" },
      field("API name", name), field("Method", method), field("Path", path, "A template: /items/{id}."),
      field("Backend", kind), field("Mock answer or backend host:port", target)),
    el("button", { type: "submit" }, "Create API"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: name.value, type: 1, req_protocol: "BOTH", req_method: method.value, req_uri: path.value,
      auth_type: "NONE", backend_type: kind.value, group_id: g.id };
    if (kind.value === "MOCK") body.mock_info = { result_content: target.value };
    else body.backend_api = { url_domain: target.value, req_protocol: "HTTP", req_method: "ANY", req_uri: "/", timeout: 5000 };
    const r = await api("POST", "/apis", body);
    if (r.status === 201) { say(`API ${name.value} created`); route(); } else showError(form, r);
  });
  return form;
}

// ---- plug-ins ---------------------------------------------------------------------------

// The content models the forms are built from: each field's name, input, limits and help
// (crates/apigw-plugins/src/*.rs). Types without a form here take their content as JSON.
const MODELS = {
  rate_limit: [
    { name: "api_limit", label: "Calls per period (API)", type: "number", min: -1, help: "Mandatory; -1 = unlimited." },
    { name: "default_time_unit", label: "Period unit", options: ["second", "minute", "hour", "day"], value: "minute" },
    { name: "default_interval", label: "Period length", type: "number", min: 1, value: 1, help: "In period units, 1 or more." },
    { name: "app_limit", label: "Calls per app", type: "number", min: 0, help: "0 = not set; at most the API's limit." },
    { name: "user_limit", label: "Calls per user", type: "number", min: 0, help: "0 = not set; at most the API's limit." },
    { name: "ip_limit", label: "Calls per client IP", type: "number", min: 0, help: "0 = not set; at most the API's limit." },
    { name: "scope", label: "Counting", options: ["basic", "share"], value: "basic", help: "basic: each API on its own; share: the bound APIs together." },
    { name: "algorithm", label: "Algorithm", options: ["counter", "haht"], value: "counter", help: "counter is exact; haht counts locally first." },
  ],
  cors: [
    { name: "allow_origin", label: "Allowed origins", value: "*", help: "Comma-separated, or *." },
    { name: "allow_methods", label: "Allowed methods", value: "GET,POST,PUT,DELETE,HEAD,OPTIONS,PATCH" },
    { name: "allow_headers", label: "Allowed headers", value: "" },
    { name: "expose_headers", label: "Exposed headers", value: "" },
    { name: "max_age", label: "Max age (s)", type: "number", min: 0, value: 86400 },
    { name: "allow_credentials", label: "Allow credentials", options: ["false", "true"], value: "false" },
  ],
};
const TYPES = ["rate_limit", "cors", "set_resp_headers", "breaker", "third_auth", "kafka_log", "proxy_cache", "proxy_mirror"];

function contentInputs(type) {
  const model = MODELS[type];
  if (!model) {
    return [field("Content (JSON)", el("textarea", { name: "plugin_content", "data-field": "plugin_content" }, "{}"),
      "The plug-in's content as on APIG's page for this type.")];
  }
  return model.map((f) => {
    const input = f.options
      ? select(f.name, f.options, f.value)
      : el("input", { name: f.name, "data-field": f.name, type: f.type || "text", min: f.min, value: f.value ?? "" });
    return field(f.label, input, f.help);
  });
}

function contentOf(form, type) {
  const model = MODELS[type];
  if (!model) return form.querySelector("[name=plugin_content]").value;
  const c = {};
  for (const f of model) {
    const v = form.querySelector(`[name="${f.name}"]`).value;
    if (v === "") continue;
    if (f.type === "number") c[f.name] = Number(v);
    else if (f.options && (v === "true" || v === "false")) c[f.name] = v === "true";
    else c[f.name] = v;
  }
  return JSON.stringify(c);
}

async function viewPlugins(main) {
  main.append(el("h1", {}, "Plug-ins"));
  const type = select("plugin_type", TYPES, "rate_limit");
  const name = el("input", { name: "plugin_name", "data-field": "plugin_name", required: true });
  const fields = el("div", { class: "row" }, contentInputs("rate_limit"));
  type.addEventListener("change", () => fields.replaceChildren(...contentInputs(type.value)));
  const form = el("form", { class: "card", "aria-label": "New plug-in", novalidate: true },
    el("h2", {}, "New plug-in"),
    el("div", { class: "row" }, field("Plug-in name", name, "3–255 characters, a letter first."), field("Type", type)),
    fields, el("button", { type: "submit" }, "Create plug-in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/plugins", { plugin_name: name.value, plugin_type: type.value, plugin_scope: "global",
      plugin_content: contentOf(form, type.value) });
    if (r.status === 201) { say(`Plug-in ${name.value} created`); route(); } else showError(form, r);
  });
  main.append(form);

  const filter = select("filter", ["all", ...TYPES], S.filter || "all");
  filter.setAttribute("aria-label", "Show plug-ins of type");
  filter.addEventListener("change", () => { S.filter = filter.value; route(); });
  const q = S.filter && S.filter !== "all" ? `&plugin_type=${S.filter}` : "";
  const plugins = ((await api("GET", `/plugins?limit=500${q}`)).json || {}).plugins || [];
  const rows = plugins.map((p) => el("tr", {},
    el("td", {}, p.plugin_name), el("td", {}, p.plugin_type), el("td", {}, p.plugin_scope),
    el("td", {}, el("button", { type: "button", class: "secondary", "data-plugin": p.plugin_name, onclick: () => bindDialog(p) }, "Bind…"))));
  main.append(el("section", { "aria-label": "Plug-ins" }, el("div", { class: "row" }, field("Type", filter)),
    el("div", { class: "wide" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Name", "Type", "Scope", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)))));
}

async function bindDialog(p) {
  const env = select("env_id", S.envs.map((e) => e.name), "RELEASE");
  const apis = el("select", { name: "api", "data-field": "api_ids" });
  const fill = async () => {
    const e = S.envs.find((x) => x.name === env.value);
    const list = ((await api("GET", `/apis?env_id=${e.id}&limit=500`)).json || {}).apis || [];
    apis.replaceChildren(...list.map((a) => el("option", { value: a.id }, `${a.name} (${a.group_name})`)));
  };
  env.addEventListener("change", fill);
  await fill();
  const form = el("form", { method: "dialog" },
    el("h2", {}, `Bind ${p.plugin_name}`), field("Environment", env), field("Published API", apis),
    el("button", { type: "submit", value: "bind" }, "Bind"), " ",
    el("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Cancel"));
  const dlg = el("dialog", { "aria-label": `Bind ${p.plugin_name}` }, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const e = S.envs.find((x) => x.name === env.value);
    const r = await api("POST", `/plugins/${p.plugin_id}/attach`, { env_id: e.id, api_ids: [apis.value] });
    if (r.status === 201) { dlg.close(); dlg.remove(); say(`${p.plugin_name} bound`); } else showError(form, r);
  });
  document.body.append(dlg);
  dlg.showModal();
}

// ---- environments -----------------------------------------------------------------------

async function viewEnvs(main) {
  main.append(el("h1", {}, "Environments"));
  const name = el("input", { name: "name", "data-field": "name", required: true });
  const form = el("form", { class: "card", "aria-label": "New environment" }, el("h2", {}, "New environment"),
    field("Environment name", name), el("button", { type: "submit" }, "Create environment"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/envs", { name: name.value });
    if (r.status === 201) { await loadEnvs(); say(`Environment ${name.value} created`); route(); } else showError(form, r);
  });
  main.append(form, el("section", {}, el("table", {},
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "Remark"))),
    el("tbody", {}, (await loadEnvs()).map((e) => el("tr", {}, el("td", {}, e.name), el("td", {}, e.remark || "")))))));
}

// ---- dashboard --------------------------------------------------------------------------

/** Prometheus text → [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The latency at quantile q from cumulative buckets [{le, count}]. */
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total) return null;
  const want = q * total;
  for (const b of buckets) if (b.count >= want) return b.le;
  return Infinity;
}

function ms(s) {
  if (s === null) return "—";
  if (s === Infinity) return "> max";
  return s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms` : `${s.toFixed(1)} s`;
}

const COLORS = ["#2357c6", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700", "#5f3dc4"];

function chart(history) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 600 180");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const names = Object.keys(history);
  const max = Math.max(1, ...names.flatMap((n) => history[n]));
  svg.setAttribute("aria-label", `Calls per second over the last ${Math.max(0, ...names.map((n) => history[n].length))} samples; peak ${max.toFixed(1)}`);
  for (let i = 1; i < 4; i++) {
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: 0, x2: 600, y1: i * 45, y2: i * 45, stroke: "#eef1f6" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  names.forEach((n, i) => {
    const pts = history[n].map((v, j) => `${(j / 59) * 600},${175 - (v / max) * 165}`).join(" ");
    const pl = document.createElementNS(ns, "polyline");
    Object.entries({ points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2.5 }).forEach(([k, v]) => pl.setAttribute(k, v));
    svg.append(pl);
  });
  return svg;
}

async function viewDashboard(main) {
  main.append(el("h1", {}, "Dashboard"));
  const body = el("div", { id: "dash", "aria-live": "off" });
  main.append(body, el("p", { class: "help" }, "Refreshed every 2 seconds from /metrics."));
  const prev = {};
  const history = {};
  const tick = async () => {
    if (!document.body.contains(body)) return;
    const r = await fetch("/metrics", { headers: { "X-Auth-Token": S.token } });
    const m = parseMetrics(await r.text());
    const now = performance.now() / 1000;
    const apis = {};
    const of = (id) => (apis[id] ||= { id, name: id, calls: 0, classes: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 }, decisions: {}, buckets: [] });
    for (const x of m) {
      const id = x.labels.api_id;
      if (x.name === "apigw_requests_total") {
        const a = of(id);
        a.name = x.labels.api_name || id;
        a.calls += x.value;
        const cls = `${String(x.labels.status)[0]}xx`;
        a.classes[cls] = (a.classes[cls] || 0) + x.value;
      } else if (x.name === "apigw_decisions_total") {
        of(id).decisions[x.labels.decision] = x.value;
      } else if (x.name === "apigw_request_duration_seconds_bucket") {
        of(id).buckets.push({ le: x.labels.le === "+Inf" ? Infinity : Number(x.labels.le), count: x.value });
      }
    }
    const breakers = m.filter((x) => x.name === "apigw_breaker_open");
    const queue = m.filter((x) => x.name === "apigw_kafka_log_queue_depth").reduce((s, x) => s + x.value, 0);
    const drops = m.filter((x) => x.name.startsWith("apigw_kafka_log_") && x.name.includes("drop")).reduce((s, x) => s + x.value, 0);
    const list = Object.values(apis).sort((a, b) => a.name.localeCompare(b.name));
    let total = 0;
    for (const a of list) {
      a.buckets.sort((x, y) => x.le - y.le);
      const p = prev[a.id];
      a.rate = p ? Math.max(0, (a.calls - p.calls) / (now - p.t)) : 0;
      prev[a.id] = { calls: a.calls, t: now };
      (history[a.name] ||= []).push(a.rate);
      if (history[a.name].length > 60) history[a.name].shift();
      total += a.calls;
    }
    const decided = (k) => list.reduce((s, a) => s + (a.decisions[k] || 0), 0);
    const tiles = el("div", { class: "tiles" },
      [["Calls", total], ["Throttled", decided("throttled")], ["Breaker downgraded", decided("downgraded")],
        ["Auth refused", decided("auth_rejected")], ["Access denied", decided("access_denied")], ["Cache hits", decided("cached")],
        ["Open breakers", breakers.filter((b) => b.value > 0).length], ["Kafka queue", queue], ["Kafka dropped", drops]]
        .map(([k, v]) => el("div", { class: "tile", "data-tile": k }, el("b", {}, String(v)), el("span", {}, k))));
    const legend = el("div", { class: "legend" }, Object.keys(history).map((n, i) => {
      const swatch = el("i", { "aria-hidden": "true" });
      swatch.style.background = COLORS[i % COLORS.length]; // CSSOM, allowed by the CSP
      return el("span", {}, swatch, n);
    }));
    const rows = list.map((a) => el("tr", { "data-api": a.name },
      el("td", {}, a.name), el("td", {}, a.rate.toFixed(1)), el("td", {}, String(a.calls)),
      el("td", {}, ms(quantile(a.buckets, 0.5))), el("td", {}, ms(quantile(a.buckets, 0.99))),
      el("td", {}, `${a.classes["2xx"]} / ${a.classes["4xx"]} / ${a.classes["5xx"]}`),
      el("td", { "data-decisions": "" }, Object.entries(a.decisions).map(([k, v]) => `${k} ${v}`).join(", ") || "—")));
    body.replaceChildren(tiles, chart(history), legend, el("div", { class: "wide" }, el("table", {},
      el("thead", {}, el("tr", {}, ["API", "Calls/s", "Calls", "p50", "p99", "2xx / 4xx / 5xx", "Gateway decisions"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))));
    setTimeout(tick, 2000);
  };
  await tick();
}

// ---- routing ----------------------------------------------------------------------------

/** The pages, in the navigation's order: hash → {label, show(main)}; see `page`. */
const VIEWS = {};

/** Registers a page (its link in the navigation and its view). */
function page(hash, label, show) {
  VIEWS[hash] = { label, show };
}

page("#/dashboard", "Dashboard", viewDashboard);
page("#/groups", "Groups & APIs", viewGroups);
page("#/plugins", "Plug-ins", viewPlugins);
page("#/envs", "Environments", viewEnvs);

async function route() {
  const main = $("#main");
  main.replaceChildren();
  if (!S.base) {
    if (S.token && (await signIn(S.token)).status === 200) return route();
    $("#nav").hidden = true;
    return viewSignIn(main);
  }
  const hash = VIEWS[location.hash] ? location.hash : "#/dashboard";
  const links = $("#links");
  if (!links.childElementCount) {
    links.append(...Object.entries(VIEWS).map(([h, v]) => el("a", { href: h }, v.label)));
  }
  for (const a of links.querySelectorAll("a")) {
    if (a.getAttribute("href") === hash) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  await VIEWS[hash].show(main);
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#signout").addEventListener("click", () => {
    sessionStorage.removeItem("apigw.token");
    S.token = ""; S.base = "";
    route();
  });
  route();
});
