// The supervisor's live view (FAQ 16, 18, 23): every ongoing conversation with its
// agent, queue, priority and waiting time; each agent's status, load and Assigned
// list; queue depths and longest wait. All of it is the server's (`live`, then
// `live_update` frames); the console only shows it. Monitor a conversation read-only,
// transfer any assigned one, move one waiting or ringing in the wrong queue to another
// (FAQ 18), copy a row's details to the clipboard.
import { h, clear, fill, formatTime } from "/widget/shared/dom.js";
import { t } from "/console/i18n.js";
import { afterPress, keyed } from "/console/keyed.js";

const L = { now: 0, at: 0, convs: new Map(), agents: new Map(), queues: new Map(), on: false, view: null };
let ticker = 0;

export function render(view, ctx) {
  L.view = view;
  L.on = true;
  ctx.send({ type: "live" }, false);
  fill(view, h("h2", { id: "section-h", tabindex: "-1" }, t("live.title")), h("div", { id: "live-body" }, h("p", { class: "muted" }, "…")));
  clearInterval(ticker);
  ticker = setInterval(() => { if (L.view && L.view.isConnected) draw(ctx); else stop(ctx); }, 5000);
}

export function stop(ctx) {
  if (L.on && ctx) ctx.send({ type: "live", on: false }, false);
  L.on = false;
  L.view = null;
  clearInterval(ticker);
}

export function onLive(f, ctx) {
  L.now = f.now; L.at = Date.now() / 1000;
  L.convs = new Map(f.conversations.map((c) => [c.conversation_id, c]));
  L.agents = new Map(f.agents.map((a) => [a.agent_id, a]));
  L.queues = new Map(f.queues.map((q) => [q.queue_id, q]));
  if (L.view) draw(ctx);
}

export function onUpdate(f, ctx) {
  L.now = f.now; L.at = Date.now() / 1000;
  for (const c of f.conversations || []) L.convs.set(c.conversation_id, c);
  for (const cid of f.gone || []) L.convs.delete(cid);
  for (const a of f.agents || []) L.agents.set(a.agent_id, a);
  for (const q of f.queues || []) L.queues.set(q.queue_id, q);
  if (L.view && L.view.isConnected) draw(ctx);
}

// Server time now: the frame's clock plus the time since it came.
function serverNow() { return L.now + (Date.now() / 1000 - L.at); }

