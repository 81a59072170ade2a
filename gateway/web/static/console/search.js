// Search inside the conversation on screen (the social-messaging article): messages
// that contain the words are marked; Enter moves to the next one.
import { h } from "/widget/shared/dom.js";
import { t } from "/console/i18n.js";

let term = "";
let at = -1;

export function box(onChange) {
  const input = h("input", { id: "conv-search", type: "search", value: term, autocomplete: "off", placeholder: t("search.label"), "aria-describedby": "conv-search-count" });
  const count = h("span", { id: "conv-search-count", class: "muted", role: "status" });
  input.addEventListener("input", () => { term = input.value.trim().toLowerCase(); at = -1; onChange(); });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); next(); } });
  return h("search", { class: "conv-search" }, h("label", { for: "conv-search", class: "sr-only" }, t("search.label")),
    input, count);
}

export function reset() { term = ""; at = -1; }

/** Mark the rendered messages that match; call after each render of the list. */
export function apply(list) {
  const count = document.getElementById("conv-search-count");
  const items = list ? [...list.querySelectorAll("li")] : [];
  let n = 0;
  for (const li of items) {
    const hit = !!term && li.textContent.toLowerCase().includes(term);
    li.classList.toggle("hit", hit);
    if (hit) n += 1;
  }
  if (count) count.textContent = term ? (n ? t.count("search.count", n) : t("search.none")) : "";
}

function next() {
  const hits = [...document.querySelectorAll("#messages li.hit")];
  if (!hits.length) return;
  at = (at + 1) % hits.length;
  for (const li of hits) li.classList.remove("hit-current");
  hits[at].classList.add("hit-current");
  hits[at].scrollIntoView({ block: "center" });
}
