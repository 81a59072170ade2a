// The console's email view (docs/channels/email.md, "What the agent sees"): the emails of a
// conversation with subject, sender and recipients; their HTML (sanitised by the gateway
// with nh3) in a sandboxed frame where nothing runs and remote images stay blocked until
// the agent asks; quoted text collapsed; notices shown. And the compose fields a reply
// adds on email: to, cc, bcc, subject, reply all, forward. Plus the admins' banner for
// email touchpoints whose provider connection is lost.
import { h, fill, formatTime } from "/widget/shared/dom.js";
import * as drafts from "/console/drafts.js";

const BLOCKED = "img-src data: cid:";
const ALLOWED = "img-src data: cid: https: http:";

/** A frame showing sanitised email HTML: no scripts, no same origin, CSP inside. */
function frame(html, remote, title) {
  const csp = `default-src 'none'; style-src 'unsafe-inline'; ${remote ? ALLOWED : BLOCKED}; font-src data:`;
  const f = h("iframe", { class: "email-frame", sandbox: "allow-popups allow-popups-to-escape-sandbox", title, referrerpolicy: "no-referrer" });
  // srcdoc of a sandboxed frame: the gateway sanitised the HTML; the sandbox (no
  // allow-scripts, no allow-same-origin) and the CSP are the second and third walls.
  f.srcdoc = `<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}"><base target="_blank"><body style="font:14px system-ui,sans-serif;margin:8px">${html}</body>`;
  f.addEventListener("load", () => {
    // the frame is cross-origin (sandboxed): its height cannot be read; a fixed, resizable box
    f.style.height = "16rem";
  });
  return f;
}

function hasRemote(html) { return /<img[^>]+src="https?:/i.test(html || ""); }

function emailNode(mail) {
  const head = h("div", { class: "email-head" },
    h("strong", null, mail.subject || "(no subject)"),
    h("div", { class: "muted" }, `From ${mail.from_name ? `${mail.from_name} <${mail.from}>` : mail.from || "?"}`
      + (mail.date ? ` · ${formatTime(mail.date)}` : "")),
    (mail.to || []).length ? h("div", { class: "muted" }, `To ${mail.to.join(", ")}`) : null,
    (mail.cc || []).length ? h("div", { class: "muted" }, `Cc ${mail.cc.join(", ")}`) : null);
  const body = h("div", { class: "email-body" });
  let remote = false;
  const show = () => {
    if (mail.html) fill(body, frame(mail.html, remote, `Email: ${mail.subject || ""}`));
    else fill(body, h("pre", { class: "email-text" }, mail.text || ""));
  };
  show();
  const tools = h("div", { class: "email-tools" });
  if (hasRemote(mail.html) || hasRemote(mail.quoted_html)) {
    const b = h("button", { type: "button", class: "btn secondary small" }, "Show remote images");
    b.addEventListener("click", () => { remote = true; show(); b.remove(); });
    tools.append(b);
  }
  const quoted = mail.quoted_html || mail.quoted_text;
  const parts = [head, body, tools];
  if (quoted) {
    const details = h("details", { class: "email-quoted" }, h("summary", null, "Show quoted text"));
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) {
        details.append(mail.quoted_html ? frame(mail.quoted_html, remote, "Quoted text") : h("pre", { class: "email-text" }, mail.quoted_text));
      }
    }, { once: false });
    parts.push(details);
  }
  for (const n of mail.notices || []) parts.push(h("p", { class: "email-notice", role: "note" }, n));
  const files = (mail.attachments || []).map((a) => `${a.name} (${Math.ceil(a.size / 1024)} KB${a.allowed ? "" : ", not accepted"})`);
  if (files.length) parts.push(h("p", { class: "muted" }, `Attachments: ${files.join(", ")}`));
  return h("li", { class: "email" }, ...parts);
}

/** The emails of a conversation, newest last; fetched from the content API. */
export function panel(cid, token) {
  const list = h("ol", { class: "emails", "aria-label": "Emails" });
  const box = h("details", { class: "email-panel", open: true }, h("summary", null, "Emails"), list);
  refresh(cid, token, list);
  box.refresh = () => refresh(cid, token, list);
  return box;
}

export const lastEmail = new Map(); // conversation id -> the latest inbound email's content

