// Touchpoints: the list; a new one of any channel this gateway carries (the channel
// first, from GET /api/admin/channels, then its direction, routing and what its
// settings need); a chat touchpoint's editor — its site, queues, pre-chat form (with the
// page's hidden fields), widget, opening hours (with "hold for later" outside them) —
// then what puts it on the site: its state, the absolute snippets with copy buttons,
// "does this page match?" (the gateway's own matcher), the sites refused recently, its
// ratings; Duplicate. Other channels' touchpoints (email, SMS, WhatsApp, Messenger) get
// what every channel shares — names, queues, direction and routing, state — and their
// admin notices; their provider settings (numbers, credentials) are given when they are
// made, and change through the admin API, which checks them per channel. An email
// touchpoint also shows its connection with Reconnect (where the "connection lost"
// email sends admins) and edits its auto-reply and signature.

import { h, api, announce, field, checks, showProblems, clearProblems, problemsList, formatTime, confirmed } from "/admin/ui.js";

const BASE = "/api/admin/touchpoints";
const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
const HOLD_RULE = "closed: hold for later"; // the rule this screen writes and reads back
const ASKED = [ // the pre-chat form's usual fields, as this screen offers them
  { name: "name", label: "Your name", kind: "text", title: "Name" },
  { name: "email", label: "Email", kind: "email", title: "Email" },
  { name: "phone", label: "Phone", kind: "phone", title: "Phone" },
];
// The kinds of the pre-chat form's other fields (gateway/model/records.py, FormField)
const KINDS = [["text", "Text"], ["textarea", "Long text"], ["email", "Email"], ["phone", "Phone"], ["select", "Choice (a list of options)"], ["hidden", "Hidden (filled by the page)"]];
const enc = encodeURIComponent;
const CHANNELS = { chat: "Chat (website)", email: "Email", sms: "SMS", whatsapp: "WhatsApp", messenger: "Messenger", voice: "Voice", api: "Integration API" };
const channelName = (c) => CHANNELS[c] || c;
const ABOUT = {
  chat: "The chat widget on a website.",
  sms: "Text messages to a phone number of your SMS provider (Twilio).",
  whatsapp: "A WhatsApp Business number (Meta's Cloud API).",
  messenger: "A Facebook page's Messenger.",
  email: "A mailbox, read over IMAP and sent from over SMTP.",
  api: "Your own front end or bot, through the integration API.",
};
// What each channel's settings need, as its adapter checks them (channels/*/: sms and
// sms/twilio.py, meta/settings.py, email/settings.py, api; docs/channels/*.md). Which
// of them are secrets (a password input, never shown back) the server says. A field
// with a `value` is always sent (emptied too); others only when filled (the adapter's
// default otherwise). `when: [key, value]`: shown only while that setting has it.
const E164 = "In E.164: + and the country code, e.g. +15551234567.";
const META = [
  { key: "app_secret", label: "App secret", required: true, hint: "The Meta app's: it signs the webhooks." },
  { key: "verify_token", label: "Verify token", required: true, hint: "The one you give Meta's webhook subscription." },
  { key: "api_version", label: "Graph API version", hint: "Empty: the gateway's default, e.g. v21.0." },
];
const SECURITY = (starttls) => [["tls", "TLS"], ...(starttls ? [["starttls", "STARTTLS"]] : []), ["none", "None (loopback hosts only)"]];
const SETTINGS = {
  sms: [
    { key: "number", label: "Phone number", type: "tel", required: true, hint: `The touchpoint's number at the provider. ${E164}` },
    { key: "account_sid", label: "Account SID", required: true, hint: "The Twilio account's: AC and 32 hex digits." },
    { key: "auth_token", label: "Auth token", required: true, hint: "The Twilio account's; it also checks the webhooks' signatures." },
    { key: "api_base", label: "API base URL", type: "url", hint: "Empty: https://api.twilio.com." },
  ],
  whatsapp: [
    { key: "number", label: "Business phone number", type: "tel", required: true, hint: E164 },
    { key: "phone_number_id", label: "Phone number id", required: true, hint: "The number's id in WhatsApp Manager: digits." },
    { key: "access_token", label: "Access token", required: true, hint: "A system user's token of the WhatsApp Business account." },
    ...META,
  ],
  messenger: [
    { key: "page_id", label: "Facebook page id", required: true, hint: "Digits." },
    { key: "page_name", label: "Page name", hint: "Its m.me/ name, shown in the list of touchpoints." },
    { key: "page_access_token", label: "Page access token", required: true },
    ...META,
  ],
  email: [
    { key: "address", label: "Mailbox address", type: "email", required: true, hint: "An individual mailbox: not an alias, a group or a list." },
    { key: "username", label: "Login", hint: "Empty: the address." },
    { key: "auth", label: "Signs in with", type: "select", options: [["password", "A password"], ["oauth2", "An OAuth2 access token (Gmail, Microsoft 365)"]] },
    { key: "password", label: "Password", required: true, when: ["auth", "password"] },
    { key: "oauth_token", label: "OAuth2 access token", required: true, when: ["auth", "oauth2"] },
    { key: "imap.host", label: "IMAP host", required: true },
    { key: "imap.port", label: "IMAP port", type: "number", hint: "Empty: 993 (TLS) or 143." },
    { key: "imap.security", label: "IMAP security", type: "select", options: SECURITY(false) },
    { key: "smtp.host", label: "SMTP host", required: true },
    { key: "smtp.port", label: "SMTP port", type: "number", hint: "Empty: 465 (TLS), 587 (STARTTLS) or 25." },
    { key: "smtp.security", label: "SMTP security", type: "select", options: SECURITY(true) },
    { key: "folder", label: "Folder to read", value: "INBOX" },
    { key: "sent_folder", label: "Folder for sent mail", value: "Sent", hint: "Empty for providers that file sent mail themselves (Gmail)." },
  ],
  api: [
    { key: "webhook_url", label: "Webhook URL", type: "url", required: true, hint: "Where the gateway posts agents' messages and events: https://…" },
    { key: "signing_secret", label: "Signing secret", required: true, hint: "At least 32 characters: it signs the webhooks (and your requests, if required)." },
    { key: "require_signed_requests", label: "Require signed requests", type: "checkbox" },
  ],
};

