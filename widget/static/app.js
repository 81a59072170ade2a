// The visitor's chat app, inside the iframe on the gateway's origin (frame.html).
// Bootstrap → /ws/visitor → pre-chat form → conversation. Talks to the loader in the
// host page by postMessage (namespace "gw-widget", docs/widget.md), to the gateway by
// the frames of gateway/protocol.py. Everything shown is inserted as text, never HTML.

import { Connection, wsUrl } from "./shared/socket.js";
import { h, clear, svg, uid, messageId, formatTime, textOn, contrast } from "./shared/dom.js";
import { makeT } from "./shared/i18n.js";
import { linkify } from "./shared/linkify.js";
import * as avail from "./availability.js";
import * as ending from "./ending.js";
import * as transcript from "./transcript.js";
import { Attacher, FileLinks, FILE_TEXTS, dropZone, summary } from "./shared/attachments.js";
import { displayText } from "./shared/text.js";

const NS = "gw-widget";
const SEND_ICON = "M3 20.5 21 12 3 3.5v6.6L15 12 3 13.9z";
const MIN_ICON = "M5 11h14v2H5z";

export const DEFAULT_TEXTS = {
  title: "Chat",
  frame_title: "Chat",
  launcher_open: "Open chat",
  launcher_close: "Minimise chat",
  minimise: "Minimise chat",
  unread_one: "{count} unread message",
  unread_other: "{count} unread messages",
  loading: "Loading…",
  form_intro: "Tell us who you are and we will be with you shortly.",
  form_message: "Your message",
  form_invalid: "Please correct the highlighted fields.",
  start: "Start chat",
  error_required: "{label} is required.",
  error_email: "Enter an email address like name@example.com.",
  error_phone: "Enter the number with its country code, like +44 20 7946 0958.",
  error_too_long: "At most {max} characters.",
  error_option: "Choose one of the options.",
  select_placeholder: "Choose…",
  messages: "Messages",
  message_label: "Message",
  placeholder: "Write a message…",
  send: "Send",
  you: "You",
  sending: "Sending…",
  sent: "Sent",
  failed: "Not sent.",
  retry: "Retry",
  failed_ended: "Not sent: the chat had ended.",
  draft_ended: "Not sent: the chat ended before you sent it.",
  send_new_chat: "Send it in a new chat",
  end_offline: "Not connected: the chat is still open. Try again in a moment.",
  request_lost: "The connection was lost before the answer came. Try again.",
  unsent_note: "Your last message was not sent: the chat had ended. It is below: start a new chat to send it.",
  unstarted_note: "Your message was not sent before the page was left. It is below: send it again.",
  typing: "{name} is typing…",
  agent: "Agent",
  agent_joined: "{name} joined the chat",
  agent_left: "{name} left the chat",
  ended: "The chat has ended.",
  avail_now: "Good news: an agent can answer now. Start the chat below.",
  new_chat: "Start a new chat",
  waiting: "Thanks! An agent will be with you shortly.",
  earlier: "Load earlier messages",
  reconnecting: "Connection lost. Reconnecting…",
  unavailable: "The chat is not available right now. Please try again later.",
  new_message: "{name}: {body}",
  system_name: "Automatic message",
  // nobody can answer, waiting, ending and rating: availability.js, ending.js
  ...avail.TEXTS,
  ...ending.TEXTS,
  ...transcript.TEXTS,
  ...FILE_TEXTS,
};

// ---------------------------------------------------------------- where we run
const params = new URLSearchParams(location.search);
const TP = params.get("touchpoint") || "";
const INLINE = params.get("embed") === "inline" || window.parent === window;
let pageUrl = "";
try { pageUrl = decodeURIComponent(location.hash.slice(1)); } catch (_) { pageUrl = ""; }
if (!pageUrl) pageUrl = document.referrer || "";
let hostOrigin = "";
try { hostOrigin = new URL(pageUrl).origin; } catch (_) { hostOrigin = ""; }
// The browser knows who embeds us; believe it over the URL fragment.
const ancestors = location.ancestorOrigins;
if (ancestors && ancestors.length && ancestors[0] !== hostOrigin) {
  hostOrigin = ancestors[0];
  pageUrl = hostOrigin + "/";
}

// ---------------------------------------------------------------- state
const KEY = `gw.v1.${TP}`;
const OPEN_KEY = `gw.open.${TP}`;
const stored = readStore();

const S = {
  token: stored.token || "",
  wsPath: "/ws/visitor",
  config: null,
  t: makeT(DEFAULT_TEXTS),
  lang: "en",
  visitorName: "",
  conv: null, // {id, state: "live" | "ended", agentName}
  items: new Map(), // seq -> message or event frame
  maxSeq: 0,
  loaded: false, // the conversation's history is in `items`
  hasMore: false,
  pending: new Map((stored.pending || []).map((p) => [p.client_msg_id, p])),
  storedConv: stored.conv || "",
  open: INLINE || sessionGet(OPEN_KEY) === "1",
  unread: 0,
  readSent: 0,
  starting: null, // {fields, message, cid, leave} while a start waits for `started`
  // The start the page before this one was waiting on (kept in storage): the welcome
  // says whether it made a chat; until then the form shows it (docs/widget.md)
  restart: stored.starting && !stored.conv ? stored.starting : null,
  view: "loading",
  agentTyping: "",
  identity: null,
  finalTried: false,
  leave: false, // the visitor chose to leave a message while all agents are busy
  formFields: [], // the form on screen: the chat's or the leave-a-message one
  hiddenFields: [], // that form's hidden fields: the page fills them (setFields)
  pageFields: new Map(), // name -> value, from GatewayChat.setFields (the page's word)
  bootAt: 0, // when the last bootstrap answered (its availability ages)
  requests: new Map(), // ref -> {frame, resolve, reject, resend}: end, rate, transcript (ok / error)
  lastFields: {}, // the last start's form fields: a new chat's form is filled with them
};
let conn = null;
let typingTimer = 0;
let ownTypingSent = 0;
let ownTypingStop = 0;
let reconnectNotice = 0;