async function refresh(cid, token, list) {
  let r;
  try {
    r = await fetch(`/api/conversations/${encodeURIComponent(cid)}/content`, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
  } catch (_) { return; }
  if (!r.ok) return;
  const items = Object.values((await r.json()).items).filter((c) => c.direction === "in");
  items.sort((a, b) => (a.seq || 0) - (b.seq || 0));
  if (items.length) lastEmail.set(cid, items[items.length - 1]);
  fill(list, items.map(emailNode));
}

function addressList(value) { return value.split(/[,;\s]+/).map((s) => s.trim()).filter(Boolean); }

/** The fields an email reply adds; ``content()`` reads them (null: a plain threaded reply). */
export function composeFields(cid, ownAddress) {
  // drafts (drafts.js): what the agent wrote here comes back when the view is drawn again
  const to = h("input", { id: "email-to", type: "text", placeholder: "the customer (reply)", "data-draft": true });
  const cc = h("input", { id: "email-cc", type: "text", "data-draft": true });
  const bcc = h("input", { id: "email-bcc", type: "text", "data-draft": true });
  const subject = h("input", { id: "email-subject", type: "text", maxlength: 998, "data-draft": true });
  const replyAll = h("button", { type: "button", class: "btn secondary small" }, "Reply all");
  replyAll.addEventListener("click", () => {
    const last = lastEmail.get(cid);
    if (!last) return;
    // To: the email's Reply-To or sender; Cc: its other recipients, but never the
    // touchpoint's own address (the mailbox it came to)
    const own = (ownAddress || last.mailbox || "").toLowerCase();
    const answered = (last.reply_to || [])[0] || last.from || "";
    const others = [...(last.to || []), ...(last.cc || [])]
      .filter((a) => a && ![own, answered.toLowerCase()].includes(a.toLowerCase()));
    drafts.setForward(cid, null);
    to.value = answered;
    subject.value = "";
    cc.value = [...new Set(others)].join(", ");
  });
  const forward = h("button", { type: "button", class: "btn secondary small" }, "Forward");
  forward.addEventListener("click", () => {
    const last = lastEmail.get(cid);
    if (!last) return;
    drafts.setForward(cid, last);
    subject.value = /^fwd?:/i.test(last.subject || "") ? last.subject : `Fwd: ${last.subject || ""}`;
    // a forward goes only to whom the agent types (not a reply all's copies)
    to.value = cc.value = "";
    to.focus();
  });
  const field = (label, input) => h("div", { class: "field inline" }, h("label", { for: input.id }, label), input);
  const node = h("fieldset", { class: "email-compose" }, h("legend", null, "Email"),
    field("To", to), field("Cc", cc), field("Bcc", bcc), field("Subject", subject),
    h("div", { class: "reply-bar" }, replyAll, forward));
  const content = (text) => {
    const c = {};
    if (to.value.trim()) c.to = addressList(to.value);
    if (cc.value.trim()) c.cc = addressList(cc.value);
    if (bcc.value.trim()) c.bcc = addressList(bcc.value);
    if (subject.value.trim()) c.subject = subject.value.trim();
    const forwardOf = drafts.forward(cid);
    if (forwardOf) {
      const esc = (s) => s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[ch]));
      const mine = esc(text).replace(/\n/g, "<br>");
      c.html = `<p>${mine}</p><p>---------- Forwarded message ----------<br>From: ${esc(forwardOf.from || "")}<br>Subject: ${esc(forwardOf.subject || "")}</p>`
        + (forwardOf.html || `<pre>${esc(forwardOf.text || "")}</pre>`);
    }
    return Object.keys(c).length ? c : null;
  };
  const reset = () => { to.value = cc.value = bcc.value = subject.value = ""; drafts.setForward(cid, null); };
  return { node, content, reset };
}

/** An email reply with content, over the message API; resolves to the ack or throws. */
export async function sendWithContent(cid, token, clientMsgId, body, content) {
  const r = await fetch(`/api/conversations/${encodeURIComponent(cid)}/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ client_msg_id: clientMsgId, body, content }),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.error && data.error.message) || `HTTP ${r.status}`);
  return data;
}

/** Admins: a banner for every email touchpoint whose provider connection is lost (and
 * the OAuth re-check reminder), refreshed every 30 seconds. */
export function watchConnections(token, where) {
  const banner = h("div", { class: "notice email-connection", role: "alert", hidden: true });
  where.prepend(banner);
  const check = async () => {
    try {
      const r = await fetch("/api/admin/touchpoints", { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
      if (!r.ok) return;
      const lines = [];
      for (const tp of await r.json()) {
        if (tp.channel !== "email" || !tp.active) continue;
        const s = await fetch(`/api/admin/touchpoints/${encodeURIComponent(tp.id)}/email`, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
        if (!s.ok) continue;
        const st = await s.json();
        for (const n of st.notices) lines.push(`${n}: ${tp.name} (${st.address})${st.reason ? ` — ${st.reason}` : ""}`);
      }
      fill(banner, lines.map((l) => h("p", null, l)));
      banner.hidden = !lines.length;
    } catch (_) { /* offline: try again later */ }
  };
  check();
  return setInterval(check, 30000);
}


