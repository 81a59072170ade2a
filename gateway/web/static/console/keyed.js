// Lists drawn again on every frame (the Inbox, Assigned to you, the Live view) keep
// their rows: a row whose markup is unchanged keeps its element, and a press holds the
// redraws (below). A row rebuilt or moved between a press and its release took the
// click with it (the button under the pointer was another one by the mouseup), and a
// person had to click again. docs/console.md.

const drawn = new WeakMap(); // element -> {key, sig}: what keyed() built it as

// A press in a keyed list holds the lists' redraws until its click is done: a frame that
// moved the row pressed (an arrival above it) or rebuilt it between the press and the
// release took the click with it. The release's click comes in the release's own task,
// before the timeout that draws. At most HOLD_MS: a press that never ends holds nothing
// for good.
const HOLD_MS = 5000;
const held = new Map(); // draw -> its arguments: redraws asked for while pressed
let pressed = false;
let holding = 0;

function release() {
  pressed = false;
  clearTimeout(holding);
  const draws = [...held];
  held.clear();
  for (const [draw, args] of draws) draw(...args);
}

document.addEventListener("pointerdown", (e) => {
  if (!(e.target instanceof Element) || !e.target.closest("[data-keyed]")) return;
  pressed = true;
  clearTimeout(holding);
  holding = setTimeout(release, HOLD_MS);
}, true);
for (const type of ["pointerup", "pointercancel"]) {
  document.addEventListener(type, () => { if (pressed) setTimeout(release, 0); }, true);
}

/** True while a press in a keyed list holds the redraws: `draw(...args)` then runs once
 * the press is over (once, with the last arguments asked), and the caller draws nothing
 * now. */
export function afterPress(draw, ...args) {
  if (!pressed) return false;
  held.set(draw, args);
  return true;
}

/** Make `parent`'s children the rows of `items`, in their order. `build(item)` makes a
 * row; the row already there for the same `key(item)` stays (the same element) when the
 * new build's markup is the same, else the new build takes its place. Rows of keys no
 * longer there go, and so does any child keyed() did not draw (an empty placeholder:
 * the caller appends it again). Handlers are not markup: a kept row keeps its own, so
 * they must act on the key (a conversation id), not on a copy of the item. Returns the
 * rows, in order. */
export function keyed(parent, items, key, build) {
  parent.dataset.keyed = "";
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