function readStore() {
  try { return JSON.parse(localStorage.getItem(KEY) || "{}") || {}; } catch (_) { return {}; }
}
function save() {
  try {
    localStorage.setItem(KEY, JSON.stringify({
      token: S.token,
      conv: S.conv && S.conv.state === "live" ? S.conv.id : "",
      pending: [...S.pending.values()],
      starting: S.starting && S.starting.cid ? S.starting : null,
    }));
  } catch (_) { /* storage blocked: this page still works */ }
}
function sessionGet(k) { try { return sessionStorage.getItem(k); } catch (_) { return null; } }
function sessionSet(k, v) { try { sessionStorage.setItem(k, v); } catch (_) { /* ignore */ } }

const $ = (id) => document.getElementById(id);
const t = (k, v) => S.t(k, v);
// Files: the composer's uploads (chat's rules from the bootstrap) and signed links.
const files = new Attacher({
  t,
  rules: () => (S.conv && S.conv.state === "live" && S.config && S.config.attachments) || null,
  target: () => S.conv && { url: `attachments?conversation_id=${encodeURIComponent(S.conv.id)}`, token: S.token },
  announce: (text) => announce(text),
});
const links = new FileLinks((f) => !!conn && conn.send(f), () => renderMessages());

// ---------------------------------------------------------------- host page
function toHost(msg) {
  if (!hostOrigin || window.parent === window) return;
  msg.ns = NS;
  msg.v = 1;
  window.parent.postMessage(msg, hostOrigin);
}
function hostEvent(type, detail) { toHost({ type: "event", detail: Object.assign({ type }, detail) }); }

addEventListener("message", (e) => {
  // Strict: only the page that embeds us, only from its origin, only our namespace.
  if (e.source !== window.parent || e.origin !== hostOrigin) return;
  const m = e.data;
  if (!m || typeof m !== "object" || m.ns !== NS) return;
  if (m.type === "open") setOpen(true, m.focus);
  else if (m.type === "close") setOpen(false);
  else if (m.type === "identify") identify(m.identity);
  else if (m.type === "fields") setPageFields(m.fields);
});

// GatewayChat.setFields: values for the form's hidden fields, sent with the start. They
// are the page's word (the visitor can change them): for routing and the agent's context.
function setPageFields(fields) {
  if (!fields || typeof fields !== "object" || Array.isArray(fields)) return;
  const hidden = new Set(((S.config && S.config.form) || []).filter((f) => f.kind === "hidden").map((f) => f.name));
  for (const [k, v] of Object.entries(fields)) {
    if (v === null || v === "") { S.pageFields.delete(k); continue; }
    if (typeof v === "string") S.pageFields.set(k, v);
    if (!hidden.has(k)) toHost({ type: "error", code: "unknown_field", message: `${k} is not a hidden field of this touchpoint's form: not sent` });
  }
}

// The page's values for the hidden fields of the form being sent; one the gateway would
// refuse is left out (and said to the page) rather than refusing the visitor's start.
function pageValues() {
  const out = {};
  for (const f of S.hiddenFields) {
    const v = (S.pageFields.get(f.name) || "").trim();
    if (!v) continue;
    if (f.max_length && v.length > f.max_length) toHost({ type: "error", code: "invalid_field", message: `${f.name}: at most ${f.max_length} characters: not sent` });
    else out[f.name] = v;
  }
  return out;
}

function setOpen(open, focus) {
  S.open = !!open || INLINE;
  sessionSet(OPEN_KEY, S.open ? "1" : "0");
  if (S.open) {
    ensureConnected();
    markRead();
    if (focus) focusStart();
    if (S.view === "form" && Date.now() - S.bootAt > AVAIL_FRESH) refreshAvailability();
  }
}

// Whether anyone can answer changes while the form is open: asked again (a bootstrap)
// when the form is opened, every AVAIL_EVERY while it is open on a "nobody can answer"
// or "busy" form, and just before it is sent. A changed answer redraws the form with
// what the visitor typed kept; resolves true then (a send waits for another press).
const AVAIL_FRESH = 10000;
const AVAIL_EVERY = 30000;
let availAsking = null;

function refreshAvailability() {
  if (availAsking) return availAsking;
  const before = avail.status(S.config);
  const asked = bootstrap().then(() => {
    if (S.view !== "form" || avail.status(S.config) === before) return false;
    redrawForm();
    return true;
  }, () => false);
  // A gateway that does not answer soon: the form goes on as it is.
  availAsking = Promise.race([asked, new Promise((res) => setTimeout(() => res(false), 8000))]);
  availAsking.then(() => { availAsking = null; });
  return availAsking;
}

function redrawForm() {
  const typed = {};
  for (const el of document.querySelectorAll("#main input, #main textarea, #main select")) if (el.name && el.value) typed[el.name] = el.value;
  const focused = document.activeElement && document.activeElement.name;
  showForm();
  for (const el of document.querySelectorAll("#main input, #main textarea, #main select")) if (typed[el.name]) el.value = typed[el.name];
  const st = avail.status(S.config);
  const said = st === "online" ? t("avail_now") : avail.notice(S.config, t, S.lang);
  if (st === "online") $("main").querySelector("form").prepend(h("p", { id: "avail", class: "avail online" }, said));
  announce(said);
  const again = focused && document.querySelector(`#main [name="${CSS.escape(focused)}"]`);
  if (again) again.focus();
}

