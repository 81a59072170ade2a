// "Email me the transcript" after the end of a chat, offered when the touchpoint names a
// mailbox (the bootstrap's config.transcripts): an email field, prefilled with the email
// the visitor gave on the form, and a button; the server sends it (the `transcript`
// frame, at most 3 times per chat). docs/widget.md, "Answers and transcripts by email".

import { h } from "./shared/dom.js";

export const TEXTS = {
  transcript_title: "Email me the transcript",
  transcript_email: "Your email",
  transcript_send: "Send transcript",
  transcript_sent: "The transcript is on its way to {email}.",
  transcript_invalid: "Enter a valid email address.",
  left_email: "Thanks, we got your message. We will answer by email, and the answer will be here when you come back.",
};

const SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The form; onSend(email) returns a promise (rejected with the server's message). */
export function transcriptForm(t, email, onSend) {
  const input = h("input", { type: "email", id: "transcript-email", autocomplete: "email", maxlength: 320, value: email || "", "aria-describedby": "transcript-err" });
  const error = h("p", { class: "err", id: "transcript-err", role: "alert" });
  const status = h("p", { class: "thanks", role: "status" });
  const button = h("button", { class: "btn secondary", type: "submit" }, t("transcript_send"));
  const form = h("form", { class: "transcript", "aria-labelledby": "transcript-h", novalidate: true },
    h("p", { id: "transcript-h", class: "transcript-title" }, t("transcript_title")),
    h("label", { for: "transcript-email" }, t("transcript_email")), input, error, button, status);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = input.value.trim();
    status.textContent = "";
    if (!SHAPE.test(value)) {
      error.textContent = t("transcript_invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    button.disabled = true;
    Promise.resolve(onSend(value)).then(() => {
      status.textContent = t("transcript_sent", { email: value });
      button.disabled = false;
    }, (err) => {
      error.textContent = (err && err.message) || "";
      button.disabled = false;
    });
  });
  return form;
}
