// Queues (ring groups) and agents: who answers what.

import { h, api, announce, field, checks, showProblems, problemsList, confirmed } from "/admin/ui.js";

const enc = encodeURIComponent;

function heading(text, action) {
  return h("div", { class: "bar-line" }, h("h2", { tabindex: "-1" }, text), action || null);
}

function refusedIn(main, err) {
  const extra = err.usedBy ? ` Used by: ${Object.entries(err.usedBy).map(([k, v]) => `${k} ${v.join(", ")}`).join("; ")}.` : "";
  const old = main.querySelector("p.err.refused");
  if (old) old.remove(); // one refusal shown: the last
  const p = h("p", { class: "err refused", role: "alert" }, err.message + extra);
  main.querySelector("h2").after(p);
}

// -- queues ------------------------------------------------------------------------------

export async function renderQueues(main) {
  const queues = await api("GET", "/api/admin/queues");
  const name = field("New queue's name", "input", { type: "text", required: true, maxlength: 200 });
  const problems = problemsList();
  const add = h("form", { class: "edit", novalidate: true, "aria-label": "Add a queue" },
    name.block, h("div", { class: "actions" }, h("button", { class: "btn", type: "submit" }, "Add queue")), problems);
  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const q = await api("POST", "/api/admin/queues", { name: name.input.value.trim() });
      announce(`Queue ${q.name} added.`);
      await renderQueues(main);
    } catch (err) { showProblems(err, problems, { name }); }
  });
  const rows = queues.map((q) => {
    const rename = h("input", { type: "text", value: q.name, "aria-label": `Name of queue ${q.name}`, maxlength: 200 });
    const form = h("form", { class: "bar-line" }, rename,
      h("button", { class: "btn secondary small", type: "submit" }, "Rename"),
      h("button", { class: "btn danger small", type: "button", "aria-label": `Delete queue ${q.name}`, onclick: () => removeQueue(main, q) }, "Delete"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api("PATCH", `/api/admin/queues/${enc(q.id)}`, { name: rename.value.trim() });
        announce("Queue renamed.");
        await renderQueues(main);
      } catch (err) { refusedIn(main, err); }
    });
    return h("tr", null, h("td", null, form), h("td", { class: "muted" }, q.id));
  });
  main.replaceChildren(heading("Queues"),
    h("p", { class: "muted" }, "Agents belong to queues; a touchpoint's chats go to its queues."),
    rows.length ? h("table", { class: "list" }, h("caption", { class: "sr-only" }, "Queues"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Id"))),
      h("tbody", null, rows)) : h("p", null, "No queue yet."),
    h("h3", null, "Add a queue"), add);
}

async function removeQueue(main, q) {
  if (!confirmed(`Delete the queue ${q.name}?`)) return;
  try {
    await api("DELETE", `/api/admin/queues/${enc(q.id)}`);
    announce(`Queue ${q.name} deleted.`);
    await renderQueues(main);
  } catch (err) { refusedIn(main, err); }
}

// -- agents ------------------------------------------------------------------------------

export async function renderAgents(main, rest) {
  const [agents, queues] = await Promise.all([api("GET", "/api/admin/agents"), api("GET", "/api/admin/queues")]);
  if (rest && rest[0]) {
    const agent = rest[0] === "new" ? null : agents.find((a) => a.id === rest[0]);
    return agentEditor(main, agent, queues);
  }
  const qname = Object.fromEntries(queues.map((q) => [q.id, q.name]));
  const rows = agents.map((a) => h("tr", null,
    h("td", null, h("a", { href: `#agents/${enc(a.id)}` }, a.name)),
    h("td", null, a.email), h("td", null, a.role),
    h("td", null, a.queue_ids.map((q) => qname[q] || q).join(", ") || "—"),
    h("td", null, h("span", { class: `state ${a.active ? "on" : "off"}` }, a.active ? "Active" : "Deactivated"))));
  main.replaceChildren(heading("Agents", h("a", { class: "btn", href: "#agents/new" }, "New agent")),
    h("table", { class: "list" }, h("caption", { class: "sr-only" }, "Agents"),
      h("thead", null, h("tr", null, ["Name", "Email", "Role", "Queues", "State"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows)));
}

function agentEditor(main, agent, queues) {
  const isNew = !agent;
  const email = field("Email", "input", { type: "email", required: true, value: agent ? agent.email : "", autocomplete: "off" });
  const name = field("Name", "input", { type: "text", required: true, maxlength: 200, value: agent ? agent.name : "" });
  const role = field("Role", "select", {}, ["agent", "supervisor", "admin"].map((r) => h("option", { value: r }, r)));
  role.input.value = agent ? agent.role : "agent";
  const password = field(isNew ? "Password" : "New password", "input", {
    type: "password", autocomplete: "new-password", minlength: 8,
    hint: isNew ? "At least 8 characters." : "Leave empty to keep the current one.",
  });
  const queueBox = checks("Queues", queues.map((q) => [q.id, q.name]), agent ? agent.queue_ids : []);
  const active = h("input", { type: "checkbox", id: "agent-active" });
  active.checked = agent ? agent.active : true;
  const problems = problemsList();
  const save = h("button", { class: "btn", type: "submit" }, isNew ? "Create agent" : "Save changes");
  const form = h("form", { class: "edit", novalidate: true, "aria-labelledby": "agent-h" },
    email.block, name.block, role.block, password.block, queueBox.block,
    h("label", { class: "check wide" }, active, "Active (may log in)"), problems,
    h("div", { class: "actions" }, save,
      isNew ? null : h("button", { class: "btn danger", type: "button", onclick: () => removeAgent(main, agent) }, "Delete agent")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { email: email.input.value.trim(), name: name.input.value.trim(), role: role.input.value, queue_ids: queueBox.values(), active: active.checked };
    if (password.input.value) body.password = password.input.value;
    try {
      const saved = isNew ? await api("POST", "/api/admin/agents", body) : await api("PATCH", `/api/admin/agents/${enc(agent.id)}`, body);
      announce(isNew ? `Agent ${saved.name} created.` : "Changes saved.");
      location.hash = "#agents";
    } catch (err) { showProblems(err, problems, { email, name, role, password }); }
  });
  main.replaceChildren(h("p", null, h("a", { href: "#agents" }, "All agents")),
    h("h2", { id: "agent-h", tabindex: "-1" }, isNew ? "New agent" : agent.name), form);
}

async function removeAgent(main, agent) {
  if (!confirmed(`Delete the agent ${agent.name}?`)) return;
  try {
    await api("DELETE", `/api/admin/agents/${enc(agent.id)}`);
    announce(`Agent ${agent.name} deleted.`);
    location.hash = "#agents";
  } catch (err) { refusedIn(main, err); }
}
