// The messaging channels in the console (docs/channels/*.md): avatars with the
// channel's icon and initials, the session window's countdown and the editor locked when
// it closes, the SMS opt-out notice, the segment count as the agent types, why
// attachments are disabled, delivery states on the agent's messages, notices in the
// thread, and admin notices. console.js calls these hooks; the rules come from the
// server (the conversation row's channel_state, the snapshot's channels).

import { h } from "/widget/shared/dom.js";
import { segments } from "/console/segments.js";

// The channels' badges: a letter, coloured by console.css (.ch-<channel>; the reference:
// green WhatsApp, blue Messenger). Colours live in the CSS: the page's CSP allows no
// inline style.
const BADGES = { whatsapp: "W", messenger: "M", sms: "S", email: "E", chat: "C", api: "A", voice: "V" };

// -------------------------------------------------------------------- avatars
export function initials(name) {
  const words = String(name || "").replace(/[^\p{L}\p{N}\s]/gu, " ").trim().split(/\s+/).filter(Boolean);
  if (!words.length || /^\d/.test(words[0])) return "";
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
}

export function avatar(c, channels) {
  const label = (channels[c.channel] && channels[c.channel].label) || c.channel;
  const ini = initials(c.contact_name);
  return h("span", { class: `avatar ch-${c.channel}`, "aria-hidden": "true", title: label },
    h("span", { class: "initials" }, ini || "#"),
    h("span", { class: "badge" }, BADGES[c.channel] || "?"));
}

// -------------------------------------------------------------------- session windows
const deadlines = new Map(); // conversation id -> when the window closes (local ms)

// A row arrived: the window closes `window_closes_in` seconds from now, whatever the
// browser's clock says.
export function noteRow(c) {
  const st = c.channel_state;
  if (st && st.window_closes_at) deadlines.set(c.conversation_id, Date.now() + (st.window_closes_in || 0) * 1000);
}

// The contact wrote: the window reopens for the channel's whole length.
export function contactWrote(c, channels) {
  const info = channels[c.channel];
  if (!info || !info.session_window) return false;
  deadlines.set(c.conversation_id, Date.now() + info.session_window * 1000);
  return true;
}

function left(cid) {
  return deadlines.has(cid) ? Math.max(0, deadlines.get(cid) - Date.now()) / 1000 : null;
}

export function formatLeft(seconds) {
  const s = Math.ceil(seconds);
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

// Why the agent cannot write now ("" when they can), and the notice to show.
export function lock(c, channels) {
  const st = c.channel_state || {};
  if (st.locked === "opted_out") return st.notice || "This contact opted out: no message can reach them.";
  const l = left(c.conversation_id);
  if (l !== null && l <= 0) {
    const label = (channels[c.channel] && channels[c.channel].label) || c.channel;
    return `The ${label} session window has closed: you can write again when the contact does. Keep the conversation open, or end it.`;
  }
  return "";
}

// The editor's channel bar: the countdown, the lock, the segment count, attachments.
// Re-evaluated every second while it is on screen, from the conversation's row as it is
// then (`row()`: an opt-out or a reopened window shows without re-rendering).
export function editor(row, channels, ta, sendButton) {
  const c = row();
  const st = c.channel_state || {};
  const bar = h("div", { class: "channel-bar", id: "channel-bar" });
  const notice = h("p", { class: "lock-notice", id: "lock-notice", role: "status" });
  const windowLine = h("p", { class: "muted window", id: "window-left" });
  const count = h("p", { class: "muted segments", id: "segments", "aria-live": "polite" });
  const attach = !st.attachments && st.attachments_reason
    ? h("p", { class: "muted attachments", id: "attachments-off" }, `Attachments disabled: ${st.attachments_reason}`) : null;
  bar.append(...[notice, windowLine, st.segments ? count : null, attach].filter(Boolean));
  const update = () => {
    const now = row() || c;
    const why = lock(now, channels);
    ta.disabled = !!why;
    sendButton.disabled = !!why;
    notice.textContent = why;
    notice.hidden = !why;
    const l = left(c.conversation_id);
    windowLine.hidden = l === null || l <= 0;
    if (l !== null && l > 0) windowLine.textContent = `Session window: ${formatLeft(l)} left`;
    if (st.segments) {
      const n = segments(ta.value);
      count.textContent = `${n.units} ${n.encoding === "GSM-7" ? "characters" : "UCS-2 units"} · ${n.segments} SMS segment${n.segments === 1 ? "" : "s"} (${n.encoding})`;
    }
    return !!why;
  };
  const onInput = () => { if (bar.isConnected) update(); else ta.removeEventListener("input", onInput); };
  ta.addEventListener("input", onInput);
  const timer = setInterval(() => {
    if (!bar.isConnected) { clearInterval(timer); return; }
    update();
  }, 1000);
  update();
  return bar;
}

// -------------------------------------------------------------------- the header
export function link(c) {
  const st = c.channel_state || {};
  return st.link ? h("a", { href: st.link, target: "_blank", rel: "noopener", class: "contact-link" }, st.link.replace("https://", "")) : null;
}

// -------------------------------------------------------------------- messages
const DELIVERY = { pending: "Sending…", sent: "Sent", delivered: "Delivered", read: "Read" };

export function onDelivery(f, threads) {
  const th = threads.get(f.conversation_id);
  const item = th && th.items.get(f.seq);
  if (!item) return false;
  item.delivery = f.status;
  item.delivery_error = f.reason || "";
  return true;
}

export function deliveryNote(f) {
  if (!f.delivery) return null;
  if (f.delivery === "failed") {
    const why = f.delivery_error || "";
    return h("span", { class: "delivery failed", role: "status" },
      why.startsWith("Failed to send message") ? why : `Failed to send message${why ? `: ${why}` : ""}`);
  }
  return h("span", { class: `delivery ${f.delivery}` }, DELIVERY[f.delivery] || f.delivery);
}

export function eventText(f) {
  return f.event === "notice" ? f.text : "";
}

// -------------------------------------------------------------------- admin notices
export function adminNotice(f) {
  let box = document.getElementById("admin-notices");
  if (!box) {
    box = h("section", { id: "admin-notices", class: "admin-notices", "aria-label": "Admin notices" });
    const top = document.querySelector(".top");
    top.after(box);
  }
  const item = h("div", { class: "notice", role: "alert" },
    h("p", {}, f.message),
    h("button", { type: "button", class: "btn secondary small", onclick: () => item.remove() }, "Dismiss"));
  box.append(item);
}
