// Templates' administration (FAQ 11): collections, a text per channel, variables. A
// module of its own so that the console's admin section can host it:
// mount(container, {channels}) draws into any element.
import { h, fill } from "/widget/shared/dom.js";
import { api } from "/console/api.js";
import { t } from "/console/i18n.js";

const VARIABLES = ["contact.name", "contact.first_name", "contact.email", "contact.phone", "agent.name", "agent.first_name", "agent.email"];

export async function mount(view, ctx) {
  const r = await api("/api/admin/templates");
  const status = h("p", { role: "status", class: "muted", id: "tpl-status" });
  const list = h("div", { id: "tpl-list" });
  const editor = h("div", { id: "tpl-editor" });
  fill(view, h("h2", { id: "section-h", tabindex: "-1" }, t("tpladmin.title")), status,
    h("button", { type: "button", class: "btn", onclick: () => edit(editor, null, ctx, () => mount(view, ctx)) }, t("tpladmin.new")),
    editor, list);
  if (!r.ok) { status.textContent = r.error.message; return; }
  if (!r.data.length) { list.append(h("p", { class: "muted" }, t("tpladmin.none"))); return; }
  const byCollection = new Map();
  for (const tp of r.data) {
    if (!byCollection.has(tp.collection)) byCollection.set(tp.collection, []);
    byCollection.get(tp.collection).push(tp);
  }
  for (const [collection, items] of byCollection) {
    list.append(h("section", { class: "group" }, h("h3", null, collection),
      h("ul", { class: "rows" }, items.map((tp) => h("li", { class: "row" },
        h("span", { class: "open" }, h("span", { class: "name" }, tp.name), h("span", { class: "muted line last" }, tp.content.default || Object.values(tp.content)[0] || "")),
        h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("tpladmin.edit")} ${tp.name}`, onclick: () => edit(editor, tp, ctx, () => mount(view, ctx)) }, t("tpladmin.edit")),
        h("button", { type: "button", class: "btn danger small", "aria-label": `${t("tpladmin.delete")} ${tp.name}`,
          onclick: async () => { const d = await api(`/api/admin/templates/${encodeURIComponent(tp.id)}`, { method: "DELETE" }); if (d.ok) { await mount(view, ctx); document.getElementById("tpl-status").textContent = t("tpladmin.deleted"); } } }, t("tpladmin.delete")))))));
  }
}

function edit(box, tp, ctx, done) {
  const channels = Object.keys(ctx.S.channels || {});
  const content = (tp && tp.content) || {};
  const err = h("p", { class: "err", role: "alert" });
  const form = h("form", { class: "tpl-form", novalidate: true, "aria-labelledby": "tpl-form-h" },
    h("h3", { id: "tpl-form-h" }, tp ? `${t("tpladmin.edit")} ${tp.name}` : t("tpladmin.new")),
    h("div", { class: "field" }, h("label", { for: "tpl-collection" }, t("tpladmin.collection")), h("input", { id: "tpl-collection", value: tp ? tp.collection : "", required: true, maxlength: 100 })),
    h("div", { class: "field" }, h("label", { for: "tpl-name" }, t("tpladmin.name")), h("input", { id: "tpl-name", value: tp ? tp.name : "", required: true, maxlength: 100 })),
    h("div", { class: "field" }, h("label", { for: "tpl-default" }, t("tpladmin.default")), h("textarea", { id: "tpl-default", rows: 3, "aria-describedby": "tpl-vars" }, content.default || "")),
    channels.map((ch) => h("div", { class: "field" }, h("label", { for: `tpl-${ch}` }, t("tpladmin.channel", { channel: ctx.channelLabel(ch) })), h("textarea", { id: `tpl-${ch}`, rows: 2 }, content[ch] || ""))),
    h("p", { class: "muted hint", id: "tpl-vars" }, t("tpladmin.variables", { list: VARIABLES.map((v) => `{{${v}}}`).join(" ") })),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn" }, t("tpladmin.save")),
      h("button", { type: "button", class: "btn secondary", onclick: () => fill(box) }, t("cancel"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { collection: form.querySelector("#tpl-collection").value.trim(), name: form.querySelector("#tpl-name").value.trim(), content: {} };
    const d = form.querySelector("#tpl-default").value;
    if (d.trim()) body.content.default = d;
    for (const ch of channels) { const v = form.querySelector(`#tpl-${ch}`).value; if (v.trim()) body.content[ch] = v; }
    const r = tp ? await api(`/api/admin/templates/${encodeURIComponent(tp.id)}`, { method: "PUT", body }) : await api("/api/admin/templates", { body });
    if (!r.ok) { err.textContent = (r.error.fields || [r.error]).map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)).join(" · "); return; }
    await done();
    document.getElementById("tpl-status").textContent = t("tpladmin.saved");
  });
  fill(box, form);
  form.querySelector("#tpl-collection").focus();
}
