// Files in conversations, for both the visitor's chat app and the agent console:
// the composer's attachments (button, drag and drop, paste; an upload with its
// progress bar; a refusal that says why and what is allowed) and the file cards of
// messages (thumbnail, name, size, type, download). docs/attachments.md.
//
// Uploads go over HTTP (XMLHttpRequest, for its upload progress); the app gives the
// URL and the Authorization header. Files are fetched through short-lived signed
// links that the gateway hands out on a `links` frame; FileLinks asks for them, keeps
// them while fresh and fills the cards as they arrive. Everything goes in as text.

import { h, svg } from "./dom.js";

export const FILE_TEXTS = {
  attach: "Attach files",
  drop_here: "Drop files here to attach them",
  uploading: "Uploading {name}",
  uploaded: "{name} is ready to send",
  upload_failed: "{name} was not attached: {reason}",
  allowed: "Allowed: {types}, up to {size} each.",
  too_large: "it is larger than {size}",
  too_many: "at most {count} files per message",
  upload_network: "the upload did not reach the gateway; try again",
  wait_uploads: "Wait until your files are uploaded.",
  remove_file: "Remove {name}",
  download: "Download",
  download_name: "Download {name}",
  open_image: "Open {name}",
  file_summary: "Files: {names}",
};

const CLIP = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z";
const LABELS = {
  "image/jpeg": "JPEG image", "image/png": "PNG image", "image/gif": "GIF image", "image/webp": "WebP image",
  "image/bmp": "BMP image", "application/pdf": "PDF document", "text/plain": "Text", "text/csv": "CSV table",
  "audio/mpeg": "MP3 audio", "video/mp4": "MP4 video", "application/zip": "ZIP archive",
};
const THUMB = 200; // the largest side of a thumbnail in a card, in CSS pixels

