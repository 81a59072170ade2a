// The end of a chat, from the visitor's side: ending it (asked twice, so that a slip of
// the finger does not end it), what the events say (who ended it, idle, sent back to the
// queue), and the satisfaction rating that follows. docs/widget.md, "Ending".

import { h } from "./shared/dom.js";

export const TEXTS = {
  end_chat: "End chat",
  end_confirm: "End this chat?",
  end_yes: "Yes, end it",
  end_no: "Keep chatting",
  ended_by_you: "You ended the chat.",
  ended_idle: "This chat was closed after {minutes} minutes without messages.",
  requeued: "{name} passed your chat back to the queue.",
  rate_title: "How was this chat?",
  rate_score_one: "{count} star",
  rate_score_other: "{count} stars",
  rate_comment: "Anything to add? (optional)",
  rate_send: "Send rating",
  rate_thanks: "Thank you for your rating!",
  rate_missing: "Choose from 1 to 5 stars.",
};

/** The text of an ended or agent_left event that carries a reason, or "". */
export function reasonText(f, t, idleSeconds) {
  if (f.event === "ended" && f.reason === "contact") return t("ended_by_you");
  if (f.event === "ended" && f.reason === "idle") {
    return t("ended_idle", { minutes: Math.max(1, Math.round((idleSeconds || 900) / 60)) });
  }
  if (f.event === "agent_left" && f.reason === "requeued") return t("requeued", { name: f.agent_name || t("agent") });
  return "";
}

/** The footer's "End chat" control: a first press asks, the second ends. */
export function endControl(t, onEnd) {
  const box = h("div", { class: "end-box" });
  const ask = () => {
    box.replaceChildren(h("span", { id: "end-q" }, t("end_confirm")),
      h("button", { class: "btn danger", type: "button", id: "end-yes", "aria-describedby": "end-q", onclick: onEnd }, t("end_yes")),
      h("button", { class: "btn secondary", type: "button", id: "end-no", onclick: () => { reset(); box.querySelector("button").focus(); } }, t("end_no")));
    box.querySelector("#end-no").focus();
  };
  const reset = () => box.replaceChildren(h("button", { class: "linkish end", type: "button", id: "end-chat", onclick: ask }, t("end_chat")));
  reset();
  return box;
}

/** The rating form: 1 to 5 stars (radio buttons) and a comment. onRate(score, comment)
 * returns a promise; the form then thanks the visitor. */
export function thanks(t) {
  return h("p", { class: "thanks", role: "status" }, t("rate_thanks"));
}

export function ratingForm(t, onRate) {
  const stars = [1, 2, 3, 4, 5].map((n) => h("label", { class: "star" },
    h("input", { type: "radio", name: "score", value: n }),
    h("span", { "aria-hidden": "true" }, "★"),
    h("span", { class: "sr-only" }, t.count("rate_score", n))));
  const comment = h("textarea", { id: "rate-comment", rows: 2, maxlength: 1000 });
  const error = h("p", { class: "err", id: "rate-err", role: "alert" });
  const form = h("form", { class: "rating", "aria-labelledby": "rate-h", novalidate: true },
    h("fieldset", { class: "stars", "aria-describedby": "rate-err" },
      h("legend", { id: "rate-h" }, t("rate_title")), stars),
    error,
    h("label", { for: "rate-comment" }, t("rate_comment")), comment,
    h("button", { class: "btn", type: "submit" }, t("rate_send")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const picked = form.querySelector("input[name=score]:checked");
    if (!picked) { error.textContent = t("rate_missing"); form.querySelector("input").focus(); return; }
    form.querySelector("button[type=submit]").disabled = true;
    Promise.resolve(onRate(Number(picked.value), comment.value.trim())).then(() => {
      if (form.isConnected) form.replaceWith(thanks(t));
    }, (err) => {
      error.textContent = (err && err.message) || "";
      form.querySelector("button[type=submit]").disabled = false;
    });
  });
  return form;
}
