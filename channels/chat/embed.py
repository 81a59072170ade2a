"""Putting the chat on a site: the snippet an admin copies, the loader's check of the
page it runs on, and the refused sites an admin reads.

* ``GET /widget/check?touchpoint=&page=`` (public, CORS ``*``): the loader asks before
  it frames the chat whether this page (its URL and its Origin) may show it. Refused,
  the loader draws nothing and logs one console message naming the touchpoint and its
  domain rule; the refusal is recorded for the touchpoint's admin.
* ``GET /api/admin/touchpoints/{id}/snippet`` (admin): the absolute snippets.
* ``GET /api/admin/touchpoints/{id}/refusals`` (admin): the sites refused recently.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from channels.chat.bootstrap import origin_allowed
from channels.chat.domain import InvalidDomain, parse_domain
from channels.chat.domain import match_page as page_matches
from gateway.model.records import EmbedRefusal, RefusalCode
from gateway.web.admin.http import Ctx, json_response
from gateway.web.context import web_of
from gateway.web.openapi import Endpoint
from gateway.web.origins import self_origins


class CheckQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    touchpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    page: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class CheckOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``ok``; else why not: ``code`` (touchpoint_unavailable, domain_mismatch,
    origin_mismatch), a ``message`` naming the touchpoint and its rule, and the
    touchpoint's ``domain`` and what it ``accepts``."""

    ok: bool
    touchpoint_id: str
    code: str = ""
    message: str = ""
    domain: str = ""
    accepts: str = ""


def base_url(request: Request) -> str:
    """The gateway's URL as browsers reach it: GATEWAY_PUBLIC_URL, else this request's."""
    public: str = web_of(request).settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def snippets(base: str, touchpoint_id: str) -> tuple[str, str]:
    """(the script tag, the iframe tag) embedding a touchpoint's chat from ``base``."""
    script = (
        f'<script src="{base}/widget/loader.js" data-touchpoint="{touchpoint_id}" async></script>'
    )
    iframe = (
        f'<iframe src="{base}/widget/frame.html?touchpoint={touchpoint_id}&amp;embed=inline"'
        ' title="Chat with us" width="380" height="560"></iframe>'
    )
    return script, iframe


async def check(request: Request) -> Response:
    web = web_of(request)
    try:
        q = msgspec.convert(dict(request.query_params), CheckQuery)
    except msgspec.ValidationError:
        return _answer(CheckOut(ok=False, touchpoint_id="", code="invalid", message="bad query"))
    tp = web.directory.touchpoints.get(q.touchpoint)
    origin = request.headers.get("origin", "")

    async def refuse(code: RefusalCode, reason: str, out: CheckOut) -> Response:
        """Answer ``out``, and note the refusal for the touchpoint's admin (the page
        without its query, fragment and user information: ``EmbedRefusals.record``)."""
        if tp is not None:
            await web.refusals.record(tp.id, origin, q.page, code, reason)
        return _answer(out, refused=True)

    if tp is None or tp.channel != "chat" or not tp.active:
        message = f"touchpoint {q.touchpoint} is not active, or there is no such chat touchpoint"
        out = CheckOut(
            ok=False, touchpoint_id=q.touchpoint, code="touchpoint_unavailable", message=message
        )
        return await refuse("touchpoint_inactive", "the touchpoint is inactive", out)
    try:
        rule = parse_domain(tp.domain)
    except InvalidDomain as exc:
        return _answer(
            CheckOut(
                ok=False,
                touchpoint_id=tp.id,
                code="touchpoint_unavailable",
                message=f"touchpoint {tp.id}'s domain is invalid: {exc.message}",
            ),
            refused=True,
        )
    about = {"domain": str(rule), "accepts": rule.describe()}
    page = page_matches(rule, q.page)
    if not page.matched:
        message = (
            f"this page is not allowed to show touchpoint {tp.id}'s chat: its domain rule is "
            f"{rule} ({rule.describe()}), and {page.reason}"
        )
        return await refuse(
            "domain_mismatch",
            page.reason,
            CheckOut(
                ok=False, touchpoint_id=tp.id, code="domain_mismatch", message=message, **about
            ),
        )
    if not origin:
        # Browsers leave it out of a same-origin GET: the page is on the gateway's own
        # origin. (This answer grants nothing; the bootstrap checks the Origin itself.)
        return _answer(CheckOut(ok=True, touchpoint_id=tp.id, **about))
    allowed = origin_allowed(tp.domain, origin, self_origins(request))
    if not allowed.matched:
        message = (
            f"this page's origin {origin} is not allowed to show touchpoint {tp.id}'s chat: "
            f"its domain rule is {rule} ({rule.describe()}), and {allowed.reason}"
        )
        return await refuse(
            "origin_mismatch",
            allowed.reason,
            CheckOut(
                ok=False, touchpoint_id=tp.id, code="origin_mismatch", message=message, **about
            ),
        )
    return _answer(CheckOut(ok=True, touchpoint_id=tp.id, **about))


def _answer(out: CheckOut, *, refused: bool = False) -> Response:
    # Readable by any page (it tells a site about itself; no credentials are sent), and
    # cached by that page's browser for a while: a site's pages do not ask again on
    # every navigation. A refusal is kept shorter, so that a fix shows soon.
    return Response(
        msgspec.json.encode(out),
        media_type="application/json",
        headers={
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": f"private, max-age={60 if refused else 300}",
            "Vary": "Origin",
        },
    )


CHECK = Endpoint(
    "GET",
    "/widget/check",
    "May this page show a touchpoint's chat? (the loader asks)",
    "public",
    tag="widget",
    query=CheckQuery,
    response=CheckOut,
    description="Checks the page URL against the touchpoint's domain and the request's "
    "Origin, as the bootstrap does, and says why not with the touchpoint's domain rule. "
    "Readable cross-origin (Access-Control-Allow-Origin: *); refusals of a known "
    "touchpoint are recorded for its admin.",
)


# -- the admin's side -------------------------------------------------------------------


class SnippetOut(msgspec.Struct, kw_only=True):
    touchpoint_id: str
    # the one-line script (launcher and panel) and the iframe (always open, in the page)
    script: str
    iframe: str


async def snippet(ctx: Ctx) -> Response:
    tp = await ctx.store.get_touchpoint(ctx.param())
    script, iframe = snippets(base_url(ctx.request), tp.id)
    return json_response(SnippetOut(touchpoint_id=tp.id, script=script, iframe=iframe))


async def refusals(ctx: Ctx) -> Response:
    tp = await ctx.store.get_touchpoint(ctx.param())
    return json_response(await ctx.web.refusals.recent(tp.id))


SNIPPET = Endpoint(
    "GET",
    "/api/admin/touchpoints/{id}/snippet",
    "The snippets that put a chat touchpoint on a site",
    "admin",
    snippet,
    response=SnippetOut,
    errors=(404,),
    description="Absolute URLs: GATEWAY_PUBLIC_URL when set, else the URL this request "
    "reached the gateway at.",
)
REFUSALS = Endpoint(
    "GET",
    "/api/admin/touchpoints/{id}/refusals",
    "Sites refused this touchpoint's chat recently",
    "admin",
    refusals,
    response=list[EmbedRefusal],
    errors=(404,),
    description="One row per origin, most recent first (the 20 most recent origins): "
    "the last page (without its query, fragment or user information), code, reason, how many times, first and last "
    "time. Recorded when the loader's check or the bootstrap refuses a page.",
)
