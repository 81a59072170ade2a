// History (FAQ 16, 17): closed conversations by contact, date, touchpoint, queue and
// agent; a transcript to read, link (#history/<id>) and download as JSON, CSV or text.
import { h, clear, fill, formatTime } from "/widget/shared/dom.js";
import { api, download, query } from "/console/api.js";
import { t } from "/console/i18n.js";

let last = null; // the last search, to come back to

function day(at) { return new Date(at * 1000).toLocaleDateString(); }

export function render(view, ctx, arg) {
  const [id, qs] = (arg || "").split("?");
  if (id) return transcript(view, ctx, decodeURIComponent(id), new URLSearchParams(qs || "").get("via") || "");
  const S = ctx.S;
  const sel = (fid, label, pairs) => h("div", { class: "field" }, h("label", { for: fid }, label),
    h("select", { id: fid }, h("option", { value: "" }, t("history.any")), pairs.map(([v, l]) => h("option", { value: v }, l))));
  const form = h("form", { class: "history-filters", role: "search", "aria-label": t("history.title") },
    h("div", { class: "field wide" }, h("label", { for: "h-q" }, t("history.q")), h("input", { id: "h-q", type: "search" })),
    h("div", { class: "field" }, h("label", { for: "h-since" }, t("history.since")), h("input", { id: "h-since", type: "date" })),
    h("div", { class: "field" }, h("label", { for: "h-until" }, t("history.until")), h("input", { id: "h-until", type: "date" })),
    sel("h-tp", t("history.touchpoint"), Object.entries(ctx.touchpoints())),
    sel("h-queue", t("history.queue"), Object.entries(S.queues)),
    ctx.supervises() ? sel("h-agent", t("history.agent"), Object.entries(S.agents)) : null,
    h("button", { type: "submit", class: "btn" }, t("history.search")));
  const results = h("div", { id: "history-results", "aria-live": "polite" });
  form.addEventListener("submit", (e) => { e.preventDefault(); search(form, results, ctx, ""); });
  fill(view, h("h2", { id: "section-h", tabindex: "-1" }, t("history.title")), form, results);
  if (last) {
    for (const [k, v] of Object.entries(last.values)) { const el = form.querySelector(`#${k}`); if (el) el.value = v; }
  }
  search(form, results, ctx, "");
}

async function search(form, results, ctx, before) {
  const v = (id) => { const el = form.querySelector(`#${id}`); return el ? el.value : ""; };
  const values = { "h-q": v("h-q"), "h-since": v("h-since"), "h-until": v("h-until"), "h-tp": v("h-tp"), "h-queue": v("h-queue"), "h-agent": v("h-agent") };
  last = { values };
  const r = await api(`/api/console/history${query({
    q: values["h-q"], since: values["h-since"], until: values["h-until"], touchpoint_id: values["h-tp"],
    queue_id: values["h-queue"], agent_id: values["h-agent"], before, limit: 25,
  })}`);
  if (!before) clear(results);
  const old = results.querySelector(".more-results");
  if (old) old.remove();
  if (!r.ok) { results.append(h("p", { class: "err", role: "alert" }, r.error.message)); return; }
  let table = results.querySelector("table");
  if (!table) {
    if (!r.data.items.length) { results.append(h("p", { class: "muted" }, t("history.none"))); return; }
    table = h("table", { class: "grid" },
      h("thead", null, h("tr", null, ["history.q", "history.since", "history.touchpoint", "history.queue", "history.agent", "history.disposition"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody"));
    results.append(table);
  }
  const body = table.querySelector("tbody");
  for (const row of r.data.items) {
    body.append(h("tr", null,
      h("td", null, h("a", { href: `#history/${encodeURIComponent(row.conversation_id)}` }, row.contact_name)),
      h("td", null, `${day(row.created_at)} ${formatTime(row.created_at)}`),
      h("td", null, `${ctx.channelLabel(row.channel)} · ${row.touchpoint_name}`),
      h("td", null, row.queue_ids.map((q) => ctx.S.queues[q] || q).join(", ")),
      h("td", null, row.agent_name || "—"),
      h("td", null, row.disposition || "—")));
  }
  if (r.data.next_before) {
    results.append(h("button", { type: "button", class: "btn secondary more-results", onclick: () => search(form, results, ctx, r.data.next_before) }, t("history.more")));
  }
}

async function transcript(view, ctx, id, via) {
  const suffix = via ? query({ via }) : "";
  const r = await api(`/api/console/history/${encodeURIComponent(id)}${suffix}`);
  const back = h("a", { href: "#history", class: "back" }, t("history.back"));
  if (!r.ok) { fill(view, back, h("p", { class: "err", role: "alert" }, r.error.message)); return; }
  const tr = r.data;
  const c = tr.conversation;
  const link = `${location.origin}/console#history/${encodeURIComponent(id)}`;
  const dl = (fmt, label) => h("button", { type: "button", class: "btn secondary small",
    onclick: () => download(`/api/console/history/${encodeURIComponent(id)}/export${query({ format: fmt, via })}`, `conversation-${id}.${fmt === "text" ? "txt" : fmt}`) },
  t("history.download", { format: label }));
  fill(view,
    back,
    h("h2", { id: "section-h", tabindex: "-1" }, c.contact_name),
    h("p", { class: "muted" }, `${ctx.channelLabel(c.channel)} · ${c.touchpoint_name} · ${day(c.created_at)} ${formatTime(c.created_at)}${c.agent_name ? ` · ${c.agent_name}` : ""}`),
    h("div", { class: "actions" }, dl("json", "JSON"), dl("csv", "CSV"), dl("text", "text"),
      h("a", { href: link, class: "permalink" }, t("history.link"))),
    h("ol", { class: "messages transcript", "aria-label": c.contact_name }, tr.lines.map((l) => (l.sender === "event"
      ? h("li", { class: "note" }, `${l.text} · ${formatTime(l.at)}`)
      : h("li", { class: `msg ${l.sender}` }, h("span", { class: "bubble" }, l.text), h("span", { class: "meta" }, `${l.name} · ${formatTime(l.at)}`))))),
    tr.conversation_notes.length ? h("section", { class: "wrap", "aria-labelledby": "tn-h" }, h("h3", { id: "tn-h" }, t("history.notes")),
      h("ul", { class: "notes" }, tr.conversation_notes.map((n) => h("li", null, h("p", { class: "note-body" }, n.body), h("p", { class: "muted" }, t("notes.by", { name: n.agent_name, time: formatTime(n.at) })))))) : null,
    tr.notes || c.disposition ? h("dl", { class: "facts" },
      tr.notes ? [h("dt", null, t("history.wrapup")), h("dd", null, tr.notes)] : null,
      c.disposition ? [h("dt", null, t("history.disposition")), h("dd", null, c.disposition)] : null) : null);
}