setInterval(() => {
  if (S.view === "form" && visible() && avail.status(S.config) !== "online" && Date.now() - S.bootAt >= AVAIL_EVERY) refreshAvailability();
}, 5000);

function focusStart() {
  const el = document.querySelector("[aria-invalid='true']") || $("f-0") || $("msg") || document.querySelector(".rating input") || $("new-chat") || $("minimise");
  if (el) el.focus();
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !INLINE && !e.defaultPrevented) toHost({ type: "close-request" });
});
document.addEventListener("visibilitychange", markRead);

function identify(identity) {
  if (identity !== null && (typeof identity !== "object" || Array.isArray(identity))) return;
  const clean = {};
  for (const [k, v] of Object.entries(identity || {})) if (typeof v === "string" || typeof v === "number") clean[k] = String(v);
  S.identity = identity ? clean : null;
  // A new identity means a new session token: bootstrap again, then reconnect.
  bootstrap().then(() => { if (conn) { dropRequests(true); conn.stop(); conn = null; ensureConnected(); } }, fail);
}

// ---------------------------------------------------------------- bootstrap
async function bootstrap() {
  const body = { touchpoint_id: TP, page_url: pageUrl, visitor_token: S.token };
  if (S.identity) body.identity = S.identity;
  for (let attempt = 0; ; attempt++) {
    let r;
    try {
      r = await fetch("bootstrap", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (_) {
      r = null; // network down: retry
    }
    if (r && r.ok) {
      const data = await r.json();
      S.token = data.token;
      S.visitorName = data.visitor_name || "";
      S.wsPath = data.ws_url || "/ws/visitor";
      S.config = data.config || {};
      S.bootAt = Date.now();
      save();
      return data;
    }
    if (r && r.status < 500) {
      const data = await r.json().catch(() => ({}));
      const err = (data && data.error) || {};
      if (r.status === 422 && body.identity && /identity/.test(err.message || "")) {
        toHost({ type: "error", code: "identity_unsupported", message: err.message || "" });
        delete body.identity;
        S.identity = null;
        continue;
      }
      const e = new Error(err.message || `bootstrap refused (${r.status})`);
      e.code = err.code || "bootstrap_failed";
      throw e;
    }
    await new Promise((res) => setTimeout(res, Math.min(15000, 500 * 2 ** attempt)));
  }
}

function applyConfig(cfg) {
  const w = (cfg && cfg.widget) || {};
  const texts = Object.assign({}, w.texts && typeof w.texts === "object" ? w.texts : {});
  if (typeof w.title === "string" && !texts.title) texts.title = w.title;
  S.lang = typeof w.lang === "string" ? w.lang : "en";
  document.documentElement.lang = S.lang;
  if (w.dir === "rtl") document.documentElement.dir = "rtl";
  S.t = makeT(DEFAULT_TEXTS, texts, S.lang);
  const style = document.documentElement.style;
  const color = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(w.color || "") ? w.color : "#1d4ed8";
  style.setProperty("--color", color);
  // The configured text colour only when it keeps AA contrast; otherwise pick one.
  const on = w.text_color && contrast(w.text_color, color) >= 4.5 ? w.text_color : textOn(color);
  style.setProperty("--on-color", on);
  if (typeof w.font === "string" && w.font) style.setProperty("--font", w.font);
  $("title").textContent = t("title");
  document.title = t("frame_title");
  const min = $("minimise");
  min.hidden = INLINE;
  min.setAttribute("aria-label", t("minimise"));
  clear(min).append(svg(MIN_ICON, 22));
  min.onclick = () => toHost({ type: "close-request" });
  return { color, text_color: on, icon: w.launcher_icon || "", texts: pick(S.t.table, ["launcher_open", "launcher_close", "unread_one", "unread_other", "frame_title"]) };
}
function pick(o, keys) { const r = {}; for (const k of keys) r[k] = o[k]; return r; }

// ---------------------------------------------------------------- socket
function ensureConnected() {
  if (conn || !S.config) return;
  conn = new Connection({
    url: () => wsUrl(S.wsPath),
    hello: () => {
      const f = { type: "hello", v: 1, token: S.token };
      if (S.conv && S.loaded) f.resume = [{ conversation_id: S.conv.id, last_seq: resumeSeq() }];
      return f;
    },
    onFrame,
    onStatus,
    reauth: () => bootstrap().then(() => true, () => false),
  });
  conn.start();
}

function onStatus(status, d) {
  if (status === "open") {
    clearTimeout(reconnectNotice);
    reconnectNotice = 0;
    $("conn").textContent = "";
  } else if (status === "waiting") {
    dropRequests(false);
    // Short blips stay invisible; say something only when it lasts.
    if (!reconnectNotice) reconnectNotice = setTimeout(() => { $("conn").textContent = t("reconnecting"); }, 8000);
  } else if (status === "final") {
    dropRequests(true);
    clearTimeout(reconnectNotice);
    reconnectNotice = 0;
    if (d.code === 4001 && !S.finalTried) {
      // The token is unknown (a rotated secret, a wiped store): one fresh start.
      S.finalTried = true;
      conn = null;
      bootstrap().then(ensureConnected, fail);
      return;
    }
    $("conn").textContent = t("unavailable");
    toHost({ type: "error", code: `closed_${d.code}`, message: d.reason || "" });
    disableComposer();
  }
}

function onFrame(f) {
  switch (f.type) {
    case "welcome": return onWelcome(f);
    case "token": S.token = f.token; save(); return;
    case "started": return onStarted(f);
    case "bot": if (S.conv && S.conv.id === f.conversation_id) { S.conv.bot = f.active; renderMessages(); } return;
    case "ack": return onAck(f);
    case "message": return onMessage(f);
    case "event": return onEvent(f);
    case "typing": return onTyping(f);
    case "unread": if (!S.conv || f.conversation_id === S.conv.id) setUnread(f.count); return;
    case "history": return onHistory(f);
    case "ok": settle(f.ref, null); return;
    case "error": return onError(f);
    case "links": return links.onFrame(f);
    default: return;
  }
}

function onWelcome(f) {
  S.visitorName = f.visitor_name || S.visitorName;
  const c = f.conversation;
  if (S.restart) {
    // The last page's start: a chat now open or just ended takes its message (a copy it
    // stored is dropped by id; an ended one keeps it as not sent). No chat: it never
    // arrived, and the form on screen holds it.
    const p = S.pending.get(S.restart.cid);
    if (p && c) p.conversation_id = c.conversation_id;
    else S.pending.delete(S.restart.cid);
    S.restart = null;
    save();
  }
  if (c) {
    if (!S.conv || S.conv.id !== c.conversation_id) {
      resetConv(c.conversation_id);
    }
    // A conversation that ended recently comes back ended, to show its transcript.
    S.conv.state = c.state === "wrapup" || c.state === "closed" ? "ended" : "live";
    Object.assign(S.conv, { agentName: c.agent_name || "", held: !!c.held, leftMessage: !!c.left_message, rated: !!c.rated, bot: c.state === "bot" });
    // Rated meanwhile (its answer lost in a drop, or from another tab): thanked, not asked.
    const rating = document.querySelector("#after form.rating");
    if (S.conv.rated && rating) rating.replaceWith(ending.thanks(S.t));
    if (!S.loaded) conn.send({ type: "history", conversation_id: S.conv.id });
    showChat();
    setUnread(c.unread || 0);
    if (S.conv.state === "live") flushPending();
  } else {
    if (S.conv && S.conv.state === "live" && S.loaded) {
      // Ended while we were away: the resumed backlog carries the "ended" event.
      S.conv.state = "ended";
      showChat();
    } else if (!S.starting && !(S.conv && S.conv.state === "ended")) {
      const carry = unsentText(); // written for it and never sent: into the new form
      resetConv(null); // the remembered conversation is over
      if (S.view !== "form" || (carry && !$("unsent-note"))) showForm(carry);
    }
    setUnread(0);
  }
  if (S.starting) conn.send(startFrame());
  resendRequests();
  save();
}

function resetConv(id) {
  if (!S.conv || S.conv.id !== id) files.clear(); // uploads belong to their conversation
  S.conv = id ? { id, state: "live", agentName: "", held: false, leftMessage: false, requeued: false, rated: false, bot: false } : null;
  S.items = new Map();
  S.maxSeq = 0;
  S.readSent = 0;
  S.loaded = !!id && !!S.starting; // a conversation we just started has no past
  S.hasMore = false;
  S.agentTyping = "";
  // Those an ended chat did not send stay until a new chat starts (its form carries them).
  for (const [k, p] of S.pending) if (p.conversation_id && p.conversation_id !== id && !(p.ended && !id)) S.pending.delete(k);
  save();
}

function onStarted(f) {
  const first = S.starting && S.starting.cid;
  if (!S.conv || S.conv.id !== f.conversation_id) {
    if (!S.starting) S.starting = { fields: {} };
    resetConv(f.conversation_id);
  }
  S.conv.state = "live";
  S.conv.leftMessage = S.conv.held = !!f.left_message;
  S.loaded = true;
  S.starting = null;
  S.visitorName = f.visitor_name || S.visitorName;
  for (const p of S.pending.values()) if (!p.conversation_id) p.conversation_id = f.conversation_id;
  showChat(true);
  hostEvent("started", { conversation_id: f.conversation_id });
  flushPending(first); // the first message came with the start: its ack is on its way
  save();
}

function adopt(f) {
  // A frame of a conversation we do not show: one we just started (the router's
  // automatic reply can come before `started`), or a new one from another tab.
  if (S.conv && S.conv.id === f.conversation_id) return true;
  if (S.conv && S.conv.state === "live" && !S.starting) return false;
  resetConv(f.conversation_id);
  S.loaded = true;
  if (S.view !== "chat") showChat();
  return true;
}

// The highest seq up to which nothing is missing: resuming from it fills any hole a
// frame lost in a failure left (frames already held are dropped by seq).
function resumeSeq() {
  if (!S.items.size) return S.maxSeq;
  let seq = Math.min(...S.items.keys()) - 1;
  while (S.items.has(seq + 1)) seq++;
  return seq;
}

function addItem(f) {
  if (!adopt(f)) return false;
  if (S.items.has(f.seq)) return false; // already seen (a resume overlaps)
  S.items.set(f.seq, f);
  if (f.seq > S.maxSeq) S.maxSeq = f.seq;
  return true;
}

function onAck(f) {
  const p = S.pending.get(f.client_msg_id);
  if (!p) return;
  S.pending.delete(f.client_msg_id);
  addItem({
    type: "message", conversation_id: f.conversation_id, seq: f.seq, sender: "visitor",
    sender_name: S.visitorName, body: p.body, at: p.at, client_msg_id: f.client_msg_id,
    attachments: p.attachments || [],
  }, false);
  save();
  renderMessages();
}

function onMessage(f) {
  if (f.sender === "visitor" && f.client_msg_id && S.pending.has(f.client_msg_id)) {
    S.pending.delete(f.client_msg_id); // our own message, echoed before its ack
    save();
  }
  if (!addItem(f)) { renderMessages(); return; }
  if (f.sender !== "visitor") {
    announce(t("new_message", { name: f.sender_name || t("agent"), body: summary(f, t) }));
    if (f.sender === "agent") setTyping("");
  }
  renderMessages();
  markRead();
  hostEvent("message", { conversation_id: f.conversation_id, seq: f.seq, sender: f.sender });
}

function onEvent(f) {
  if (!addItem(f)) return;
  if (f.event === "agent_joined") Object.assign(S.conv, { agentName: f.agent_name, requeued: false, held: false });
  if (f.event === "agent_left" && (!f.agent_name || f.agent_name === S.conv.agentName)) {
    S.conv.agentName = "";
    S.conv.requeued = f.reason === "requeued";
  }
  if (f.event === "ended") {
    S.conv.state = "ended";
    setTyping("");
    save();
    showChat();
  } else {
    renderMessages();
  }
  announce(eventText(f));
  hostEvent(f.event, { conversation_id: f.conversation_id, seq: f.seq });
}

function onTyping(f) {
  if (f.who !== "agent" || !S.conv || f.conversation_id !== S.conv.id) return;
  setTyping(f.active ? (f.name || t("agent")) : "");
}

function setTyping(name) {
  clearTimeout(typingTimer);
  if (name) typingTimer = setTimeout(() => setTyping(""), 8000);
  if (name === S.agentTyping) return;
  S.agentTyping = name;
  const el = $("typing");
  if (el) el.textContent = name ? t("typing", { name: displayText(name) }) : "";
}

function onHistory(f) {
  if (!S.conv || f.conversation_id !== S.conv.id) return;
  for (const item of f.items) {
    if (!S.items.has(item.seq)) S.items.set(item.seq, item);
    if (item.seq > S.maxSeq) S.maxSeq = item.seq;
    if (item.type === "message" && item.client_msg_id) S.pending.delete(item.client_msg_id);
    if (item.type === "event" && item.event === "agent_joined") S.conv.agentName = item.agent_name;
  }
  const wasLoaded = S.loaded;
  S.loaded = true;
  S.hasMore = f.has_more && (!wasLoaded || S.hasMore || f.items.length > 0);
  renderMessages(!wasLoaded);
  markRead();
}

function onError(f) {
  if (f.ref && settle(f.ref, f)) return;
  if (S.starting && S.view === "form" && (!f.ref || f.ref === S.starting.cid)) {
    // Retryable (the router is changing hands): the same start again, stored once.
    if (f.retryable) { setTimeout(() => { if (S.starting && conn) conn.send(startFrame()); }, 2000); return; }
    return startRefused(f);
  }
  const p = f.ref && S.pending.get(f.ref);
  if (p) {
    if (f.retryable) {
      setTimeout(() => sendPending(p), 2000);
    } else {
      p.failed = true;
      save();
      if (f.code === "conversation_ended" || f.code === "no_conversation") {
        if (S.conv) S.conv.state = "ended";
        showChat();
      } else {
        renderMessages();
      }
    }
    return;
  }
}

function startRefused(f) {
  S.pending.delete(S.starting.cid);
  S.starting = null;
  save();
  const m = /^([\w.-]+): (.*)$/.exec(f.message || "");
  const fields = S.formFields;
  const i = !m ? -1 : m[1] === "message" ? fields.length : fields.findIndex((x) => x.name === m[1]);
  if (i >= 0) setFieldError(i, m[2]);
  else setFormError(f.message || t("unavailable"));
  const btn = $("start");
  if (btn) btn.disabled = false;
  focusStart();
}

// Requests answered by `ok` or `error` with their ref: end, rate and transcript.
function request(frame) {
  const ref = uid().slice(0, 12);
  frame = Object.assign({ ref }, frame);
  return new Promise((resolve, reject) => {
    if (!conn || !conn.send(frame)) { reject(Object.assign(new Error(t("unavailable")), { code: "offline" })); return; }
    S.requests.set(ref, { frame, resolve, reject, resend: false });
  });
}

function settle(ref, err) {
  const r = ref && S.requests.get(ref);
  if (!r) return false;
  S.requests.delete(ref);
  if (err) r.reject(Object.assign(new Error(err.message || err.code), { code: err.code })); else r.resolve();
  return true;
}

// The socket closed with requests unanswered: their answers will never come. An `end`
// goes again after the reconnect (ending an ended chat is no error: the same request);
// a `rate` or `transcript` fails, and its form says so and can be sent again (a repeat
// is not the same request: a second rating is refused, a second transcript is another
// email). docs/widget.md, "Waiting, and ending".
function dropRequests(final) {
  for (const [ref, r] of S.requests) {
    if (!final && r.frame.type === "end") { r.resend = true; continue; }
    S.requests.delete(ref);
    const end = r.frame.type === "end"; // (only when no reconnect follows)
    r.reject(Object.assign(new Error(t(end ? "end_offline" : "request_lost")), { code: end ? "offline" : "lost" }));
  }
}

function resendRequests() {
  for (const [ref, r] of S.requests) {
    if (!r.resend) continue;
    r.resend = false;
    if (!conn.send(r.frame)) { S.requests.delete(ref); r.reject(Object.assign(new Error(t("end_offline")), { code: "offline" })); }
  }
}

// ---------------------------------------------------------------- reading, unread
function visible() { return S.open && document.visibilityState === "visible"; }

function markRead() {
  if (!conn || !S.conv || !S.loaded || !visible()) return;
  if (S.maxSeq > S.readSent || S.unread > 0) {
    if (conn.send({ type: "read", conversation_id: S.conv.id, seq: S.maxSeq })) S.readSent = S.maxSeq;
  }
}

function setUnread(n) {
  n = Math.max(0, n | 0);
  S.unread = n;
  toHost({ type: "unread", count: n });
  if (n) markRead();
}

function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = displayText(text); }, 50);
}

