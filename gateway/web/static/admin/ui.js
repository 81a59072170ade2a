// What the admin section's screens share: calls to the admin API (docs/admin-api.md)
// with the logged-in admin's token, form fields with their labels and error slots, the
// problems a 422 names shown on their fields, and announcements for screen readers.
// Every text goes in as text (the shared h() helper), never as HTML.

import { h } from "/widget/shared/dom.js";

export { h };

const TOKEN_KEY = "gw.console.token"; // the console's: one login for both, per tab

export const session = {
  token: sessionGet(TOKEN_KEY) || "",
  onLoggedOut: () => {},
};

function sessionGet(k) { try { return sessionStorage.getItem(k); } catch (_) { return null; } }

export function setToken(token) {
  session.token = token;
  try { if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ }
}

export class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (error && error.code) || "";
    this.fields = (error && error.fields) || [];
    this.usedBy = (error && error.used_by) || null;
  }
}

/** Call the API; the parsed answer, or ApiError. A 401 sends the admin to log in. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (_) {
    throw new ApiError(0, { message: "The gateway cannot be reached. Try again in a moment." });
  }
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) session.onLoggedOut("Your session has ended. Log in again.");
  if (!r.ok) throw new ApiError(r.status, data.error);
  return data;
}

export function announce(text) {
  const el = document.getElementById("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}

let seq = 0;

/** A labelled control: {label, input, error, block}. `attrs` go on the input. */
export function field(label, tag, attrs, ...children) {
  const id = attrs.id || `fld-${++seq}`;
  const hint = attrs.hint;
  const a = Object.assign({}, attrs, { id, hint: null });
  const describedBy = [`${id}-err`, hint ? `${id}-hint` : ""].filter(Boolean).join(" ");
  a["aria-describedby"] = describedBy;
  const input = h(tag, a, ...children);
  const error = h("p", { id: `${id}-err`, class: "err" });
  const block = h("div", { class: `field${attrs.wide ? " wide" : ""}` },
    h("label", { for: id }, label, attrs.required ? h("span", { "aria-hidden": "true" }, " *") : null),
    input,
    hint ? h("p", { id: `${id}-hint`, class: "muted hint" }, hint) : null,
    error);
  return { input, error, block };
}

/** A group of checkboxes: {block, values()}. */
export function checks(legend, options, chosen) {
  const boxes = options.map(([value, label]) => {
    const input = h("input", { type: "checkbox", value });
    input.checked = chosen.includes(value);
    return { input, node: h("label", { class: "check" }, input, label) };
  });
  const block = h("fieldset", null, h("legend", null, legend),
    boxes.length ? boxes.map((b) => b.node) : h("p", { class: "muted hint" }, "None yet."));
  return { block, values: () => boxes.filter((b) => b.input.checked).map((b) => b.input.value) };
}

/** Clear what a refused save marked: its fields' errors and the summary list. */
export function clearProblems(summary, byField) {
  for (const f of Object.values(byField)) { f.error.textContent = ""; f.input.removeAttribute("aria-invalid"); }
  summary.firstChild.replaceChildren();
}

/** Show a refused save on its fields (by name) and in the summary list; focus the first. */
export function showProblems(err, summary, byField) {
  clearProblems(summary, byField);
  const list = summary.firstChild;
  const problems = err.fields.length ? err.fields : [{ field: "", message: err.message }];
  let first = null;
  for (const p of problems) {
    const key = Object.keys(byField).find((k) => p.field === k || p.field.startsWith(`${k}.`) || p.field.startsWith(`${k}[`));
    const f = key && byField[key];
    if (f) {
      f.error.textContent = p.message;
      f.input.setAttribute("aria-invalid", "true");
      first = first || f.input;
    }
    list.append(h("li", null, p.field ? `${p.field}: ${p.message}` : p.message));
  }
  (first || summary).focus();
}

/** Where a refused save lists its problems (an alert around a list). */
export function problemsList() {
  return h("div", { class: "wide", role: "alert", tabindex: "-1" }, h("ul", { class: "problems" }));
}

export function formatTime(at) {
  try { return new Date(at * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }); } catch (_) { return String(at); }
}

/** Ask before something that cannot be undone. */
export function confirmed(question) {
  return window.confirm(question);
}
