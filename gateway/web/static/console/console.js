// The agents' live console: log in, then /ws/agent (gateway/protocol.py) renders the
// Inbox, Assigned to you, ringing offers and the conversation view. No framework: the
// state lives in `S`, every change re-renders the part it touches, and every text from
// a visitor or the server goes into the page as text, never as HTML. docs/console.md.

import { Connection, wsUrl } from "/widget/shared/socket.js";
import { h, clear, fill, uid, messageId, formatTime } from "/widget/shared/dom.js";
import { linkify } from "/widget/shared/linkify.js";
import { makeT } from "/widget/shared/i18n.js";
import { Attacher, FileLinks, FILE_TEXTS, dropZone, summary } from "/widget/shared/attachments.js";
import { displayText } from "/widget/shared/text.js";
import * as sound from "/console/sounds.js";
import { contextItem } from "/console/context.js";
import { afterPress, keyed } from "/console/keyed.js";
import * as drafts from "/console/drafts.js";
// The workspace's modules (docs/console.md): each draws its own part; this file calls them.
import { t, setLanguage, texts } from "/console/i18n.js";
import { api, setToken } from "/console/api.js";
import * as prefs from "/console/prefs.js";
import * as notify from "/console/notify.js";
import * as card from "/console/contact-card.js";
import * as notes from "/console/notes.js";
import * as templates from "/console/templates.js";
import * as search from "/console/search.js";
import * as sections from "/console/sections.js";
import * as supervisor from "/console/supervisor.js";
import * as channels from "/console/channels.js";
import * as email from "/console/email.js";
import * as outbound from "/console/outbound.js";

const TOKEN_KEY = "gw.console.token";
const SOUND_EVENTS = { offered: "offered", auto_assigned: "auto-assigned", transferred: "transferred", reply: "new reply" };
// Why a chat ended or an agent left, when the event says (protocol: EventOut.reason).
const EVENT_REASONS = { contact: "The visitor ended the chat", idle: "Closed: no messages for a while", requeued: "sent it back to the queue" };

const S = {
  token: sessionGet(TOKEN_KEY) || "",
  agent: null,
  status: "offline",
  queues: {},
  channels: {}, // name -> {label, live, attachments, outbound_start, session_window}
  agents: {},
  touchpoints: {},
  sounds: {},
  priorityDisplay: "icons",
  dispositions: [],
  convs: new Map(), // conversation id -> ConversationSummary (place inbox|offered|assigned|wrapup)
  offers: new Map(), // conversation id -> {summary, expires_at}
  threads: new Map(), // conversation id -> {items: Map seq->frame, pending: Map, loaded, hasMore, maxSeq, readSent}
  current: "",
  typing: new Map(), // conversation id -> visitor name typing
  actions: new Map(), // ref -> {kind, cid, label}
  openWhenMine: new Set(), // assigned or accepted by us: open it when it lands
  soundAsked: false,
  emailWatch: 0, // admins: the email connection banner's timer (email.js)
  wantStatus: "", // chosen while not connected: sent after the next snapshot
};
let conn = null;
let ringTimer = 0;
let ownTyping = { cid: "", at: 0, stop: 0 };
const typingTimers = new Map();
// Files: an upload tray per conversation (kept across re-renders), signed links.
const ft = makeT(FILE_TEXTS);
const uploads = new Map(); // conversation id -> Attacher
const links = new FileLinks((f) => !!conn && conn.send(f), () => renderMessages());

const $ = (id) => document.getElementById(id);

function sessionGet(k) { try { return sessionStorage.getItem(k); } catch (_) { return null; } }
function sessionSet(k, v) { try { if (v) sessionStorage.setItem(k, v); else sessionStorage.removeItem(k); } catch (_) { /* ignore */ } }

function announce(text) {
  const el = $("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = displayText(text); }, 50);
}

// ---------------------------------------------------------------- login
function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  document.title = "Log in · Agent console";
  $("email").focus();
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sound.unlock(); // the click that logs in also allows sound
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    $("login-error").textContent = "Enter your email and your password.";
    ($("email").value ? $("password") : $("email")).focus();
    return;
  }
  $("login-error").textContent = "";
  let r;
  try {
    r = await fetch("/api/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }), cache: "no-store",
    });
  } catch (_) {
    $("login-error").textContent = "The gateway cannot be reached. Try again in a moment.";
    return;
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    $("login-error").textContent = r.status === 401 ? "Wrong email or password." : ((data.error && data.error.message) || `Login failed (${r.status}).`);
    $("password").focus();
    return;
  }
  S.token = data.token;
  sessionSet(TOKEN_KEY, S.token);
  $("password").value = "";
  startApp();
});

