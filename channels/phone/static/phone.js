// The demo phone: a contact's side of an SMS, WhatsApp or Messenger thread. It writes
// through the provider emulators' control API (a phone texting a number, a person
// writing to a page); the emulators post signed webhooks to the gateway and keep what
// the agent sends, which this page shows. channels/phone/__init__.py.

import { h, clear, formatTime } from "/widget/shared/dom.js";
import * as media from "/demo/phone/static/phone-media.js";

const LABELS = { sms: "SMS", whatsapp: "WhatsApp", messenger: "Messenger" };
const $ = (id) => document.getElementById(id);
const store = {
  get(k, d) { try { return JSON.parse(localStorage.getItem(`gw.phone.${k}`)) ?? d; } catch (_) { return d; } },
  set(k, v) { try { localStorage.setItem(`gw.phone.${k}`, JSON.stringify(v)); } catch (_) { /* private mode */ } },
};

let config = {};
let channel = "";
let received = [];
let readUpTo = 0;
let timer = 0;
let shown = "";

function me() {
  const d = { sms: { phone: "+12025550143" }, whatsapp: { name: "Ana Lima", wa_id: "447400123456" },
    messenger: { first_name: "Jane", last_name: "Doe", psid: String(24e15 + Math.floor(Math.random() * 1e9)) } };
  const who = store.get(`who.${channel}`, d[channel]);
  store.set(`who.${channel}`, who);
  return who;
}

function field(id, label, value, onchange) {
  const input = h("input", { id, value, autocomplete: "off" });
  input.addEventListener("change", () => onchange(input.value.trim()));
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function renderWho() {
  const who = me();
  const set = (k) => (v) => { who[k] = v; store.set(`who.${channel}`, who); received = []; poll(); };
  const c = config[channel];
  const box = clear($("who"));
  if (channel === "sms") {
    box.append(field("phone", "Your number", who.phone, set("phone")));
    $("to").textContent = `Texting ${c.number}. Try STOP, START or HELP.`;
  } else if (channel === "whatsapp") {
    box.append(field("name", "Your WhatsApp name", who.name, set("name")),
      field("wa", "Your WhatsApp number (digits, no +)", who.wa_id, set("wa_id")));
    $("to").textContent = `Writing to wa.me/${c.number.replace("+", "")}`;
  } else {
    box.append(field("first", "First name", who.first_name, set("first_name")),
      field("last", "Last name", who.last_name, set("last_name")));
    $("to").textContent = `Writing to m.me/${c.page_name}`;
  }
}

function mine() { return store.get(`sent.${channel}.${JSON.stringify(me())}`, []); }

function renderThread() {
  const items = [...mine().map((m) => ({ ...m, me: true })), ...received].sort((a, b) => a.at - b.at);
  const now = JSON.stringify([channel, items]);
  if (now === shown) return; // unchanged: keep the images already loaded
  shown = now;
  const list = clear($("thread"));
  const emulator = config[channel].emulator;
  for (const m of items) {
    const files = m.me ? (m.files || []).map(media.sent) : m.media.map((x) => media.received(emulator, x));
    list.append(h("li", { class: m.me ? "me" : "them" }, m.body || null, files,
      h("span", { class: "meta" }, `${m.me ? "You" : LABELS[channel]} · ${formatTime(m.at)}`)));
  }
  list.scrollTop = list.scrollHeight;
}

async function call(path, body) {
  const c = config[channel];
  const r = await fetch(c.emulator + path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${r.status}`);
  return r.json();
}

async function poll() {
  clearTimeout(timer);
  const who = me();
  const c = config[channel];
  try {
    if (channel === "sms") {
      const inbox = await call(`/_emulator/phone/${encodeURIComponent(who.phone)}/inbox`);
      received = inbox.filter((m) => m.from === c.number)
        .map((m) => ({ body: m.body, at: m.at, media: m.media || [] }));
    } else if (channel === "whatsapp") {
      const inbox = await call(`/_emulator/phone/${who.wa_id}/inbox`);
      received = inbox.filter((m) => m.phone_number_id === c.phone_number_id)
        .map((m) => ({ body: m.body || m.caption, at: m.at, media: m.media ? [m.media] : [] }));
    } else {
      const inbox = await call(`/_emulator/phone/${who.psid}/inbox`);
      received = inbox.filter((m) => m.page_id === c.page_id)
        .map((m) => ({ body: m.text, at: m.at, media: m.media ? [m.media] : [] }));
    }
    $("status").textContent = "";
    const newest = received.reduce((t, m) => Math.max(t, m.at), 0);
    if (newest > readUpTo && channel !== "sms" && document.visibilityState === "visible") {
      readUpTo = newest; // the contact has seen them: a read receipt
      await call("/_emulator/phone/read", channel === "whatsapp"
        ? { phone_number_id: c.phone_number_id, from: who.wa_id } : { page_id: c.page_id, psid: who.psid });
    }
  } catch (_) {
    $("status").textContent = "The provider emulator does not answer: is ./scripts/serve running?";
  }
  renderThread();
  timer = setTimeout(poll, 1500);
}

async function send(text, file) {
  const who = me();
  const c = config[channel];
  const body = channel === "sms" ? { from: who.phone, to: c.number, body: text }
    : channel === "whatsapp" ? { phone_number_id: c.phone_number_id, from: who.wa_id, name: who.name, body: text }
      : { page_id: c.page_id, psid: who.psid, first_name: who.first_name, last_name: who.last_name, text };
  if (file) {
    const spec = await media.spec(channel, file);
    // a WhatsApp medium carries the text as its caption; MMS and Messenger send both
    if (channel === "whatsapp") body.media = { ...spec, caption: text };
    else body.media = [spec];
  }
  await call("/_emulator/phone/send", body);
  const sent = mine();
  sent.push({ body: text, at: Date.now() / 1000, files: file ? [{ name: file.name, size: file.size }] : [] });
  store.set(`sent.${channel}.${JSON.stringify(who)}`, sent);
  renderThread();
}

function choose(name) {
  channel = name;
  store.set("channel", name);
  received = [];
  readUpTo = 0;
  renderWho();
  poll();
}

async function boot() {
  config = await (await fetch("/demo/phone/config.json")).json();
  const sel = $("channel");
  for (const name of Object.keys(config)) sel.append(h("option", { value: name }, LABELS[name]));
  if (!sel.options.length) {
    $("status").textContent = "No messaging channel in this demo: start it with ./scripts/serve.";
    $("compose").hidden = true;
    return;
  }
  sel.addEventListener("change", () => choose(sel.value));
  const last = store.get("channel", "");
  sel.value = config[last] ? last : sel.options[0].value;
  $("compose").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    const file = $("file").files[0];
    if (!text && !file) return;
    if (file && file.size > media.MAX_BYTES) {
      $("status").textContent = `Not sent: ${file.name} is over ${media.size(media.MAX_BYTES)}.`;
      return;
    }
    try {
      await send(text, file);
      $("text").value = "";
      $("file").value = "";
      $("status").textContent = "";
    } catch (_) {
      $("status").textContent = "Not sent: the provider emulator refused or is not running.";
    }
    $("text").focus();
  });
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("compose").requestSubmit(); }
  });
  choose(sel.value);
}

boot();