/** 1536 -> "1.5 KB" (binary units, as the rules are written). */
export function formatSize(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let n = Number(bytes) || 0;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i && n < 10 ? n.toFixed(1).replace(/\.0$/, "") : Math.round(n)} ${units[i]}`;
}

/** A person's word for a type: "PDF document", else the extension in capitals. */
export function typeLabel(att) {
  if (LABELS[att.content_type]) return LABELS[att.content_type];
  if (/officedocument|opendocument|ms-|msword/.test(att.content_type)) return "Office document";
  const ext = /\.([a-z0-9]{1,8})$/i.exec(att.name || "");
  return ext ? `${ext[1].toUpperCase()} file` : att.content_type;
}

/** What a message says in one line: its text, or its files. */
export function summary(f, t) {
  if (f.body || !(f.attachments && f.attachments.length)) return f.body;
  return t("file_summary", { names: f.attachments.map((a) => a.name).join(", ") });
}

/** A refusal in words: why (the gateway's error body {code, message, allowed?,
 * max_bytes?}), then what is allowed (the error's, else the channel's rules). */
export function refusal(err, t, rules) {
  // The gateway's message may list the types itself; they are said once, below.
  const why = String(err.message || err.code || "").replace(/; accepted: .*$/, "");
  const types = (err.allowed && err.allowed.length ? err.allowed : (rules && rules.types) || []).join(", ");
  const max = err.max_bytes || (rules && rules.max_bytes) || 0;
  return types && max ? `${why}. ${t("allowed", { types, size: formatSize(max) })}` : why;
}

/**
 * POST a file's bytes; resolves with the gateway's `attachment`, rejects with an error
 * body {code, message, allowed?, max_bytes?}. onProgress(fraction) as bytes leave.
 */
export function upload(url, token, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open("POST", url);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && e.total) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status === 201 && body.attachment) resolve(body.attachment);
      else reject(body.error || { code: `http_${xhr.status}`, message: `HTTP ${xhr.status}` });
    };
    xhr.onerror = () => reject({ code: "network" });
    xhr.onabort = () => reject({ code: "aborted" });
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

/** Files dropped on `el` go to pick(), an Attacher (or null: not now). */
export function dropZone(el, pick, t) {
  let depth = 0;
  const target = (e) => (e.dataTransfer && [...e.dataTransfer.types].includes("Files") && pick()) || null;
  const leave = () => { depth = 0; el.classList.remove("dropping"); };
  el.dataset.dropText = t("drop_here");
  el.addEventListener("dragenter", (e) => {
    const a = target(e);
    if (a && a.enabled) { depth++; el.classList.add("dropping"); e.preventDefault(); }
  });
  el.addEventListener("dragover", (e) => { const a = target(e); if (a && a.enabled) e.preventDefault(); });
  el.addEventListener("dragleave", () => { if (depth && !--depth) leave(); });
  el.addEventListener("drop", (e) => {
    leave();
    const a = target(e);
    if (!a || !a.enabled) return;
    e.preventDefault();
    a.add(e.dataTransfer.files);
  });
}

/**
 * The files of the message being written. options: t (texts), rules() -> {types,
 * max_bytes, max_files} or null (files off), target() -> {url, token} for an upload,
 * announce(text), onChange(). Append `button` (with its hidden input) and `node` (the
 * list of uploads) to the composer; bindPaste(el) and dropZone() add the other ways.
 */
export class Attacher {
  constructor(o) {
    this.o = o;
    this.items = []; // {file, state: uploading|done|failed, progress, attachment, error, abort}
    this.input = h("input", { type: "file", multiple: true, hidden: true, tabindex: "-1", "aria-hidden": "true" });
    this.input.addEventListener("change", () => { this.add(this.input.files); this.input.value = ""; });
    this.button = h("button", { type: "button", class: "attach-btn", onclick: () => this.input.click() }, svg(CLIP, 20));
    this.node = h("ul", { class: "uploads" });
    this.render();
  }

  /** Files can be sent here now (the channel takes them). */
  get enabled() { return !!this.o.rules(); }

  refresh() {
    const rules = this.o.rules();
    const label = this.o.t("attach");
    this.button.setAttribute("aria-label", label);
    this.button.title = label;
    this.node.setAttribute("aria-label", label);
    this.button.hidden = !rules;
    if (!this.input.isConnected && this.button.parentNode) this.button.after(this.input);
    this.input.accept = rules ? rules.types.map((x) => `.${x}`).join(",") : "";
  }

  bindPaste(el) {
    el.addEventListener("paste", (e) => {
      const list = e.clipboardData && e.clipboardData.files;
      if (!list || !list.length || !this.enabled) return;
      e.preventDefault(); // a pasted file is attached, not its name typed
      this.add(list);
    });
  }

  add(fileList) {
    const rules = this.o.rules();
    if (!rules) return;
    for (const file of fileList) {
      const item = { file, state: "uploading", progress: 0, attachment: null, error: "", abort: null };
      this.items.push(item);
      if (this.items.filter((i) => i.state !== "failed").length > rules.max_files) {
        this.fail(item, this.o.t("too_many", { count: rules.max_files }));
      } else if (file.size > rules.max_bytes) {
        this.fail(item, refusal({ message: this.o.t("too_large", { size: formatSize(rules.max_bytes) }) }, this.o.t, rules));
      } else {
        this.start(item);
      }
    }
    this.render();
  }

  start(item) {
    const target = this.o.target();
    if (!target) { this.fail(item, this.o.t("upload_network")); return; }
    const url = `${target.url}${target.url.includes("?") ? "&" : "?"}name=${encodeURIComponent(item.file.name || "file")}`;
    const up = upload(url, target.token, item.file, (fraction) => {
      item.progress = fraction;
      if (item.bar) item.bar.value = Math.round(fraction * 100);
    });
    item.abort = up.abort;
    up.done.then((att) => {
      item.state = "done";
      item.attachment = att;
      this.o.announce(this.o.t("uploaded", { name: att.name }));
      this.render();
    }, (err) => {
      if (err.code === "aborted") return;
      this.fail(item, err.code === "network" ? this.o.t("upload_network") : refusal(err, this.o.t, this.o.rules()));
      this.render();
    });
  }

  fail(item, reason) {
    item.state = "failed";
    item.error = reason;
    this.o.announce(this.o.t("upload_failed", { name: item.file.name, reason }));
  }

  remove(item) {
    if (item.abort && item.state === "uploading") item.abort();
    this.items = this.items.filter((i) => i !== item);
    this.render();
    this.o.announce("");
  }

  /** Drop every upload (another conversation begins). */
  clear() {
    for (const i of this.items) if (i.abort && i.state === "uploading") i.abort();
    this.items = [];
    this.render();
  }

  busy() { return this.items.some((i) => i.state === "uploading"); }

  /** The uploaded files (for the send frame); they leave the composer. */
  take() {
    const out = this.items.filter((i) => i.state === "done").map((i) => i.attachment);
    this.items = this.items.filter((i) => i.state === "uploading");
    this.render();
    return out;
  }

  render() {
    this.refresh();
    const t = this.o.t;
    this.node.replaceChildren(...this.items.map((item) => {
      const name = item.attachment ? item.attachment.name : item.file.name;
      const li = h("li", { class: `upload ${item.state}` },
        h("span", { class: "upload-name" }, name),
        h("span", { class: "upload-meta" }, item.attachment ? `${typeLabel(item.attachment)} · ${formatSize(item.attachment.size)}` : formatSize(item.file.size)));
      if (item.state === "uploading") {
        item.bar = h("progress", { max: 100, value: Math.round(item.progress * 100), "aria-label": t("uploading", { name }) });
        li.append(item.bar);
      } else {
        item.bar = null;
      }
      if (item.state === "failed") li.append(h("span", { class: "upload-error", role: "alert" }, t("upload_failed", { name, reason: item.error })));
      li.append(h("button", { type: "button", class: "upload-remove", "aria-label": t("remove_file", { name }), onclick: () => this.remove(item) }, "×"));
      return li;
    }));
    this.node.hidden = !this.items.length;
    if (this.o.onChange) this.o.onChange();
  }
}

/**
 * Signed links to files, asked for on the socket and kept while fresh. send(frame) ->
 * bool sends a frame; refill() is called when links arrive (the app fills its cards
 * again with card()).
 */
export class FileLinks {
  constructor(send, refill) {
    this.send = send;
    this.refill = refill;
    this.links = new Map(); // attachment id -> {url, thumbnail_url, until (ms, local clock)}
    this.asked = new Map(); // attachment id -> when asked (ms)
    this.waiting = []; // [{id, resolve}] for a download that needs a fresh link
    this.retried = new Set(); // thumbnails that failed once
  }

  fresh(id) {
    const l = this.links.get(id);
    return l && l.until > Date.now() ? l : null;
  }

  /** Ask for the links of these files of a conversation that are not fresh. */
  want(cid, ids) {
    const now = Date.now();
    const need = ids.filter((id) => !this.fresh(id) && !(now - (this.asked.get(id) || 0) < 10000));
    for (let i = 0; i < need.length; i += 50) {
      const part = need.slice(i, i + 50);
      if (this.send({ type: "links", conversation_id: cid, attachment_ids: part })) for (const id of part) this.asked.set(id, now);
    }
  }

  /** A fresh link for one file, asking again if needed. */
  get(cid, id) {
    const l = this.fresh(id);
    if (l) return Promise.resolve(l);
    this.asked.delete(id);
    this.links.delete(id);
    return new Promise((resolve) => {
      this.waiting.push({ id, resolve });
      this.want(cid, [id]);
    });
  }

  onFrame(f) {
    // Until the server's expiry, by this browser's clock: measured from now, so a
    // clock that is off does not matter; a margin for the way to the server.
    const ttl = Math.max(10, Math.min(f.expires_at - Date.now() / 1000, 600));
    const until = Date.now() + (ttl - 5) * 1000;
    for (const [id, link] of Object.entries(f.links || {})) {
      this.links.set(id, Object.assign({ until }, link));
      this.asked.delete(id);
    }
    this.waiting = this.waiting.filter((w) => {
      const l = this.fresh(w.id);
      if (l) w.resolve(l);
      return !l;
    });
    this.refill();
  }

  /** The card of one file (an image shows its thumbnail); `ask`: get its links (a
   * message not stored yet has none). */
  card(cid, att, t, ask) {
    const link = this.fresh(att.id);
    const meta = `${typeLabel(att)} · ${formatSize(att.size)}`;
    const dl = h("a", { class: "file-dl", "aria-label": t("download_name", { name: att.name }), download: att.name }, t("download"));
    dl.addEventListener("click", (e) => {
      if (this.fresh(att.id) && dl.href) return; // the browser downloads it
      e.preventDefault();
      this.get(cid, att.id).then((l) => { dl.href = `${l.url}&dl=1`; dl.click(); });
    });
    const card = h("div", { class: `file-card${att.thumbnail ? " image" : ""}`, "data-id": att.id });
    if (att.thumbnail) {
      const scale = Math.min(1, THUMB / Math.max(att.width || THUMB, att.height || THUMB));
      const w = Math.max(1, Math.round((att.width || THUMB) * scale));
      const ht = Math.max(1, Math.round((att.height || THUMB) * scale));
      const open = h("a", { class: "thumb", target: "_blank", rel: "noopener", "aria-label": t("open_image", { name: att.name }) });
      open.style.width = `${w}px`;
      open.style.height = `${ht}px`;
      if (link && link.thumbnail_url) {
        const img = h("img", { src: link.thumbnail_url, alt: "", width: w, height: ht });
        img.addEventListener("error", () => {
          if (this.retried.has(att.id)) return; // once: a link gone stale, not a lost file
          this.retried.add(att.id);
          this.links.delete(att.id);
          this.want(cid, [att.id]);
        }, { once: true });
        open.append(img);
      }
      if (link) open.href = link.url;
      card.append(open);
    }
    if (link) dl.href = `${link.url}&dl=1`;
    card.append(h("span", { class: "file-name" }, att.name), h("span", { class: "file-meta" }, meta));
    if (ask !== false) card.append(dl);
    if (!link && ask !== false) this.want(cid, [att.id]);
    return card;
  }

  /** The cards of a message's files, in order. */
  cards(cid, f, t, ask) {
    const list = f.attachments || [];
    return list.length ? h("div", { class: "files" }, list.map((a) => this.card(cid, a, t, ask))) : null;
  }
}