$("logout").addEventListener("click", async () => {
  const token = S.token;
  stopApp();
  try { await fetch("/api/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }); } catch (_) { /* gone anyway */ }
  showLogin("You are logged out.");
});

function stopApp() {
  clearInterval(S.emailWatch);
  S.emailWatch = 0;
  if (conn) conn.stop();
  conn = null;
  S.token = "";
  sessionSet(TOKEN_KEY, "");
  S.convs.clear();
  S.offers.clear();
  S.threads.clear();
  uploads.clear();
  S.current = "";
  S.wantStatus = "";
  closeOffer();
}

// ---------------------------------------------------------------- sound
function playSound(event, name) {
  const played = sound.play(name);
  const body = document.body;
  body.dataset.lastSound = event;
  body.dataset.lastSoundName = name;
  body.dataset.soundPlayed = String(played);
  body.dataset.soundCount = String((Number(body.dataset.soundCount) || 0) + 1);
  $("sound-status").textContent = `Sound: ${SOUND_EVENTS[event] || event}${played ? "" : " (muted by the browser)"}`;
  if (!played) askForSound();
}

function askForSound() {
  if (sound.running() || S.soundAsked) return;
  S.soundAsked = true; // ask once; the notice stays until sound is on
  $("sound-notice").hidden = false;
}

function soundOn() {
  if (!sound.running()) return;
  if (!$("sound-notice").hidden) announce("Sound is on.");
  $("sound-notice").hidden = true;
}

$("sound-enable").addEventListener("click", () => sound.unlock().then(soundOn));
// Any click or key press on the page also unlocks sound.
for (const ev of ["pointerdown", "keydown"]) {
  document.addEventListener(ev, () => { if (!sound.running() && conn) sound.unlock().then(soundOn); }, { capture: true });
}

// ---------------------------------------------------------------- socket
async function boot() {
  if (!S.token) return showLogin();
  let r;
  try {
    r = await fetch("/api/me", { headers: { Authorization: `Bearer ${S.token}` }, cache: "no-store" });
  } catch (_) {
    r = null; // offline: the socket will keep trying
  }
  if (r && r.status === 401) {
    stopApp();
    return showLogin("Your session has ended. Log in again.");
  }
  startApp();
}

function startApp() {
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  document.title = "Agent console";
  sound.unlock().then((ok) => { if (ok) soundOn(); });
  setTimeout(() => { if (!sound.running()) askForSound(); }, 800);
  renderConversation();
  conn = new Connection({
    url: () => wsUrl("/ws/agent"),
    hello: () => ({ type: "hello", v: 1, token: S.token }),
    onFrame,
    onStatus: (status, d) => {
      const el = $("conn-state");
      if (status === "open") el.textContent = "Connected";
      else if (status === "waiting") el.textContent = "Reconnecting…";
      else if (status === "final") {
        el.textContent = "Disconnected";
        if (d.code === 4001 || d.code === 4002 || d.code === 4003) {
          stopApp();
          showLogin(d.code === 4002 ? "Your session has expired. Log in again." : "Your session has ended. Log in again.");
        }
      }
    },
  });
  conn.start();
}

// A frame refused for the connection (down, reconnecting) is said where it was asked
// for: an alert above the conversation, and in the ringing dialog when it is open.
// refused === false: asked by the console itself (sent again after the reconnect).
function send(frame, refused) {
  if (!conn || !conn.send(frame)) {
    if (refused === false) return false;
    const text = refused || t("offline.refused");
    showError(text);
    const d = $("offer");
    if (d.open) {
      const old = d.querySelector(".alert");
      if (old) old.remove();
      d.append(h("p", { class: "alert", role: "alert" }, text));
    }
    return false;
  }
  return true;
}

function act(kind, cid, extra, to) {
  // A second press while the first is on its way (a double click on Finish wrap-up) is
  // the same request: not sent again, so no error contradicts the first's answer. A new
  // disposition, or a transfer to someone else, is a new choice.
  const same = (a) => a.kind === kind && a.cid === cid && JSON.stringify(a.to) === JSON.stringify(to);
  if (kind !== "disposition" && [...S.actions.values()].some(same)) return true;
  const ref = `${kind}-${uid().slice(0, 8)}`;
  const c = S.convs.get(cid);
  // The name now: by the time the answer comes the row may be gone.
  S.actions.set(ref, { kind, cid, name: c ? c.contact_name : "", to });
  if (send(Object.assign({ type: kind, conversation_id: cid, ref }, extra || {}))) return true;
  S.actions.delete(ref);
  S.openWhenMine.delete(cid);
  return false;
}

function onFrame(f) {
  switch (f.type) {
    case "snapshot": return onSnapshot(f);
    case "conversation": return onConversation(f.conversation);
    case "offer": return onOffer(f);
    case "offer_withdrawn": return onOfferWithdrawn(f);
    case "sound": return playSound(f.event, f.sound);
    case "status": return setStatus(f.status);
    case "message": return onItem(f, true);
    case "event": return onItem(f, true);
    case "ack": return onAck(f);
    case "typing": return onTyping(f);
    case "unread": return onUnread(f);
    case "history": return onHistory(f);
    case "ok": return onOk(f);
    case "links": return links.onFrame(f);
    case "error": return onError(f);
    case "token": S.token = f.token; sessionSet(TOKEN_KEY, f.token); return;
    case "note": return notes.onNote(f, ctx);
    case "live": supervisor.onLive(f, ctx); monitorsFollow(f.conversations); return monitorsClosed(absent(f.conversations));
    case "live_update": supervisor.onUpdate(f, ctx); monitorsFollow(f.conversations || []); return monitorsClosed(f.gone || []);
    case "delivery": if (channels.onDelivery(f, S.threads) && f.conversation_id === S.current) renderMessages(); return;
    case "notice": return channels.adminNotice(f);
    default: return;
  }
}

// The channels' labels come from the server's one definition (gateway/model/channels.py).
function channelLabel(name) {
  return (S.channels[name] && S.channels[name].label) || name;
}

function onSnapshot(f) {
  S.agent = f.agent;
  S.channels = f.channels || {};
  S.queues = f.queues || {};
  S.agents = f.agents || {};
  S.touchpoints = f.touchpoints || {};
  S.sounds = f.sounds || {};
  prefs.load(f.agent.agent_id);
  setLanguage(prefs.get("lang"));
  S.priorityDisplay = f.priority_display === "numbers" ? "numbers" : "icons";
  S.dispositions = f.dispositions || [];
  fill($("me"), f.agent.name);
  $("me").title = f.agent.name;
  $("admin-link").hidden = f.agent.role !== "admin"; // the admin section (/admin)
  if (f.agent.role === "admin" && !S.emailWatch) S.emailWatch = email.watchConnections(S.token, $("app-view"));
  outbound.setup(S.token, $("logout"), (cid) => {
    if (S.convs.get(cid)?.place === "assigned") openConversation(cid); else S.openWhenMine.add(cid);
  });
  setStatus(f.agent.status);
  if (S.wantStatus) {
    const want = S.wantStatus;
    S.wantStatus = "";
    if (want !== f.agent.status && send({ type: "status", status: want, ref: "status" })) $("status").value = want;
  }
  S.convs.clear();
  S.offers.clear();
  monitored.clear(); // a new socket monitors nothing (and the rows above are the server's)
  const skew = f.now ? f.now - Date.now() / 1000 : 0;
  for (const c of [...f.inbox, ...f.assigned]) {
    S.convs.set(c.conversation_id, c);
    channels.noteRow(c);
    // In this browser's clock: the server's, less what this one is off by.
    if (c.place === "offered") S.offers.set(c.conversation_id, { summary: c, expires_at: c.offer_expires_at - skew });
  }
  // After a reconnect: reload what is on screen, resend what was not acknowledged in
  // every conversation, on screen or not (the server drops a duplicate client_msg_id).
  // A reply to a conversation that is no longer the agent's is marked not sent, and said.
  const lost = [];
  for (const [cid, th] of S.threads) {
    const c = S.convs.get(cid);
    for (const p of th.pending.values()) {
      if (p.failed) continue;
      if (c && c.place === "assigned") { sendPending(cid, p); continue; }
      p.failed = true;
      p.error = t(c && c.place === "wrapup" ? "reply.ended" : "reply.not_yours");
      lost.push(p.to || (c && c.contact_name) || "");
    }
    if (!c && !th.pending.size) { S.threads.delete(cid); continue; }
    th.loaded = false;
  }
  if (S.current && !S.convs.has(S.current)) S.current = "";
  renderFilters();
  renderLists();
  renderConversation();
  renderOffer();
  sections.show();
  // Actions asked on the old socket: their answers died with it (the snapshot shows
  // what was done), and a disposition still "on its way" would stop its picker following.
  const unanswered = [...S.actions.values()];
  S.actions.clear();
  syncDisposition();
  const said = unanswered.map((a) => t("action.unconfirmed", { action: t(`action.${a.kind}`), name: a.name || "?" }));
  if (lost.length) said.unshift(t("reply.lost", { names: [...new Set(lost)].filter(Boolean).join(", ") || "?" }));
  if (said.length) showError(said.join(" "));
}

function setStatus(status) {
  S.status = status;
  const sel = $("status");
  if (status === "available" || status === "away") sel.value = status;
  sel.dataset.status = status; // as the server has it (the choice above may be on its way)
}

// Chosen while not connected: said, kept, and sent once the snapshot is in (an agent
// who chose Away during a blip is not rung after it).
$("status").addEventListener("change", (e) => {
  const status = e.target.value;
  S.wantStatus = "";
  if (!send({ type: "status", status, ref: "status" }, t("offline.status", { status: t(`status.${status}`) }))) S.wantStatus = status;
});

function onConversation(c) {
  const cid = c.conversation_id;
  channels.noteRow(c);
  const before = S.convs.get(cid);
  if (monitored.has(cid) && c.place !== "assigned" && c.place !== "wrapup") {
    // Monitored: its Inbox row changes underneath, the read-only view stays.
    monitored.set(cid, c.place === "gone" ? null : c);
    if (before) before.state = c.state;
    if (cid === S.current) renderConvHeader();
    return;
  }
  if (c.place === "gone") {
    S.convs.delete(cid);
    drafts.forget(cid);
    S.offers.delete(cid);
    S.threads.delete(cid);
    uploads.delete(cid);
  } else {
    S.convs.set(cid, c);
    if (c.place !== "offered") S.offers.delete(cid);
  }
  if (S.openWhenMine.has(cid) && c.place === "assigned") {
    S.openWhenMine.delete(cid);
    sections.toConversations(); // accepted while History or Live was on screen
    S.current = cid;
    renderOffer(); // first: closing the ringing dialog gives focus back where it was
    renderLists();
    renderConversation({ focus: true });
    return;
  }
  renderFilters();
  renderLists();
  if (cid === S.current && (!before || before.place !== c.place || c.place === "gone")) {
    if (c.place === "gone") S.current = "";
    renderConversation({ focus: c.place === "wrapup" });
  } else if (cid === S.current) {
    renderConvHeader();
    syncDisposition();
  }
  renderOffer();
}

// ---------------------------------------------------------------- offers (ringing)
function onOffer(f) {
  const c = Object.assign({}, f.conversation, { place: "offered" });
  S.convs.set(c.conversation_id, c);
  // Count down from expires_in, so a browser clock that is off does not matter.
  S.offers.set(c.conversation_id, { summary: c, expires_at: Date.now() / 1000 + f.expires_in });
  renderOffer();
  renderLists();
  notify.show(t("notify.offer", { name: c.contact_name }), `offer-${c.conversation_id}`);
}

// A server code as words ("why.expired"), or the code itself for one this build does not know.
function reasonText(prefix, code) {
  return `${prefix}.${code}` in texts() ? t(`${prefix}.${code}`) : String(code || "").replace(/_/g, " ");
}

function onOfferWithdrawn(f) {
  const o = S.offers.get(f.conversation_id);
  S.offers.delete(f.conversation_id);
  const c = S.convs.get(f.conversation_id);
  if (c && c.place === "offered") S.convs.delete(f.conversation_id);
  if (o) announce(t("offer.stopped", { name: o.summary.contact_name, why: reasonText("why", f.reason) }));
  renderOffer();
  renderLists();
}

function closeOffer() {
  clearInterval(ringTimer);
  ringTimer = 0;
  const d = $("offer");
  if (d.open) d.close();
  d.dataset.cid = "";
}

function renderOffer() {
  const d = $("offer");
  const first = [...S.offers.values()].sort((a, b) => a.expires_at - b.expires_at)[0];
  if (!first) { closeOffer(); return; }
  const c = first.summary;
  const others = S.offers.size > 1 ? `${S.offers.size - 1} more ringing` : "";
  if (d.open && d.dataset.cid === c.conversation_id) {
    $("offer-more").textContent = others; // the same chat rings on: only the count moves
    return;
  }
  clearInterval(ringTimer);
  d.dataset.cid = c.conversation_id;
  const countdown = h("p", { class: "countdown", id: "offer-countdown" });
  const more = h("p", { class: "muted", id: "offer-more" }, others);
  fill(d,
    h("h2", { id: "offer-h" }, "Incoming chat"),
    h("p", { id: "offer-who", class: "offer-who" }, c.contact_name),
    h("p", { class: "muted" }, `${channelLabel(c.channel)} · ${c.touchpoint_name}`),
    h("p", { class: "labels" }, queueLabels(c), " ", priority(c.priority)),
    c.last_message ? h("blockquote", { class: "preview" }, c.last_message) : null,
    countdown,
    more,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "btn accept", onclick: () => accept(c.conversation_id) }, "Accept"),
      h("button", { type: "button", class: "btn secondary", onclick: () => reject(c.conversation_id) }, "Reject")));
  const tick = () => {
    const left = Math.max(0, Math.round(first.expires_at - Date.now() / 1000));
    countdown.textContent = `Rings for ${left} s more`;
    countdown.classList.toggle("urgent", left <= 10);
  };
  tick();
  ringTimer = setInterval(() => {
    tick();
    if (sound.running() && (Date.now() / 1000) % 3 < 1) sound.play(S.sounds.offered || "ring");
  }, 1000);
  if (!d.open) d.showModal();
  d.querySelector(".accept").focus();
}

