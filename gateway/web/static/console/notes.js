// Notes during the conversation (FAQ 12): only agents see them; they are kept with the
// conversation and shown with its wrap-up in history, never sent to the contact.
import { h, fill, formatTime, uid } from "/widget/shared/dom.js";
import { api } from "/console/api.js";
import { t } from "/console/i18n.js";
import * as drafts from "/console/drafts.js";

const byConversation = new Map(); // conversation id -> Map note_id -> note frame
let current = { box: null, cid: "" };

export async function render(box, c, ctx) {
  current = { box, cid: c.conversation_id };
  const r = await api(`/api/console/conversations/${encodeURIComponent(c.conversation_id)}/notes`);
  if (r.ok) {
    const m = new Map();
    for (const n of r.data) m.set(n.note_id, n);
    byConversation.set(c.conversation_id, m);
  }
  if (current.box === box) draw(box, c, ctx);
}

function draw(box, c, ctx) {
  const notes = [...(byConversation.get(c.conversation_id) || new Map()).values()].sort((a, b) => a.at - b.at);
  const writable = c.place === "assigned" || c.place === "wrapup" || ctx.supervises();
  const ta = h("textarea", { id: "note-body", rows: 2, maxlength: 2000, "aria-describedby": "notes-hint", "data-draft": true });
  const err = h("p", { class: "err", role: "alert" });
  const form = h("form", { class: "note-form", novalidate: true },
    h("label", { for: "note-body" }, t("notes.label")), ta, err,
    h("button", { type: "submit", class: "btn small" }, t("notes.add")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const body = ta.value.trim();
    if (!body) { ta.focus(); return; }
    if (ctx.send({ type: "note", conversation_id: c.conversation_id, body, ref: `note-${uid().slice(0, 8)}` })) ta.value = "";
  });
  drafts.capture(c.conversation_id, box); // a note being written outlives a colleague's note
  fill(box,
    h("h3", { id: "notes-h" }, t("notes.title")),
    h("p", { class: "muted hint", id: "notes-hint" }, t("notes.hint")),
    notes.length
      ? h("ul", { class: "notes", "aria-labelledby": "notes-h" }, notes.map((n) => h("li", null,
        h("p", { class: "note-body" }, n.body),
        h("p", { class: "muted" }, t("notes.by", { name: n.agent_name, time: formatTime(n.at) })))))
      : h("p", { class: "muted" }, t("notes.none")),
    writable ? form : null);
  drafts.restore(c.conversation_id, box);
}

/** A `note` frame: keep it, redraw when its conversation is on screen. */
export function onNote(f, ctx) {
  if (!byConversation.has(f.conversation_id)) byConversation.set(f.conversation_id, new Map());
  byConversation.get(f.conversation_id).set(f.note_id, f);
  const c = ctx.conversation(f.conversation_id);
  if (c && current.cid === f.conversation_id && current.box && current.box.isConnected) {
    const focused = document.activeElement && document.activeElement.id === "note-body";
    draw(current.box, c, ctx);
    if (focused) document.getElementById("note-body").focus();
  }
}
