"""The widget's bootstrap: ``POST /widget/bootstrap`` with a touchpoint id and the page
URL, answered with the widget's configuration and a visitor session token, only for an
active chat touchpoint whose domain matches the page (channels.chat.domain).

The token is bound to the touchpoint, to the Origin the request came from (the
customer's site, or the gateway's own origin when the chat runs in the gateway's
iframe) and to the visitor. A visitor who presents an earlier token of the same
touchpoint keeps their visitor id, so a reload or another page resumes the same chat.

A signed ``identity`` (widget/identity.py) is verified here and carried in the token;
a touchpoint with ``require_identity`` refuses a bootstrap without one. Bootstraps per
client IP are rate limited (gateway/limits.py). See docs/security.md.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from channels.chat.domain import InvalidDomain, Match, match_origin, match_page, parse_domain
from channels.chat.identity import IdentityIn, IdentityRefused, verify_identity
from gateway.auth import new_id
from gateway.errors import GatewayError, RateLimited
from gateway.web.limits import limits_for


class BootstrapRequest(msgspec.Struct, forbid_unknown_fields=True):
    touchpoint_id: str
    page_url: str
    visitor_token: str = ""
    identity: IdentityIn | None = None  # signed by the site: widget/identity.py


def self_origins(request: HTTPConnection) -> set[str]:
    """Origins that are the gateway itself: its iframe chat app and its console."""
    host = request.headers.get("host", "")
    origins = {f"http://{host}", f"https://{host}"} if host else set()
    public = request.app.state.engine.settings.public_url.rstrip("/")
    if public:
        origins.add(public)
    return origins


def origin_allowed(domain: str, origin: str, own: set[str]) -> Match:
    """May a socket or request from ``origin`` act for a touchpoint on ``domain``?"""
    if origin in own:
        return Match(True, "the gateway's own page (its iframe chat app)")
    try:
        rule = parse_domain(domain)
    except InvalidDomain as exc:
        return Match(False, f"the touchpoint's domain is invalid: {exc}")
    return match_origin(rule, origin)


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def bootstrap(request: Request) -> Response:
    engine = request.app.state.engine
    limits = limits_for(request)
    try:
        await limits.admit_bootstrap(limits.ip(request))
    except RateLimited as exc:
        return _refuse(429, exc.code, exc.message)
    try:
        body = msgspec.json.decode(await request.body(), type=BootstrapRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _refuse(422, "invalid_request", str(exc))
    tp = engine.directory.touchpoints.get(body.touchpoint_id)
    # One answer for unknown and inactive: do not reveal which touchpoint ids exist.
    if tp is None or not tp.active or tp.channel != "chat":
        return _refuse(403, "touchpoint_unavailable", "this touchpoint does not accept chats")
    try:
        rule = parse_domain(tp.domain)
    except InvalidDomain:
        return _refuse(403, "touchpoint_unavailable", "this touchpoint's domain is misconfigured")
    page = match_page(rule, body.page_url)
    if not page.matched:
        return _refuse(403, "domain_mismatch", page.reason)
    own = self_origins(request)
    origin = request.headers.get("origin", "")
    if not origin:
        return _refuse(403, "origin_required", "the request carries no Origin header")
    allowed = origin_allowed(tp.domain, origin, own)
    if not allowed.matched:
        return _refuse(403, "origin_mismatch", allowed.reason)
    now = engine.clock()
    identity = None
    if body.identity is not None:
        try:
            identity = verify_identity(tp, body.identity, now)
        except IdentityRefused as exc:
            return _refuse(exc.status, exc.code, exc.message)
    if tp.require_identity and identity is None:
        return _refuse(
            403, "identity_required", "this chat is for signed-in visitors: identity is required"
        )
    remembered = (
        engine.tokens.remembered_visitor(body.visitor_token, tp.id, now)
        if body.visitor_token
        else None
    )
    bound = remembered.who if remembered else ""
    if identity is not None:
        if bound and bound != identity.fingerprint:
            # Someone else signed in on this browser: never hand them the previous
            # person's visitor id, and so their conversation.
            remembered = None
        bound = identity.fingerprint
    visitor_id = remembered.vid if remembered else new_id("vi")
    token, claims = engine.tokens.issue_visitor(
        touchpoint_id=tp.id,
        origin=origin,
        page_origin=_origin_of(body.page_url),
        visitor_id=visitor_id,
        now=now,
        first_seen=remembered.first if remembered else None,
        identity=identity,
        bound=bound,
    )
    try:
        contact = await engine.visitor_contact(visitor_id)
    except GatewayError:
        contact = None
    config: dict[str, Any] = {
        "touchpoint_id": tp.id,
        "name": tp.name,
        "widget": tp.widget,
        "form": msgspec.to_builtins(tp.form),
        "require_identity": tp.require_identity,
    }
    return JSONResponse(
        {
            "token": token,
            "expires_at": claims.exp,
            "visitor_id": visitor_id,
            "visitor_name": contact.display_name if contact else "",
            "ws_url": "/ws/visitor",
            "config": config,
        },
        headers={"Cache-Control": "no-store"},
    )


def _origin_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
