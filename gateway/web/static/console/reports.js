// Reports (FAQ 15): per day, queue, agent or channel — conversations, wait, handle,
// abandonment, satisfaction — as the server counts them (/api/reports); a bar chart
// drawn as SVG (no chart library) and a CSV download.
import { h, fill } from "/widget/shared/dom.js";
import { api, download, query } from "/console/api.js";
import { t } from "/console/i18n.js";

const NS = "http://www.w3.org/2000/svg";

function iso(d) { return d.toISOString().slice(0, 10); }

function secs(v) {
  if (v === null || v === undefined) return "—";
  return v < 60 ? `${Math.round(v)} s` : `${Math.floor(v / 60)} min ${Math.round(v % 60)} s`;
}

function pct(v) { return v === null || v === undefined ? "—" : `${Math.round(v * 1000) / 10} %`; }

export function render(view) {
  const today = new Date();
  const weekAgo = new Date(Date.now() - 6 * 86400000);
  const form = h("form", { class: "report-form", "aria-label": t("reports.title") },
    h("div", { class: "field" }, h("label", { for: "r-since" }, t("reports.since")), h("input", { id: "r-since", type: "date", value: iso(weekAgo), required: true })),
    h("div", { class: "field" }, h("label", { for: "r-until" }, t("reports.until")), h("input", { id: "r-until", type: "date", value: iso(today), required: true })),
    h("div", { class: "field" }, h("label", { for: "r-group" }, t("reports.group")),
      h("select", { id: "r-group" }, ["day", "queue", "agent", "channel"].map((g) => h("option", { value: g }, t(`reports.by.${g}`))))),
    h("button", { type: "submit", class: "btn" }, t("reports.show")),
    h("button", { type: "button", class: "btn secondary", id: "r-csv", onclick: () => download(`/api/reports.csv${params(form)}`, "report.csv") }, t("reports.csv")));
  const out = h("div", { id: "report-out", "aria-live": "polite" });
  form.addEventListener("submit", (e) => { e.preventDefault(); show(form, out); });
  fill(view, h("h2", { id: "section-h", tabindex: "-1" }, t("reports.title")), form, out);
  show(form, out);
}

function params(form) {
  return query({ since: form.querySelector("#r-since").value, until: form.querySelector("#r-until").value, group_by: form.querySelector("#r-group").value });
}

async function show(form, out) {
  const r = await api(`/api/reports${params(form)}`);
  if (!r.ok) { fill(out, h("p", { class: "err", role: "alert" }, (r.error.fields || [r.error]).map((f) => f.message).join(" · "))); return; }
  const rep = r.data;
  const group = t(`reports.by.${rep.group_by}`);
  const cols = ["reports.conversations", "reports.answered", "reports.abandoned", "reports.wait", "reports.handle", "reports.satisfaction"];
  const cells = (row) => [String(row.conversations), String(row.answered), `${row.abandoned} (${pct(row.abandonment_rate)})`,
    secs(row.avg_wait), secs(row.avg_handle), row.satisfaction === null ? "—" : `${row.satisfaction} / 5`];
  fill(out,
    rep.satisfaction_available ? null : h("p", { class: "muted", id: "no-satisfaction" }, t("reports.no_satisfaction")),
    rep.rows.length ? chart(rep.rows, t("reports.chart", { group })) : h("p", { class: "muted" }, t("reports.none")),
    h("table", { class: "grid", id: "report-table" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, group), cols.map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", null, rep.rows.map((row) => h("tr", null, h("th", { scope: "row" }, row.label), cells(row).map((c) => h("td", null, c))))),
      h("tfoot", null, h("tr", null, h("th", { scope: "row" }, rep.total.label), cells(rep.total).map((c) => h("td", null, c))))));
}

// Horizontal bars: conversations (answered in blue, abandoned in red), one row each.
function chart(rows, title) {
  const max = Math.max(1, ...rows.map((r) => r.conversations));
  const rowH = 26, labelW = 150, barW = 420, width = labelW + barW + 60;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${rows.length * rowH + 8}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  svg.setAttribute("class", "chart");
  const el = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const answered = (r.answered / max) * barW;
    const abandoned = (r.abandoned / max) * barW;
    el("text", { x: labelW - 8, y: y + 16, "text-anchor": "end", class: "chart-label" }, r.label.length > 22 ? `${r.label.slice(0, 21)}…` : r.label);
    el("rect", { x: labelW, y, width: Math.max(0, answered), height: rowH - 8, class: "bar answered" });
    el("rect", { x: labelW + answered, y, width: Math.max(0, abandoned), height: rowH - 8, class: "bar abandoned" });
    el("text", { x: labelW + (r.conversations / max) * barW + 6, y: y + 16, class: "chart-value" }, String(r.conversations));
  });
  return h("figure", { class: "chart-box" }, svg, h("figcaption", { class: "muted" }, title,
    " · ", h("span", { class: "key answered" }), ` ${t("reports.answered")} `, h("span", { class: "key abandoned" }), ` ${t("reports.abandoned")}`));
}
