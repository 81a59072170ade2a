// Attention while the console is in the background: the unread count in the tab title
// and, when the agent allowed it in Settings, desktop notifications for ringing chats
// and replies.
import { t } from "/console/i18n.js";
import * as prefs from "/console/prefs.js";

export function title(count) {
  document.title = count > 0 ? t.count("title.unread", count) : t("title.base");
  document.body.dataset.unreadTotal = String(count);
}

export function supported() { return "Notification" in window; }

export async function enable() {
  if (!supported()) return false;
  if (Notification.permission === "granted") return true;
  if (Notification.permission === "denied") return false;
  return (await Notification.requestPermission()) === "granted";
}

export function show(text, tag, onClick) {
  document.body.dataset.lastNotification = text;
  if (!prefs.get("notify") || document.visibilityState === "visible") return;
  if (!supported() || Notification.permission !== "granted") return;
  try {
    const n = new Notification(text, { tag, renotify: true });
    n.onclick = () => { window.focus(); if (onClick) onClick(); n.close(); };
  } catch (_) { /* some browsers only allow notifications from a service worker */ }
}
