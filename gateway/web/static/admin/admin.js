// The admin section (/admin): touchpoints, queues, agents, dispositions and settings,
// built on the admin API (docs/admin-api.md), for admins. Each section is a module
// with `render(main)`; SECTIONS is the one table of them (add a row for a new one).
// docs/console.md, "The admin section".

import { h, api, setToken, session, announce } from "/admin/ui.js";
import * as touchpoints from "/admin/touchpoints.js";
import * as people from "/admin/people.js";
import * as settings from "/admin/settings.js";

const SECTIONS = [
  { key: "touchpoints", label: "Touchpoints", render: touchpoints.render },
  { key: "queues", label: "Queues", render: people.renderQueues },
  { key: "agents", label: "Agents", render: people.renderAgents },
  { key: "dispositions", label: "Dispositions", render: settings.renderDispositions },
  { key: "settings", label: "Settings", render: settings.renderSettings },
];

const $ = (id) => document.getElementById(id);

function showLogin(message) {
  $("app-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  document.title = "Log in · Admin";
  $("email").focus();
}
session.onLoggedOut = (message) => { setToken(""); showLogin(message); };

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    $("login-error").textContent = "Enter your email and your password.";
    return;
  }
  let r;
  try {
    r = await fetch("/api/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }), cache: "no-store",
    });
  } catch (_) {
    $("login-error").textContent = "The gateway cannot be reached. Try again in a moment.";
    return;
  }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    $("login-error").textContent = r.status === 401 ? "Wrong email or password." : ((data.error && data.error.message) || `Login failed (${r.status}).`);
    $("password").focus();
    return;
  }
  setToken(data.token);
  $("password").value = "";
  start(data.agent);
});

$("logout").addEventListener("click", async () => {
  const token = session.token;
  setToken("");
  try { await fetch("/api/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }); } catch (_) { /* gone anyway */ }
  showLogin("You are logged out.");
});

function start(me) {
  if (me.role !== "admin") {
    setToken("");
    showLogin(`${me.name} is not an admin: the admin section is for admins.`);
    return;
  }
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("me").textContent = me.name;
  $("nav").replaceChildren(...SECTIONS.map((s) => h("li", null, h("a", { href: `#${s.key}`, "data-key": s.key }, s.label))));
  show();
}

function current() {
  const key = location.hash.slice(1).split("/")[0];
  return SECTIONS.find((s) => s.key === key) || SECTIONS[0];
}

async function show() {
  if (!session.token || $("app-view").hidden) return;
  const section = current();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.key === section.key) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.title = `${section.label} · Admin`;
  // Each showing renders into an element of its own: a slower, earlier one (its list
  // still loading when the admin clicked on) writes into the one it replaced, detached,
  // never over this one.
  const main = h("main", { id: "section", class: "admin-main", tabindex: "-1" }, h("p", { class: "muted" }, "Loading…"));
  $("section").replaceWith(main);
  try {
    await section.render(main, location.hash.slice(1).split("/").slice(1));
  } catch (err) {
    if (err.status === 401) return;
    main.replaceChildren(h("p", { class: "err", role: "alert" }, err.message));
  }
}

addEventListener("hashchange", () => { show().then(() => { const hd = document.querySelector("#section h2"); if (hd) hd.focus(); }); });

async function boot() {
  if (!session.token) return showLogin();
  try {
    start(await api("GET", "/api/me"));
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
  }
}

export { announce };
boot();
