// The console's sounds, synthesised with WebAudio (no files to download): one per
// sound name the global settings may use (ring, chime, swoosh, pop). Browsers keep an
// AudioContext suspended until the page gets a click or a key press; unlock() is called
// from such a gesture, and running() says whether sound can play.

let ctx = null;

export function running() { return !!ctx && ctx.state === "running"; }

/** Create or resume the audio context. Call it from a user gesture. */
export function unlock() {
  const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!AC) return Promise.resolve(false);
  if (!ctx) ctx = new AC();
  if (ctx.state === "running") return Promise.resolve(true);
  return ctx.resume().then(() => ctx.state === "running", () => false);
}

function tone(freq, start, dur, type, peak) {
  const o = ctx.createOscillator();
  const g = ctx.createGain();
  const t0 = ctx.currentTime + start;
  o.type = type || "sine";
  o.frequency.setValueAtTime(freq, t0);
  g.gain.setValueAtTime(0.0001, t0);
  g.gain.exponentialRampToValueAtTime(peak || 0.2, t0 + 0.015);
  g.gain.exponentialRampToValueAtTime(0.0001, t0 + dur);
  o.connect(g).connect(ctx.destination);
  o.start(t0);
  o.stop(t0 + dur + 0.05);
  return o;
}

export const SOUNDS = {
  // a phone-like double burst, twice
  ring() { for (const s of [0, 0.12, 0.6, 0.72]) tone(s % 0.6 ? 660 : 880, s, 0.11, "square", 0.08); },
  // two bell notes
  chime() { tone(784, 0, 0.6); tone(1175, 0.14, 0.8); },
  // a quick upward glide
  swoosh() { const o = tone(300, 0, 0.35, "sawtooth", 0.06); o.frequency.exponentialRampToValueAtTime(1400, ctx.currentTime + 0.3); },
  // one short blip
  pop() { tone(520, 0, 0.09, "triangle", 0.25); },
};

/** Play a sound by name; true when it actually played. */
export function play(name) {
  if (!running() || !SOUNDS[name]) return false;
  SOUNDS[name]();
  return true;
}