$("offer").addEventListener("cancel", (e) => e.preventDefault()); // Escape does not dismiss a ringing chat

function accept(cid) {
  S.openWhenMine.add(cid);
  act("accept", cid);
}

function reject(cid) {
  if (!act("reject", cid)) return; // not connected: it still rings, and says why
  S.offers.delete(cid);
  const c = S.convs.get(cid);
  if (c && c.place === "offered") S.convs.delete(cid);
  renderOffer();
}

// ---------------------------------------------------------------- lists
function queueLabels(c) {
  return h("span", { class: "queues" }, (c.queue_ids || []).map((q) => h("span", { class: "queue" }, S.queues[q] || q)),
    c.dedicated ? h("span", { class: "queue dedicated" }, "dedicated") : null);
}

function priority(p) {
  if (S.priorityDisplay === "numbers") {
    return h("span", { class: "prio num", title: `Priority ${p}` }, h("span", { class: "sr-only" }, "Priority "), String(p));
  }
  const n = Math.max(0, Math.min(p | 0, 5));
  return h("span", { class: "prio icons", role: "img", "aria-label": `Priority ${p}`, title: `Priority ${p}` },
    n ? "▲".repeat(n) : "△");
}

function bubble(n) {
  return n ? h("span", { class: "unread" }, String(n), h("span", { class: "sr-only" }, " unread")) : null;
}

function when(c) { return formatTime(c.last_message_at || c.arrived_at); }

function filterValues() {
  return {
    q: $("f-search").value.trim().toLowerCase(),
    channel: $("f-channel").value,
    tp: $("f-tp").value,
    queue: $("f-queue").value,
    date: $("f-date").value,
    until: $("f-until").value,
    sort: $("f-sort").value,
  };
}

function setOptions(sel, all, pairs) {
  const value = sel.value;
  fill(sel, h("option", { value: "" }, all), pairs.map(([v, label]) => h("option", { value: v }, label)));
  sel.value = pairs.some(([v]) => v === value) ? value : "";
}

