// The email demo page: write as the customer, read what the gateway sent back.
// Text only (textContent), never innerHTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let lastAnswerId = "";

  function h(tag, text) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  async function refresh() {
    const address = $("from").value.trim();
    const res = await fetch("/demo/email/messages?address=" + encodeURIComponent(address));
    if (!res.ok) return;
    const mails = await res.json();
    const list = $("inbox");
    list.replaceChildren();
    for (const mail of mails) {
      const item = h("li");
      const when = mail.date ? new Date(mail.date * 1000).toLocaleString() : "";
      item.append(h("strong", mail.subject), h("div", "From " + (mail.from_name || mail.from) + " " + when));
      const body = h("pre", mail.text);
      body.style.whiteSpace = "pre-wrap";
      item.append(body);
      if (mail.quoted_text) {
        const details = h("details");
        details.append(h("summary", "Quoted text"), h("pre", mail.quoted_text));
        item.append(details);
      }
      list.append(item);
      lastAnswerId = mail.message_id;
    }
  }

  $("compose").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      from: $("from").value.trim(),
      name: $("name").value.trim(),
      subject: $("subject").value,
      text: $("text").value,
      in_reply_to: $("reply").checked ? lastAnswerId : "",
    };
    const res = await fetch("/demo/email/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    $("sent").textContent = res.ok ? "Sent." : "Not sent: " + (await res.text());
  });
  $("refresh").addEventListener("click", refresh);
  setInterval(refresh, 3000);
  refresh();
})();
