"""The chat channel's pages: the widget's files, its framed chat app, and the demo shop.

* ``/widget/*`` the widget's static files (widget/static/): the loader a customer's page
  includes, the chat app and its shared modules. ``/widget/frame.html`` is answered here
  rather than by the static files, because its ``Content-Security-Policy`` names who may
  frame it: the touchpoint's own domain (:func:`frame_ancestors`), nobody else.
* ``/demo``, ``/demo/other`` and ``/demo/iframe`` (demo mode only) a shop embedding the
  widget with its one-line snippet, so that ``./scripts/serve`` shows both clients.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from channels.chat.demo import DEMO_BOT_TOUCHPOINTS, DEMO_TOUCHPOINTS
from channels.chat.domain import InvalidDomain, parse_domain
from channels.chat.embed import base_url, snippets
from gateway.web.context import web_of
from gateway.web.pages import connect_src, static_files

WIDGET_STATIC = Path(__file__).resolve().parents[2] / "widget" / "static"


def frame_ancestors(domain: str) -> str:
    """The CSP ``frame-ancestors`` sources for a touchpoint's configured domain.

    They allow exactly the pages widget.domain's matching accepts (the loader's check
    says yes only where the frame will show): no scheme means http and https; a bare
    domain also allows its ``www.`` form (one ``www.``, as the matching); ``*.example.com``
    allows the domain and every subdomain; ``localhost`` and IPv4 addresses allow exactly
    themselves; without a port only the scheme's default port (CSP's own default for a
    source without a port), with one exactly that port. A name is listed with a trailing
    dot too: ``shop.example.`` is the same DNS name, which the matching accepts, but a
    browser's origin keeps the dot and CSP compares names as written (a source
    ``shop.example`` does not match it). An invalid domain frames nowhere: ``'none'``
    (an IPv6 address is invalid: CSP has no syntax for one).

    CSP cannot say "http only": a source ``http://host`` also admits the https page
    (CSP 3 upgrades schemes). The bootstrap still refuses such a page by its URL.
    """
    try:
        rule = parse_domain(domain)
    except InvalidDomain:
        return "'none'"
    host = rule.host
    if rule.wildcard:
        hosts = [host, f"*.{host}"]
    elif rule.is_ip or "." not in host:
        hosts = [host]
    else:
        hosts = [host, f"www.{host}"]
    if not rule.is_ip:  # browsers write 127.0.0.1. as 127.0.0.1
        hosts += [f"{h}." for h in hosts]
    schemes = [rule.scheme] if rule.scheme else ["http", "https"]
    port = f":{rule.port}" if rule.port is not None else ""
    return " ".join(f"{scheme}://{h}{port}" for scheme in schemes for h in hosts)


@cache
def _frame_html() -> bytes:
    return (WIDGET_STATIC / "frame.html").read_bytes()


async def widget_frame(request: Request) -> Response:
    """The chat app's page, framable only by the touchpoint's site."""
    tp = web_of(request).directory.touchpoints.get(request.query_params.get("touchpoint", ""))
    # Unknown and inactive look the same (the bootstrap does not tell either).
    ancestors = (
        frame_ancestors(tp.domain)
        if tp is not None and tp.active and tp.channel == "chat"
        else "'none'"
    )
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        f"font-src 'self' https: data:; connect-src {connect_src(request)}; "
        f"frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
    )
    return Response(
        _frame_html(),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin",
        },
    )


# -------------------------------------------------------------------------------- demo


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "localhost")
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


_OTHER_HOST = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


async def demo(request: Request) -> Response:
    name = _host_name(request)
    path = request.url.path
    # /demo/bot: the same shop, its chats answered by the demo bot first
    touchpoints = DEMO_BOT_TOUCHPOINTS if path == "/demo/bot" else DEMO_TOUCHPOINTS
    tp = touchpoints.get(name, touchpoints["localhost"])
    # Absolute, as a site owner copies it (what the admin section shows too).
    base = base_url(request)
    # ?cross=1 loads the widget from the other demo host name (localhost <-> 127.0.0.1):
    # the shop and the gateway are then two origins, as on a customer's site.
    cross = request.query_params.get("cross") == "1" and name in _OTHER_HOST
    if cross:
        port = request.url.port
        base = f"{request.url.scheme}://{_OTHER_HOST[name]}{f':{port}' if port else ''}"
    script, iframe = snippets(base, tp)
    if path == "/demo/iframe":
        title, body = "Contact us", DEMO_IFRAME
        snippet = iframe
        body = body.replace("{{FRAME}}", snippet)
        loader = ""
    else:
        title, body = {
            "/demo/other": ("Delivery and returns", DEMO_OTHER),
            "/demo/bot": ("Ask our bot", DEMO_BOT),
        }.get(path, ("Demo shop", DEMO_HOME))
        snippet = loader = script
    page = (
        DEMO_PAGE.replace("{{TITLE}}", title)
        .replace("{{BODY}}", body)
        .replace("{{CROSS}}", "?cross=1" if cross else "")
        .replace("{{SNIPPET}}", html.escape(snippet.replace("&amp;", "&")))
        .replace("{{LOADER}}", loader)
    )
    # A shop of its own, so its own policy: it loads the widget (from this host or the
    # other demo host name) and is framed by nobody.
    return HTMLResponse(
        page,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "frame-ancestors 'none'; base-uri 'none'",
        },
    )


DEMO_HOME = """<h1>Demo shop</h1>
<p>This page embeds the chat widget with one line (below). Open the chat with the button
at the bottom right, then answer yourself in the <a href="/console" target="_blank">agent
console</a> (agent@demo.test / demo-agent).</p>
<h2>Tea of the month</h2>
<p>A smoky lapsang souchong from the Wuyi mountains, 100 g for 9.50.</p>"""

DEMO_OTHER = """<h1>Delivery and returns</h1>
<p>Another page of the shop: the conversation follows you from page to page.</p>
<p>We deliver in three working days and take returns for thirty days.</p>"""

DEMO_BOT = """<h1>Ask our bot</h1>
<p>Chats on this page go to a bot first (<code>examples/demo_bot.py</code>, which
<code>./scripts/serve</code> runs beside the demo): it greets you, answers one question
about opening hours, delivery or returns, and hands you over to a person, with a summary
for them. Write "agent" to skip it. See docs/integration-api.md.</p>"""

DEMO_IFRAME = """<h1>Contact us</h1>
<p>This page embeds the chat as an iframe instead of the script: always open, in the
page's own layout.</p>
{{FRAME}}"""

DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/widget/demo/demo.css"><link rel="icon" href="data:,"></head>
<body>
<header class="shop"><a class="brand" href="/demo{{CROSS}}">Demo shop</a>
<nav aria-label="Shop"><a href="/demo{{CROSS}}">Home</a> <a href="/demo/other{{CROSS}}">Delivery</a>
<a href="/demo/iframe">Contact</a> <a href="/demo/bot">Ask our bot</a></nav>
<span class="chat-state" id="chat-state" aria-live="off"></span></header>
<main>
{{BODY}}
<h2>The snippet</h2>
<pre><code>{{SNIPPET}}</code></pre>
<p><button type="button" id="talk">Talk to us</button> opens the chat through the page's
JavaScript API (<code>GatewayChat.open()</code>).</p>
</main>
<script src="/widget/demo/demo.js"></script>
{{LOADER}}
</body></html>
"""


def routes(demo_pages: bool) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    if demo_pages:
        out += [Route(path, demo) for path in ("/demo", "/demo/other", "/demo/iframe", "/demo/bot")]
    out += [
        Route("/widget/frame.html", widget_frame),
        Mount("/widget", app=static_files(WIDGET_STATIC, check_dir=False), name="widget"),
    ]
    return out
