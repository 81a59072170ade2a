/*! Engagement gateway chat widget loader. One line on the page:
 *  <script src="https://GATEWAY/widget/loader.js" data-touchpoint="ID" async></script>
 * Contract and options: docs/widget.md. No dependencies; the chat itself runs in an
 * iframe on the gateway's origin and talks to this script by postMessage only. */
(function () {
  "use strict";
  var W = window, D = document, NS = "gw-widget";
  if (W.GatewayChat && W.GatewayChat.version) return; // loaded twice: keep the first
  var script = D.currentScript || D.querySelector("script[data-touchpoint][src*='loader.js']");
  var data = (script && script.dataset) || {};
  var tp = data.touchpoint;
  if (!tp) { console.warn("GatewayChat: the script tag needs data-touchpoint"); return; }

  var src = new URL("frame.html", script.src);
  var gw = src.origin; // messages are accepted from this origin only
  src.searchParams.set("touchpoint", tp);
  src.hash = encodeURIComponent(location.href);

  var texts = {
    launcher_open: "Open chat", launcher_close: "Minimise chat", frame_title: "Chat",
    unread_one: "{count} unread message", unread_other: "{count} unread messages"
  };
  var st = { open: false, ready: false, unread: 0 };
  var handlers = {}, outbox = [];
  var left = data.position === "left";

  var host = D.createElement("div");
  host.setAttribute("data-gateway-chat", "");
  var root = host.attachShadow({ mode: "open" });
  var css = ":host{all:initial}" +
    ".l{position:fixed;bottom:20px;" + (left ? "left" : "right") + ":20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;" +
    "background:var(--gw-color,#1d4ed8);color:var(--gw-on,#fff);box-shadow:0 4px 14px rgba(0,0,0,.3);display:flex;align-items:center;justify-content:center;padding:0;z-index:var(--gw-z)}" +
    ".l[hidden],.b[hidden]{display:none}.l:focus-visible{outline:3px solid #111827;outline-offset:3px;box-shadow:0 0 0 6px #fff}" +
    ".l img{width:28px;height:28px;object-fit:contain}.l .x,.l.o .i{display:none}.l.o .x{display:block}" +
    ".b{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;padding:0 6px;box-sizing:border-box;border-radius:11px;background:#b91c1c;color:#fff;" +
    "font:700 13px/22px system-ui,sans-serif;text-align:center;border:2px solid #fff}" +
    ".p{position:fixed;bottom:88px;" + (left ? "left" : "right") + ":20px;width:370px;height:min(600px,calc(100vh - 110px));border-radius:12px;overflow:hidden;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.3);background:#fff;z-index:var(--gw-z);transition:opacity .15s,transform .15s}" +
    ".p.c{visibility:hidden;opacity:0;transform:translateY(12px);pointer-events:none}" +
    ".p iframe{border:0;width:100%;height:100%;display:block}" +
    // Phones: the panel fills the screen (sized to the visual viewport, so the keyboard
    // never covers the editor) and the launcher steps aside; the panel has its own close.
    "@media (max-width:480px){.p{inset:0;width:auto;height:auto;border-radius:0}.p:not(.c)~.l{display:none}}" +
    "@media (prefers-reduced-motion:reduce){.p{transition:none}}@media (prefers-color-scheme:dark){.p{background:#111827}}" +
    ".s{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}";
  var path = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  var cross = "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12 19 6.4 17.6 5 12 10.6z";
  function icon(d, cls) {
    return '<svg class="' + cls + '" width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="' + d + '"/></svg>';
  }
  root.innerHTML = // constant markup only; every text below goes in through textContent
    '<div class="p c" part="panel"><iframe></iframe></div>' +
    '<button class="l" type="button" aria-expanded="false" hidden part="launcher">' +
    icon(path, "i") + icon(cross, "x") +
    '<span class="b" aria-hidden="true" hidden></span></button><div class="s" aria-live="polite"></div>';
  try { var sheet = new CSSStyleSheet(); sheet.replaceSync(css); root.adoptedStyleSheets = [sheet]; }
  catch (e) { var style = D.createElement("style"); style.textContent = css; root.prepend(style); }
  var panel = root.querySelector(".p"), frame = root.querySelector("iframe");
  var btn = root.querySelector(".l"), badge = root.querySelector(".b"), live = root.querySelector(".s");
  host.style.setProperty("--gw-z", String(parseInt(data.zIndex, 10) || 2147483000));
  panel.id = "gw-chat-panel";
  btn.setAttribute("aria-controls", panel.id);
  frame.title = texts.frame_title;
  frame.setAttribute("allow", "clipboard-write");

  function t(k, n) {
    var s = texts[k + (n === undefined ? "" : (n === 1 ? "_one" : "_other"))] || texts[k + "_other"] || k;
    return s.replace("{count}", String(n));
  }
  function emit(name, detail) {
    (handlers[name] || []).slice().forEach(function (cb) {
      try { cb(detail); } catch (e) { console.error(e); }
    });
  }
  function post(msg) {
    msg.ns = NS; msg.v = 1;
    if (st.ready) frame.contentWindow.postMessage(msg, gw); else outbox.push(msg);
  }
  function label() {
    var s = st.open ? texts.launcher_close : texts.launcher_open;
    btn.setAttribute("aria-label", st.unread ? s + ", " + t("unread", st.unread) : s);
    btn.setAttribute("aria-expanded", String(st.open));
    btn.classList.toggle("o", st.open); // the launcher becomes the close control
    badge.textContent = st.unread > 99 ? "99+" : String(st.unread);
    badge.hidden = !st.unread;
  }
  function setOpen(open, focus) {
    open = !!open;
    if (open === st.open) return;
    var inside = root.activeElement === frame;
    st.open = open;
    panel.classList.toggle("c", !open);
    label();
    post({ type: open ? "open" : "close", focus: !!focus });
    fit();
    if (open && focus) frame.focus();
    if (!open && (focus || inside) && !btn.hidden) btn.focus();
    emit(open ? "open" : "close");
  }

  btn.addEventListener("click", function () { setOpen(!st.open, true); });

  // On a phone the open panel follows the visual viewport: when the keyboard opens, the
  // panel shrinks above it instead of being covered.
  var vv = W.visualViewport, phone = W.matchMedia && W.matchMedia("(max-width:480px)");
  function fit() {
    var on = st.open && vv && phone && phone.matches;
    panel.style.top = on ? vv.offsetTop + "px" : "";
    panel.style.height = on ? vv.height + "px" : "";
    panel.style.bottom = on ? "auto" : "";
  }
  if (vv) { vv.addEventListener("resize", fit); vv.addEventListener("scroll", fit); }

  W.addEventListener("message", function (e) {
    // Strict: only our own iframe, only from the gateway's origin, only our namespace.
    if (e.origin !== gw || e.source !== frame.contentWindow) return;
    var m = e.data;
    if (!m || typeof m !== "object" || m.ns !== NS) return;
    if (m.type === "ready") {
      var c = m.config || {};
      Object.keys(c.texts || {}).forEach(function (k) { if (typeof c.texts[k] === "string") texts[k] = c.texts[k]; });
      frame.title = texts.frame_title;
      if (c.color) host.style.setProperty("--gw-color", String(c.color));
      if (c.text_color) host.style.setProperty("--gw-on", String(c.text_color));
      if (c.icon && /^(https:|data:image\/)/.test(c.icon)) {
        var img = D.createElement("img"); img.alt = ""; img.src = c.icon; img.className = "i";
        btn.replaceChild(img, btn.querySelector(".i"));
      }
      st.ready = true;
      st.unread = m.unread | 0;
      outbox.splice(0).forEach(post);
      btn.hidden = data.launcher === "false";
      label();
      emit("ready", { touchpoint: tp });
      if (m.open || data.open === "true") setOpen(true, false);
      if (st.unread) emit("unread", st.unread);
    } else if (m.type === "unread") {
      var n = Math.max(0, m.count | 0);
      if (n === st.unread) return;
      if (n > st.unread && !st.open) live.textContent = t("unread", n);
      st.unread = n;
      label();
      emit("unread", n);
    } else if (m.type === "close-request") {
      setOpen(false, true);
    } else if (m.type === "open-request") {
      setOpen(true, true);
    } else if (m.type === "event") {
      emit("conversation", m.detail || {});
    } else if (m.type === "error") {
      console.warn("GatewayChat: " + m.code + ": " + m.message);
      emit("error", { code: m.code, message: m.message });
    }
  });

  var api = {
    version: 1,
    open: function () { setOpen(true, true); },
    close: function () { setOpen(false, false); },
    toggle: function () { setOpen(!st.open, true); },
    identify: function (identity) { post({ type: "identify", identity: identity || null }); },
    // values for the form's hidden fields (the page's word, not proven: docs/widget.md)
    setFields: function (fields) {
      var out = {};
      if (!fields || typeof fields !== "object") return console.warn("GatewayChat.setFields: give an object of name: value");
      Object.keys(fields).forEach(function (k) {
        var v = fields[k];
        if (typeof v === "string" || v === null) out[k] = v;
        else console.warn("GatewayChat.setFields: " + k + " is not a string: ignored");
      });
      post({ type: "fields", fields: out });
    },
    on: function (name, cb) { (handlers[name] = handlers[name] || []).push(cb); return api; },
    off: function (name, cb) { handlers[name] = (handlers[name] || []).filter(function (f) { return f !== cb; }); return api; },
    get unread() { return st.unread; },
    get isOpen() { return st.open; }
  };
  var stub = W.GatewayChat;
  W.GatewayChat = api;
  if (stub && stub.q && stub.q.forEach) stub.q.forEach(function (c) { if (api[c[0]]) api[c[0]].apply(api, [].slice.call(c, 1)); });
  // Before the check below answers: a page that subscribes on this event hears a refusal.
  W.dispatchEvent(new Event("gatewaychat:loaded"));

  function mount() { D.body.appendChild(host); }
  function go() {
    frame.src = src.href;
    if (D.body) mount(); else D.addEventListener("DOMContentLoaded", mount);
  }
  // First ask whether this page may show the chat at all: refused, nothing is framed
  // (no browser error about frame-ancestors) and one message says why and what to do.
  // Without an answer (an older gateway, the network, a Content-Security-Policy whose
  // connect-src leaves the gateway out) the chat's own checks decide.
  var check = new URL("check", script.src);
  check.searchParams.set("touchpoint", tp);
  check.searchParams.set("page", location.origin + location.pathname);
  if (!W.fetch) return go();
  fetch(check.href, { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) {
      if (!c || c.ok !== false) return go();
      console.error("GatewayChat: touchpoint " + tp + " is not shown on this page. " + c.message +
        ". To show it here, register this site (" + location.origin + ") as a chat touchpoint, or correct this one's domain, in the gateway's admin section: " + gw + "/admin");
      emit("error", { code: c.code, message: c.message });
    }, function () {
      console.warn("GatewayChat: could not ask " + gw + " whether this page may show the chat (the network, or a Content-Security-Policy whose connect-src leaves out " + gw + "); showing it, and the gateway decides.");
      go();
    });
})();
