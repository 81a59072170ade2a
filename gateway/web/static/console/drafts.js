// What the agent has written or chosen and not sent, per conversation. The
// conversation's view is built again on many occasions (a frame that changes its place,
// a reconnect's snapshot, coming back from another section, another conversation opened
// meanwhile, a colleague's note): its fields marked `data-draft` take back what they
// held. A select counts only once the agent has chosen in it (`data-chosen`): until
// then it shows what the server says. docs/console.md.

const kept = new Map(); // conversation id -> Map element id -> value
// conversation id -> the email being forwarded (email.js): a draft too
const forwards = new Map();
// Where the agent was typing when the view went: {cid, id, at: [start, end]}. Taken
// back by the next restore() of that conversation that draws the field (the notes'
// box draws its field later, after its notes load).
let typing = null;

/** Keep the values of `root`'s draft fields as conversation `cid`'s (an emptied field
 * forgets its draft: a reply sent, a note added). */
export function capture(cid, root) {
  if (!cid || !root) return;
  const mine = kept.get(cid) || new Map();
  for (const el of root.querySelectorAll("[data-draft]")) {
    if (el.tagName === "SELECT" && !el.dataset.chosen) continue;
    if (el.value) mine.set(el.id, el.value);
    else mine.delete(el.id);
  }
  if (mine.size) kept.set(cid, mine);
  else kept.delete(cid);
}

/** Where the agent is typing in conversation `cid`'s view as it is drawn again (null:
 * nowhere, or another conversation is drawn). */
export function typingAt(cid, el) {
  typing = cid && el && el.dataset.draft !== undefined ? { cid, id: el.id, at: [el.selectionStart, el.selectionEnd] } : null;
}

/** Put conversation `cid`'s drafts back into `root`'s fields, and the cursor where it
 * was; true when the cursor is back. */
export function restore(cid, root) {
  const mine = kept.get(cid);
  if (!root) return false;
  for (const el of mine ? root.querySelectorAll("[data-draft]") : []) {
    if (!mine.has(el.id)) continue;
    el.value = mine.get(el.id);
    if (el.tagName === "SELECT") {
      if (el.value !== mine.get(el.id)) continue; // no longer one of its options
      el.dataset.chosen = "1";
    }
  }
  const el = typing && typing.cid === cid ? root.querySelector(`#${CSS.escape(typing.id)}`) : null;
  if (!el) return false;
  el.focus();
  if (typeof el.setSelectionRange === "function" && typing.at[0] !== null) el.setSelectionRange(...typing.at);
  typing = null;
  return true;
}

/** The email being forwarded in conversation `cid` (null: none). */
export function forward(cid) {
  return forwards.get(cid) || null;
}

export function setForward(cid, email) {
  if (email) forwards.set(cid, email);
  else forwards.delete(cid);
}

/** The conversation is wrapped up, gone or handed on: nothing of it is kept. */
export function forget(cid) {
  kept.delete(cid);
  forwards.delete(cid);
  if (typing && typing.cid === cid) typing = null;
}