// ---------------------------------------------------------------- sending
function sendMessage(body, attachments) {
  body = body.trim().slice(0, 4000);
  attachments = attachments || [];
  if (!body && !attachments.length) return;
  const p = { client_msg_id: messageId(), body, attachments, at: Date.now() / 1000, failed: false, conversation_id: S.conv ? S.conv.id : "" };
  S.pending.set(p.client_msg_id, p);
  save();
  renderMessages(true);
  sendPending(p);
}

function sendPending(p) {
  if (S.conv && S.conv.state === "ended") { keepUnsent(); renderMessages(); return; }
  if (!conn || !S.conv || S.conv.state !== "live" || p.failed) return;
  const f = { type: "send", client_msg_id: p.client_msg_id, body: p.body, conversation_id: p.conversation_id || S.conv.id };
  if (p.attachments && p.attachments.length) f.attachments = p.attachments.map((a) => a.id);
  conn.send(f);
}

// The chat ended before these were sent: they stay, marked, and a new chat takes them
// (newChat fills its form with them). Never dropped silently.
function keepUnsent() {
  let changed = false;
  for (const p of S.pending.values()) {
    if (p.ended || !p.conversation_id || !S.conv || p.conversation_id !== S.conv.id) continue;
    p.failed = p.ended = changed = true;
  }
  if (changed) save();
}

