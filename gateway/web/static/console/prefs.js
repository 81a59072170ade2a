// An agent's console preferences, kept in this browser per agent (localStorage):
// whether Enter sends (the reference's default is Shift+Enter), desktop notifications,
// the language. docs/console.md, "Settings".
const KEY = "gw.console.prefs.";
const DEFAULTS = { enterSends: false, notify: false, lang: "" };
let agentId = "";
let cache = Object.assign({}, DEFAULTS);

export function load(id) {
  agentId = id || "";
  cache = Object.assign({}, DEFAULTS);
  try {
    const raw = localStorage.getItem(KEY + agentId);
    if (raw) Object.assign(cache, JSON.parse(raw));
  } catch (_) { /* private mode: defaults */ }
  return cache;
}

export function get(name) { return cache[name]; }

export function set(name, value) {
  cache[name] = value;
  try { localStorage.setItem(KEY + agentId, JSON.stringify(cache)); } catch (_) { /* ignore */ }
}
