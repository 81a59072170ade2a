// Disposition sets (what agents pick at wrap-up) and the global settings: capacity
// weights, sounds, priority display, the disposition set in use, idle chats.

import { h, api, announce, field, showProblems, clearProblems, problemsList, confirmed } from "/admin/ui.js";

const enc = encodeURIComponent;
const SOUND_EVENTS = [["offered", "A chat is offered"], ["auto_assigned", "A chat is assigned automatically"], ["transferred", "A chat is transferred to you"], ["reply", "A new reply"]];
const SOUNDS = [["", "Silent"], ["ring", "Ring"], ["chime", "Chime"], ["swoosh", "Swoosh"], ["pop", "Pop"]];
const CHANNELS = [["chat", "Chat"], ["sms", "SMS"], ["whatsapp", "WhatsApp"], ["messenger", "Messenger"], ["email", "Email"], ["api", "Integration API"]];

// -- disposition sets ------------------------------------------------------------------------

export async function renderDispositions(main) {
  const sets = await api("GET", "/api/admin/disposition-sets");
  const blocks = sets.map((ds) => setForm(main, ds));
  main.replaceChildren(h("h2", { tabindex: "-1" }, "Dispositions"),
    h("p", { class: "muted" }, "What agents choose at wrap-up. The set in use is chosen in Settings."),
    ...blocks, h("h3", null, "New disposition set"), setForm(main, null));
}

function setForm(main, ds) {
  const name = field("Set name", "input", { type: "text", required: true, maxlength: 200, value: ds ? ds.name : "" });
  const items = field("Dispositions, one per line", "textarea", { rows: 4, wide: true }, ds ? ds.dispositions.join("\n") : "");
  const problems = problemsList();
  const form = h("form", { class: `edit${ds ? " panel" : ""}`, novalidate: true, "aria-label": ds ? `Disposition set ${ds.name}` : "New disposition set" },
    name.block, items.block, problems,
    h("div", { class: "actions" }, h("button", { class: "btn", type: "submit" }, ds ? "Save set" : "Add set"),
      ds ? h("button", { class: "btn danger", type: "button", onclick: () => removeSet(main, ds) }, "Delete set") : null));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: name.input.value.trim(), dispositions: items.input.value.split("\n").map((x) => x.trim()).filter(Boolean) };
    try {
      if (ds) await api("PUT", `/api/admin/disposition-sets/${enc(ds.id)}`, Object.assign({ id: ds.id }, body));
      else await api("POST", "/api/admin/disposition-sets", body);
      announce("Disposition set saved.");
      await renderDispositions(main);
    } catch (err) { showProblems(err, problems, { name, dispositions: items }); }
  });
  return form;
}

async function removeSet(main, ds) {
  if (!confirmed(`Delete the disposition set ${ds.name}?`)) return;
  try {
    await api("DELETE", `/api/admin/disposition-sets/${enc(ds.id)}`);
    announce("Disposition set deleted.");
    await renderDispositions(main);
  } catch (err) {
    const old = main.querySelector("p.err.refused");
    if (old) old.remove(); // one refusal shown: the last
    main.querySelector("h2").after(h("p", { class: "err refused", role: "alert" }, err.message));
  }
}

// -- global settings -------------------------------------------------------------------------

export async function renderSettings(main) {
  const [s, sets] = await Promise.all([api("GET", "/api/admin/settings"), api("GET", "/api/admin/disposition-sets")]);
  const weights = Object.fromEntries(CHANNELS.map(([key, label]) => [key, field(label, "input", {
    type: "number", min: 1, max: 100, step: 1, value: s.channel_weights[key], inputmode: "numeric",
  })]));
  const sounds = Object.fromEntries(SOUND_EVENTS.map(([key, label]) => {
    const f = field(label, "select", {}, SOUNDS.map(([v, l]) => h("option", { value: v }, l)));
    f.input.value = s.sounds[key] || "";
    return [key, f];
  }));
  const prio = field("Show priority as", "select", {}, h("option", { value: "icons" }, "Icons"), h("option", { value: "numbers" }, "Numbers"));
  prio.input.value = s.priority_display;
  const set = field("Disposition set in use", "select", {}, h("option", { value: "" }, "None"), sets.map((d) => h("option", { value: d.id }, d.name)));
  set.input.value = s.disposition_set_id || "";
  const idle = field("Close idle chats after (minutes)", "input", {
    type: "number", min: 0, max: 1440, step: 1, value: Math.round(s.idle_close_after / 60), inputmode: "numeric",
    hint: "With no message from either side for this long, a chat ends and its agent is free again. 0: never.",
  });
  const problems = problemsList();
  // Seen, not only heard (the announcer says it too); gone at the next save.
  const saved = h("p", { class: "saved wide", id: "settings-saved" });
  const form = h("form", { class: "edit", novalidate: true, "aria-labelledby": "settings-h" },
    h("fieldset", null, h("legend", null, `Capacity points per chat (of 100; voice is fixed at ${s.voice_weight})`), CHANNELS.map(([k]) => weights[k].block)),
    h("fieldset", null, h("legend", null, "Sounds in the console"), SOUND_EVENTS.map(([k]) => sounds[k].block)),
    prio.block, set.block, idle.block, problems,
    h("div", { class: "actions" }, h("button", { class: "btn", type: "submit" }, "Save settings")), saved);
  const byField = { idle_close_after: idle, disposition_set_id: set, priority_display: prio };
  for (const [k] of CHANNELS) byField[`channel_weights.${k}`] = weights[k];
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    saved.textContent = "";
    if (!idle.input.value.trim()) {
      // Empty is not 0 ("never"): that has to be written.
      showProblems({ fields: [{ field: "idle_close_after", message: "Enter a number of minutes (0: never close idle chats)." }] }, problems, byField);
      return;
    }
    const body = {
      channel_weights: Object.fromEntries(CHANNELS.map(([k]) => [k, Number(weights[k].input.value)])),
      sounds: Object.fromEntries(SOUND_EVENTS.map(([k]) => [k, sounds[k].input.value])),
      priority_display: prio.input.value,
      disposition_set_id: set.input.value || null,
      idle_close_after: Math.round(Number(idle.input.value) * 60),
    };
    try {
      await api("PUT", "/api/admin/settings", body);
      clearProblems(problems, byField);
      saved.textContent = "Settings saved.";
      announce("Settings saved.");
    } catch (err) {
      showProblems(err, problems, byField);
    }
  });
  main.replaceChildren(h("h2", { id: "settings-h", tabindex: "-1" }, "Settings"), form);
}