// Direction: who may write first (docs/channels.md). A new touchpoint starts with the one
// its channel's setup example uses (docs/channels/*.md, docs/integration-api.md): where
// agents may start conversations (SMS, email, the integration API) both, else inbound.
const DIRECTIONS = [["inbound", "Inbound: contacts write first"], ["outbound", "Outbound: agents write first"], ["both", "Both"]];
const DIRECTION_DEFAULT = { sms: "both", email: "both", api: "both" };
const DIRECTION_NOTE = {
  sms: " Agents text first (New conversation) only from a number that is outbound or both.",
  email: " The admins' notices and chats' follow-up emails go only through a mailbox that is outbound or both; an outbound one is not read.",
  whatsapp: " Agents cannot start WhatsApp conversations: outbound takes only answers in conversations already open.",
  messenger: " Agents cannot start Messenger conversations: outbound takes only answers in conversations already open.",
};
// The routing modes, as each channel allows them (GET /api/admin/channels: routing_modes)
const ROUTING = { simplified: "Simplified: ring the queues' agents", dedicated: "Dedicated: straight to one agent", flow: "Flow: the routing flow's rules" };

/** A non-chat touchpoint's direction and routing (its mode, for dedicated the agent),
 * as a new one defaults them or `tp` has them: {blocks, body(), byField}. */
function deliveryFields(channel, modes, agents, tp) {
  const direction = field("Direction", "select", {
    hint: `Inbound: contacts start conversations and agents answer. Outbound: agents start them; a contact's message only continues an open one. Both: either.${DIRECTION_NOTE[channel] || ""}`,
  }, DIRECTIONS.map(([v, l]) => h("option", { value: v }, l)));
  direction.input.value = tp ? tp.direction : DIRECTION_DEFAULT[channel] || "inbound";
  // the stored mode too, should the channel no longer allow it (the save then says why)
  const allowed = [...modes];
  if (tp && !allowed.includes(tp.routing_mode)) allowed.push(tp.routing_mode);
  if (!allowed.length) allowed.push("simplified");
  const routing = field("Routing", "select", {
    hint: "Simplified rings the agents of the queues above; dedicated puts every conversation in one agent's Assigned list; flow follows the touchpoint's routing flow (set through the admin API; with none, the queues above).",
  }, allowed.map((m) => h("option", { value: m }, ROUTING[m] || m)));
  routing.input.value = tp ? tp.routing_mode : allowed.includes("simplified") ? "simplified" : allowed[0];
  const agent = field("Dedicated agent", "select", { required: true, hint: "Every conversation of this touchpoint goes to this agent." },
    h("option", { value: "" }, "Choose an agent"),
    agents.map((a) => h("option", { value: a.id }, `${a.name} · ${a.email}${a.active ? "" : " (deactivated)"}`)));
  agent.input.value = (tp && tp.dedicated_agent_id) || "";
  const sync = () => { agent.block.hidden = routing.input.value !== "dedicated"; };
  routing.input.addEventListener("change", sync);
  sync();
  return {
    blocks: [direction.block, routing.block, agent.block],
    byField: { direction, routing_mode: routing, dedicated_agent_id: agent },
    /** What to send: null clears the agent (and a flow, for another mode) in a merge patch. */
    body() {
      const mode = routing.input.value;
      const out = { direction: direction.input.value, routing_mode: mode, dedicated_agent_id: mode === "dedicated" ? agent.input.value || null : null };
      if (tp && tp.flow && mode !== "flow") out.flow = null;
      return out;
    },
  };
}

/** Where contacts reach it: a chat's domain, a number, a page, a mailbox. */
function reachedAt(tp) {
  const s = tp.settings || {};
  return tp.domain || s.number || (s.page_name ? `m.me/${s.page_name}` : "") || s.address || "—";
}

