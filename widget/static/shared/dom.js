// DOM helpers shared by the chat app and the console. Text always goes in as text
// nodes (never innerHTML), so whatever a visitor or agent typed cannot become markup,
// and through displayText (shared/text.js), so it cannot reorder itself either.

import { displayText } from "./text.js";

/** h("button", {class: "x", onclick: fn, "aria-label": "Send"}, "text", node, ...) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "value") el.value = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(displayText(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

/** Replace an element's children (null / false children are skipped, as in h). */
export function fill(el, ...children) { clear(el); append(el, children); return el; }

export function svg(pathD, size) {
  const ns = "http://www.w3.org/2000/svg";
  const s = document.createElementNS(ns, "svg");
  s.setAttribute("viewBox", "0 0 24 24");
  s.setAttribute("width", size || 20);
  s.setAttribute("height", size || 20);
  s.setAttribute("aria-hidden", "true");
  s.setAttribute("focusable", "false");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", pathD);
  p.setAttribute("fill", "currentColor");
  s.append(p);
  return s;
}

/** A random id (crypto.randomUUID needs a secure context). */
export function uid() {
  if (globalThis.crypto && crypto.randomUUID && isSecureContext) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A message's client_msg_id: a UUIDv7 (RFC 9562), its first 48 bits the time in
 * milliseconds, so ids sort by when they were made and the store's idempotency index
 * takes them near its end (docs/store.md, "The idempotency index"). */
export function messageId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // the RFC's variant
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function formatTime(at, lang) {
  try {
    return new Date(at * 1000).toLocaleTimeString(lang || undefined, { hour: "2-digit", minute: "2-digit" });
  } catch (_) {
    return new Date(at * 1000).toISOString().slice(11, 16);
  }
}

/** WCAG relative luminance of #rgb / #rrggbb, or null. */
export function luminance(hex) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(hex || "").trim());
  if (!m) return null;
  let s = m[1];
  if (s.length === 3) s = s.replace(/./g, "$&$&");
  const ch = [0, 2, 4].map((i) => parseInt(s.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
}

export function contrast(a, b) {
  const la = luminance(a), lb = luminance(b);
  if (la === null || lb === null) return 0;
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** The text colour (white or near-black) that reads best on a background colour. */
export function textOn(bg) {
  return contrast(bg, "#ffffff") >= contrast(bg, "#111827") ? "#ffffff" : "#111827";
}