function renderFilters() {
  const inbox = [...S.convs.values()].filter((c) => c.place === "inbox");
  const channels = new Map(inbox.map((c) => [c.channel, channelLabel(c.channel)]));
  const tps = new Map(inbox.map((c) => [c.touchpoint_id, c.touchpoint_name]));
  const mine = S.agent && S.agent.queue_ids.length ? S.agent.queue_ids : Object.keys(S.queues);
  setOptions($("f-channel"), "All channels", [...channels]);
  setOptions($("f-tp"), "All touchpoints", [...tps]);
  setOptions($("f-queue"), "All queues", mine.map((q) => [q, S.queues[q] || q]));
}

for (const id of ["f-search", "f-channel", "f-tp", "f-queue", "f-date", "f-until", "f-sort"]) {
  $(id).addEventListener(id === "f-search" ? "input" : "change", () => renderLists());
}

function matches(c, f) {
  if (f.channel && c.channel !== f.channel) return false;
  if (f.tp && c.touchpoint_id !== f.tp) return false;
  if (f.queue && !(c.queue_ids || []).includes(f.queue)) return false;
  // a date and time in the agent's own time zone (datetime-local), to the minute
  if (f.date && c.arrived_at < new Date(f.date).getTime() / 1000) return false;
  if (f.until && c.arrived_at >= new Date(f.until).getTime() / 1000) return false;
  if (f.q) {
    const hay = [c.contact_name, c.contact_email, c.contact_phone].filter(Boolean).join(" ").toLowerCase();
    const digits = f.q.replace(/[^0-9+]/g, "");
    const phone = String(c.contact_phone || "").replace(/[^0-9+]/g, "");
    if (!hay.includes(f.q) && !(digits.length > 3 && phone.includes(digits))) return false;
  }
  return true;
}

function renderLists() {
  if (afterPress(renderLists)) return;
  const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : "";
  const f = filterValues();
  const all = [...S.convs.values()];
  // What rings for this agent is in their Inbox too, marked, with Accept.
  const inbox = all.filter((c) => c.place === "inbox" || c.place === "offered");
  const shown = inbox.filter((c) => matches(c, f))
    .sort((a, b) => (f.sort === "oldest" ? a.arrived_at - b.arrived_at : b.arrived_at - a.arrived_at));
  $("inbox-count").textContent = inbox.length ? `(${shown.length === inbox.length ? inbox.length : `${shown.length} of ${inbox.length}`})` : "";
  // Keyed: an unchanged row keeps its element, so a click across a frame still lands.
  const list = $("inbox-list");
  keyed(list, shown, (c) => c.conversation_id, (c) => {
    const cur = c.conversation_id === S.current;
    return h("li", { class: `row${cur ? " current" : ""}` },
      h("button", {
        type: "button", class: "open", "data-key": `open:${c.conversation_id}`, "aria-current": cur ? "true" : null,
        onclick: () => openConversation(c.conversation_id),
      },
      h("span", { class: "line" }, channels.avatar(c, S.channels), h("span", { class: "name" }, c.contact_name), " ", priority(c.priority), " ", bubble(c.unread),
        c.left_message ? h("span", { class: "tag" }, "Left a message") : null),
      h("span", { class: "line muted" }, `${channelLabel(c.channel)} · ${c.touchpoint_name} · ${formatTime(c.arrived_at)}`),
      h("span", { class: "line" }, queueLabels(c), c.place === "offered" ? h("span", { class: "tag ringing" }, t("ringing")) : null)),
      c.place === "offered"
        ? h("button", {
          type: "button", class: "btn small accept", "data-key": `accept:${c.conversation_id}`,
          "aria-label": `Accept ${c.contact_name}`, onclick: () => accept(c.conversation_id),
        }, "Accept")
        : h("button", {
          type: "button", class: "btn small", "data-key": `assign:${c.conversation_id}`,
          "aria-label": `Assign ${c.contact_name}`, onclick: () => assign(c.conversation_id),
        }, "Assign"));
  });
  if (!shown.length) list.append(h("li", { class: "empty" }, inbox.length ? "No conversation matches the filters." : "Nothing waiting."));

  const mine = all.filter((c) => c.place === "assigned" || c.place === "wrapup");
  $("assigned-count").textContent = mine.length ? `(${mine.length})` : "";
  const box = $("assigned-list");
  const byChannel = new Map();
  for (const c of mine.sort((a, b) => (b.last_message_at || b.arrived_at) - (a.last_message_at || a.arrived_at))) {
    if (!byChannel.has(c.channel)) byChannel.set(c.channel, []);
    byChannel.get(c.channel).push(c);
  }
  const groups = [...byChannel];
  const groupEls = keyed(box, groups, ([channel]) => channel, ([channel]) => {
    const hid = `group-${channel}`;
    return h("section", { class: "group", "aria-labelledby": hid },
      h("h3", { id: hid }, channelLabel(channel)),
      h("ul", { class: "rows" }));
  });
  groups.forEach(([, convs], i) => {
    keyed(groupEls[i].querySelector("ul"), convs, (c) => c.conversation_id, (c) => {
      const cur = c.conversation_id === S.current;
      return h("li", { class: `row${cur ? " current" : ""}` },
        h("button", {
          type: "button", class: "open", "data-key": `open:${c.conversation_id}`, "aria-current": cur ? "true" : null,
          onclick: () => openConversation(c.conversation_id),
        },
        h("span", { class: "line" }, channels.avatar(c, S.channels), h("span", { class: "name" }, c.contact_name), " ", priority(c.priority), " ",
          c.place === "wrapup" ? h("span", { class: "tag" }, "Wrap-up") : null, " ", bubble(c.unread)),
        h("span", { class: "line muted last" }, c.last_message || "—"),
        h("span", { class: "line muted" }, when(c), " ", queueLabels(c))));
    });
  });
  if (!mine.length) box.append(h("p", { class: "empty" }, "No conversation assigned to you."));
  if (active) {
    const el = document.querySelector(`[data-key="${CSS.escape(active)}"]`);
    if (el) el.focus();
  }
  notify.title(mine.reduce((n, c) => n + (c.unread || 0), 0) + S.offers.size);
}

function assign(cid) {
  S.openWhenMine.add(cid);
  act("assign", cid);
}

// ---------------------------------------------------------------- conversation view
function thread(cid) {
  let th = S.threads.get(cid);
  if (!th) {
    th = { items: new Map(), pending: new Map(), loaded: false, hasMore: false, maxSeq: 0, readSent: 0 };
    S.threads.set(cid, th);
  }
  return th;
}

function openConversation(cid) {
  sections.toConversations();
  S.current = cid;
  renderLists();
  renderConversation({ focus: true });
}

function supervises() { return !!S.agent && (S.agent.role === "supervisor" || S.agent.role === "admin"); }

function mayRead(c) {
  return c.place === "assigned" || c.place === "wrapup" || c.place === "offered" || c.place === "monitor" || c.preview || supervises();
}

