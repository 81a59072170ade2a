// What a bot and the contact said before the conversation was escalated (the integration
// API's transcript, sent as `context` with the first page of history): shown above the
// messages as context, collapsed, not as messages. docs/console.md, "Conversation".

import { h, formatTime } from "/widget/shared/dom.js";

const WHO = { contact: "Contact", bot: "Bot", agent: "Agent" };

export function contextItem(lines) {
  const list = h("ol", { class: "context-lines" });
  for (const line of lines) {
    const who = line.name || WHO[line.sender] || line.sender;
    const when = line.at ? ` · ${formatTime(line.at)}` : "";
    list.append(h("li", { class: `context-line ${line.sender}` },
      h("span", { class: "who" }, `${who}${when}: `),
      h("span", { class: "text" }, line.text)));
  }
  return h("li", { class: "context" },
    h("details", {},
      h("summary", {}, `Before the escalation: ${lines.length} line${lines.length === 1 ? "" : "s"} with the bot`),
      list));
}