function since(at) {
  if (!at) return "—";
  const s = Math.max(0, Math.round(serverNow() - at));
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// Keyed (keyed.js): a section or row whose markup is unchanged keeps its element, so a
// click on Monitor, Transfer, Move or Copy across a frame or the 5 s tick still lands.
// The waiting times change on every tick: they are no part of a row's markup, but
// written into their cells (data-since) after the rows are drawn.
function draw(ctx) {
  const body = document.getElementById("live-body");
  if (!body || afterPress(draw, ctx)) return;
  const queues = (ids) => ids.map((q) => ctx.S.queues[q] || q).join(", ") || "—";
  const convs = [...L.convs.values()].sort((a, b) => b.priority - a.priority || a.arrived_at - b.arrived_at);
  const state = (c) => stateText(c, ctx);
  // the row as it is now: a kept row's handlers were made with an earlier frame's
  const live = (c) => L.convs.get(c.conversation_id) || c;
  const [qs, as, cs] = keyed(body, ["queues", "agents", "conversations"], (k) => k, (k) => section(k, convs.length));
  keyed(qs.querySelector("tbody"), [...L.queues.values()], (q) => q.queue_id, (q) => h("tr", null,
    h("th", { scope: "row" }, q.name), h("td", null, String(q.waiting)), q.waiting ? h("td", { "data-since": q.oldest_arrived_at || 0 }) : h("td", null, "—")));
  keyed(as.querySelector("tbody"), [...L.agents.values()].sort((a, b) => a.name.localeCompare(b.name)), (a) => a.agent_id, (a) => h("tr", null,
    h("th", { scope: "row" }, a.name),
    h("td", null, h("span", { class: `dot ${a.status}` }), t(`status.${a.status}`)),
    h("td", null, h("meter", { min: 0, max: a.capacity, value: a.load, "aria-label": `${a.load} / ${a.capacity}` }), ` ${a.load} / ${a.capacity}`),
    h("td", null, (a.assigned || []).map((cid) => (L.convs.get(cid) || {}).contact_name || cid).join(", ") || "—")));
  if (convs.length) {
    keyed(cs.querySelector("tbody"), convs, (c) => c.conversation_id, (c) => h("tr", null,
      h("th", { scope: "row" }, c.contact_name, h("span", { class: "muted" }, ` · ${ctx.channelLabel(c.channel)} · ${c.touchpoint_name}`)),
      h("td", null, state(c)),
      h("td", null, queues(c.queue_ids)),
      h("td", null, ctx.priority(c.priority)),
      h("td", { "data-since": c.arrived_at || 0 }),
      h("td", { class: "actions" },
        h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.monitor")} ${c.contact_name}`, onclick: () => ctx.monitor(live(c)) }, t("live.monitor")),
        c.agent_id && c.state === "assigned" ? h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.transfer")} ${c.contact_name}`, onclick: () => ctx.transfer(live(c)) }, t("live.transfer")) : null,
        // nobody holds it yet: a supervisor moves it to the right queue (the router
        // refuses anyone else)
        !c.agent_id && (c.state === "waiting" || c.state === "offered") && ctx.supervises()
          ? h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.move")} ${c.contact_name}`, onclick: () => ctx.move(live(c)) }, t("live.move")) : null,
        h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.copy")} ${c.contact_name}`, onclick: () => copyDetails(live(c), ctx) }, t("live.copy")))));
  }
  for (const td of body.querySelectorAll("[data-since]")) td.textContent = since(Number(td.dataset.since));
}

// A section of the live view, its rows left to draw(): a table, or for conversations
// when there are none, a line that says so.
function section(k, conversations) {
  const table = (id, hid, heads) => h("table", { class: "grid", id, "aria-labelledby": hid },
    h("thead", null, h("tr", null, heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", null));
  if (k === "queues") {
    return h("section", { "aria-labelledby": "lq-h" }, h("h3", { id: "lq-h" }, t("live.queues")),
      table("live-queues", "lq-h", [t("live.queue"), t("live.depth"), t("live.longest")]));
  }
  if (k === "agents") {
    return h("section", { "aria-labelledby": "la-h" }, h("h3", { id: "la-h" }, t("live.agents")),
      table("live-agents", "la-h", [t("live.agent"), t("live.status"), t("live.load"), t("live.assigned")]));
  }
  return h("section", { "aria-labelledby": "lc-h" }, h("h3", { id: "lc-h" }, t("live.conversations")),
    conversations
      ? table("live-conversations", "lc-h", [t("live.contact"), t("live.state"), t("live.queue"), t("live.priority"), t("live.waiting"), ""])
      : h("p", { class: "muted" }, t("live.none")));
}

// A row as plain text, for a ticket or a message to a colleague: what the row shows,
// its id and the link that opens its history.
export function detailsText(c, ctx) {
  const queues = (c.queue_ids || []).map((q) => ctx.S.queues[q] || q).join(", ") || "—";
  return [
    `${t("live.contact")}: ${c.contact_name}`,
    `${t("live.channel")}: ${ctx.channelLabel(c.channel)}`,
    `${t("live.touchpoint")}: ${c.touchpoint_name}`,
    `${t("live.state")}: ${stateText(c, ctx)}`,
    `${t("live.queue")}: ${queues}`,
    `${t("live.priority")}: ${c.priority}`,
    `${t("live.waiting")}: ${since(c.arrived_at)}`,
    `${t("live.id")}: ${c.conversation_id}`,
    `${t("live.history")}: ${location.origin}/console#history/${c.conversation_id}`,
  ].join("\n");
}

async function copyDetails(c, ctx) {
  try {
    await navigator.clipboard.writeText(detailsText(c, ctx));
    ctx.announce(t("live.copied", { name: c.contact_name }));
  } catch (_) {
    ctx.announce(t("live.copy_failed"));
  }
}

function agentName(id, ctx) { return (L.agents.get(id) || {}).name || ctx.S.agents[id] || id; }

// A row's state as the live view says it: "assigned · Ada", "ringing Ada", "waiting".
export function stateText(c, ctx) {
  return c.agent_id ? `${c.state} · ${agentName(c.agent_id, ctx)}` : c.offer_agent_id ? t("live.ringing", { name: agentName(c.offer_agent_id, ctx) }) : c.state;
}

// What of a live row changes while it is monitored (routing: sent back, transferred,
// assigned, re-prioritised). The frames leave out an empty agent_id/offer_agent_id.
export function followed(c) {
  return { state: c.state, agent_id: c.agent_id || "", offer_agent_id: c.offer_agent_id || "", queue_ids: c.queue_ids, priority: c.priority, dedicated: !!c.dedicated };
}

export function summaryOf(c) {
  return {
    conversation_id: c.conversation_id, place: "monitor", channel: c.channel,
    touchpoint_id: "", touchpoint_name: c.touchpoint_name, contact_name: c.contact_name,
    arrived_at: c.arrived_at, unread: 0, last_seq: 0, ...followed(c),
  };
}

export function clearView() { if (L.view) clear(L.view); }
export function timeOf(at) { return formatTime(at); }