function renderConversation(opts) {
  // What the agent has typed or chosen there (drafts.js), and where they were typing.
  const shown = $("conv").dataset.cid || "";
  if (S.convs.has(shown)) drafts.capture(shown, $("conv"));
  const c = S.convs.get(S.current);
  const again = c && shown === c.conversation_id; // the same conversation drawn again
  drafts.typingAt(again && shown, $("conv").contains(document.activeElement) ? document.activeElement : null);
  const main = clear($("conv"));
  main.dataset.cid = c ? c.conversation_id : "";
  if (!c) {
    main.append(h("p", { class: "empty" }, "Choose a conversation from the Inbox or from Assigned to you."));
    return;
  }
  main.setAttribute("aria-label", `Conversation with ${c.contact_name}`);
  main.append(h("header", { class: "conv-head", id: "conv-head" }));
  renderConvHeader();
  const th = thread(c.conversation_id);
  const column = h("div", { class: "conv-main" });
  const body = h("div", { class: "conv-body" }, column);
  main.append(body);
  if (S.lastShown !== c.conversation_id) { search.reset(); S.lastShown = c.conversation_id; }
  if (mayRead(c)) {
    // The contact card and the notes beside the thread (contact-card.js, notes.js).
    // Headings first: the sections are labelled by them while their content loads.
    const side = h("aside", { class: "side", "aria-label": t("card.title") },
      h("section", { class: "card", id: "contact-card", "aria-labelledby": "card-h" }, h("h3", { id: "card-h" }, t("card.title"))),
      c.place === "assigned" && S.dispositions.length ? dispositionPick(c) : null,
      h("section", { class: "notes-box", id: "notes-box", "aria-labelledby": "notes-h" }, h("h3", { id: "notes-h" }, t("notes.title"))));
    body.append(side);
    card.render(side.querySelector("#contact-card"), c.conversation_id, ctx);
    notes.render(side.querySelector("#notes-box"), c, ctx);
    column.append(search.box(() => renderMessages()));
    column.append(h("div", { class: "history", id: "history", tabindex: "0", role: "region", "aria-label": "Message history" },
      h("button", { type: "button", class: "btn secondary small more", id: "more", hidden: true, onclick: loadEarlier }, "Load earlier messages"),
      h("ol", { id: "messages", class: "messages", "aria-label": "Messages" })));
    if (!th.loaded) send({ type: "history", conversation_id: c.conversation_id }, false);
    renderMessages(true);
    if (c.channel === "email") column.append(email.panel(c.conversation_id, S.token));
  } else {
    column.append(h("p", { class: "empty" }, "Preview is not available for your role. Assign the conversation to read it."));
  }
  if (c.place === "assigned") {
    column.append(h("p", { class: "typing", id: "typing", "aria-live": "polite" }, typingText(c.conversation_id)));
    column.append(replyForm(c));
  } else if (c.place === "wrapup") {
    column.append(wrapupForm(c));
  }
  if (!drafts.restore(c.conversation_id, main) && opts && opts.focus) {
    const target = $("reply") || $("notes") || $("conv-title");
    if (target) target.focus();
  }
  markRead();
}

function renderConvHeader() {
  const head = $("conv-head");
  const c = S.convs.get(S.current);
  if (!head || !c) return;
  const actions = h("div", { class: "actions" });
  if (c.place === "inbox") {
    actions.append(h("button", { type: "button", class: "btn", onclick: () => assign(c.conversation_id) }, "Assign"));
  } else if (c.place === "assigned") {
    actions.append(
      h("button", { type: "button", class: "btn secondary", onclick: () => openTransfer(c) }, "Transfer"),
      h("button", { type: "button", class: "btn secondary", onclick: () => act("send_to_inbox", c.conversation_id) }, "Send to inbox"),
      h("button", { type: "button", class: "btn danger", onclick: () => confirmEnd(c) }, "End chat"));
  } else if (c.place === "monitor" && c.closed) {
    actions.append(h("button", { type: "button", class: "btn secondary", onclick: () => closeMonitor(c.conversation_id) }, t("live.close")));
  } else if (c.place === "monitor") {
    // (append() writes a null as the text "null")
    if (c.state === "assigned") actions.append(h("button", { type: "button", class: "btn secondary", onclick: () => openTransfer(c) }, t("live.transfer")));
    actions.append(h("button", { type: "button", class: "btn secondary", onclick: () => stopMonitor(c.conversation_id) }, t("live.stop")));
  }
  // Monitoring: with the live view's state and agent ("assigned · Ada"), kept current (monitorsFollow).
  const monitoring = c.closed ? t("live.closed", { name: c.contact_name }) : `${t("live.monitoring", { name: c.contact_name })} · ${supervisor.stateText(c, ctx)}`;
  const place = { inbox: "In the Inbox", offered: "Ringing", assigned: "Assigned to you", wrapup: "Ended: wrap-up", monitor: monitoring }[c.place] || "";
  fill(head,
    h("div", { class: "who" },
      h("h2", { id: "conv-title", tabindex: "-1" }, c.contact_name),
      h("p", { class: "muted" }, `${place} · ${channelLabel(c.channel)} · ${c.touchpoint_name}${c.subject ? ` · ${c.subject}` : ""}`, " ", channels.link(c)),
      h("p", { class: "labels" }, queueLabels(c), " ", priority(c.priority))),
    actions);
}

function typingText(cid) {
  const name = S.typing.get(cid);
  return name ? `${name} is typing…` : "";
}

function attacher(cid) {
  if (!uploads.has(cid)) {
    uploads.set(cid, new Attacher({
      t: ft,
      rules: () => { const c = S.convs.get(cid); return (c && c.place === "assigned" && (S.channels[c.channel] || {}).files) || null; },
      target: () => ({ url: `/api/conversations/${encodeURIComponent(cid)}/attachments`, token: S.token }),
      announce,
    }));
  }
  return uploads.get(cid);
}

function replyForm(c) {
  const ta = h("textarea", { id: "reply", rows: 3, maxlength: 4000, "aria-describedby": "reply-hint", "data-draft": true });
  const files = attacher(c.conversation_id);
  files.bindPaste(ta);
  const mail = c.channel === "email" ? email.composeFields(c.conversation_id, "") : null;
  const doSend = () => {
    const body = ta.value.trim();
    if (ta.disabled) return;
    if (files.busy()) { announce(ft("wait_uploads")); return; }
    const attachments = files.take();
    if (!body && !attachments.length) return;
    ta.value = "";
    typing(c.conversation_id, false);
    const content = mail && mail.content(body);
    if (mail) mail.reset();
    sendReply(c.conversation_id, body, attachments, content);
  };
  const enterSends = !!prefs.get("enterSends");
  ta.addEventListener("keydown", (e) => {
    // The reference's way by default (Shift+Enter sends, Enter adds a line); Settings
    // turns it round for agents used to other chat tools.
    if (templates.isShortcut(e)) { e.preventDefault(); templates.open(c.conversation_id, ta); return; }
    if (e.key === "Enter" && !e.isComposing && e.shiftKey !== enterSends) { e.preventDefault(); doSend(); }
  });
  ta.addEventListener("input", () => typing(c.conversation_id, !!ta.value));
  const sendButton = h("button", { type: "submit", class: "btn" }, "Send");
  const form = h("form", { class: "reply" },
    mail && mail.node,
    h("label", { for: "reply" }, "Reply"),
    ta,
    files.node,
    channels.editor(() => S.convs.get(c.conversation_id), S.channels, ta, sendButton),
    h("div", { class: "reply-bar" },
      files.button,
      h("p", { id: "reply-hint", class: "muted hint" }, t(enterSends ? "hint.enter_sends" : "hint.shift_sends"), " · ", t("templates.shortcut")),
      h("div", { class: "actions" }, templates.button(c.conversation_id, ta), sendButton)));
  files.refresh();
  form.addEventListener("submit", (e) => { e.preventDefault(); doSend(); ta.focus(); });
  return form;
}

