// A WebSocket that says hello, reconnects with backoff and re-authenticates.
// Shared by the visitor's chat app (widget/static/app.js) and the agent console
// (gateway/web/static/console/console.js). Close codes follow gateway/protocol.py:
// RECONNECT codes (and an abnormal closure, 1006) reconnect with backoff; 4002 (token
// expired) asks the owner for a fresh token first; every other code is final.
// Folded frames are unfolded here (shared/frames.js): onFrame sees one frame at a time.

import { unfold } from "./frames.js";

export const RECONNECT_CODES = new Set([1001, 1005, 1006, 1009, 1011, 1012, 1013, 4008, 4029]);
export const TOKEN_EXPIRED = 4002;

export function closeKind(code) {
  if (RECONNECT_CODES.has(code)) return "reconnect";
  if (code === TOKEN_EXPIRED) return "reauth";
  return "final";
}

/** ws:// or wss:// URL of a path on this page's origin. */
export function wsUrl(path) {
  const u = new URL(path, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

/**
 * options: url (string or function), hello() -> frame, onFrame(frame),
 * onStatus(status, detail) with status connecting|open|waiting|final,
 * reauth() -> Promise<boolean> (fresh token obtained?), minDelay, maxDelay (ms).
 */
export class Connection {
  constructor(options) {
    this.o = Object.assign({ minDelay: 400, maxDelay: 15000 }, options);
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = true;
    this.ready = false; // true once the server answered hello
    this._online = () => { if (this.timer) this._retryNow(); };
  }

  start() {
    this.stopped = false;
    addEventListener("online", this._online);
    this._open();
  }

  stop() {
    this.stopped = true;
    removeEventListener("online", this._online);
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
    this.ready = false;
  }

  /** Send a frame now; false when not connected (the caller keeps it for later). */
  send(frame) {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  _status(s, detail) { if (this.o.onStatus) this.o.onStatus(s, detail || {}); }

  _open() {
    this.timer = 0;
    if (this.stopped) return;
    const url = typeof this.o.url === "function" ? this.o.url() : this.o.url;
    let ws;
    try { ws = new WebSocket(url); } catch (e) { this._closed(1006, String(e)); return; }
    this.ws = ws;
    this.ready = false;
    this._status("connecting", { attempt: this.attempt });
    ws.onopen = () => ws.send(JSON.stringify(this.o.hello()));
    ws.onmessage = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch (_) { return; }
      if (!this.ready) {
        this.ready = true;
        this.attempt = 0;
        this._status("open");
      }
      for (const f of unfold(frame)) this.o.onFrame(f);
    };
    ws.onclose = (e) => { if (this.ws === ws) { this.ws = null; this.ready = false; this._closed(e.code, e.reason); } };
  }

  async _closed(code, reason) {
    if (this.stopped) return;
    const kind = closeKind(code);
    if (kind === "reconnect") return this._schedule(code, reason);
    if (kind === "reauth" && this.o.reauth) {
      let ok = false;
      try { ok = await this.o.reauth(); } catch (_) { ok = false; }
      if (ok) return this._schedule(code, reason, 0);
    }
    this.stopped = true;
    this._status("final", { code, reason });
  }

  _schedule(code, reason, delay) {
    if (delay === undefined) {
      const base = Math.min(this.o.maxDelay, this.o.minDelay * 2 ** this.attempt);
      delay = base / 2 + Math.random() * base / 2;
    }
    this.attempt += 1;
    this._status("waiting", { code, reason, attempt: this.attempt, delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), delay);
  }

  _retryNow() { clearTimeout(this.timer); this._open(); }
}
