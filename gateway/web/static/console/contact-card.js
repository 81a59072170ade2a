// The contact card beside a conversation (FAQ 24, 26, 41): who the contact is, what the
// form said (unconfirmed), the page they were on, their channel address; save the
// details as a contact or merge with an existing one; earlier conversations to read.
import { h, clear, fill, formatTime } from "/widget/shared/dom.js";
import { api, query } from "/console/api.js";
import { t } from "/console/i18n.js";

export async function render(box, cid, ctx) {
  const r = await api(`/api/console/conversations/${encodeURIComponent(cid)}/card`);
  if (!box.isConnected) return;
  if (!r.ok) { fill(box, h("p", { class: "err" }, r.error.message)); return; }
  draw(box, r.data, ctx);
}

function draw(box, card, ctx) {
  const c = card.contact;
  const status = h("p", { class: "card-status", role: "status", id: "card-status" });
  const field = (id, label, value, type) => h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, type: type || "text", value: value || "", maxlength: 320, readonly: card.editable ? null : true }));
  const form = h("form", { class: "card-form", novalidate: true, "aria-label": t("card.title") },
    field("card-name", t("card.name"), c.name || card.fields.name),
    field("card-email", t("card.email"), c.email || card.fields.email, "email"),
    field("card-phone", t("card.phone"), c.phone || card.fields.phone, "tel"),
    card.editable ? h("button", { type: "submit", class: "btn small" }, t("card.save")) : null,
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: form.querySelector("#card-name").value, email: form.querySelector("#card-email").value, phone: form.querySelector("#card-phone").value };
    const r = await api(`/api/console/conversations/${encodeURIComponent(card.conversation_id)}/contact`, { method: "PUT", body });
    if (r.ok) { draw(box, r.data, ctx); ctx.announce(t("card.saved")); box.querySelector("#card-status").textContent = t("card.saved"); return; }
    if (r.error.code === "contact_exists") {
      status.textContent = t("card.exists", { message: r.error.message });
      offerMerge(box, card, r.error.contact_id, ctx);
      return;
    }
    status.textContent = (r.error.fields || [{ message: r.error.message }]).map((f) => f.message).join(" · ");
  });
  const extra = [];
  if (card.page) extra.push(h("dt", null, t("card.page")), h("dd", null, h("a", { href: card.page, target: "_blank", rel: "noopener noreferrer" }, card.page)));
  extra.push(h("dt", null, t("card.address", { channel: ctx.channelLabel(card.channel) })), h("dd", { class: "mono" }, card.address));
  const formFields = Object.entries(card.fields || {}).filter(([k]) => !["name", "email", "phone"].includes(k));
  // what the embedding page set (a hidden field) is the page's word, not the contact's
  const fromPage = new Set(card.page_fields || []);
  for (const [k, v] of formFields) extra.push(h("dt", null, fromPage.has(k) ? t("card.from_page", { name: k }) : k), h("dd", null, v));
  fill(box,
    h("h3", { id: "card-h" }, t("card.title")),
    h("p", { class: c.saved ? "tag ok" : "tag warn" }, c.saved ? t("card.confirmed") : t("card.unconfirmed")),
    form,
    h("dl", { class: "facts" }, extra),
    card.editable ? mergeSearch(card, box, ctx) : null,
    h("h4", null, t("card.earlier")),
    card.earlier.length
      ? h("ul", { class: "earlier" }, card.earlier.map((e) => h("li", null,
        h("a", { href: `#history/${encodeURIComponent(e.conversation_id)}?via=${encodeURIComponent(card.conversation_id)}` },
          `${new Date(e.created_at * 1000).toLocaleDateString()} ${formatTime(e.created_at)} · ${ctx.channelLabel(e.channel)} · ${e.touchpoint_name}`),
        e.agent_name ? h("span", { class: "muted" }, ` · ${e.agent_name}`) : null,
        e.bot_name ? h("span", { class: "muted" }, ` · ${t("card.with_bot", { name: e.bot_name })}`) : null)))
      : h("p", { class: "muted" }, t("card.no_earlier")));
}

function mergeSearch(card, box, ctx) {
  const results = h("ul", { class: "merge-results", id: "merge-results" });
  const input = h("input", { id: "merge-q", type: "search", autocomplete: "off" });
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (q.length < 2) { clear(results); return; }
      const r = await api(`/api/console/contacts${query({ q, limit: 8 })}`);
      clear(results);
      if (!r.ok) return;
      for (const found of r.data.filter((x) => x.id !== card.contact.id)) {
        results.append(h("li", null, h("button", { type: "button", class: "btn secondary small", onclick: () => merge(card, found, box, ctx) },
          t("card.merge", { name: `${found.name || found.email || found.phone}${found.email ? ` <${found.email}>` : ""}` }))));
      }
    }, 250);
  });
  return h("div", { class: "field merge" }, h("label", { for: "merge-q" }, t("card.merge_search")), input, results);
}

async function offerMerge(box, card, contactId, ctx) {
  const r = await api(`/api/console/contacts${query({ q: box.querySelector("#card-email").value || box.querySelector("#card-phone").value })}`);
  const found = r.ok && r.data.find((x) => x.id === contactId);
  if (!found) return;
  const results = box.querySelector("#merge-results");
  if (results) fill(results, h("li", null, h("button", { type: "button", class: "btn small", onclick: () => merge(card, found, box, ctx) }, t("card.merge", { name: found.name || found.email }))));
}

async function merge(card, into, box, ctx) {
  const r = await api(`/api/console/conversations/${encodeURIComponent(card.conversation_id)}/contact/merge`, { body: { contact_id: into.id } });
  if (!r.ok) { box.querySelector("#card-status").textContent = r.error.message; return; }
  draw(box, r.data, ctx);
  const text = t("card.merged", { name: r.data.contact.name || r.data.contact.email });
  box.querySelector("#card-status").textContent = text;
  ctx.announce(text);
}
