// Files on the demo phone: what the contact attaches goes to the emulator as the
// provider's phone would send it (an MMS, a WhatsApp medium, a Messenger attachment);
// what the agent sent is shown from the copy the emulator kept when it fetched the
// gateway's link. channels/phone/__init__.py.

import { h } from "/widget/shared/dom.js";

// The largest file the page sends: MMS's 5 MB (and WhatsApp's for images).
export const MAX_BYTES = 5 * 1024 * 1024;

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// The provider's kind for a medium of this type.
function kind(channel, type) {
  const top = type.split("/")[0];
  if (channel === "whatsapp") {
    if (type === "image/webp") return "sticker";
    if (type === "image/jpeg" || type === "image/png") return "image";
    return top === "audio" || top === "video" ? top : "document";
  }
  return ["image", "audio", "video"].includes(top) ? top : "file";
}

/** The emulator's ``media`` spec for a file the contact attaches. */
export async function spec(channel, file) {
  const type = file.type || "application/octet-stream";
  return { kind: kind(channel, type), content_type: type, name: file.name, data: await base64(file) };
}

export function size(n) {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${Math.round(n / 1024)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

/** What the agent sent, as the phone shows it: an image inline, any file as a link. */
export function received(emulator, media) {
  const name = media.name || "file";
  const href = emulator + media.url;
  if (media.content_type.startsWith("image/")) {
    return h("a", { class: "media", href, target: "_blank", rel: "noopener", "aria-label": `Open ${name}` },
      h("img", { src: href, alt: name }));
  }
  return h("a", { class: "media file", href, target: "_blank", rel: "noopener" },
    `📎 ${name} (${size(media.size)})`);
}

/** A file the contact sent: its name (the bytes stay with the emulator). */
export function sent(file) {
  return h("span", { class: "media file" }, `📎 ${file.name} (${size(file.size)})`);
}
