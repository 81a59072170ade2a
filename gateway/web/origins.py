"""The gateway's own origins: the pages it serves itself (its console, and the chat app
in its iframe). Only they may open the agent socket.

The ``Host`` header is the client's to choose, so it is not the gateway's origin by
itself: ``Host: evil.test`` with ``Origin: http://evil.test`` (what DNS rebinding makes a
browser send) must not pass. The gateway's own origin is ``GATEWAY_PUBLIC_URL`` when it
is set, and only that. Without it (a development setup, ``./scripts/serve``), it is the
request's ``Host`` only when that names no domain: an IP address or ``localhost``, which
a rebinding attack cannot produce (the browser sends the attacker's domain name).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from gateway.web.context import web_of


def self_origins(conn: HTTPConnection) -> set[str]:
    """Origins that are the gateway itself."""
    public = web_of(conn).settings.public_url.rstrip("/")
    if public:
        parts = urlsplit(public)
        return {f"{parts.scheme}://{parts.netloc}"}
    host = conn.headers.get("host", "")
    if not _is_local_name(host):
        return set()
    return {f"http://{host}", f"https://{host}"}


def _is_local_name(host: str) -> bool:
    """``host[:port]`` is an IP literal or localhost (no DNS name to rebind)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    elif host.count(":") > 1:
        name = host  # a bare IPv6 address (no port)
    if name.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
