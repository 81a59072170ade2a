"""The widget's bootstrap: ``POST /widget/bootstrap`` with a touchpoint id and the page
URL, answered with the widget's configuration and a visitor session token, only for an
active chat touchpoint whose domain matches the page (channels/chat/domain.py).

The token is bound to the touchpoint, to the Origin the request came from (the
customer's site, or the gateway's own origin when the chat runs in the gateway's
iframe) and to the visitor. A visitor who presents an earlier token of the same
touchpoint keeps their visitor id, so a reload or another page resumes the same chat.

A signed ``identity`` (channels/chat/identity.py) is verified here and carried in the
token; a touchpoint with ``require_identity`` refuses a bootstrap without one.
Bootstraps per client IP are rate limited (gateway/web/limits.py). See
docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from channels.chat.domain import InvalidDomain, Match, match_origin, match_page, parse_domain
from channels.chat.forms import leave_message_form
from channels.chat.identity import IdentityIn, verify_identity
from gateway import protocol as p
from gateway.auth import VisitorClaims, new_id
from gateway.errors import Forbidden, GatewayError, InvalidInput, OriginRefused
from gateway.model.records import FormField, Touchpoint
from gateway.services.availability import Availability
from gateway.services.refusals import redact_url
from gateway.services.views import file_rules
from gateway.web.bodies import read_json
from gateway.web.context import web_of
from gateway.web.openapi import Endpoint
from gateway.web.origins import self_origins


class BootstrapRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    touchpoint_id: str
    page_url: str
    visitor_token: str = ""
    identity: IdentityIn | None = None  # the site's signed identity (docs/security.md)


class WidgetConfig(msgspec.Struct, kw_only=True):
    touchpoint_id: str
    name: str
    widget: dict[str, Any]
    form: list[FormField]
    require_identity: bool
    # can anyone answer now (gateway/services/availability.py)
    availability: Availability
    # the form for leaving a message when nobody can: the form with an email required
    leave_form: list[FormField]
    # seconds without a message after which a chat closes (0: never)
    idle_close_after: int
    # the files a visitor may send (docs/attachments.md); absent when chat takes none
    attachments: p.FileRules | None = None
    # a mailbox answers for this site (settings.email_touchpoint_id, email_followup.py):
    # a left message's answer also goes by email, and an ended chat's transcript can be
    # emailed on request
    answers_by_email: bool = False
    transcripts: bool = False


class BootstrapResponse(msgspec.Struct, kw_only=True):
    token: str
    expires_at: float
    visitor_id: str
    visitor_name: str
    ws_url: str
    config: WidgetConfig


ENDPOINT = Endpoint(
    "POST",
    "/widget/bootstrap",
    "The chat widget's bootstrap",
    "public",
    tag="widget",
    body=BootstrapRequest,
    response=BootstrapResponse,
    errors=(403, 422, 429),
    description="Needs an Origin header. Answers only for an active chat touchpoint "
    "whose domain matches page_url and whose Origin is allowed (403 otherwise, "
    "with codes touchpoint_unavailable, domain_mismatch, origin_required, "
    "origin_mismatch). A signed identity that does not verify is 403 "
    "identity_invalid; none on a touchpoint that requires one is 403 "
    "identity_required (docs/security.md). Too many bootstraps from one address "
    "are 429 rate_limited. Returns a short-lived visitor token bound to the "
    "touchpoint, the Origin and the visitor, and the widget's configuration with "
    "whether anyone can answer now (config.availability: online, busy, offline or "
    "closed with opens_at). Refused pages of a known touchpoint are recorded for its "
    "admin (GET /api/admin/touchpoints/{id}/refusals).",
)


def origin_allowed(domain: str, origin: str, own: set[str]) -> Match:
    """May a socket or request from ``origin`` act for a touchpoint on ``domain``?"""
    if origin in own:
        return Match(True, "the gateway's own page (its iframe chat app)")
    try:
        rule = parse_domain(domain)
    except InvalidDomain as exc:
        return Match(False, f"the touchpoint's domain is invalid: {exc}")
    return match_origin(rule, origin)


def admitted_touchpoint(
    touchpoints: Mapping[str, Touchpoint], claims: VisitorClaims, origin: str, own: set[str]
) -> Touchpoint:
    """The chat touchpoint a visitor token opens a socket or sends a file for, from
    ``origin``: the token's own origin, an active chat touchpoint, its identity rule and
    its domain (``own``: the gateway's origins); Forbidden or OriginRefused otherwise."""
    if origin != claims.org:
        raise Forbidden("this token was issued to another origin")
    tp = touchpoints.get(claims.tp)
    if tp is None or not tp.active or tp.channel != "chat":
        raise Forbidden("this touchpoint does not accept chats")
    if tp.require_identity and claims.identity is None:
        raise Forbidden("this chat is for signed-in visitors only")
    allowed = origin_allowed(tp.domain, origin, own)
    if not allowed.matched:
        raise OriginRefused(allowed.reason)
    return tp


def _unavailable(message: str = "this touchpoint does not accept chats") -> Forbidden:
    return Forbidden(message, code="touchpoint_unavailable")


async def bootstrap(request: Request, by_email: Callable[[str], bool] | None = None) -> Response:
    web = web_of(request)
    limits = web.limits
    await limits.admit_bootstrap(limits.ip(request))
    try:
        body = read_json(await request.body(), BootstrapRequest)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("", str(exc))], code="invalid_request") from None
    tp = web.directory.touchpoints.get(body.touchpoint_id)
    origin = request.headers.get("origin", "")
    # One answer for unknown and inactive: do not reveal which touchpoint ids exist.
    if tp is None or not tp.active or tp.channel != "chat":
        if tp is not None and tp.channel == "chat":
            await web.refusals.record(
                tp.id, origin, body.page_url, "touchpoint_inactive", "the touchpoint is inactive"
            )
        raise _unavailable()
    try:
        rule = parse_domain(tp.domain)
    except InvalidDomain:
        raise _unavailable("this touchpoint's domain is misconfigured") from None
    page = match_page(rule, body.page_url)
    if not page.matched:
        await web.refusals.record(tp.id, origin, body.page_url, "domain_mismatch", page.reason)
        raise Forbidden(page.reason, code="domain_mismatch")
    if not origin:
        raise Forbidden("the request carries no Origin header", code="origin_required")
    allowed = origin_allowed(tp.domain, origin, self_origins(request))
    if not allowed.matched:
        await web.refusals.record(tp.id, origin, body.page_url, "origin_mismatch", allowed.reason)
        raise OriginRefused(allowed.reason)
    now = web.clock()
    identity = verify_identity(tp, body.identity, now) if body.identity is not None else None
    if tp.require_identity and identity is None:
        raise Forbidden(
            "this chat is for signed-in visitors: identity is required", code="identity_required"
        )
    tokens = web.tokens
    remembered = (
        tokens.remembered_visitor(body.visitor_token, tp.id, now) if body.visitor_token else None
    )
    bound = remembered.who if remembered else ""
    if identity is not None:
        if bound and bound != identity.fingerprint:
            # Someone else signed in on this browser: never hand them the previous
            # person's visitor id, and so their conversation.
            remembered = None
        bound = identity.fingerprint
    visitor_id = remembered.vid if remembered else new_id("vi")
    token, claims = tokens.issue_visitor(
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
        contact = await web.contacts.at("chat", visitor_id)
    except GatewayError:
        contact = None
    config: dict[str, Any] = {
        "touchpoint_id": tp.id,
        "name": tp.name,
        "widget": tp.widget,
        "form": msgspec.to_builtins(tp.form),
        "require_identity": tp.require_identity,
        "availability": msgspec.to_builtins(web.availability.now(tp.id)),
        "leave_form": msgspec.to_builtins(leave_message_form(tp.form)),
        "idle_close_after": web.directory.settings.idle_close_after,
    }
    config["answers_by_email"] = config["transcripts"] = by_email is not None and by_email(tp.id)
    files = file_rules(web.attachments.rules.get("chat"))
    if files is not None:
        config["attachments"] = msgspec.to_builtins(files)
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
    """The page's origin, kept in the visitor's token: without user information."""
    parts = urlsplit(redact_url(url))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