// The chat ended while the visitor was writing: what is in the Message box (the footer
// is about to become the ended one's) is kept like a message the chat did not take.
function keepDraft() {
  const ta = $("msg");
  const body = ta ? ta.value.trim().slice(0, 4000) : "";
  if (!body || !S.conv) return;
  ta.value = "";
  const p = { client_msg_id: messageId(), body, at: Date.now() / 1000, failed: true, ended: true, draft: true, conversation_id: S.conv.id };
  S.pending.set(p.client_msg_id, p);
  save();
}

function unsentText() {
  return [...S.pending.values()].filter((p) => p.conversation_id && p.body && (p.ended || !S.conv || p.conversation_id !== S.conv.id)).map((p) => p.body).join("\n\n");
}

function flushPending(skip) {
  // After a reconnect: the same client_msg_id, so the server drops a duplicate.
  for (const p of S.pending.values()) if (p.client_msg_id !== skip) sendPending(p);
}

// A start carries the form's fields and the first message (routed by it), or leaves a
// message for later when nobody can answer (docs/protocol.md).
function startFrame() {
  const st = S.starting;
  const f = { type: "start", fields: st.fields, message: st.message, client_msg_id: st.cid, page: pageUrl.slice(0, 2000) };
  if (st.leave) f.leave_message = true;
  return f;
}

