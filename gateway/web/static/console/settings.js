// Settings, per agent in this browser: whether Enter sends, desktop notifications,
// the console's language.
import { h, fill } from "/widget/shared/dom.js";
import * as prefs from "/console/prefs.js";
import * as notify from "/console/notify.js";
import { t, LANGUAGES, setLanguage } from "/console/i18n.js";

export function render(view, ctx) {
  const status = h("p", { role: "status", class: "muted", id: "settings-status" });
  const enter = h("input", { id: "set-enter", type: "checkbox", checked: prefs.get("enterSends") ? true : null });
  const note = h("input", { id: "set-notify", type: "checkbox", checked: prefs.get("notify") ? true : null, disabled: notify.supported() ? null : true });
  const langSel = h("select", { id: "set-lang" }, h("option", { value: "" }, "Auto"),
    Object.entries(LANGUAGES).map(([k, v]) => h("option", { value: k }, v)));
  langSel.value = prefs.get("lang") || "";
  enter.addEventListener("change", () => { prefs.set("enterSends", enter.checked); status.textContent = t("settings.saved"); });
  note.addEventListener("change", async () => {
    let on = note.checked;
    if (on) on = await notify.enable();
    note.checked = on;
    prefs.set("notify", on);
    status.textContent = on || !note.checked ? t("settings.saved") : t("settings.notify_denied");
    if (note.checked !== on || (!on && notify.supported() && Notification.permission === "denied")) status.textContent = t("settings.notify_denied");
  });
  langSel.addEventListener("change", () => { prefs.set("lang", langSel.value); setLanguage(langSel.value); ctx.relabel(); render(view, ctx); document.getElementById("settings-status").textContent = t("settings.saved"); });
  fill(view, h("h2", { id: "section-h", tabindex: "-1" }, t("settings.title")),
    h("form", { class: "settings", novalidate: true, onsubmit: (e) => e.preventDefault() },
      h("div", { class: "check" }, enter, h("label", { for: "set-enter" }, t("settings.enter_sends"))),
      h("div", { class: "check" }, note, h("label", { for: "set-notify" }, t("settings.notify"))),
      h("div", { class: "field" }, h("label", { for: "set-lang" }, t("settings.language")), langSel)),
    status);
}
