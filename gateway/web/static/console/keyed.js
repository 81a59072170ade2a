// Lists drawn again on every frame (the Inbox, Assigned to you, the Live view) keep
// their rows: a row whose markup is unchanged keeps its element. A row rebuilt between
// a press and its release took the click with it (the button under the pointer was
// another one by the mouseup), and a person had to click again. docs/console.md.

const drawn = new WeakMap(); // element -> {key, sig}: what keyed() built it as

/** Make `parent`'s children the rows of `items`, in their order. `build(item)` makes a
 * row; the row already there for the same `key(item)` stays (the same element) when the
 * new build's markup is the same, else the new build takes its place. Rows of keys no
 * longer there go, and so does any child keyed() did not draw (an empty placeholder:
 * the caller appends it again). Handlers are not markup: a kept row keeps its own, so
 * they must act on the key (a conversation id), not on a copy of the item. Returns the
 * rows, in order. */
export function keyed(parent, items, key, build) {
  const old = new Map();
  for (const node of [...parent.childNodes]) {
    const d = drawn.get(node);
    if (d) old.set(d.key, node);
    else node.remove();
  }
  const rows = items.map((item) => {
    const k = String(key(item));
    const fresh = build(item);
    const sig = fresh.outerHTML;
    const was = old.get(k);
    if (was && drawn.get(was).sig === sig) {
      old.delete(k);
      return was;
    }
    drawn.set(fresh, { key: k, sig });
    return fresh;
  });
  for (const node of old.values()) node.remove();
  // Only what is out of place moves: a row that stays put is never taken out.
  let at = parent.firstChild;
  for (const row of rows) {
    if (row === at) at = at.nextSibling;
    else parent.insertBefore(row, at);
  }
  return rows;
}