function beginStart(fields, message, leave) {
  const cid = messageId();
  S.starting = { fields, message, cid, leave };
  if (fields && Object.keys(fields).length) S.lastFields = fields;
  if (fields && fields.email) S.email = fields.email; // prefills the transcript's address
  S.pending.set(cid, { client_msg_id: cid, body: message, at: Date.now() / 1000, failed: false, conversation_id: "" });
  save();
  ensureConnected();
  if (conn) conn.send(startFrame()); // else sent after welcome
}

function ownTyping(active) {
  if (!conn || !S.conv || S.conv.state !== "live") return;
  const now = Date.now();
  clearTimeout(ownTypingStop);
  if (active) {
    if (now - ownTypingSent > 3000) {
      ownTypingSent = now;
      conn.send({ type: "typing", active: true, conversation_id: S.conv.id });
    }
    ownTypingStop = setTimeout(() => ownTyping(false), 4000);
  } else if (ownTypingSent) {
    ownTypingSent = 0;
    conn.send({ type: "typing", active: false, conversation_id: S.conv.id });
  }
}

// ---------------------------------------------------------------- views
function fieldId(i) { return `f-${i}`; }

function showForm(carry) {
  S.view = "form";
  const main = clear($("main"));
  const cfg = S.config || {};
  const leave = avail.leaving(cfg, S.leave);
  // Hidden fields are the page's to fill (setFields), never shown.
  const all = avail.formFields(cfg, leave);
  S.hiddenFields = all.filter((f) => f.kind === "hidden");
  const fields = (S.formFields = all.filter((f) => f.kind !== "hidden"));
  const note = avail.notice(cfg, t, S.lang);
  const form = h("form", { class: "prechat scroll", novalidate: true, "aria-labelledby": note ? "avail" : "form-intro" });
  // Said before the visitor types: whether anyone can answer (availability.js).
  if (note) form.append(h("p", { id: "avail", class: `avail ${avail.status(cfg)}` }, note));
  if (!leave) form.append(h("p", { id: "form-intro", class: "muted intro" }, t("form_intro")));
  fields.forEach((f, i) => form.append(fieldBlock(f, i)));
  const mi = fields.length;
  form.append(fieldBlock({ name: "__message", label: t("form_message"), kind: "textarea", required: true, max_length: 4000 }, mi));
  form.append(h("p", { id: "form-error", class: "err", role: "alert" }));
  form.append(h("button", { class: "btn", type: "submit", id: "start" }, leave ? t("leave_start") : t("start")));
  if (avail.status(cfg) === "busy") {
    form.append(h("button", {
      class: "linkish switch", type: "button", id: "switch-form",
      onclick: () => { S.leave = !S.leave; showForm(); focusStart(); },
    }, S.leave ? t("chat_instead") : t("leave_instead")));
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); submitForm(); });
  main.append(form);
  if (carry) {
    // A new chat for what the ended one did not send: the message, and the last form's
    // answers, filled in; the visitor starts it.
    fields.forEach((f, i) => { if (S.lastFields[f.name]) $(fieldId(i)).value = S.lastFields[f.name]; });
    $(fieldId(mi)).value = carry.slice(0, 4000);
    form.prepend(h("p", { id: "unsent-note", class: "avail unsent" }, t(S.restart ? "unstarted_note" : "unsent_note")));
  }
}

