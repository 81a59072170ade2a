// What the agent has written or chosen and not sent, per conversation. The
// conversation's view is built again on many occasions (a frame that changes its place,
// a reconnect's snapshot, coming back from another section, another conversation opened
// meanwhile, a colleague's note): its fields marked `data-draft` take back what they
// held. A select counts only once the agent has chosen in it (`data-chosen`): until
// then it shows what the server says. docs/console.md.

const kept = new Map(); // conversation id -> Map element id -> value

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

/** Put conversation `cid`'s drafts back into `root`'s fields. */
export function restore(cid, root) {
  const mine = kept.get(cid);
  if (!mine || !root) return;
  for (const el of root.querySelectorAll("[data-draft]")) {
    if (!mine.has(el.id)) continue;
    el.value = mine.get(el.id);
    if (el.tagName === "SELECT") {
      if (el.value !== mine.get(el.id)) continue; // no longer one of its options
      el.dataset.chosen = "1";
    }
  }
}

/** The conversation is wrapped up, gone or handed on: nothing of it is kept. */
export function forget(cid) {
  kept.delete(cid);
}
