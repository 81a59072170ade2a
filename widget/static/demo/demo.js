// The demo shop's use of the widget's JavaScript API (docs/widget.md). Not part of the
// widget: a customer's page would have its own.
(function () {
  // The stub queues calls made before the async loader has arrived.
  var chat = (window.GatewayChat = window.GatewayChat || { q: [] });
  var state = document.getElementById("chat-state");
  function unread(n) { state.textContent = n ? "Chat: " + n + " unread" : ""; }
  if (chat.version) chat.on("unread", unread); else chat.q.push(["on", "unread", unread]);
  // With the iframe snippet there is no loader: the page asks the framed chat itself
  // to take the focus (the postMessage contract, docs/widget.md).
  var inline = document.querySelector("iframe[src*='frame.html']");
  document.getElementById("talk").addEventListener("click", function () {
    if (inline) {
      inline.scrollIntoView({ block: "center" });
      inline.focus();
      inline.contentWindow.postMessage({ ns: "gw-widget", v: 1, type: "open", focus: true }, new URL(inline.src).origin);
    } else if (window.GatewayChat.version) window.GatewayChat.open();
    else window.GatewayChat.q.push(["open"]);
  });
})();
