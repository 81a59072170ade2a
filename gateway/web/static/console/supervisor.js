// The supervisor's live view (FAQ 16, 18, 23): every ongoing conversation with its
// agent, queue, priority and waiting time; each agent's status, load and Assigned
// list; queue depths and longest wait. All of it is the server's (`live`, then
// `live_update` frames); the console only shows it. Monitor a conversation read-only,
// transfer any assigned one, move one waiting or ringing in the wrong queue to another
// (FAQ 18), copy a row's details to the clipboard.
import { h, clear, fill, formatTime } from "/widget/shared/dom.js";
import { t } from "/console/i18n.js";

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

function draw(ctx) {
  const body = document.getElementById("live-body");
  if (!body) return;
  const queues = (ids) => ids.map((q) => ctx.S.queues[q] || q).join(", ") || "—";
  const convs = [...L.convs.values()].sort((a, b) => b.priority - a.priority || a.arrived_at - b.arrived_at);
  const state = (c) => stateText(c, ctx);
  fill(body,
    h("section", { "aria-labelledby": "lq-h" }, h("h3", { id: "lq-h" }, t("live.queues")),
      h("table", { class: "grid", id: "live-queues", "aria-labelledby": "lq-h" },
        h("thead", null, h("tr", null, [t("live.queue"), t("live.depth"), t("live.longest")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", null, [...L.queues.values()].map((q) => h("tr", null,
          h("th", { scope: "row" }, q.name), h("td", null, String(q.waiting)), h("td", null, q.waiting ? since(q.oldest_arrived_at) : "—")))))),
    h("section", { "aria-labelledby": "la-h" }, h("h3", { id: "la-h" }, t("live.agents")),
      h("table", { class: "grid", id: "live-agents", "aria-labelledby": "la-h" },
        h("thead", null, h("tr", null, [t("live.agent"), t("live.status"), t("live.load"), t("live.assigned")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", null, [...L.agents.values()].sort((a, b) => a.name.localeCompare(b.name)).map((a) => h("tr", null,
          h("th", { scope: "row" }, a.name),
          h("td", null, h("span", { class: `dot ${a.status}` }), t(`status.${a.status}`)),
          h("td", null, h("meter", { min: 0, max: a.capacity, value: a.load, "aria-label": `${a.load} / ${a.capacity}` }), ` ${a.load} / ${a.capacity}`),
          h("td", null, (a.assigned || []).map((cid) => (L.convs.get(cid) || {}).contact_name || cid).join(", ") || "—")))))),
    h("section", { "aria-labelledby": "lc-h" }, h("h3", { id: "lc-h" }, t("live.conversations")),
      convs.length ? h("table", { class: "grid", id: "live-conversations", "aria-labelledby": "lc-h" },
        h("thead", null, h("tr", null, [t("live.contact"), t("live.state"), t("live.queue"), t("live.priority"), t("live.waiting"), ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", null, convs.map((c) => h("tr", null,
          h("th", { scope: "row" }, c.contact_name, h("span", { class: "muted" }, ` · ${ctx.channelLabel(c.channel)} · ${c.touchpoint_name}`)),
          h("td", null, state(c)),
          h("td", null, queues(c.queue_ids)),
          h("td", null, ctx.priority(c.priority)),
          h("td", null, since(c.arrived_at)),
          h("td", { class: "actions" },
            h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.monitor")} ${c.contact_name}`, onclick: () => ctx.monitor(c) }, t("live.monitor")),
            c.agent_id && c.state === "assigned" ? h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.transfer")} ${c.contact_name}`, onclick: () => ctx.transfer(c) }, t("live.transfer")) : null,
            // nobody holds it yet: a supervisor moves it to the right queue (the router
            // refuses anyone else)
            !c.agent_id && (c.state === "waiting" || c.state === "offered") && ctx.supervises()
              ? h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.move")} ${c.contact_name}`, onclick: () => ctx.move(c) }, t("live.move")) : null,
            h("button", { type: "button", class: "btn secondary small", "aria-label": `${t("live.copy")} ${c.contact_name}`, onclick: () => copyDetails(c, ctx) }, t("live.copy")))))))
        : h("p", { class: "muted" }, t("live.none"))));
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
