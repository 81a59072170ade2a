"""The gateway's own origins: the pages it serves itself (its console, and the chat app
in its iframe). Only they may open the agent socket."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from gateway.web.context import web_of


def self_origins(conn: HTTPConnection) -> set[str]:
    """Origins that are the gateway itself."""
    host = conn.headers.get("host", "")
    origins = {f"http://{host}", f"https://{host}"} if host else set()
    public = web_of(conn).settings.public_url.rstrip("/")
    if public:
        origins.add(public)
    return origins
