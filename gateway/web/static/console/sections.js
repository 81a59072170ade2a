// The console's sections beside the conversations: History, Live and Reports (for
// supervisors and admins), Templates (admins), Settings. The address says which
// (#history, #history/<id>, #live, ...), so a transcript can be linked.
import { h, clear } from "/widget/shared/dom.js";
import { t } from "/console/i18n.js";
import * as history from "/console/history.js";
import * as supervisor from "/console/supervisor.js";
import * as reports from "/console/reports.js";
import * as templatesAdmin from "/console/templates-admin.js";
import * as settings from "/console/settings.js";

const SECTIONS = [
  { id: "conversations", who: "all" },
  { id: "history", who: "all", render: history.render },
  { id: "live", who: "supervise", render: supervisor.render },
  { id: "reports", who: "supervise", render: reports.render },
  { id: "templates", who: "admin", render: templatesAdmin.mount },
  { id: "settings", who: "all", render: settings.render },
];
let ctx = null;
let shown = "";

function allowed(s) {
  const role = ctx.S.agent ? ctx.S.agent.role : "agent";
  return s.who === "all" || (s.who === "admin" ? role === "admin" : role === "supervisor" || role === "admin");
}

export function init(context) {
  ctx = context;
  window.addEventListener("hashchange", () => show());
}

/** Draw the navigation for the agent's role (after each snapshot, or a language change). */
export function nav() {
  const box = clear(document.getElementById("sections"));
  const current = route().id;
  for (const s of SECTIONS.filter(allowed)) {
    box.append(h("a", { href: `#${s.id}`, class: "nav-link", "aria-current": s.id === current ? "page" : null }, t(`nav.${s.id}`)));
  }
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const [id, ...rest] = hash.split("/");
  const found = SECTIONS.find((s) => s.id === id && (!ctx.S.agent || allowed(s)));
  return { id: found ? found.id : "conversations", arg: rest.join("/") };
}

export function show() {
  if (!ctx || !ctx.S.agent) return;
  const r = route();
  const layout = document.querySelector(".layout");
  const view = document.getElementById("section-view");
  if (shown === "live" && r.id !== "live") supervisor.stop(ctx);
  shown = r.id;
  nav();
  if (r.id === "conversations") {
    const back = layout.hidden;
    layout.hidden = false;
    view.hidden = true;
    clear(view);
    if (back) ctx.refresh(); // preferences or language may have changed meanwhile
    return;
  }
  layout.hidden = true;
  view.hidden = false;
  const section = SECTIONS.find((s) => s.id === r.id);
  section.render(view, ctx, r.arg);
  const head = document.getElementById("section-h");
  if (head) head.focus();
}

export function current() { return shown; }

/** Back to the conversations (a conversation is being opened). */
export function toConversations() {
  if (route().id !== "conversations") location.hash = "#conversations";
}
