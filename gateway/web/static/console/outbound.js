// Starting a conversation: the "New conversation" button and its dialog (an outbound SMS
// or email, POST /api/conversations; docs/console.md). Shown only to agents with a
// touchpoint they may start on (GET /api/outbound/touchpoints).
import { h, messageId } from "/widget/shared/dom.js";

export async function setup(token, before, onStarted) {
  if (document.getElementById("new-conversation")) return;
  let touchpoints = [];
  try {
    const r = await fetch("/api/outbound/touchpoints", { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
    if (!r.ok) return;
    touchpoints = (await r.json()).touchpoints || [];
  } catch { return; }
  if (!touchpoints.length) return;

  const tp = h("select", { id: "start-tp", name: "touchpoint" },
    touchpoints.map((t) => h("option", { value: t.id }, `${t.name} (${t.label})`)));
  const to = h("input", { id: "start-to", name: "to", required: true, autocomplete: "off" });
  const subject = h("input", { id: "start-subject", name: "subject" });
  const subjectRow = h("div", { class: "field" }, h("label", { for: "start-subject" }, "Subject"), subject);
  const body = h("textarea", { id: "start-body", name: "body", rows: 4, required: true });
  const error = h("p", { class: "err", id: "start-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "btn secondary" }, "Cancel");
  const form = h("form", { method: "dialog" },
    h("h2", null, "New conversation"),
    h("div", { class: "field" }, h("label", { for: "start-tp" }, "Touchpoint"), tp),
    h("div", { class: "field" }, h("label", { for: "start-to" }, "To"), to),
    subjectRow,
    h("div", { class: "field" }, h("label", { for: "start-body" }, "Message"), body),
    error,
    h("div", { class: "actions" }, cancel, h("button", { type: "submit", class: "btn" }, "Send")));
  const dialog = h("dialog", { id: "start-dialog", "aria-labelledby": "start-title" }, form);
  form.querySelector("h2").id = "start-title";

  const channelOf = () => (touchpoints.find((t) => t.id === tp.value) || {}).channel;
  const sync = () => {
    const email = channelOf() === "email";
    subjectRow.hidden = !email;
    subject.required = email;
    to.placeholder = email ? "name@example.com" : "+15551234567";
    to.type = email ? "email" : "tel";
  };
  tp.addEventListener("change", sync);
  sync();
  let pending = "";
  cancel.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    pending = pending || messageId(); // one id per attempt: a retry after an error is not sent twice
    const payload = { touchpoint_id: tp.value, address: to.value.trim(), client_msg_id: pending, body: body.value };
    if (channelOf() === "email") payload.content = { subject: subject.value };
    let r;
    try {
      r = await fetch("/api/conversations", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
    } catch { error.textContent = "Not sent: the connection failed. Try again."; return; }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = data.error || {};
      const field = (err.fields || [])[0];
      error.textContent = field ? `${field.field}: ${field.message}` : (err.message || `Not sent (${r.status})`);
      if (r.status !== 503) pending = ""; // refused: the next attempt is a new message
      return;
    }
    pending = "";
    form.reset();
    sync();
    dialog.close();
    onStarted(data.conversation_id);
  });

  const button = h("button", { type: "button", class: "btn secondary", id: "new-conversation" }, "New conversation");
  button.addEventListener("click", () => { error.textContent = ""; dialog.showModal(); to.focus(); });
  before.before(button);
  document.body.append(dialog);
}
