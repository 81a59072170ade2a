// Templates in the editor (FAQ 11): a Templates button and Ctrl+/ (Cmd+/) open a dialog
// with search; the chosen template, already rendered for this conversation's channel,
// contact and agent by the server, goes into the editor for the agent to check.
import { h, clear, fill } from "/widget/shared/dom.js";
import { api, query } from "/console/api.js";
import { t } from "/console/i18n.js";

export function button(cid, textarea) {
  const b = h("button", { type: "button", class: "btn secondary small", "aria-haspopup": "dialog", "aria-keyshortcuts": "Control+/",
    onclick: () => open(cid, textarea) }, t("templates.button"));
  // Locked with the editor (an SMS opt-out, a closed WhatsApp session window): a
  // template could not be sent either. The button holds its observer, which lives as
  // long as the button does.
  const follow = () => { b.disabled = textarea.disabled; };
  b.lockObserver = new MutationObserver(follow);
  b.lockObserver.observe(textarea, { attributes: true, attributeFilter: ["disabled"] });
  follow();
  return b;
}

export function isShortcut(e) { return (e.ctrlKey || e.metaKey) && e.key === "/"; }

export function open(cid, textarea) {
  if (textarea.disabled) return;
  let d = document.getElementById("templates");
  if (!d) {
    d = h("dialog", { id: "templates", class: "templates", "aria-labelledby": "templates-h" });
    document.getElementById("app-view").append(d);
  }
  const list = h("ul", { class: "template-list", id: "template-list", "aria-live": "polite" });
  const search = h("input", { id: "template-q", type: "search", autocomplete: "off" });
  let timer = 0;
  const load = async () => {
    const r = await api(`/api/console/conversations/${encodeURIComponent(cid)}/templates${query({ q: search.value.trim(), limit: 50 })}`);
    clear(list);
    if (!r.ok) { list.append(h("li", { class: "err" }, r.error.message)); return; }
    if (!r.data.length) { list.append(h("li", { class: "muted" }, t("templates.none"))); return; }
    for (const tp of r.data) {
      list.append(h("li", null,
        h("button", { type: "button", class: "template", onclick: () => insert(tp.text) },
          h("span", { class: "tpl-name" }, `${tp.collection} · ${tp.name}`),
          h("span", { class: "tpl-text" }, tp.text))));
    }
  };
  const insert = (text) => {
    // The editor drawn again while the dialog was open (a reconnect, a frame): the
    // conversation's new one, if it is still on screen.
    const conv = document.getElementById("conv");
    if (!textarea.isConnected) textarea = conv && conv.dataset.cid === cid ? document.getElementById("reply") : null;
    d.close();
    if (!textarea) return;
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? textarea.value.length;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.focus();
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.dispatchEvent(new Event("input"));
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(load, 200); });
  search.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { const b = list.querySelector("button"); if (b) { e.preventDefault(); b.focus(); } }
  });
  list.addEventListener("keydown", (e) => {
    const items = [...list.querySelectorAll("button")];
    const i = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && i >= 0 && i < items.length - 1) { e.preventDefault(); items[i + 1].focus(); }
    if (e.key === "ArrowUp" && i > 0) { e.preventDefault(); items[i - 1].focus(); }
    if (e.key === "ArrowUp" && i === 0) { e.preventDefault(); search.focus(); }
  });
  fill(d,
    h("h2", { id: "templates-h" }, t("templates.title")),
    h("div", { class: "field" }, h("label", { for: "template-q" }, t("templates.search")), search),
    list,
    h("div", { class: "actions" }, h("button", { type: "button", class: "btn secondary", onclick: () => { d.close(); textarea.focus(); } }, t("cancel"))));
  d.showModal();
  search.focus();
  load();
}
