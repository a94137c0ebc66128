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

/** The field path an APIG error names (`parameterName:plugin_content.headers[0].name`). */
function errorPath(msg) {
  const m = /parameterName:([\w.[\]$-]+)/.exec(msg || "");
  return m ? m[1].replace(/\.$/, "") : "";
}

/** Shows a failed call's error on the field it names in `form`: the input whose `data-path` is
 * the whole path (`members[1].port`), else the plug-in content node's input for it, else the
 * input whose `data-field` is its last name; under the form when none is. */
function showError(form, res) {
  for (const e of form.querySelectorAll(".error")) e.remove();
  for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
  const msg = (res.json && (res.json.error_msg || res.json.message)) || res.text || `HTTP ${res.status}`;
  const code = (res.json && res.json.error_code) || res.status;
  const path = errorPath(msg);
  let input = path ? form.querySelector(`[data-path="${CSS.escape(path)}"]`) : null;
  if (!input && path.startsWith("plugin_content.") && form.node) input = form.node().at(segments(path.slice("plugin_content.".length)));
  if (!input && path) input = form.querySelector(`[data-field="${path.split(".").pop().replace(/\[\d+\]$/, "")}"]`);
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
  return el("div", {}, el("label", { for: id }, label), input, helpOf(help));
}

/** Help text, its `quoted` parts as code. */
function helpOf(text) {
  if (!text) return null;
  return el("p", { class: "help" }, text.split(/`([^`]*)`/).map((part, i) => (i % 2 ? el("code", {}, part) : part)));
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

// Each type's form is built from its content model: GET /console/models gives the Rust models
// as JSON Schemas (fields in APIG's names, types, enums, defaults, doc comments as help).
const TYPES = ["rate_limit", "cors", "set_resp_headers", "breaker", "third_auth", "kafka_log", "proxy_cache", "proxy_mirror"];

async function models() {
  S.models ||= (await api("GET", "/console/models")).json || {};
  return S.models;
}

/** A schema with its `$ref` resolved (the referring schema's description and default win). */
function resolve(s, root) {
  if (!s || !s.$ref) return s || {};
  const { $ref, ...rest } = s;
  return { ...resolve(root.$defs[$ref.split("/").pop()], root), ...rest };
}

/** {s, optional}: the schema without its `null` alternative, and whether it had one. */
function unwrap(schema, root) {
  const s = resolve(schema, root);
  if (s.anyOf) {
    const alt = s.anyOf.filter((x) => x.type !== "null");
    if (alt.length === 1) return { s: { ...resolve(alt[0], root), description: s.description, default: s.default }, optional: true };
  }
  if (Array.isArray(s.type)) {
    const t = s.type.filter((x) => x !== "null");
    return { s: { ...s, type: t[0] }, optional: t.length < s.type.length };
  }
  return { s, optional: false };
}

/** A model's enum values and their help ("a: …; b: …"), or null. */
function choices(s) {
  if (s.enum) return { values: s.enum, help: "" };
  if (s.oneOf && s.oneOf.every((o) => "const" in o)) {
    return { values: s.oneOf.map((o) => o.const), help: s.oneOf.filter((o) => o.description).map((o) => `${o.const}: ${o.description}`).join(" ") };
  }
  return null;
}

/** Path segments of an error's field: `response_headers[0].name` → ["response_headers", 0, "name"]. */
function segments(path) {
  return path.split(".").flatMap((p) => {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(p);
    if (!m) return [p];
    return [m[1], ...[...m[2].matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]))].filter((x) => x !== "");
  });
}

/**
 * A form node for one value of `schema`: {el, get(), at(segments)}. `get` gives the value to
 * send (undefined = leave the field out, so the server applies its default); `at` finds the
 * input an error's field path names.
 */
function node(name, schema, root, value, required) {
  const { s, optional } = unwrap(schema, root);
  const shown = s.default !== undefined && s.default !== null && s.default !== "" && typeof s.default !== "object";
  const help = [s.description, shown ? `Default ${s.default}.` : "",
    required && !/mandatory|required/i.test(s.description || "") ? "Required." : ""].filter(Boolean).join(" ");
  const initial = value !== undefined ? value : s.default;
  const ch = choices(s);
  if (s.type === "object" && s.properties) return objectNode(name, s, root, initial, optional && value === undefined, help);
  if (s.type === "array" && s.items) {
    const item = unwrap(s.items, root).s;
    if (item.type === "object") return listNode(name, item, root, initial || [], help);
    const ta = el("textarea", { name, "data-field": name, rows: 3 }, (initial || []).join("\n"));
    return { el: field(name, ta, `${help} One per line.`), get: () => {
      const v = ta.value.split("\n").map((x) => x.trim()).filter(Boolean).map((x) => (item.type === "integer" || item.type === "number" ? Number(x) : x));
      return v.length || required ? v : undefined;
    }, at: () => ta };
  }
  let input;
  if (ch || s.type === "boolean") {
    const values = ch ? ch.values.map(String) : ["true", "false"];
    const cur = initial === undefined || initial === null ? "" : String(initial);
    input = select(name, optional || !values.includes(cur) ? ["", ...values] : values, cur);
  } else if (s.type === "integer" || s.type === "number") {
    input = el("input", { name, "data-field": name, type: "number", step: s.type === "number" ? "any" : "1", value: initial ?? "" });
  } else {
    input = el("input", { name, "data-field": name, value: initial ?? "" });
  }
  return { el: field(name, input, [help, ch && ch.help].filter(Boolean).join(" ")), at: () => input, get: () => {
    const v = input.value;
    if (v === "") return undefined;
    if (s.type === "boolean") return v === "true";
    if (s.type === "integer" || s.type === "number") return Number(v);
    return v;
  } };
}

/** An object: its scalar fields in a grid, nested objects and lists below. Optional objects
 * have a switch that includes them. */
function objectNode(name, s, root, value, off, help) {
  const kids = {};
  const scalars = el("div", { class: "row" });
  const nested = el("div", {});
  for (const [k, sub] of Object.entries(s.properties)) {
    const n = node(k, sub, root, value ? value[k] : undefined, (s.required || []).includes(k));
    kids[k] = n;
    (n.el.tagName === "FIELDSET" ? nested : scalars).append(n.el);
  }
  const body = el("div", {}, scalars.childElementCount ? scalars : null, nested);
  const get = () => {
    const o = {};
    for (const [k, n] of Object.entries(kids)) {
      const v = n.get();
      if (v !== undefined) o[k] = v;
    }
    return o;
  };
  const at = (p) => (p.length && kids[p[0]] ? kids[p[0]].at(p.slice(1)) : body.querySelector("input, select, textarea"));
  if (name === null) return { el: body, get, at };
  const on = el("input", { type: "checkbox", checked: !off, "data-switch": name });
  body.hidden = off;
  on.addEventListener("change", () => { body.hidden = !on.checked; });
  return {
    el: el("fieldset", {}, el("legend", {}, name), helpOf(help),
      off ? el("label", {}, on, ` Set ${name}`) : null, body),
    get: () => (body.hidden ? undefined : get()),
    at,
  };
}

/** A list of objects: one fieldset per item, with Add and Remove. */
function listNode(name, item, root, values, help) {
  const items = [];
  const box = el("div", {});
  const add = (v) => {
    const n = objectNode(null, item, root, v, false, "");
    const wrap = el("fieldset", { class: "item" }, el("legend", {}, `${name} item`), n.el);
    const entry = { n, wrap };
    wrap.append(el("button", { type: "button", class: "secondary", onclick: () => {
      items.splice(items.indexOf(entry), 1);
      wrap.remove();
    } }, `Remove this ${name} item`));
    items.push(entry);
    box.append(wrap);
  };
  values.forEach(add);
  return {
    el: el("fieldset", { "data-list": name }, el("legend", {}, name), helpOf(help), box,
      el("button", { type: "button", class: "secondary", onclick: () => add(undefined) }, `Add ${name} item`)),
    get: () => (items.length ? items.map((x) => x.n.get()) : undefined),
    at: (p) => (typeof p[0] === "number" && items[p[0]] ? items[p[0]].n.at(p.slice(1)) : box.querySelector("input, select, textarea")),
  };
}

/** The plug-in form's fields for `type`, filled from `content` (an object) when editing. */
async function contentNode(type, content) {
  const schema = (await models())[type];
  return objectNode(null, schema, schema, content, false, "");
}

/** The create or edit form of a plug-in (`p` when editing). */
async function pluginForm(p, done) {
  const type = select("plugin_type", TYPES, p ? p.plugin_type : "rate_limit");
  if (p) type.disabled = true;
  const name = el("input", { name: "plugin_name", "data-field": "plugin_name", value: p ? p.plugin_name : "" });
  const remark = el("input", { name: "remark", "data-field": "remark", value: p ? p.remark || "" : "" });
  let content = await contentNode(type.value, p ? JSON.parse(p.plugin_content || "{}") : undefined);
  const fields = el("div", { class: "content" }, content.el);
  type.addEventListener("change", async () => {
    content = await contentNode(type.value);
    fields.replaceChildren(content.el);
  });
  const label = p ? `Edit ${p.plugin_name}` : "New plug-in";
  const form = el("form", { class: "card", "aria-label": label, novalidate: true },
    el("h2", {}, label),
    el("div", { class: "row" }, field("Plug-in name", name, "3–255 characters, a letter first."), field("Type", type),
      field("Remark", remark, "At most 255 characters.")),
    fields, el("button", { type: "submit" }, p ? "Save plug-in" : "Create plug-in"));
  form.node = () => content;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { plugin_name: name.value, plugin_type: type.value, plugin_scope: "global",
      plugin_content: JSON.stringify(content.get()), remark: remark.value };
    const r = p ? await api("PUT", `/plugins/${p.plugin_id}`, body) : await api("POST", "/plugins", body);
    if (r.status === 200 || r.status === 201) done(r); else showError(form, r);
  });
  return form;
}

async function viewPlugins(main) {
  main.append(el("h1", {}, "Plug-ins"));
  main.append(await pluginForm(null, (r) => { say(`Plug-in ${r.json.plugin_name} created`); route(); }));
  const filter = select("filter", ["all", ...TYPES], S.filter || "all");
  filter.setAttribute("aria-label", "Show plug-ins of type");
  filter.addEventListener("change", () => { S.filter = filter.value; route(); });
  const byName = el("input", { name: "plugin_name", type: "search", value: S.filterName || "" });
  byName.addEventListener("change", () => { S.filterName = byName.value; route(); });
  let q = S.filter && S.filter !== "all" ? `&plugin_type=${S.filter}` : "";
  if (S.filterName) q += `&plugin_name=${encodeURIComponent(S.filterName)}`;
  const plugins = ((await api("GET", `/plugins?limit=500${q}`)).json || {}).plugins || [];
  const rows = plugins.map((p) => el("tr", {},
    el("td", {}, p.plugin_name), el("td", {}, p.plugin_type), el("td", {}, p.remark || ""),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "secondary", "data-edit": p.plugin_name, onclick: () => editDialog(p) }, "Edit…"),
      el("button", { type: "button", class: "secondary", "data-plugin": p.plugin_name, onclick: () => bindDialog(p) }, "Bind…"),
      el("button", { type: "button", class: "secondary", "data-bound": p.plugin_name, onclick: () => boundDialog(p) }, "Bound APIs…"),
      el("button", { type: "button", class: "danger", "data-delete": p.plugin_name, onclick: async () => {
        if (!confirm(`Delete plug-in ${p.plugin_name}?`)) return;
        const r = await api("DELETE", `/plugins/${p.plugin_id}`);
        if (r.status === 204) { say(`Plug-in ${p.plugin_name} deleted`); route(); } else say(`${r.json && r.json.error_code}: ${r.json && r.json.error_msg}`);
      } }, "Delete"))));
  main.append(el("section", { "aria-label": "Plug-ins" }, el("div", { class: "row" }, field("Type", filter), field("Name contains", byName)),
    el("div", { class: "wide" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Name", "Type", "Remark", ""].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)))));
}

/** A modal dialog holding `content`; closing it removes it. */
function dialog(label, ...content) {
  const dlg = el("dialog", { "aria-label": label }, ...content);
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

async function editDialog(p) {
  const shown = (await api("GET", `/plugins/${p.plugin_id}`)).json || p;
  let dlg;
  const form = await pluginForm(shown, () => { dlg.close(); say(`Plug-in ${p.plugin_name} saved`); route(); });
  dlg = dialog(`Edit ${p.plugin_name}`, form, el("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Cancel"));
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
  const dlg = dialog(`Bind ${p.plugin_name}`, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const e = S.envs.find((x) => x.name === env.value);
    const r = await api("POST", `/plugins/${p.plugin_id}/attach`, { env_id: e.id, api_ids: [apis.value] });
    if (r.status === 201) { dlg.close(); say(`${p.plugin_name} bound`); } else showError(form, r);
  });
}

/** The APIs a plug-in is bound to, per environment, each with Unbind. */
async function boundDialog(p) {
  const body = el("div", {});
  const fill = async () => {
    const rows = [];
    for (const e of S.envs) {
      const list = ((await api("GET", `/plugins/${p.plugin_id}/attached-apis?env_id=${e.id}&limit=500`)).json || {}).apis || [];
      for (const a of list) {
        rows.push(el("tr", {}, el("td", {}, e.name), el("td", {}, a.api_name || a.name), el("td", {},
          el("button", { type: "button", class: "danger", "data-unbind": a.api_name || a.name, onclick: async () => {
            const r = await api("PUT", `/plugins/${p.plugin_id}/detach`, { env_id: e.id, api_ids: [a.api_id || a.id] });
            if (r.status === 204 || r.status === 200) { say(`${p.plugin_name} unbound from ${a.api_name || a.name}`); fill(); }
            else say(`${r.json && r.json.error_code}: ${r.json && r.json.error_msg}`);
          } }, "Unbind"))));
      }
    }
    body.replaceChildren(rows.length ? el("table", {},
      el("thead", {}, el("tr", {}, ["Environment", "API", ""].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows))
      : el("p", {}, "Not bound to any API."));
  };
  await fill();
  const dlg = dialog(`APIs bound to ${p.plugin_name}`, el("h2", {}, `APIs bound to ${p.plugin_name}`), body,
    el("button", { type: "button", class: "secondary", onclick: () => dlg.close() }, "Close"));
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

/** A line chart of `history` (name → last 60 samples), titled `what` for screen readers. */
function chart(history, what, unit) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 600 180");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const names = Object.keys(history);
  const max = Math.max(1, ...names.flatMap((n) => history[n]));
  svg.setAttribute("aria-label", `${what} over the last ${Math.max(0, ...names.map((n) => history[n].length))} samples; peak ${max.toFixed(1)} ${unit}`);
  for (let i = 1; i < 4; i++) {
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: 0, x2: 600, y1: i * 45, y2: i * 45, stroke: "#eef1f6" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  const peak = document.createElementNS(ns, "text");
  Object.entries({ x: 6, y: 16, fill: "#5b6476", "font-size": 13 }).forEach(([k, v]) => peak.setAttribute(k, v));
  peak.textContent = `${max.toFixed(1)} ${unit}`;
  svg.append(peak);
  names.forEach((n, i) => {
    const pts = history[n].map((v, j) => `${(j / 59) * 600},${175 - (v / max) * 165}`).join(" ");
    const pl = document.createElementNS(ns, "polyline");
    Object.entries({ points: pts, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2.5 }).forEach(([k, v]) => pl.setAttribute(k, v));
    svg.append(pl);
  });
  return svg;
}

/** A bar of an API's answers split by status class (2xx green, 3xx grey, 4xx amber, 5xx red). */
function classBar(classes) {
  const total = Object.values(classes).reduce((x, y) => x + y, 0) || 1;
  return el("div", { class: "bar", "aria-hidden": "true" }, Object.entries(classes).map(([k, v]) => {
    const part = el("i", { class: `c${k[0]}` });
    part.style.width = `${(100 * v) / total}%`; // CSSOM, allowed by the CSP
    return part;
  }));
}

async function viewDashboard(main) {
  main.append(el("h1", {}, "Dashboard"));
  const body = el("div", { id: "dash", "aria-live": "off" });
  main.append(body, el("p", { class: "help" }, "Refreshed every 2 seconds from /metrics."));
  const prev = {};
  const history = {};
  const p99s = {};
  const tick = async () => {
    if (!document.body.contains(body)) return;
    const r = await fetch("/metrics", { headers: { "X-Auth-Token": S.token } });
    const m = parseMetrics(await r.text());
    const now = performance.now() / 1000;
    const apis = {};
    const of = (id) => (apis[id] ||= { id, name: id, calls: 0, classes: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 }, decisions: {}, buckets: [], breakers: [] });
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
      } else if (x.name === "apigw_breaker_open" && id) {
        of(id).breakers.push(`${x.labels.rule}: ${x.labels.state}`);
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
      const p99 = quantile(a.buckets, 0.99);
      (p99s[a.name] ||= []).push(p99 === null || p99 === Infinity ? 0 : p99 * 1000);
      if (p99s[a.name].length > 60) p99s[a.name].shift();
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
      el("td", {}, classBar(a.classes), `${a.classes["2xx"]} / ${a.classes["4xx"]} / ${a.classes["5xx"]}`),
      el("td", { "data-decisions": "" }, Object.entries(a.decisions).map(([k, v]) => `${k} ${v}`).join(", ") || "—"),
      el("td", { "data-breaker": "", class: a.breakers.some((b) => !b.endsWith("closed")) ? "bad" : "" }, a.breakers.join(", ") || "—")));
    const charts = el("div", { class: "charts" },
      el("figure", {}, el("figcaption", {}, "Calls per second"), chart(history, "Calls per second", "calls/s")),
      el("figure", {}, el("figcaption", {}, "p99 latency (ms, bucket bound)"), chart(p99s, "p99 latency", "ms")));
    body.replaceChildren(tiles, charts, legend, el("div", { class: "wide" }, el("table", {},
      el("thead", {}, el("tr", {}, ["API", "Calls/s", "Calls", "p50", "p99", "2xx / 4xx / 5xx", "Gateway decisions", "Breaker"].map((h) => el("th", { scope: "col" }, h)))),
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