// The disposition while the chat goes on (FAQ 12: "or even before" the wrap-up): saved
// on change; the wrap-up form opens with it, and a wrap-up without one keeps it.
function dispositionPick(c) {
  const sel = h("select", { id: "conv-disposition" },
    h("option", { value: "" }, t("disposition.none")), S.dispositions.map((d) => h("option", { value: d }, d)));
  sel.value = c.disposition || "";
  sel.addEventListener("change", () => {
    if (!act("disposition", c.conversation_id, { disposition: sel.value })) syncDisposition();
  });
  return h("div", { class: "field disposition-pick" }, h("label", { for: "conv-disposition" }, t("disposition.label")), sel);
}

// The chosen disposition as the row says (this console's choice, or another's of the agent).
function syncDisposition() {
  const c = S.convs.get(S.current);
  // a choice still on its way: an earlier one's row must not undo it on screen
  const pending = [...S.actions.values()].some((a) => a.kind === "disposition" && a.cid === S.current);
  if (!c || pending) return;
  const sel = $("conv-disposition");
  if (sel) sel.value = c.disposition || "";
  // The wrap-up form takes one saved after it opened (chosen beside the thread just
  // before End, its answer after the end's), unless the agent has chosen in the form.
  const wrap = $("disposition");
  if (wrap && !wrap.dataset.chosen && S.dispositions.includes(c.disposition)) wrap.value = c.disposition;
}

function wrapupForm(c) {
  const form = h("form", { class: "wrapup", "aria-labelledby": "wrapup-h", novalidate: true },
    h("h3", { id: "wrapup-h" }, "Wrap-up"),
    h("p", { class: "muted" }, "The chat has ended. Add notes and a disposition to close it."),
    h("div", { class: "field" }, h("label", { for: "notes" }, "Notes"), h("textarea", { id: "notes", rows: 4, maxlength: 4000, "data-draft": true })),
    h("div", { class: "field" }, h("label", { for: "disposition" }, "Disposition"),
      h("select", { id: "disposition", required: S.dispositions.length ? true : null, "data-draft": true },
        h("option", { value: "" }, "Choose…"), S.dispositions.map((d) => h("option", { value: d }, d)))),
    h("p", { id: "wrapup-error", class: "err", role: "alert" }),
    h("button", { type: "submit", class: "btn" }, "Finish wrap-up"));
  // chosen while the chat went on (dispositionPick), unless no longer in the set
  const pick = form.querySelector("#disposition");
  if (S.dispositions.includes(c.disposition)) pick.value = c.disposition;
  pick.addEventListener("change", () => { pick.dataset.chosen = "1"; });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const disposition = $("disposition").value;
    if (S.dispositions.length && !disposition) {
      $("wrapup-error").textContent = "Choose a disposition.";
      $("disposition").setAttribute("aria-invalid", "true");
      $("disposition").focus();
      return;
    }
    act("wrapup", c.conversation_id, { notes: $("notes").value.slice(0, 4000), disposition });
  });
  return form;
}

function sendReply(cid, body, attachments, content) {
  const th = thread(cid);
  const c = S.convs.get(cid);
  // The contact's name now: said if the reply cannot be sent after a reconnect.
  const p = { client_msg_id: messageId(), body, attachments: attachments || [], at: Date.now() / 1000, failed: false, to: c ? c.contact_name : "" };
  th.pending.set(p.client_msg_id, p);
  renderMessages(true);
  if (content) {
    // email with recipients, subject or a forward: the message API (docs/channels/email.md)
    email.sendWithContent(cid, S.token, p.client_msg_id, body, content)
      .then((ack) => onAck({ ...ack, type: "ack" }))
      .catch((err) => { p.failed = true; p.error = err.message; renderMessages(); });
    return;
  }
  conn && sendPending(cid, p);
}

function sendPending(cid, p) {
  const f = { type: "send", conversation_id: cid, client_msg_id: p.client_msg_id, body: p.body };
  if (p.attachments.length) f.attachments = p.attachments.map((a) => a.id);
  return conn.send(f);
}

function typing(cid, active) {
  const now = Date.now();
  clearTimeout(ownTyping.stop);
  if (active) {
    if (ownTyping.cid !== cid || now - ownTyping.at > 3000) {
      ownTyping = { cid, at: now, stop: 0 };
      conn && conn.send({ type: "typing", conversation_id: cid, active: true });
    }
    ownTyping.stop = setTimeout(() => typing(cid, false), 4000);
  } else if (ownTyping.at) {
    ownTyping = { cid: "", at: 0, stop: 0 };
    conn && conn.send({ type: "typing", conversation_id: cid, active: false });
  }
}

function loadEarlier() {
  const th = thread(S.current);
  const first = Math.min(...th.items.keys());
  send({ type: "history", conversation_id: S.current, before_seq: first });
}

