// apigw console: the resource pages beside the plug-ins (apps and their authorisations, load
// balance channels with their members' health, certificates and domains, policies). Uses
// app.js's helpers (el, api, field, dialog, showError, say, route, page, S); everything of its own stays
// inside this function, so that no name here meets one of app.js's.
"use strict";
(() => {
  // ---- shared ---------------------------------------------------------------------------

  const ok = (r) => r.status >= 200 && r.status < 300;
  const errText = (r) => `${(r.json && r.json.error_code) || r.status}: ${(r.json && (r.json.error_msg || r.json.message)) || r.text}`;
  /** The items under `key` of a list call. */
  const list = async (path, key) => ((await api("GET", path)).json || {})[key] || [];
  /** Project-level paths (certificates): /v2/{project_id}/apigw. */
  const project = () => S.base.replace(/\/instances\/[^/]+$/, "");
  const instance = () => S.base.split("/").pop();
  const thead = (cols) => el("thead", {}, el("tr", {}, cols.map((h) => el("th", { scope: "col" }, h))));

  function button(text, attrs, onclick) {
    return el("button", { type: "button", class: "secondary", ...attrs, onclick }, text);
  }

  /** A button that makes a call and shows the page again (or the call's error). */
  function callButton(text, attrs, call, done) {
    return button(text, attrs, async () => {
      const r = await call();
      if (ok(r)) { say(done); route(); } else say(errText(r));
    });
  }

  /** An input for a field spec {name (the APIG field path), type, options, area, value, num}. */
  function inputOf(f) {
    const attrs = { name: f.name, "data-path": f.name, "data-field": f.name.split(".").pop().replace(/\[\d+\]$/, "") };
    let i;
    if (f.options) {
      i = el("select", attrs, f.options.map((o) => {
        const [v, t] = Array.isArray(o) ? o : [o, o];
        return el("option", { value: v, selected: String(v) === String(f.value ?? "") }, t);
      }));
    } else if (f.area) {
      i = el("textarea", { ...attrs, spellcheck: "false" }, f.value ?? "");
    } else {
      i = el("input", { ...attrs, type: f.type || "text", value: f.value ?? "", autocomplete: "off", "aria-label": f.aria });
    }
    if (f.num) i.dataset.num = "";
    return i;
  }
  const fieldsOf = (specs) => specs.map((f) => field(f.label, inputOf(f), f.help));

  /** The body of a form: each enabled input with a data-path and a value, at its path
   * (`vpc_health_config.port`, `members[0].host`); numbers as numbers, "true"/"false" of a
   * select as booleans. */
  function bodyOf(root) {
    const body = {};
    for (const i of root.querySelectorAll("[data-path]")) {
      if (i.matches(":disabled") || i.value === "") continue;
      let v = i.value;
      if (i.type === "number" || "num" in i.dataset) v = Number(v);
      else if (i.tagName === "SELECT" && (v === "true" || v === "false")) v = v === "true";
      const keys = i.dataset.path.split(".").flatMap((k) => {
        const m = /^(\w+)\[(\d+)\]$/.exec(k);
        return m ? [m[1], Number(m[2])] : [k];
      });
      let at = body;
      keys.forEach((k, n) => {
        if (n === keys.length - 1) at[k] = v;
        else at = at[k] ??= typeof keys[n + 1] === "number" ? [] : {};
      });
    }
    for (const [k, v] of Object.entries(body)) if (Array.isArray(v)) body[k] = v.filter(Boolean);
    return body;
  }

  /** A form (novalidate) that POSTs its body (made by `make(body)`, when given) to `path`;
   * shows the page again on success, else the server's error on the field it names. */
  function createForm(title, submit, kids, path, make) {
    const form = el("form", { class: "card", novalidate: true, "aria-label": title },
      el("h2", {}, title), kids, el("button", { type: "submit" }, submit));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const b = bodyOf(form);
      const r = await api("POST", path, make ? make(b) : b);
      if (ok(r)) { say(`${title}: done`); route(); } else showError(form, r);
    });
    return form;
  }

  /**
   * A resource: a table of `spec.list()` (columns `spec.cols`: [header, item → content or a
   * promise of it]; each row's own buttons from `spec.actions`, then Delete), and the form
   * that creates one from `spec.fields` (POST `spec.path`).
   */
  async function resource(main, spec) {
    const items = await spec.list();
    const rows = [];
    for (const x of items) {
      const name = spec.name(x);
      const cells = [];
      for (const [, c] of spec.cols) cells.push(el("td", {}, await c(x)));
      rows.push(el("tr", { "data-name": name }, cells, el("td", { class: "actions" },
        spec.actions ? spec.actions(x) : null,
        spec.put ? button("Edit…", { "data-edit": name }, () => editDialog(spec, x)) : null,
        callButton(spec.delLabel || "Delete", { "data-delete": name, "aria-label": `${spec.delLabel || "Delete"} ${spec.one} ${name}` },
          () => api("DELETE", spec.del(x)), `${spec.one} ${name} ${spec.delLabel ? "unbound" : "deleted"}`))));
    }
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: spec.cols.length + 1, class: "help" }, "None yet.")));
    const form = createForm(spec.formTitle || `New ${spec.one}`, spec.submit || `Create ${spec.one}`,
      [el("div", { class: "row" }, fieldsOf(spec.fields)), spec.more ? spec.more() : null], spec.path, spec.body);
    main.append(el("section", { "aria-label": spec.title }, el("h2", {}, spec.title),
      spec.help ? el("p", { class: "help" }, spec.help) : null,
      el("div", { class: "wide" }, el("table", {}, thead([...spec.cols.map((c) => c[0]), ""]), el("tbody", {}, rows))), form));
  }

  /** The value at a field path (`a.b`) of an item. */
  const valueAt = (x, path) => path.split(".").reduce((v, k) => (v == null ? v : v[k]), x);

  /** Edits an item in a dialog: the create form's fields filled from it, PUT to `spec.put(x)`. */
  function editDialog(spec, x) {
    const fields = spec.fields.map((f) => ({ ...f, value: valueAt(x, f.name) ?? f.value }));
    dialogForm(`Edit ${spec.one} ${spec.name(x)}`, el("div", { class: "row" }, fieldsOf(fields)), "Save",
      (form) => { const b = bodyOf(form); return api("PUT", spec.put(x), spec.body ? spec.body(b) : b); });
  }

  /** A modal form in a native <dialog> (like app.js's bind dialog); `submit(form)` makes the
   * call; closed and the page shown again on success, else the error shown on its field. */
  function dialogForm(title, kids, submitLabel, submit) {
    const form = el("form", { method: "dialog", novalidate: true }, el("h2", {}, title), kids,
      el("button", { type: "submit" }, submitLabel), " ", button("Cancel", {}, () => dlg.close()));
    const dlg = dialog(title, form);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await submit(form);
      if (ok(r)) { dlg.close(); say(`${title}: done`); route(); } else showError(form, r);
    });
  }

  /** An environment and one of its published APIs: `load(env_id)` gives [value, text] pairs. */
  async function publicationPicker(load, apiField) {
    const env = el("select", { name: "env_id", "data-field": "env_id" },
      S.envs.map((e) => el("option", { value: e.id, selected: e.name === "RELEASE" }, e.name)));
    const apis = el("select", { name: "api", "data-field": apiField });
    const fill = async () => apis.replaceChildren(...(await load(env.value)).map(([v, t]) => el("option", { value: v }, t)));
    env.addEventListener("change", fill);
    await fill();
    return { env, apis, kids: [field("Environment", env), field("Published API", apis)] };
  }

  /** A list of bindings, each with its remove button. */
  function boundList(items, text, removeAttrs, remove, done) {
    if (!items.length) return el("span", { class: "help" }, "—");
    return el("ul", { class: "plain" }, items.map((b) => el("li", {}, text(b), " ",
      callButton("Remove", { class: "secondary small", ...removeAttrs(b), "aria-label": `Remove ${text(b)}` }, () => remove(b), done(b)))));
  }

  // ---- apps -----------------------------------------------------------------------------

  async function viewApps(main) {
    main.append(el("h1", {}, "Apps"));
    await resource(main, {
      title: "Apps", one: "app", path: "/apps", name: (a) => a.name,
      help: "An app's key and secret sign APP-authenticated calls; it may call the APIs it is authorised to.",
      list: () => list("/apps?limit=500", "apps"),
      fields: [{ name: "name", label: "App name", help: "3–64 characters, a letter first; letters, digits and underscores." },
        { name: "remark", label: "Remark" }],
      cols: [["Name", (a) => a.name], ["Key", (a) => el("code", {}, a.app_key)], ["Remark", (a) => a.remark || "—"],
        ["Authorised to", async (a) => boundList(await list(`/app-auths/binded-apis?app_id=${a.id}&limit=500`, "auths"),
          (x) => `${x.api_name} (${x.group_name}, ${x.env_name})`, (x) => ({ "data-unauthorise": x.api_name }),
          (x) => api("DELETE", `/app-auths/${x.id}`), (x) => `${a.name} no longer authorised to ${x.api_name}`)]],
      actions: (a) => button("Authorise…", { "data-authorise": a.name }, () => authoriseDialog(a)),
      del: (a) => `/apps/${a.id}`,
      put: (a) => `/apps/${a.id}`,
    });
  }

  async function authoriseDialog(a) {
    const p = await publicationPicker(async (env) => (await list(`/apis?env_id=${env}&limit=500`, "apis"))
      .map((x) => [x.id, `${x.name} (${x.group_name})`]), "api_ids");
    dialogForm(`Authorise ${a.name}`, p.kids, "Authorise",
      () => api("POST", "/app-auths", { env_id: p.env.value, app_ids: [a.id], api_ids: [p.apis.value] }));
  }

  // ---- load balance channels ------------------------------------------------------------

  const STRATEGIES = [[1, "Weighted round robin"], [2, "Weighted least connections"], [3, "Source IP hash"], [4, "URI hash"]];
  const HEALTH = { normal: ["healthy", "ok"], abnormal: ["unhealthy", "bad"], unknown: ["not checked", "help"] };

  function memberRow(n) {
    const row = el("div", { class: "row member", role: "group", "aria-label": `Member ${n + 1}` },
      fieldsOf([{ name: `members[${n}].host`, label: `Member ${n + 1} host`, help: n ? null : "An IP address or host name." },
        { name: `members[${n}].port`, label: `Member ${n + 1} port`, type: "number", help: n ? null : "0 or empty: the channel's port." },
        { name: `members[${n}].weight`, label: `Member ${n + 1} weight`, type: "number", value: 1 }]));
    return row;
  }

  function channelMore() {
    const members = el("fieldset", {}, el("legend", {}, "Members"), memberRow(0));
    const add = button("Add member", {}, () => members.append(memberRow(members.querySelectorAll(".member").length)));
    const health = el("fieldset", {}, el("legend", {}, "Health check"), el("div", { class: "row" }, fieldsOf([
      { name: "vpc_health_config.protocol", label: "Protocol", options: ["HTTP", "HTTPS", "TCP"], value: "HTTP" },
      { name: "vpc_health_config.path", label: "Path", value: "/", help: "HTTP and HTTPS." },
      { name: "vpc_health_config.http_code", label: "Healthy status codes", value: "200", help: "Such as 200,201-299." },
      { name: "vpc_health_config.port", label: "Check port", type: "number", help: "Empty: each member's port." },
      { name: "vpc_health_config.threshold_normal", label: "Healthy after (successes)", type: "number", value: 2 },
      { name: "vpc_health_config.threshold_abnormal", label: "Unhealthy after (failures)", type: "number", value: 2 },
      { name: "vpc_health_config.time_interval", label: "Interval (s)", type: "number", value: 5 },
      { name: "vpc_health_config.timeout", label: "Timeout (s)", type: "number", value: 2, help: "Less than the interval." }])));
    const on = el("input", { type: "checkbox", checked: true, id: `hc-${Math.random().toString(36).slice(2)}` });
    on.addEventListener("change", () => { health.disabled = !on.checked; });
    return el("div", {}, members, add, el("p", {}, on, " ", el("label", { for: on.id, class: "inline" }, "Check the members' health")), health);
  }

  /** A channel's members with their health as the API answers it (`health_status`),
   * fetched again every 3 s while shown. */
  function membersCell(c) {
    const cell = el("div", { "data-members": c.name, "aria-live": "polite" });
    const fill = async () => {
      const ms = await list(`/vpc-channels/${c.id}/members?limit=500`, "members");
      cell.replaceChildren(el("ul", { class: "plain" }, ms.map((m) => {
        const [word, cls] = m.status === 2 ? ["disabled", "help"] : HEALTH[m.health_status] || [m.health_status, "help"];
        return el("li", { "data-member": `${m.host}:${m.port}`, "data-health": m.health_status },
          `${m.host}:${m.port || c.port} · weight ${m.weight} · `, el("span", { class: cls }, word));
      })));
    };
    const again = () => setTimeout(async () => {
      if (!document.body.contains(cell)) return;
      await fill();
      again();
    }, 3000);
    return fill().then(() => { again(); return cell; });
  }

  async function viewChannels(main) {
    main.append(el("h1", {}, "Load balance channels"));
    await resource(main, {
      title: "Channels", one: "channel", path: "/vpc-channels", name: (c) => c.name,
      help: "Members' health as the running gateway's checks see it: unknown until a published API uses the channel.",
      list: () => list("/vpc-channels?limit=500", "vpc_channels"),
      fields: [{ name: "name", label: "Channel name", help: "3–64 characters, a letter first." },
        { name: "port", label: "Port", type: "number", value: 80 },
        { name: "balance_strategy", label: "Balancing", options: STRATEGIES, value: 1, num: true },
        { name: "member_type", label: "Members are", options: [["ip", "IP addresses"], ["ecs", "servers (ecs)"]], value: "ip" }],
      more: channelMore,
      body: (b) => ({ type: 2, ...b }),
      cols: [["Name", (c) => c.name], ["Port", (c) => String(c.port)],
        ["Balancing", (c) => (STRATEGIES.find((s) => s[0] === c.balance_strategy) || [0, c.balance_strategy])[1]],
        ["Members and health", membersCell]],
      del: (c) => `/vpc-channels/${c.id}`,
    });
  }

  // ---- certificates and domains -----------------------------------------------------------

  async function viewCertificates(main) {
    main.append(el("h1", {}, "Certificates & domains"));
    const certs = await list(`${project()}/certificates?instance_id=${instance()}&limit=500`, "certs");
    await resource(main, {
      title: "SSL certificates", one: "certificate", path: `${project()}/certificates`, name: (c) => c.name,
      list: async () => certs,
      fields: [{ name: "name", label: "Certificate name", help: "4–50 characters, a letter first." },
        { name: "cert_content", label: "Certificate (PEM)", area: true, help: "The certificate, then its chain." },
        { name: "private_key", label: "Private key (PEM)", area: true },
        { name: "trusted_root_ca", label: "Trusted root CA (PEM, optional)", area: true, help: "To verify client certificates." }],
      cols: [["Name", (c) => c.name], ["Domain", (c) => c.common_name], ["Also for", (c) => (c.san || []).join(", ") || "—"],
        ["Expires", (c) => c.not_after], ["Client CA", (c) => (c.is_has_trusted_root_ca ? "yes" : "no")]],
      del: (c) => `${project()}/certificates/${c.id}`,
    });
    for (const g of await list("/api-groups?limit=500", "groups")) {
      const base = `/api-groups/${g.id}/domains`;
      await resource(main, {
        title: `Domains of ${g.name}`, one: "domain", path: base, name: (d) => d.domain, delLabel: "Unbind",
        formTitle: `Bind a domain to ${g.name}`, submit: "Bind domain",
        help: `Calls for these names reach ${g.name}, as for its own ${g.sl_domain}.`,
        list: async () => g.url_domains || [],
        fields: [{ name: "url_domain", label: "Domain name", help: "Such as api.example.com or *.example.com." },
          { name: "min_ssl_version", label: "Lowest TLS version", options: ["TLSv1.1", "TLSv1.2"], value: "TLSv1.1" },
          { name: "is_http_redirect_to_https", label: "HTTP redirected to HTTPS", options: ["false", "true"], value: "false" }],
        cols: [["Domain", (d) => d.domain], ["Certificate", (d) => d.ssl_name || "—"], ["Lowest TLS", (d) => d.min_ssl_version]],
        actions: (d) => [
          button("Certificate…", { "data-certificate": d.domain }, () => certificateDialog(g, d, certs)),
          d.ssl_id ? callButton("Remove certificate", { "data-uncertify": d.domain },
            () => api("POST", `${base}/${d.id}/certificates/detach`, { certificate_ids: [d.ssl_id] }), `certificate removed from ${d.domain}`) : null],
        del: (d) => `${base}/${d.id}`,
      });
    }
  }

  function certificateDialog(g, d, certs) {
    const pick = el("select", { name: "certificate", "data-field": "certificate_ids" },
      certs.map((c) => el("option", { value: c.id, selected: c.id === d.ssl_id }, `${c.name} (${c.common_name})`)));
    dialogForm(`Certificate of ${d.domain}`, [field("Certificate", pick, "It must cover the domain name.")], "Use certificate",
      () => api("POST", `/api-groups/${g.id}/domains/${d.id}/certificates/attach`, { certificate_ids: [pick.value] }));
  }

  // ---- policies -------------------------------------------------------------------------

  // The three kinds of policies bound to published APIs: their calls differ only in names.
  const POLICIES = [
    {
      title: "Request throttling policies", one: "throttling policy", path: "/throttles", key: "throttles", name: (t) => t.name,
      bindings: "/throttle-bindings", bindField: "strategy_id", param: "throttle_id", boundKey: "apis",
      bound: (b) => [b.throttle_apply_id, b.name, b.run_env_name],
      fields: [{ name: "name", label: "Policy name", help: "3–64 characters, a letter first." },
        { name: "api_call_limits", label: "Calls per API", type: "number", help: "Mandatory, 1 or more." },
        { name: "time_interval", label: "Period length", type: "number", value: 1 },
        { name: "time_unit", label: "Period unit", options: ["SECOND", "MINUTE", "HOUR", "DAY"], value: "MINUTE" },
        { name: "user_call_limits", label: "Calls per user", type: "number", help: "Optional; at most the API's." },
        { name: "app_call_limits", label: "Calls per app", type: "number", help: "Optional; at most the user's (else the API's)." },
        { name: "ip_call_limits", label: "Calls per client IP", type: "number", help: "Optional; at most the API's." },
        { name: "type", label: "Counting", options: [[1, "Each API on its own"], [2, "The bound APIs together"]], value: 1, num: true },
        { name: "remark", label: "Remark" }],
      cols: [["Name", (t) => t.name], ["Limit", (t) => `${t.api_call_limits} per ${t.time_interval} ${t.time_unit.toLowerCase()}`],
        ["Counting", (t) => (t.type === 2 ? "shared" : "per API")]],
    },
    {
      title: "Access control policies", one: "access control policy", path: "/acls", key: "acls", name: (a) => a.acl_name,
      bindings: "/acl-bindings", bindField: "acl_id", param: "acl_id", boundKey: "apis",
      bound: (b) => [b.bind_id, b.api_name, b.env_name],
      fields: [{ name: "acl_name", label: "Policy name", help: "3–64 characters, a letter first." },
        { name: "acl_type", label: "Effect", options: [["PERMIT", "Allow only these"], ["DENY", "Deny these"]], value: "DENY" },
        { name: "entity_type", label: "Applies to", options: [["IP", "Client IP addresses"], ["DOMAIN", "Account names"], ["DOMAIN_ID", "Account ids"]], value: "IP" },
        { name: "acl_value", label: "Values", help: "Comma-separated: 10.0.0.1, 10.1.0.0/16, 10.2.0.1-10.2.0.9 or names." }],
      cols: [["Name", (a) => a.acl_name], ["Effect", (a) => a.acl_type], ["Applies to", (a) => a.entity_type], ["Values", (a) => a.acl_value]],
    },
    {
      title: "Signature keys", one: "signature key", path: "/signs", key: "signs", name: (k) => k.name,
      bindings: "/sign-bindings", bindField: "sign_id", param: "sign_id", boundKey: "bindings",
      bound: (b) => [b.id, b.api_name, b.env_name],
      fields: [{ name: "name", label: "Key name", help: "3–64 characters, a letter first." },
        { name: "sign_type", label: "Signature", options: ["hmac", "basic", "public_key", "aes"], value: "hmac" },
        { name: "sign_key", label: "Key", help: "Empty: generated." },
        { name: "sign_secret", label: "Secret", help: "Empty: generated." },
        { name: "sign_algorithm", label: "AES algorithm", options: [["", "—"], "aes-128-cfb", "aes-256-cfb"], value: "", help: "aes keys only." }],
      cols: [["Name", (k) => k.name], ["Signature", (k) => k.sign_type], ["Key", (k) => el("code", {}, k.sign_key)]],
    },
  ];

  async function viewPolicies(main) {
    main.append(el("h1", {}, "Policies"));
    for (const k of POLICIES) {
      await resource(main, {
        ...k, list: () => list(`${k.path}?limit=500`, k.key),
        cols: [...k.cols, ["Bound to", async (x) => boundList(
          await list(`${k.bindings}/binded-apis?${k.param}=${x.id}&limit=500`, k.boundKey),
          (b) => `${k.bound(b)[1]} (${k.bound(b)[2]})`, (b) => ({ "data-unbind": k.bound(b)[1] }),
          (b) => api("DELETE", `${k.bindings}/${k.bound(b)[0]}`), (b) => `${k.name(x)} unbound from ${k.bound(b)[1]}`)]],
        actions: (x) => button("Bind…", { "data-bind": k.name(x) }, () => policyBindDialog(k, x)),
        del: (x) => `${k.path}/${x.id}`,
        put: (x) => `${k.path}/${x.id}`,
      });
    }
    await gatewayResponses(main);
  }

  async function policyBindDialog(k, x) {
    const p = await publicationPicker(async (env) => (await list(`${k.bindings}/unbinded-apis?${k.param}=${x.id}&env_id=${env}&limit=500`, "apis"))
      .map((a) => [a.publish_id, `${a.name} (${a.group_name})`]), "publish_ids");
    dialogForm(`Bind ${k.name(x)}`, p.kids, "Bind",
      () => api("POST", k.bindings, { [k.bindField]: x.id, publish_ids: [p.apis.value] }));
  }

  // ---- gateway responses (per group) ---------------------------------------------------------

  async function gatewayResponses(main) {
    const groups = await list("/api-groups?limit=500", "groups");
    if (!groups.length) return;
    const pick = el("select", { name: "group" }, groups.map((g) => el("option", { value: g.id, selected: g.id === S.responsesGroup }, g.name)));
    const at = el("div");
    const show = async () => {
      S.responsesGroup = pick.value;
      at.replaceChildren();
      await responseSets(at, groups.find((g) => g.id === pick.value));
    };
    pick.addEventListener("change", show);
    main.append(el("div", { class: "card" }, field("Gateway responses of the group", pick,
      "What the gateway answers for its own errors (throttled, not found, refused…) on the group's APIs.")), at);
    await show();
  }

  async function responseSets(at, g) {
    const base = `/api-groups/${g.id}/gateway-responses`;
    const full = async (r) => ((await api("GET", `${base}/${r.id}`)).json || {}).responses || {};
    await resource(at, {
      title: `Gateway responses of ${g.name}`, one: "response set", path: base, name: (r) => r.name,
      list: () => list(`${base}?limit=500`, "responses"),
      fields: [{ name: "name", label: "Set name", help: "1–64 characters." }],
      cols: [["Name", (r) => r.name], ["Group default", (r) => (r.default ? "yes" : "no")],
        ["Customised", async (r) => Object.entries(await full(r)).filter(([, v]) => !v.default)
          .map(([t, v]) => `${t} → ${v.status ?? "—"}`).join(", ") || "—"]],
      actions: (r) => button("Edit a response…", { "data-edit": r.name }, async () => {
        const types = await full(r);
        const type = el("select", { name: "response_type", "data-field": "response_type" }, Object.keys(types).map((t) => el("option", { value: t }, t)));
        const status = inputOf({ name: "status", type: "number" });
        const body = inputOf({ name: "body", area: true });
        const load = () => { status.value = types[type.value].status ?? ""; body.value = types[type.value].body ?? ""; };
        type.addEventListener("change", load);
        load();
        dialogForm(`Edit a response of ${r.name}`, [field("Error type", type), field("Status", status), field("Body", body, "$context variables are filled in.")],
          "Save", () => api("PUT", `${base}/${r.id}/${type.value}`, bodyOf(body.form)));
      }),
      del: (r) => `${base}/${r.id}`,
    });
  }

  page("#/apps", "Apps", viewApps);
  page("#/channels", "Channels", viewChannels);
  page("#/certificates", "Certificates & domains", viewCertificates);
  page("#/policies", "Policies", viewPolicies);
})();