export async function render(main, rest) {
  if (rest[0] === "new") return rest[1] === "chat" ? editor(main, null) : rest[1] ? creator(main, rest[1]) : chooser(main);
  if (rest[0]) return editor(main, await api("GET", `${BASE}/${enc(rest[0])}`));
  const list = await api("GET", BASE);
  const rows = list.map((tp) => h("tr", null,
    h("td", null, h("a", { href: `#touchpoints/${enc(tp.id)}` }, tp.name)),
    h("td", null, channelName(tp.channel)),
    h("td", null, reachedAt(tp)),
    h("td", null, h("span", { class: `state ${tp.active ? "on" : "off"}` }, tp.active ? "Active" : "Inactive")),
    h("td", { class: "muted" }, tp.id)));
  main.replaceChildren(
    h("div", { class: "bar-line" },
      h("h2", { tabindex: "-1" }, "Touchpoints"),
      h("a", { class: "btn secondary", href: "#touchpoints/new/chat" }, "New chat touchpoint"),
      h("a", { class: "btn", href: "#touchpoints/new" }, "New touchpoint")),
    h("p", { class: "muted" }, "A touchpoint is one way customers reach you: a website's chat, a phone number, a mailbox, a page. Make one, activate it; for chat, paste its snippet into your pages."),
    rows.length
      ? h("table", { class: "list" },
        h("caption", { class: "sr-only" }, "Touchpoints"),
        h("thead", null, h("tr", null, ["Name", "Channel", "Reached at", "State", "Id"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", null, rows))
      : h("p", null, "No touchpoint yet."));
}

/** A new touchpoint, its channel first: the channels this gateway carries. */
async function chooser(main) {
  const channels = await api("GET", "/api/admin/channels");
  main.replaceChildren(
    h("p", null, h("a", { href: "#touchpoints" }, "All touchpoints")),
    h("h2", { id: "tp-h", tabindex: "-1" }, "New touchpoint"),
    h("p", { class: "muted" }, "Which channel do customers reach you on? It asks for what it needs next; the new touchpoint is inactive until you activate it."),
    h("ul", { class: "choices", "aria-labelledby": "tp-h" }, channels.map((c) => h("li", null,
      h("a", { class: "btn secondary", href: `#touchpoints/new/${enc(c.channel)}` }, CHANNELS[c.channel] || c.label),
      h("span", { class: "muted hint" }, ABOUT[c.channel] || "")))));
}

/** One setting's control, {input, error, block}: a secret (as the server names them) is a
 * password input that nothing fills. */
function settingField(def, secrets) {
  const id = `set-${def.key.replace(/\W/g, "-")}`;
  if (def.type === "checkbox") {
    const input = h("input", { type: "checkbox", id, "aria-describedby": `${id}-err` });
    const error = h("p", { id: `${id}-err`, class: "err" });
    return { def, input, error, block: h("div", { class: "field" }, h("label", { class: "check" }, input, def.label), error) };
  }
  if (def.type === "select") {
    const f = field(def.label, "select", { id, hint: def.hint }, def.options.map(([v, l]) => h("option", { value: v }, l)));
    return Object.assign(f, { def });
  }
  const secret = secrets.includes(def.key);
  const f = field(def.label, "input", {
    id, hint: def.hint, required: def.required, value: def.value || "",
    type: secret ? "password" : (def.type || "text"), autocomplete: secret ? "new-password" : "off",
  });
  return Object.assign(f, { def });
}

/** The settings object the fields say (dotted keys nested: imap.host → {imap: {host}}). */
function settingsOf(rows) {
  const out = {};
  for (const r of rows) {
    if (r.block.hidden) continue;
    const d = r.def;
    let v = d.type === "checkbox" ? r.input.checked : r.input.value;
    if (typeof v === "string" && r.input.type !== "password") v = v.trim();
    if (v === "" && d.value === undefined) continue; // the adapter's default
    if (d.type === "number") v = Number(v);
    const path = d.key.split(".");
    let at = out;
    for (const k of path.slice(0, -1)) at = at[k] = at[k] || {};
    at[path[path.length - 1]] = v;
  }
  return out;
}

/** A new touchpoint of another channel than chat: the names and queues all channels
 * share, then the channel's settings. Created inactive (POST), it opens in its editor. */
async function creator(main, key) {
  const [channels, queues, agents] = await Promise.all([api("GET", "/api/admin/channels"), api("GET", "/api/admin/queues"), api("GET", "/api/admin/agents")]);
  const ch = channels.find((c) => c.channel === key);
  const back = h("p", null, h("a", { href: "#touchpoints/new" }, "Another channel"));
  if (!ch) {
    main.replaceChildren(back, h("h2", { tabindex: "-1" }, "New touchpoint"),
      h("p", { class: "err", role: "alert" }, `This gateway has no ${key} channel.`));
    return;
  }
  const label = CHANNELS[key] || ch.label;
  const name = field("Name (internal)", "input", { type: "text", required: true, maxlength: 200, hint: key === "email" ? "Also the sender's name on its emails." : "Agents and admins see it; e.g. Support line." });
  const display = field("Name contacts see", "input", { type: "text", maxlength: 100, hint: "Signs automatic messages; e.g. your company's name." });
  const queueBox = checks("Queues whose agents answer", queues.map((q) => [q.id, q.name]), queues.slice(0, 1).map((q) => q.id));
  const delivery = deliveryFields(key, ch.routing_modes || [], agents, null);
  const defs = SETTINGS[key];
  // A channel this screen does not know yet: its settings as JSON (docs/channels/<it>.md).
  const raw = defs ? null : field("Settings (JSON)", "textarea", { id: "set-json", class: "snippet", rows: 6, wide: true, value: "{}", hint: `The channel's settings object, as docs/channels/${key}.md describes it.` });
  const rows = (defs || []).map((d) => settingField(d, ch.secret_settings));
  const sync = () => {
    for (const r of rows) {
      const w = r.def.when;
      if (w) r.block.hidden = rows.find((o) => o.def.key === w[0]).input.value !== w[1];
    }
  };
  for (const r of rows) if (r.def.type === "select") r.input.addEventListener("change", sync);
  sync();
  const problems = problemsList();
  const byField = Object.assign({ name, display_name: display }, delivery.byField);
  for (const r of rows) byField[`settings.${r.def.key}`] = r;
  if (raw) byField.settings = raw;
  const save = h("button", { class: "btn", type: "submit" }, "Create touchpoint");
  const edit = h("form", { class: "edit", novalidate: true, "aria-labelledby": "tp-h" },
    name.block, display.block, queueBox.block, ...delivery.blocks,
    h("fieldset", null, h("legend", null, `${label} settings`), rows.map((r) => r.block), raw && raw.block),
    problems, h("div", { class: "actions" }, save));
  edit.addEventListener("submit", async (e) => {
    e.preventDefault();
    let settings;
    if (raw) {
      try { settings = JSON.parse(raw.input.value || "{}"); } catch (_) {
        return showProblems({ fields: [{ field: "settings", message: "not JSON" }], message: "" }, problems, byField);
      }
    } else settings = settingsOf(rows);
    const body = Object.assign({ channel: key, name: name.input.value.trim(), display_name: display.input.value.trim(), queue_ids: queueBox.values(), settings }, delivery.body());
    save.disabled = true;
    try {
      const saved = await api("POST", BASE, body);
      announce(`Touchpoint ${saved.name} created, inactive.`);
      location.hash = `#touchpoints/${enc(saved.id)}`;
    } catch (err) {
      if (err.status === 401) return;
      showProblems(err, problems, byField);
    } finally {
      save.disabled = false;
    }
  });
  main.replaceChildren(back,
    h("h2", { id: "tp-h", tabindex: "-1" }, `New ${label} touchpoint`),
    h("p", { class: "muted" }, `${ABOUT[key] || ""} Secrets are sent once and never shown again. docs/channels/${key}.md says where each setting comes from.`),
    edit);
}

/** The email touchpoint that answers left messages and sends transcripts (docs/widget.md,
 * "Answers and transcripts by email"); a mailbox that no longer sends stays listed. */
function mailboxField(mailboxes, tp) {
  const current = (tp && tp.settings && tp.settings.email_touchpoint_id) || "";
  const options = mailboxes.map((m) => h("option", { value: m.id }, `${m.name} (${m.settings.address || m.id})${m.active ? "" : " — inactive"}`));
  if (current && !mailboxes.some((m) => m.id === current)) options.push(h("option", { value: current }, current));
  // (its label does not say "email": the pre-chat form's select is named "Email")
  const sel = field("Mailbox for answers and transcripts", "select", {
    id: "tp-mailbox",
    hint: "Answers to left messages are emailed through it, and visitors can ask for the transcript of an ended chat. None: answers are shown on the visitor's next visit only.",
  }, h("option", { value: "" }, "None"), options);
  sel.input.value = current;
  return sel;
}

function formSelect(name, current) {
  const f = ASKED.find((a) => a.name === name);
  const mode = current ? (current.required ? "required" : "optional") : "off";
  const sel = field(f.title, "select", { id: `form-${name}` },
    h("option", { value: "off" }, "Not asked"), h("option", { value: "optional" }, "Optional"), h("option", { value: "required" }, "Required"));
  sel.input.value = mode;
  return sel;
}

/** The pre-chat form's other fields (besides name, email and phone), each with its
 * name, label and kind, a choice's options and, for what the visitor fills, "Required".
 * A hidden field is filled by the embedding page (docs/widget.md, "Information from the
 * page"): never required and without options, so neither is offered for it. */
function customFields(existing) {
  const rows = [];
  const list = h("div", { class: "custom-fields" });
  const renumber = () => rows.forEach((r, i) => { r.legend.textContent = `Other field ${i + 1}`; });
  function add(f) {
    const row = { before: f || {}, legend: h("legend", null, "") };
    row.name = field("Field name", "input", { type: "text", maxlength: 64, value: f ? f.name : "", hint: "Letters, digits, _ or -; e.g. plan." });
    row.label = field("Label", "input", { type: "text", maxlength: 200, value: f ? f.label : "", hint: "What the visitor (and the agent) reads." });
    row.kind = field("Kind", "select", { hint: "Hidden: not shown to the visitor; the embedding page fills it (GatewayChat.setFields)." },
      KINDS.map(([v, l]) => h("option", { value: v }, l)));
    row.kind.input.value = (f && f.kind) || "text";
    row.options = field("Options, one per line", "textarea", { rows: 3, value: f ? (f.options || []).join("\n") : "" });
    const required = h("input", { type: "checkbox" });
    required.checked = !!(f && f.required);
    const requiredErr = h("p", { class: "err" });
    row.required = { input: required, error: requiredErr, block: h("div", { class: "field" }, h("label", { class: "check" }, required, "Required"), requiredErr) };
    const sync = () => {
      const kind = row.kind.input.value;
      row.options.block.hidden = kind !== "select";
      row.required.block.hidden = kind === "hidden";
      if (kind === "hidden") required.checked = false;
    };
    row.kind.input.addEventListener("change", sync);
    sync();
    const drop = h("button", { class: "btn secondary", type: "button" }, "Remove this field");
    row.block = h("fieldset", null, row.legend, row.name.block, row.label.block, row.kind.block, row.options.block, row.required.block,
      h("div", { class: "actions" }, drop));
    drop.addEventListener("click", () => {
      rows.splice(rows.indexOf(row), 1);
      row.block.remove();
      renumber();
    });
    rows.push(row);
    list.append(row.block);
    renumber();
    return row;
  }
  existing.filter((f) => !ASKED.some((a) => a.name === f.name)).forEach(add);
  const more = h("button", { class: "btn secondary", type: "button" }, "Add a field");
  more.addEventListener("click", () => add(null).name.input.focus());
  return {
    block: h("fieldset", null, h("legend", null, "Other form fields"), list, h("div", { class: "actions" }, more)),
    /** The fields as the form stores them (blank rows left out), with their rows. */
    fields() {
      return rows.filter((r) => r.name.input.value.trim() || r.label.input.value.trim()).map((r) => {
        const name = r.name.input.value.trim();
        const kind = r.kind.input.value;
        const options = kind === "select" ? r.options.input.value.split("\n").map((x) => x.trim()).filter(Boolean) : [];
        return [Object.assign({}, r.before, { name, label: r.label.input.value.trim() || name, kind, required: kind !== "hidden" && r.required.input.checked, options }), r];
      });
    },
    rows,
  };
}

/** The pre-chat form: name, email and phone, then the other fields as edited. */
function buildForm(existing, selects, custom) {
  const asked = [];
  for (const a of ASKED) {
    const mode = selects[a.name].input.value;
    if (mode === "off") continue;
    const before = existing.find((f) => f.name === a.name);
    asked.push(Object.assign({ name: a.name, label: a.label, kind: a.kind }, before || {}, { required: mode === "required" }));
  }
  return [...asked, ...custom.map(([f]) => f)];
}

/** Where a refusal of the form's other fields goes: form[i].name on that row's name, ... */
function formFields(custom, offset) {
  const out = {};
  custom.forEach(([, r], j) => {
    const at = `form[${offset + j}]`;
    Object.assign(out, { [`${at}.name`]: r.name, [`${at}.label`]: r.label, [`${at}.kind`]: r.kind, [`${at}.options`]: r.options, [`${at}.required`]: r.required, [at]: r.name });
  });
  return out;
}

/** The flow with its calendar and the hold rule as the screen says; other rules kept. */
function buildFlow(flow, tz, days, hold) {
  const base = flow || { rules: [], default: {} };
  const hours = {};
  for (const [key] of DAYS) {
    const spans = days[key].input.value.split(",").map((x) => x.trim()).filter(Boolean);
    if (spans.length) hours[key] = spans;
  }
  const rules = (base.rules || []).filter((r) => r.name !== HOLD_RULE);
  const calendar = Object.keys(hours).length ? { timezone: tz.input.value.trim() || "UTC", hours, closed_dates: (base.calendar && base.calendar.closed_dates) || [] } : null;
  if (hold && calendar) rules.unshift({ name: HOLD_RULE, when: { open: false }, then: { acceptance: "hold" } });
  return { rules, default: base.default || {}, calendar };
}

async function editor(main, tp) {
  if (tp && tp.channel !== "chat") return channelEditor(main, tp);
  const queues = await api("GET", "/api/admin/queues");
  const mailboxes = (await api("GET", BASE)).filter((t) => t.channel === "email" && t.direction !== "inbound");
  const isNew = tp === null;
  const form = (tp && tp.form) || [];
  const widget = (tp && tp.widget) || {};
  const flow = tp && tp.flow;
  const cal = flow && flow.calendar;
  const holding = !!(flow && (flow.rules || []).some((r) => r.name === HOLD_RULE));

  const name = field("Name (internal)", "input", { type: "text", required: true, maxlength: 200, value: tp ? tp.name : "", hint: "Agents and admins see it; e.g. Shop (EN)." });
  const display = field("Name visitors see", "input", { type: "text", maxlength: 100, value: tp ? tp.display_name : "", hint: "Signs automatic messages; e.g. your company's name." });
  const domain = field("Website domain", "input", { type: "text", required: true, maxlength: 300, value: tp ? tp.domain : "", hint: "shop.example covers www.shop.example too; *.shop.example every subdomain. No path." });
  const queueBox = checks("Queues whose agents answer", queues.map((q) => [q.id, q.name]), tp ? tp.queue_ids : queues.slice(0, 1).map((q) => q.id));
  const selects = Object.fromEntries(ASKED.map((a) => [a.name, formSelect(a.name, form.find((f) => f.name === a.name))]));
  const others = customFields(form);
  const title = field("Chat title", "input", { type: "text", maxlength: 80, value: widget.title || "" });
  const color = field("Colour", "input", { type: "color", value: /^#[0-9a-f]{6}$/i.test(widget.color || "") ? widget.color : "#1d4ed8" });
  const tz = field("Time zone", "input", { type: "text", value: (cal && cal.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", hint: "An IANA name, e.g. Europe/Paris." });
  const days = Object.fromEntries(DAYS.map(([key, label]) => [key, field(label, "input", {
    type: "text", value: ((cal && cal.hours && cal.hours[key]) || []).join(", "), placeholder: "closed",
  })]));
  const mailbox = mailboxField(mailboxes, tp);
  const hold = h("input", { type: "checkbox", id: "hold-closed" });
  hold.checked = isNew || holding;
  const problems = problemsList();
  // Where a refusal's field goes; the rest (the flow's hours, ...) is in the summary.
  const byField = { name, display_name: display, domain, "settings.email_touchpoint_id": mailbox };
  let formProblems = {}; // the other fields' rows, by their index in the saved form

  const save = h("button", { class: "btn", type: "submit" }, isNew ? "Create touchpoint" : "Save changes");
  const edit = h("form", { class: "edit", novalidate: true, "aria-labelledby": "tp-h" },
    name.block, display.block, h("div", { class: "wide" }, domain.block), queueBox.block,
    h("fieldset", null, h("legend", null, "Pre-chat form (a message is always asked for)"), ASKED.map((a) => selects[a.name].block)),
    others.block,
    h("fieldset", null, h("legend", null, "Widget"), title.block, color.block),
    h("div", { class: "wide" }, mailbox.block),
    h("fieldset", null, h("legend", null, "Opening hours"),
      h("p", { class: "muted hint" }, "Spans like 09:00-12:00, 14:00-18:00; empty for closed. No hours at all: always open."),
      tz.block, h("div", { class: "days" }, DAYS.map(([key]) => days[key].block)),
      h("label", { class: "check" }, hold, "Outside opening hours, hold chats for later instead of ringing agents (visitors are offered to leave a message)")),
    problems,
    h("div", { class: "actions" }, save));

  edit.addEventListener("submit", async (e) => {
    e.preventDefault();
    const custom = others.fields();
    const built = buildForm(form, selects, custom);
    clearProblems(problems, formProblems); // the rows of the previous save's refusal
    formProblems = formFields(custom, built.length - custom.length);
    const body = {
      name: name.input.value.trim(),
      display_name: display.input.value.trim(),
      domain: domain.input.value.trim(),
      queue_ids: queueBox.values(),
      form: built,
      widget: Object.assign({}, widget, { title: title.input.value.trim() || undefined, color: color.input.value }),
      flow: buildFlow(flow, tz, days, hold.checked),
      // null clears it (a merge patch); a new touchpoint just leaves it out
      settings: mailbox.input.value ? { email_touchpoint_id: mailbox.input.value } : (isNew ? {} : { email_touchpoint_id: null }),
    };
    if (!body.widget.title) delete body.widget.title;
    save.disabled = true;
    try {
      const saved = isNew
        ? await api("POST", BASE, Object.assign({ channel: "chat" }, body))
        : await api("PATCH", `${BASE}/${enc(tp.id)}`, body);
      announce(isNew ? `Touchpoint ${saved.name} created.` : "Changes saved.");
      if (isNew) location.hash = `#touchpoints/${enc(saved.id)}`;
      else await editor(main, saved);
    } catch (err) {
      if (err.status === 401) return;
      showProblems(err, problems, Object.assign({}, formProblems, byField));
    } finally {
      save.disabled = false;
    }
  });

  const parts = [
    h("p", null, h("a", { href: "#touchpoints" }, "All touchpoints")),
    h("h2", { id: "tp-h", tabindex: "-1" }, isNew ? "New chat touchpoint" : tp.name),
    edit,
  ];
  if (!isNew) parts.push(...(await onTheSite(main, tp)));
  main.replaceChildren(...parts);
}

/** Another channel's touchpoint: what all channels share is edited here; the provider's
 * settings are only named (secrets never come back from the API anyway). */
async function channelEditor(main, tp) {
  const [channels, queues, agents] = await Promise.all([api("GET", "/api/admin/channels"), api("GET", "/api/admin/queues"), api("GET", "/api/admin/agents")]);
  const ch = channels.find((c) => c.channel === tp.channel);
  const email = tp.channel === "email";
  const name = field("Name (internal)", "input", { type: "text", required: true, maxlength: 200, value: tp.name, hint: email ? "Also the sender's name on its emails, and {{touchpoint.name}} in the signature." : "Agents and admins see it." });
  const display = field("Name contacts see", "input", { type: "text", maxlength: 100, value: tp.display_name, hint: "Signs automatic messages; e.g. your company's name." });
  const queueBox = checks("Queues whose agents answer", queues.map((q) => [q.id, q.name]), tp.queue_ids);
  const delivery = deliveryFields(tp.channel, ch ? ch.routing_modes : [], agents, tp);
  const texts = email ? emailTexts(tp.settings || {}) : null;
  const problems = problemsList();
  const save = h("button", { class: "btn", type: "submit" }, "Save changes");
  const edit = h("form", { class: "edit", novalidate: true, "aria-labelledby": "tp-h" },
    name.block, display.block, queueBox.block, ...delivery.blocks, texts && texts.blocks, problems, h("div", { class: "actions" }, save));
  edit.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    const body = Object.assign({ name: name.input.value.trim(), display_name: display.input.value.trim(), queue_ids: queueBox.values() }, delivery.body());
    // a merge patch: the settings this screen leaves out (servers, secrets) are kept
    if (texts) body.settings = texts.settings();
    try {
      const saved = await api("PATCH", `${BASE}/${enc(tp.id)}`, body);
      announce("Changes saved.");
      await editor(main, saved);
    } catch (err) {
      if (err.status === 401) return;
      showProblems(err, problems, Object.assign({ name, display_name: display }, delivery.byField, texts && texts.byField));
    } finally {
      save.disabled = false;
    }
  });
  const doc = `docs/channels/${tp.channel}.md`;
  main.replaceChildren(
    h("p", null, h("a", { href: "#touchpoints" }, "All touchpoints")),
    h("h2", { id: "tp-h", tabindex: "-1" }, tp.name),
    h("p", { class: "muted" }, email
      ? `${channelName(tp.channel)} · ${reachedAt(tp)}. Its server settings (IMAP, SMTP) were given when it was made and change through the admin API (${doc}); new credentials can be given on Reconnect.`
      : `${channelName(tp.channel)} · ${reachedAt(tp)}. Its provider settings (number, credentials, webhook secrets) were given when it was made and change through the admin API (${doc}).`),
    email ? await connection(tp) : null,
    edit,
    ...(await onTheSite(main, tp)));
}

/** An email touchpoint's auto-reply and signature: each on or off, with its text
 * (HTML the gateway sanitises; docs/channels/email.md, "Auto-reply" and "Signature"). */
function emailTexts(settings) {
  const parts = [
    ["auto_reply", "Auto-reply", "Send the auto-reply", "Sent once per thread to whoever writes (never to another automatic sender). HTML: paragraphs, links, tel: links."],
    ["signature", "Signature", "Add the signature", "Added below every agent's email. HTML: links, tel: links, images; variables such as {{agent.name}}, {{contact.name}}, {{touchpoint.name}}."],
  ].map(([key, legend, toggle, hint]) => {
    const current = settings[key] || {};
    const on = h("input", { type: "checkbox", id: `email-${key}-on` });
    on.checked = !!current.enabled;
    const text = field(`${legend} text`, "textarea", { id: `email-${key}`, class: "snippet", rows: 4, wide: true, hint, value: current.html || "" });
    const block = h("fieldset", null, h("legend", null, legend), h("label", { class: "check" }, on, toggle), text.block);
    return { key, on, text, block };
  });
  return {
    blocks: parts.map((p) => p.block),
    // refusals name settings.auto_reply.html, settings.signature.html
    byField: Object.fromEntries(parts.map((p) => [`settings.${p.key}`, p.text])),
    settings: () => Object.fromEntries(parts.map((p) => [p.key, { enabled: p.on.checked, html: p.text.input.value }])),
  };
}

/** What the connection status says, in words. */
function connectionText(s) {
  if (s.status === "connected") return `Connected to the mail server${s.connected_at ? ` since ${formatTime(s.connected_at)}` : ""}.`;
  if (s.status === "connecting") return "Connecting to the mail server…";
  if (s.status === "lost") return `Connection lost${s.since ? ` (${formatTime(s.since)})` : ""}: ${s.reason}. No email is sent or received until it is reconnected; nothing is lost meanwhile.`;
  return "Not connected: the mailbox is read only while the touchpoint is active and receives (inbound or both).";
}

/** An email touchpoint's connection (GET …/email) and Reconnect (POST …/email/reconnect):
 * the screen the "Email provider connection lost" email sends admins to. */
async function connection(tp) {
  const path = `${BASE}/${enc(tp.id)}/email`;
  let status = await api("GET", path);
  const line = h("p", null);
  const notices = h("ul", { class: "notices" });
  const due = h("p", { class: "muted hint" });
  const oauth = status.auth === "oauth2";
  // a new secret reauthenticates; it is sent once and never shown (the demo has none)
  const secret = status.provider === "demo" ? null : field(oauth ? "New OAuth token" : "New password", "input", {
    type: "password", autocomplete: "new-password", wide: true,
    hint: `A new one replaces the stored one (it is never shown). Empty, Reconnect uses the stored ${oauth ? "token" : "password"}.`,
  });
  const problems = problemsList();
  const byField = secret ? { password: secret, oauth_token: secret, "settings.password": secret, "settings.oauth_token": secret } : {};
  const result = h("p", { class: "result", role: "status", hidden: true });
  const button = h("button", { class: "btn", type: "submit" }, "Reconnect");
  // Connected: Reconnect with the stored credentials (the reader ends its session and
  // connects again) beside Reauthenticate, which needs the new secret (the demo
  // mailbox has none to replace).
  const again = h("button", { class: "btn", type: "button" }, "Reconnect");
  const form = h("form", { class: "edit", novalidate: true, "aria-label": "Reconnect" },
    secret && secret.block, problems, h("div", { class: "actions" }, again, button));
  const show = (s) => {
    line.textContent = connectionText(s);
    notices.replaceChildren(...s.notices.map((n) => h("li", null, n)));
    due.textContent = s.recheck_due_at ? `OAuth re-check due ${formatTime(s.recheck_due_at)}.` : "";
    notices.hidden = !s.notices.length;
    due.hidden = !s.recheck_due_at;
    const connected = s.status === "connected";
    button.textContent = connected ? "Reauthenticate" : "Reconnect";
    button.hidden = connected && !secret;
    again.hidden = !connected;
  };
  show(status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    reconnect(true);
  });
  again.addEventListener("click", () => reconnect(false));
  // withSecret: the form's submit (the secret field, if filled); else the stored ones
  async function reconnect(withSecret) {
    clearProblems(problems, byField);
    if (withSecret && status.status === "connected" && !secret.input.value) {
      secret.error.textContent = `Enter the new ${oauth ? "token" : "password"} to reauthenticate.`;
      secret.input.setAttribute("aria-invalid", "true");
      secret.input.focus();
      return;
    }
    button.disabled = again.disabled = true;
    result.hidden = false;
    result.className = "result";
    result.textContent = "Reconnecting…";
    const body = {};
    if (withSecret && secret && secret.input.value) body[oauth ? "oauth_token" : "password"] = secret.input.value;
    try {
      status = await api("POST", `${path}/reconnect`, body);
      if (withSecret && secret) secret.input.value = "";
      show(status);
      // Nothing tells this screen when the mailbox's reader is through: ask, for 30 s.
      for (let i = 0; status.status === "connecting" && i < 60 && form.isConnected; i++) {
        await new Promise((r) => setTimeout(r, 500));
        status = await api("GET", path);
        show(status);
      }
      const ok = status.status === "connected";
      result.className = `result ${ok ? "yes" : status.status === "lost" ? "no" : ""}`;
      result.textContent = ok ? "Reconnected." : status.status === "lost" ? `Not reconnected: ${status.reason}`
        : status.status === "connecting" ? "Reconnect requested; still connecting." : "Reconnect requested; the mailbox is read once the touchpoint is active.";
    } catch (err) {
      result.hidden = true;
      if (err.status === 401) return;
      showProblems(err, problems, byField);
    } finally {
      button.disabled = again.disabled = false;
    }
  }
  return h("section", { class: "panel", id: "connection", "aria-labelledby": "conn-h" },
    h("h3", { id: "conn-h" }, "Connection"),
    h("p", { class: "muted hint" }, `${status.address} · ${status.provider === "demo" ? "the demo mailbox" : `IMAP and SMTP, ${oauth ? "OAuth" : "password"}`}`),
    line, notices, due, form, result);
}

function stateSection(main, tp) {
  const chat = tp.channel === "chat";
  return h("section", { class: "panel", id: "state", "aria-labelledby": "state-h" },
    h("h3", { id: "state-h" }, "State"),
    h("p", null, tp.active ? `Active: it accepts ${chat ? "chats" : "messages"}.` : chat ? "Inactive: its snippet shows nothing until you activate it." : "Inactive: messages to it are refused until you activate it."),
    h("div", { class: "actions" },
      h("button", { class: "btn", type: "button", onclick: () => act(main, tp, tp.active ? "deactivate" : "activate") }, tp.active ? "Deactivate" : "Activate"),
      chat ? h("button", { class: "btn secondary", type: "button", onclick: () => duplicate(tp) }, "Duplicate") : null,
      h("button", { class: "btn danger", type: "button", onclick: () => remove(tp) }, "Delete touchpoint")));
}

async function onTheSite(main, tp) {
  const out = [];
  const chat = tp.channel === "chat";
  out.push(stateSection(main, tp));
  if (!chat) {
    const notices = (await api("GET", "/api/admin/notices?limit=100")).filter((n) => n.touchpoint_id === tp.id);
    out.push(h("section", { class: "panel", "aria-labelledby": "notices-h" },
      h("h3", { id: "notices-h" }, "Notices"),
      notices.length
        ? h("ul", { class: "notices" }, notices.map((n) => h("li", null, `${formatTime(n.created_at)}: ${n.message}`)))
        : h("p", { class: "muted" }, "None: its provider has refused nothing.")));
    return out;
  }

  const snippet = await api("GET", `${BASE}/${enc(tp.id)}/snippet`);
  out.push(h("section", { class: "panel", "aria-labelledby": "snippet-h" },
    h("h3", { id: "snippet-h" }, "Put it on your site"),
    h("p", { class: "muted hint" }, "Paste one of these into every page that should show the chat, before </body>."),
    copyable("snippet-script", "Script: a chat button at the bottom right", snippet.script),
    copyable("snippet-iframe", "Iframe: the chat always open, in the page", snippet.iframe)));

  const url = field("Page address", "input", { type: "url", placeholder: `https://${tp.domain || "shop.example"}/`, wide: true });
  const result = h("p", { class: "result", role: "status", hidden: true });
  const check = h("form", { class: "edit", novalidate: true, "aria-labelledby": "match-h" }, url.block,
    h("div", { class: "actions" }, h("button", { class: "btn secondary", type: "submit" }, "Check the page")), result);
  check.addEventListener("submit", async (e) => {
    e.preventDefault();
    url.error.textContent = "";
    try {
      const m = await api("GET", `${BASE}/${enc(tp.id)}/match?page_url=${enc(url.input.value.trim())}`);
      result.hidden = false;
      result.className = `result ${m.matched ? "yes" : "no"}`;
      result.textContent = `${m.matched ? "It matches" : "It does not match"}: ${m.reason}. The domain ${m.domain} accepts ${m.accepts}.`;
    } catch (err) {
      url.error.textContent = (err.fields[0] && err.fields[0].message) || err.message;
    }
  });
  out.push(h("section", { class: "panel", "aria-labelledby": "match-h" }, h("h3", { id: "match-h" }, "Does this page match?"), check));

  const refused = await api("GET", `${BASE}/${enc(tp.id)}/refusals`);
  out.push(h("section", { class: "panel", "aria-labelledby": "refused-h" },
    h("h3", { id: "refused-h" }, "Sites refused recently"),
    refused.length
      ? h("table", { class: "list" },
        h("thead", null, h("tr", null, ["Site", "Last page", "Why", "Times", "Last time"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", null, refused.map((r) => h("tr", null,
          h("td", null, r.origin || "(no origin)"), h("td", null, r.page_url || "—"), h("td", null, r.reason),
          h("td", null, String(r.times)), h("td", null, formatTime(r.last_at))))))
      : h("p", { class: "muted" }, "None: no page was refused this touchpoint's chat.")));

  const ratings = await api("GET", `/api/admin/ratings?touchpoint_id=${enc(tp.id)}&limit=500`);
  out.push(h("section", { class: "panel", "aria-labelledby": "ratings-h" },
    h("h3", { id: "ratings-h" }, "Satisfaction"),
    h("p", null, ratings.count
      ? `${ratings.average} out of 5 on average, from the last ${ratings.count} rating${ratings.count === 1 ? "" : "s"}.`
      : "No rating yet.")));
  return out;
}

function copyable(id, label, text) {
  const area = h("textarea", { id, class: "snippet", rows: 2, readonly: true }, text);
  const button = h("button", { class: "btn secondary", type: "button", "aria-describedby": id }, "Copy");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      area.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    announce("Snippet copied.");
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return h("div", { class: "field" }, h("label", { for: id }, label), area, h("div", { class: "actions" }, button));
}

// Only the State panel (and a mailbox's Connection, which the state changes) is drawn
// again: what the admin has changed and not saved in the editor stays (the whole editor
// drawn from the saved row lost it).
async function act(main, tp, action) {
  try {
    const saved = await api("POST", `${BASE}/${enc(tp.id)}/${action}`);
    announce(saved.active ? "Activated." : "Deactivated.");
    const fresh = stateSection(main, saved);
    main.querySelector("#state").replaceWith(fresh);
    fresh.querySelector("button").focus();
    const conn = main.querySelector("#connection");
    if (conn) conn.replaceWith(await connection(saved));
  } catch (err) {
    alertIn(main, err);
  }
}

async function remove(tp) {
  if (!confirmed(`Delete the touchpoint ${tp.name}? Its snippet will stop working.`)) return;
  try {
    await api("DELETE", `${BASE}/${enc(tp.id)}`);
    announce(`Touchpoint ${tp.name} deleted.`);
    location.hash = "#touchpoints";
  } catch (err) {
    alertIn(document.getElementById("section"), err);
  }
}

/** A copy of a chat touchpoint (POST …/duplicate: a new id, inactive), opened to edit. */
async function duplicate(tp) {
  try {
    const copy = await api("POST", `${BASE}/${enc(tp.id)}/duplicate`, { name: `Copy of ${tp.name}`.slice(0, 200) });
    announce(`Touchpoint ${copy.name} created, inactive.`);
    location.hash = `#touchpoints/${enc(copy.id)}`;
  } catch (err) {
    if (err.status !== 401) alertIn(document.getElementById("section"), err);
  }
}

function alertIn(main, err) {
  const first = main.querySelector("h2");
  const msg = h("p", { class: "err", role: "alert" }, err.message);
  if (first) first.after(msg); else main.prepend(msg);
}