function fieldBlock(f, i) {
  const id = fieldId(i);
  const attrs = {
    id, name: f.name, required: !!f.required, "aria-describedby": `${id}-err`,
    maxlength: f.kind === "select" ? null : f.max_length || null,
  };
  let input;
  if (f.kind === "textarea") input = h("textarea", Object.assign(attrs, { rows: 3 }));
  else if (f.kind === "select") {
    input = h("select", attrs, h("option", { value: "" }, t("select_placeholder")),
      (f.options || []).map((o) => h("option", { value: o }, o)));
  } else {
    const type = f.kind === "email" ? "email" : f.kind === "phone" ? "tel" : "text";
    const ac = f.kind === "email" ? "email" : f.kind === "phone" ? "tel" : f.name === "name" ? "name" : "off";
    input = h("input", Object.assign(attrs, { type, autocomplete: ac }));
  }
  input.addEventListener("input", () => { if (input.getAttribute("aria-invalid")) setFieldError(i, ""); });
  return h("div", { class: "field" },
    h("label", { for: id }, f.label, f.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
    input,
    h("p", { id: `${id}-err`, class: "err" }));
}

export function validateField(f, value, tt) {
  const tr = tt || t;
  if (!value) return f.required ? tr("error_required", { label: f.label }) : "";
  if (f.max_length && value.length > f.max_length) return tr("error_too_long", { max: f.max_length });
  if (f.kind === "email" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return tr("error_email");
  if (f.kind === "phone" && !/^\+[0-9][0-9 ().-]{5,20}$/.test(value)) return tr("error_phone");
  if (f.kind === "select" && (f.options || []).length && !f.options.includes(value)) return tr("error_option");
  return "";
}

function setFieldError(i, message) {
  const input = $(fieldId(i));
  if (!input) return;
  if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  $(`${fieldId(i)}-err`).textContent = message;
}

function setFormError(message) { const el = $("form-error"); if (el) el.textContent = message; }

function submitForm() {
  const fields = S.formFields;
  const values = {};
  let firstBad = -1;
  // The form's fields, then the message: required, as the gateway requires it.
  [...fields, { label: t("form_message"), required: true }].forEach((f, i) => {
    const v = $(fieldId(i)).value.trim();
    const err = validateField(f, v);
    setFieldError(i, err);
    if (err && firstBad < 0) firstBad = i;
    if (v && f.name) values[f.name] = v;
  });
  if (firstBad >= 0) {
    setFormError(t("form_invalid"));
    $(fieldId(firstBad)).focus();
    return;
  }
  setFormError("");
  $("start").disabled = true;
  const message = $(fieldId(fields.length)).value.trim();
  // Sent as the form says only if that is still true (an agent may have come online).
  refreshAvailability().then((changed) => {
    if (changed || S.view !== "form") return; // redrawn: the visitor sends it again
    beginStart(Object.assign(pageValues(), values), message, avail.leaving(S.config, S.leave));
  });
}

function showChat(focus) {
  if (S.conv && S.conv.state === "ended") { keepUnsent(); keepDraft(); }
  const wasChat = S.view === "chat";
  S.view = "chat";
  const main = $("main");
  const hadFocus = main.contains(document.activeElement);
  if (!wasChat || !$("messages")) {
    clear(main);
    main.append(
      h("div", { class: "scroll", id: "scroll" },
        h("button", { class: "btn secondary more", type: "button", id: "more", hidden: true, onclick: loadEarlier }, t("earlier")),
        h("ol", { class: "messages", id: "messages", "aria-label": t("messages") }),
        h("div", { id: "after" })), // an ended chat's rating and "new chat", scrolled with it
      h("p", { class: "typing", id: "typing", "aria-live": "polite" }),
      h("div", { id: "footer" }));
  }
  renderFooter();
  renderMessages(true);
  if ((focus && S.open) || (hadFocus && !main.contains(document.activeElement))) focusStart();
}

function renderFooter() {
  const mode = S.conv && S.conv.state === "ended" ? "ended" : "live";
  const footer = $("footer");
  const after = $("after");
  if (footer.dataset.mode === mode && (footer.firstChild || after.firstChild)) return; // keep what is being typed
  footer.dataset.mode = mode;
  clear(footer);
  clear(after);
  if (mode === "ended") {
    after.append(h("div", { class: "ended" },
      h("p", null, t("ended")),
      S.conv.rated ? null : ending.ratingForm(S.t, rate),
      S.config && S.config.transcripts ? transcript.transcriptForm(S.t, S.email, sendTranscript) : null,
      h("button", { class: "btn", type: "button", id: "new-chat", onclick: newChat }, t("new_chat"))));
    return;
  }
  const ta = h("textarea", {
    id: "msg", rows: 1, maxlength: 4000, placeholder: t("placeholder"), "aria-label": t("message_label"),
  });
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  ta.addEventListener("input", () => {
    ta.style.height = "auto";
    ta.style.height = `${Math.min(ta.scrollHeight + 2, 120)}px`;
    ownTyping(!!ta.value);
  });
  files.bindPaste(ta);
  const submit = () => {
    const v = ta.value;
    if (files.busy()) { announce(t("wait_uploads")); return; }
    const attachments = S.conv ? files.take() : [];
    if (!v.trim() && !attachments.length) return;
    ta.value = "";
    ta.style.height = "auto";
    ownTyping(false);
    if (!S.conv) { beginStart({}, v.trim(), false); return; }
    sendMessage(v, attachments);
  };
  const form = h("form", { class: "composer", "aria-label": t("message_label") }, ta, files.button,
    h("button", { class: "btn", type: "submit", "aria-label": t("send") }, svg(SEND_ICON, 20)));
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); ta.focus(); });
  footer.append(files.node, form, ending.endControl(t, endChat));
  files.refresh();
}

