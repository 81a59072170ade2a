// Whether anyone can answer, told before the visitor types (the bootstrap's
// config.availability: online, busy, offline, closed), the leave-a-message form offered
// when nobody can, and the notice that stays while the visitor waits for an agent.
// docs/widget.md, "Nobody can answer" and "Waiting".

export const TEXTS = {
  busy: "All our agents are busy right now. You can wait for the next one, or leave a message.",
  offline: "Nobody can answer right now. Leave a message and your email, and we will get back to you.",
  closed: "We are closed right now. Leave a message and your email, and we will get back to you.",
  closed_until: "We are closed right now and open again {when}. Leave a message and your email, and we will get back to you.",
  leave_instead: "Leave a message instead",
  chat_instead: "Wait for an agent instead",
  leave_start: "Send message",
  left: "Thanks, we got your message. Our answer will be here when you come back.",
  held: "Your message is waiting for an agent. The answer will be here.",
  waiting_again: "You are back in the queue. The next available agent will answer.",
};

export function status(config) {
  const s = config && config.availability && config.availability.status;
  return ["online", "busy", "offline", "closed"].includes(s) ? s : "online";
}

/** Leave a message rather than chat? Always when nobody can answer; when all are busy,
 * if the visitor chose to. */
export function leaving(config, chose) {
  const s = status(config);
  return s === "offline" || s === "closed" || (s === "busy" && !!chose);
}

/** The form to show: the leave-a-message form (an email required) or the chat form. */
export function formFields(config, leave) {
  return ((leave ? config.leave_form : config.form) || config.form || []).slice();
}

function when(at, lang) {
  const d = new Date(at * 1000);
  const soon = at * 1000 - Date.now() < 6 * 86400 * 1000;
  const opts = soon
    ? { weekday: "long", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" };
  try { return new Intl.DateTimeFormat(lang || undefined, opts).format(d); } catch (_) { return d.toISOString().slice(0, 16).replace("T", " "); }
}

/** What to say above the form, or "" when someone can answer now. */
export function notice(config, t, lang) {
  const s = status(config);
  if (s === "closed") {
    const at = config.availability.opens_at;
    return at ? t("closed_until", { when: when(at, lang) }) : t("closed");
  }
  return s === "online" ? "" : t(s);
}

/** The notice under the messages while nobody is with the visitor, or "" (also while
 * a bot answers: its messages are the conversation; the notice comes at its handover). */
export function waitingNotice(conv, t, config) {
  if (!conv || conv.state !== "live" || conv.agentName || conv.bot) return "";
  // a mailbox answers for the site: the answer also goes by email (transcript.js's text)
  if (conv.leftMessage) return t(config && config.answers_by_email ? "left_email" : "left");
  if (conv.held) return t("held");
  if (conv.requeued) return t("waiting_again");
  return t("waiting");
}