function renderMessages(toBottom) {
  const list = $("messages");
  const c = S.convs.get(S.current);
  if (!list || !c) return;
  const box = $("history");
  const atBottom = toBottom || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const th = thread(c.conversation_id);
  clear(list);
  if (th.context && th.context.length && !th.hasMore) list.append(contextItem(th.context));
  for (const seq of [...th.items.keys()].sort((a, b) => a - b)) list.append(itemNode(th.items.get(seq)));
  for (const p of th.pending.values()) {
    list.append(h("li", { class: `msg agent mine${p.failed ? " failed" : ""}` },
      h("span", { class: "sr-only" }, "You: "),
      p.body ? h("span", { class: "bubble" }, linkify(p.body)) : null,
      links.cards(c.conversation_id, p, ft, false),
      h("span", { class: "meta" }, p.failed ? `Not sent: ${p.error || "error"}` : "Sending…")));
  }
  $("more").hidden = !th.hasMore;
  search.apply(list);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function itemNode(f) {
  if (f.type === "event") {
    const name = f.agent_name || "An agent";
    const why = EVENT_REASONS[f.reason];
    const text = why && f.event === "agent_left" ? `${name} ${why}` : why || { agent_joined: `${name} joined`, agent_left: `${name} left`, ended: "The chat ended" }[f.event] || channels.eventText(f) || f.event;
    return h("li", { class: "note" }, `${text} · ${formatTime(f.at)}`);
  }
  const who = f.sender === "visitor" ? f.sender_name : f.sender === "agent" ? f.sender_name : f.sender_name ? `Automatic (${f.sender_name})` : "Automatic";
  return h("li", { class: `msg ${f.sender}` },
    h("span", { class: "sr-only" }, `${who}: `),
    f.body ? h("span", { class: "bubble" }, linkify(f.body)) : null,
    links.cards(f.conversation_id, f, ft),
    h("span", { class: "meta" }, `${who} · ${formatTime(f.at)}`, " ", channels.deliveryNote(f)));
}

function onItem(f, live) {
  const th = thread(f.conversation_id);
  if (th.items.has(f.seq)) return;
  if (f.type === "message" && f.client_msg_id) th.pending.delete(f.client_msg_id);
  th.items.set(f.seq, f);
  if (f.seq > th.maxSeq) th.maxSeq = f.seq;
  const c = S.convs.get(f.conversation_id);
  if (c && f.type === "message") {
    c.last_message = summary(f, ft);
    c.last_message_at = f.at;
    c.last_seq = Math.max(c.last_seq, f.seq);
  }
  if (live && f.type === "message" && f.sender === "visitor") {
    if (c) channels.contactWrote(c, S.channels);
    S.typing.delete(f.conversation_id);
    if (f.conversation_id === S.current) {
      const el = $("typing");
      if (el) el.textContent = "";
      announce(`${f.sender_name}: ${summary(f, ft)}`);
      const panel = document.querySelector(".email-panel");
      if (panel && panel.refresh) panel.refresh();
    }
    if (c && c.place === "assigned") notify.show(t("notify.reply", { name: f.sender_name }), `reply-${f.conversation_id}`);
  }
  if (f.conversation_id === S.current) { renderMessages(); markRead(); }
  renderLists();
}

function onAck(f) {
  const th = thread(f.conversation_id);
  const p = th.pending.get(f.client_msg_id);
  th.pending.delete(f.client_msg_id);
  if (p && !th.items.has(f.seq)) {
    onItem({
      type: "message", conversation_id: f.conversation_id, seq: f.seq, sender: "agent",
      sender_name: S.agent ? S.agent.name : "", body: p.body, at: p.at, client_msg_id: f.client_msg_id,
      attachments: p.attachments,
    }, false);
  } else if (f.conversation_id === S.current) {
    renderMessages();
  }
}

function onHistory(f) {
  const th = thread(f.conversation_id);
  for (const item of f.items) {
    if (item.type === "message" && item.client_msg_id) th.pending.delete(item.client_msg_id);
    th.items.set(item.seq, item);
    if (item.seq > th.maxSeq) th.maxSeq = item.seq;
  }
  const first = !th.loaded;
  th.loaded = true;
  if (f.context) th.context = f.context; // first page only: the escalated transcript
  th.hasMore = f.has_more;
  if (f.conversation_id === S.current) { renderMessages(first); markRead(); }
}

function onTyping(f) {
  if (f.who !== "visitor") return;
  clearTimeout(typingTimers.get(f.conversation_id));
  if (f.active) {
    S.typing.set(f.conversation_id, f.name);
    typingTimers.set(f.conversation_id, setTimeout(() => onTyping({ who: "visitor", conversation_id: f.conversation_id, active: false }), 8000));
  } else {
    S.typing.delete(f.conversation_id);
  }
  const el = $("typing");
  if (el && f.conversation_id === S.current) fill(el, typingText(f.conversation_id));
}

function onUnread(f) {
  const c = S.convs.get(f.conversation_id);
  if (!c) return;
  c.unread = f.count;
  renderLists();
  if (f.count && f.conversation_id === S.current) markRead();
}

function markRead() {
  // Read only what is on screen: not while History, Live, ... hides the conversation
  // (ctx.refresh marks it read on the way back).
  if (sections.current() !== "conversations") return;
  const c = S.convs.get(S.current);
  if (c && c.place === "monitor") return; // read-only: a monitor's reading clears nothing
  if (!c || c.place !== "assigned" || document.visibilityState !== "visible") return;
  const th = thread(c.conversation_id);
  const seq = Math.max(th.maxSeq, c.last_seq || 0);
  if (seq && (c.unread > 0 || seq > th.readSent)) {
    if (conn && conn.send({ type: "read", conversation_id: c.conversation_id, seq })) th.readSent = seq;
  }
}
document.addEventListener("visibilitychange", markRead);

function onOk(f) {
  const a = S.actions.get(f.ref);
  if (!a) return;
  S.actions.delete(f.ref);
  const c = S.convs.get(a.cid);
  const name = a.name || (c ? c.contact_name : "");
  const done = { agent: "done.transfer_agent", queue: "done.transfer_queue", move: "done.move" };
  const text = a.kind === "transfer" ? t(done[a.to.kind], { name, to: a.to.name }) : t(`done.${a.kind}`, { name });
  announce(text);
  if (a.kind === "disposition") syncDisposition(); // its row may have come first, while pending
  // A supervisor's move: the conversation still waits (in the Live view, in every
  // supervisor's Inbox), so nothing closes.
  if (a.kind === "transfer" && a.to.kind === "move") return;
  if (a.kind === "wrapup" || a.kind === "transfer" || a.kind === "send_to_inbox") {
    if (c && (a.kind === "wrapup" || (a.kind === "transfer" && c.place === "monitor"))) S.convs.delete(a.cid);
    // Sent back or handed on: it is no longer this agent's to read (a preview may not
    // be allowed for their role), so the view closes; another on screen stays as it is.
    const closing = S.current === a.cid;
    if (closing) S.current = "";
    renderLists();
    if (closing) renderConversation();
    drafts.forget(a.cid);
    flash(text);
  }
}

function flash(text) {
  const main = $("conv");
  const p = h("p", { class: "flash", role: "status" }, text);
  main.prepend(p);
}

function onError(f) {
  const a = f.ref && S.actions.get(f.ref);
  if (a) {
    S.actions.delete(f.ref);
    S.openWhenMine.delete(a.cid);
    const why = `err.${f.code}` in texts() ? t(`err.${f.code}`) : f.message;
    showError(t("failed", { action: t(`action.${a.kind}`), name: a.name || "", why }));
    if (a.kind === "disposition") syncDisposition();
    return;
  }
  for (const [cid, th] of S.threads) {
    const p = f.ref && th.pending.get(f.ref);
    if (p) {
      if (f.retryable) { setTimeout(() => conn && sendPending(cid, p), 2000); return; }
      p.failed = true;
      p.error = f.message;
      if (cid === S.current) renderMessages();
      return;
    }
  }
  if (f.ref !== "status") { showError(f.message); return; }
  showError(`Status not changed: ${f.message}`);
  setStatus(S.status); // the control shows the status the agent still has
}

function showError(text) {
  // Above the conversation, or above the section on screen instead (History, Live, ...).
  const main = $("app-view").querySelector(".layout").hidden ? $("section-view") : $("conv");
  const old = main.querySelector(".alert");
  if (old) old.remove();
  main.prepend(h("p", { class: "alert", role: "alert" }, text));
}

// ---------------------------------------------------------------- transfer
// ``move``: a supervisor moves a conversation nobody holds yet (waiting or ringing) to
// another queue: queues only (an agent takes it with Assign), not the one it is only in.
async function openTransfer(c, { move = false } = {}) {
  const d = $("transfer");
  // Who can take it now, from the server: offline agents are shown, and cannot be chosen.
  const r = move ? { ok: true, data: [] } : await api("/api/console/agents");
  const roster = r.ok ? r.data : Object.entries(S.agents).map(([agent_id, name]) => ({ agent_id, name, status: "offline", capacity_left: 0 }));
  const others = roster.filter((a) => !S.agent || a.agent_id !== S.agent.agent_id);
  // the one queue it is in is no move, unless it waits in a dedicated agent's backlog
  const only = move && !c.dedicated && (c.queue_ids || []).length === 1 ? c.queue_ids[0] : "";
  const queues = Object.entries(S.queues).filter(([id]) => id !== only);
  const label = (a) => (a.status !== "offline" && a.capacity_left <= 0 ? t("transfer.full", { name: a.name }) : t("transfer.agent_row", { name: a.name, status: t(`status.${a.status}`) }));
  const sel = h("select", { id: "transfer-to", required: true },
    h("option", { value: "" }, "Choose…"),
    others.length ? h("optgroup", { label: t("transfer.agents") }, others.map((a) => h("option", { value: `agent:${a.agent_id}`, disabled: a.status === "offline" ? true : null }, label(a)))) : null,
    queues.length ? h("optgroup", { label: t("transfer.queues") }, queues.map(([id, name]) => h("option", { value: `queue:${id}` }, t("transfer.queue", { name })))) : null);
  const note = h("textarea", { id: "transfer-note", rows: 2, maxlength: 2000 });
  const err = h("p", { class: "err", id: "transfer-error", role: "alert" });
  const form = h("form", { method: "dialog", novalidate: true },
    h("h2", { id: "transfer-h" }, t(move ? "move.title" : "transfer.title", { name: c.contact_name })),
    h("div", { class: "field" }, h("label", { for: "transfer-to" }, t(move ? "move.to" : "transfer.to")), sel),
    h("div", { class: "field" }, h("label", { for: "transfer-note" }, t("transfer.note")), note),
    err,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn" }, move ? t("move.submit") : "Transfer"),
      h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, t("cancel"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const [kind, id] = sel.value.split(":");
    if (!id) { err.textContent = t(move ? "move.choose" : "transfer.choose"); sel.focus(); return; }
    const name = kind === "agent" ? (others.find((a) => a.agent_id === id) || {}).name || S.agents[id] : S.queues[id];
    const extra = kind === "agent" ? { to_agent_id: id } : { to_queue_id: id };
    if (note.value.trim()) extra.note = note.value.trim();
    act("transfer", c.conversation_id, extra, { kind: move ? "move" : kind, name });
    d.close();
  });
  clear(d).append(form);
  d.showModal();
  sel.focus();
}

// "End chat" asks first: the contact is told at once and it cannot be undone.
function confirmEnd(c) {
  const d = $("confirm");
  const yes = h("button", { type: "button", class: "btn danger", onclick: () => { d.close(); act("end", c.conversation_id); } }, t("end.confirm"));
  fill(d,
    h("h2", { id: "confirm-h" }, t("end.confirm_title", { name: c.contact_name })),
    h("p", { id: "confirm-text" }, t("end.confirm_text")),
    h("div", { class: "actions" }, yes, h("button", { type: "button", class: "btn secondary", onclick: () => d.close() }, t("cancel"))));
  d.showModal();
  yes.focus();
}

// ---------------------------------------------------------------- monitoring (supervisors)
const monitored = new Map(); // conversation id -> the row it replaced in the Inbox, if any

function monitor(live) {
  const cid = live.conversation_id;
  const mine = S.convs.get(cid);
  if (!mine || mine.place === "inbox") {
    monitored.set(cid, mine || null);
    S.convs.set(cid, supervisor.summaryOf(live));
    S.threads.delete(cid);
    send({ type: "monitor", conversation_id: cid });
  }
  sections.toConversations();
  S.current = cid;
  renderLists();
  renderConversation({ focus: true });
}

function stopMonitor(cid) {
  send({ type: "monitor", conversation_id: cid, on: false });
  closeMonitor(cid);
}

// The monitor's view goes; the Inbox row it replaced, if any, comes back.
function closeMonitor(cid) {
  const prev = monitored.get(cid);
  monitored.delete(cid);
  if (prev) S.convs.set(cid, prev); else S.convs.delete(cid);
  S.threads.delete(cid);
  renderLists();
  // only its own view: another conversation on screen keeps its draft
  if (S.current === cid) { S.current = ""; renderConversation(); }
}

// Monitored conversations that closed (they left the live view): the server sends
// nothing more of them, so the monitor is turned off now (it would count towards the
// socket's 20 until then). One on screen stays, marked closed, until its Close.
function monitorsClosed(ids) {
  for (const cid of ids) {
    const c = S.convs.get(cid);
    if (!monitored.has(cid) || (c && c.closed)) continue;
    send({ type: "monitor", conversation_id: cid, on: false }, false);
    if (cid === S.current && c && c.place === "monitor") {
      c.closed = true; // the browser's own mark: the view's row is no server row
      renderConvHeader();
      announce(t("live.closed", { name: c.contact_name }));
    } else {
      closeMonitor(cid);
    }
  }
}

// Monitored conversations follow the live view's rows: sent back to the queue,
// transferred, assigned after waiting, their header (agent, Transfer while assigned,
// queues, priority) says so, not what it was when monitoring began.
function monitorsFollow(rows) {
  for (const row of rows) {
    const c = S.convs.get(row.conversation_id);
    if (!c || c.place !== "monitor" || c.closed) continue;
    Object.assign(c, supervisor.followed(row));
    if (row.conversation_id === S.current) renderConvHeader();
  }
}

// The monitored conversations a whole live view (`live`) does not hold: closed, or
// deleted with their contact.
function absent(rows) {
  const ongoing = new Set(rows.map((r) => r.conversation_id));
  return [...monitored.keys()].filter((cid) => !ongoing.has(cid));
}

// Static texts of the page, in the chosen language.
function relabel() {
  sections.nav();
  notify.title(Number(document.body.dataset.unreadTotal) || 0);
}

// What the workspace's modules may use of this file.
const ctx = {
  S, send, act, announce, supervises, priority, relabel,
  channelLabel: (name) => channelLabel(name),
  conversation: (cid) => S.convs.get(cid),
  touchpoints: () => S.touchpoints,
  monitor,
  refresh: () => { renderLists(); renderConversation(); },
  transfer: (live) => openTransfer(S.convs.get(live.conversation_id) || supervisor.summaryOf(live)),
  // the live row, not the Inbox's: its queues are the ones the Live view shows
  move: (live) => openTransfer(supervisor.summaryOf(live), { move: true }),
};
setToken(() => S.token);
sections.init(ctx);

dropZone($("conv"), () => (S.current ? attacher(S.current) : null), ft);
boot();