function endChat() {
  if (!S.conv) return;
  request({ type: "end", conversation_id: S.conv.id }).catch((e) => {
    // Said next to the control, which stays: the chat goes on until the end gets through.
    const box = document.querySelector(".end-box");
    if (!box) return;
    const err = $("end-err") || box.appendChild(h("p", { id: "end-err", class: "err", role: "alert" }));
    err.textContent = e.code === "offline" ? t("end_offline") : e.message;
  });
}

function rate(score, comment) {
  const conv = S.conv;
  // Already rated: a rating sent again after a drop whose first copy did arrive.
  return request({ type: "rate", conversation_id: conv.id, score, comment })
    .catch((e) => { if (e.code !== "already_rated") throw e; })
    .then(() => { conv.rated = true; });
}

function sendTranscript(email) {
  return request({ type: "transcript", conversation_id: S.conv.id, email });
}

function disableComposer() {
  const ta = $("msg");
  if (ta) ta.disabled = true;
  const b = document.querySelector(".composer button");
  if (b) b.disabled = true;
  const s = $("start");
  if (s) s.disabled = true;
}

function newChat() {
  const carry = unsentText();
  resetConv(null);
  S.starting = null;
  S.leave = false;
  showForm(carry);
  focusStart();
}

function loadEarlier() {
  if (!conn || !S.conv) return;
  const first = Math.min(...S.items.keys());
  conn.send({ type: "history", conversation_id: S.conv.id, before_seq: first });
}

function eventText(f) {
  const why = ending.reasonText(f, t, S.config && S.config.idle_close_after);
  if (why) return why;
  const name = f.agent_name || t("agent");
  if (f.event === "agent_joined") return t("agent_joined", { name });
  if (f.event === "agent_left") return t("agent_left", { name });
  return t("ended");
}

function renderMessages(toBottom) {
  const list = $("messages");
  if (!list) return;
  const scroll = $("scroll");
  const atBottom = toBottom || scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 40;
  clear(list);
  const seqs = [...S.items.keys()].sort((a, b) => a - b);
  for (const seq of seqs) list.append(itemNode(S.items.get(seq)));
  for (const p of S.pending.values()) if (!S.conv || !p.conversation_id || p.conversation_id === S.conv.id) list.append(pendingNode(p));
  // Stays until an agent joins, and says so again when the chat goes back to the queue.
  const wait = avail.waitingNotice(S.conv, t, S.config);
  if (wait) list.append(h("li", { class: "note waiting", id: "waiting-note" }, wait));
  $("more").hidden = !S.hasMore;
  if (atBottom) scroll.scrollTop = scroll.scrollHeight;
}

function itemNode(f) {
  if (f.type === "event") return h("li", { class: "note" }, eventText(f));
  const mine = f.sender === "visitor";
  const who = mine ? t("you") : f.sender_name || (f.sender === "system" ? t("system_name") : t("agent"));
  return h("li", { class: `msg ${f.sender}` },
    h("span", { class: "sr-only" }, `${who}: `),
    f.body ? h("span", { class: "bubble" }, linkify(f.body)) : null,
    links.cards(f.conversation_id, f, t),
    h("span", { class: "meta" }, mine ? `${t("sent")} · ${formatTime(f.at, S.lang)}` : `${who} · ${formatTime(f.at, S.lang)}`));
}

function pendingNode(p) {
  const meta = p.ended
    ? h("span", { class: "meta" }, `${t(p.draft ? "draft_ended" : "failed_ended")} `, h("button", { class: "linkish", type: "button", onclick: newChat }, t("send_new_chat")))
    : p.failed
    ? h("span", { class: "meta" }, `${t("failed")} `, h("button", {
      class: "linkish", type: "button", onclick: () => { p.failed = false; save(); renderMessages(); sendPending(p); },
    }, t("retry")))
    : h("span", { class: "meta" }, t("sending"));
  return h("li", { class: `msg visitor${p.failed ? " failed" : ""}` },
    h("span", { class: "sr-only" }, `${t("you")}: `),
    p.body ? h("span", { class: "bubble" }, linkify(p.body)) : null,
    links.cards(p.conversation_id, p, t, false),
    meta);
}

function fail(e) {
  S.view = "final";
  clear($("main")).append(h("p", { class: "pad muted" }, t("unavailable")));
  toHost({ type: "error", code: (e && e.code) || "unavailable", message: (e && e.message) || "" });
}

// ---------------------------------------------------------------- start
async function main() {
  $("loading").textContent = "…";
  if (!TP) return fail({ code: "no_touchpoint", message: "frame.html needs ?touchpoint=ID" });
  let data;
  try {
    data = await bootstrap();
  } catch (e) {
    return fail(e);
  }
  const cfg = applyConfig(data.config);
  dropZone($("app"), () => files, t);
  if (S.storedConv) {
    // A conversation is going on: connect now, for the badge and the history.
    resetConv(S.storedConv);
    showChat();
    ensureConnected();
  } else if (S.restart) {
    // A start the last page sent and never heard back of: its form, filled in, and the
    // connection that tells whether it made a chat.
    S.lastFields = S.restart.fields || {};
    S.leave = !!S.restart.leave;
    showForm(S.restart.message);
    ensureConnected();
  } else {
    showForm();
    if (S.open) ensureConnected();
  }
  toHost({ type: "ready", config: cfg, open: S.open && !INLINE, unread: 0 });
}

main();
