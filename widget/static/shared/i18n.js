// Texts by key. Each client has its defaults; a touchpoint's widget.texts overrides any
// of them (one touchpoint per language). "{name}" placeholders are filled from vars;
// keys ending in _one / _other are chosen by Intl.PluralRules for counts.

export function makeT(defaults, overrides, lang) {
  const table = Object.assign({}, defaults);
  if (overrides && typeof overrides === "object") {
    for (const [k, v] of Object.entries(overrides)) if (typeof v === "string") table[k] = v;
  }
  let rules = null;
  try { rules = new Intl.PluralRules(lang || "en"); } catch (_) { rules = new Intl.PluralRules("en"); }
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (m, k) => (vars && k in vars ? String(vars[k]) : m));
  const t = (key, vars) => fill(key in table ? table[key] : key, vars);
  t.count = (key, count, vars) => {
    const form = rules.select(count);
    const k = `${key}_${form}` in table ? `${key}_${form}` : `${key}_other`;
    return fill(table[k] !== undefined ? table[k] : key, Object.assign({ count }, vars));
  };
  t.table = table;
  return t;
}
