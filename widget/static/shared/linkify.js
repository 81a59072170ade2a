// Links in message text, made clickable safely for the chat app and the console: only
// http, https, mailto and tel (a "javascript:" or "data:" text stays text), each link
// opened in a new tab with rel="noopener noreferrer", every piece inserted as text.
// Bare "www.example.com" becomes https, a bare email address mailto.

import { h } from "./dom.js";

const SCHEMES = new Set(["http:", "https:", "mailto:", "tel:"]);
const CANDIDATE = /\b(?:(?:https?:\/\/|www\.)[^\s<>"]+|mailto:[^\s<>"]+|tel:\+?[0-9][0-9().\- ]{2,}[0-9]|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;

/** The href a candidate stands for, or "" when it is not a link we allow. */
export function safeHref(text) {
  let href = text;
  if (/^www\./i.test(href)) href = `https://${href}`;
  else if (!/^[a-z]+:/i.test(href) && href.includes("@")) href = `mailto:${href}`;
  if (href.startsWith("tel:")) href = `tel:${href.slice(4).replace(/[^0-9+]/g, "")}`;
  let url;
  try { url = new URL(href); } catch (_) { return ""; }
  if (!SCHEMES.has(url.protocol)) return "";
  if ((url.protocol === "http:" || url.protocol === "https:") && !url.hostname) return "";
  return url.href;
}

/** Trailing punctuation belongs to the sentence, not the link (an unbalanced ")" too). */
function trim(candidate) {
  let end = candidate.length;
  for (;;) {
    const c = candidate[end - 1];
    if (/[.,;:!?'"]/.test(c)) { end--; continue; }
    if (c === ")" && (candidate.slice(0, end).match(/\(/g) || []).length < (candidate.slice(0, end).match(/\)/g) || []).length) { end--; continue; }
    break;
  }
  return candidate.slice(0, end);
}

/** The text as a list of strings and <a> elements, for h() or append(). */
export function linkify(text) {
  const out = [];
  let last = 0;
  const s = String(text);
  for (const m of s.matchAll(CANDIDATE)) {
    const word = trim(m[0]);
    const href = word && safeHref(word);
    if (!href) continue;
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, word));
    last = m.index + word.length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}
