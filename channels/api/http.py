"""The integration API's HTTP plumbing: who calls, whether they may, what they send.

:func:`integration_route` turns a row of the route table (``Endpoint`` with access
``integration``) into a Starlette route. Before the handler runs, in this order, and
with nothing stored on any refusal:

1. the path's touchpoint must be an integration touchpoint (404 otherwise);
2. ``Authorization: Bearer gk_...`` must be a live API key of that touchpoint (401 for
   none, an unknown or a revoked key; 403 for a key of another touchpoint); an address
   that presented GATEWAY_LOGINS_PER_IP_PER_MINUTE bad keys in the last minute gets 429
   (``Retry-After``: the seconds until its oldest bad key leaves the minute) before its
   key is looked up, a good key too;
3. the touchpoint must be active (403);
4. the body must fit GATEWAY_API_MAX_BODY_BYTES (413, read no further);
5. a ``Gateway-Signature`` (required when the touchpoint's ``require_signed_requests``
   is on, checked whenever sent) must match the body with the touchpoint's signing
   secret, be within GATEWAY_SIGNATURE_TOLERANCE (401 ``signature_expired``), and not
   have been used before (401 ``signature_replayed``);

(a file upload, ``raw_body``, is not read here: the handler streams it into the
attachment service, which counts it against the channel's rule; its signature is fed
chunk by chunk and checked when the body ends, before anything is stored);
6. the body and the query must be valid (422; a body's ``check()`` too, as StartIn's
   contact email);
7. a POST with an ``Idempotency-Key`` that was used before gets the first answer again
   (``Idempotent-Replayed: true``), a different request with it 422, a replay while
   the first runs 409.

Keys, secrets and bodies are never logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.base import Core
from gateway.errors import (
    AuthError,
    BodyTooLarge,
    Forbidden,
    GatewayError,
    InvalidInput,
    NotFound,
)
from gateway.model.integrations import ApiKey
from gateway.model.records import Touchpoint
from gateway.services.webhooks import SIGNATURE_HEADER, SignatureReplayed, StreamCheck, verify
from gateway.web.admin.schemas import field_errors
from gateway.web.bodies import check_path, read_json, read_query
from gateway.web.errors import error_response
from gateway.web.files import body_chunks
from gateway.web.openapi import Endpoint

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass
class ApiCtx:
    request: Request
    core: Core
    touchpoint: Touchpoint
    key: ApiKey
    body: Any = None  # the endpoint's body Struct
    query: Any = None  # the endpoint's query Struct
    idempotency_key: str = ""
    # a raw_body endpoint's body, as it arrives (its signature checked at its end)
    chunks: AsyncIterator[bytes] | None = None

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[ApiCtx], Awaitable[Response]]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("send Authorization: Bearer <API key>")
    return token.strip()


async def _read(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise BodyTooLarge(f"the body is larger than {limit} bytes")
    return bytes(data)


async def _check_signature(core: Core, tp: Touchpoint, request: Request, body: bytes) -> None:
    header = request.headers.get(SIGNATURE_HEADER)
    if header is None and not tp.settings.get("require_signed_requests"):
        return
    secret = str(tp.settings.get("signing_secret", ""))
    verify(secret, header, body, core.clock(), core.settings.signature_tolerance)
    await _once(core, tp, header)


async def _once(core: Core, tp: Touchpoint, header: str | None) -> None:
    """Each signature once: remembered for the tolerance window (twice it, either side)."""
    digest = hashlib.sha256((header or "").encode()).hexdigest()
    seen = await core.idempotency.remember(
        f"signature:{tp.id}", digest, 2 * core.settings.signature_tolerance
    )
    if seen:
        raise SignatureReplayed("this signature was used already; sign each request anew")


def _signed_stream(core: Core, tp: Touchpoint, request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; with a signature (sent, or required), an expired one is
    refused before a byte is read and a wrong one when the body ends: the consumer
    (the attachment service) stages the whole body before it stores anything."""
    header = request.headers.get(SIGNATURE_HEADER)
    check: StreamCheck | None = None
    if header is not None or tp.settings.get("require_signed_requests"):
        check = StreamCheck(str(tp.settings.get("signing_secret", "")), header)
        check.in_time(core.clock(), core.settings.signature_tolerance)

    async def chunks() -> AsyncIterator[bytes]:
        async for chunk in body_chunks(request):
            if check is not None:
                check.update(chunk)
            yield chunk
        if check is not None:
            check.finish()
            await _once(core, tp, header)

    return chunks()


def _decode(raw: bytes, type_: type) -> Any:
    try:
        data = read_json(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise InvalidInput([("", "the body must be a JSON object")])
        value: Any = msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:  # a wrong shape, or a number out of range (1e400)
        raise field_errors(exc) from None
    check = getattr(value, "check", None)  # what a shape cannot say (StartIn's email)
    if callable(check):
        check()
    return value


def integration_route(ep: Endpoint, core: Core) -> Route:
    assert ep.handler is not None and ep.access == "integration", ep.path
    handler: Handler = ep.handler

    async def endpoint(request: Request) -> Response:
        tp_id = str(request.path_params["touchpoint_id"])
        tp = core.directory.touchpoints.get(tp_id)
        if tp is None or tp.channel != "api":
            raise NotFound("no such integration touchpoint")
        # bad keys are limited per address like logins (docs/security.md, "Limits")
        ip = core.limits.ip(request)
        await core.limits.admit_api_key(ip)
        try:
            key = await core.api_keys.authenticate(tp_id, _bearer(request))
        except AuthError:
            await core.limits.api_key_failed(ip)
            raise
        if not tp.active:
            raise Forbidden("this touchpoint is not active")
        check_path(request.path_params)
        ctx = ApiCtx(request, core, tp, key)
        if ep.raw_body:
            # a file: streamed by the handler; the idempotency fingerprint is the query
            raw = b""
            ctx.chunks = _signed_stream(core, tp, request)
        else:
            raw = await _read(request, core.settings.api_max_body_bytes)
            await _check_signature(core, tp, request, raw)
        if ep.body is not None:
            ctx.body = _decode(raw, ep.body)
        if ep.query is not None:
            try:
                ctx.query = read_query(request.query_params, ep.query)
            except msgspec.ValidationError as exc:
                raise field_errors(exc) from None
        idem = request.headers.get(IDEMPOTENCY_HEADER) if ep.method == "POST" else None
        if idem is None:
            return await handler(ctx)
        return await _idempotent(ctx, handler, idem, raw)

    endpoint.__name__ = ep.operation_id
    return Route(ep.path.removeprefix("/api"), endpoint, methods=[ep.method])


async def _idempotent(ctx: ApiCtx, handler: Handler, key: str, raw: bytes) -> Response:
    """Run the request once per key; replays get the first answer."""
    idempotency = ctx.core.idempotency
    scope = ctx.touchpoint.id
    fingerprint = hashlib.sha256(
        f"{ctx.request.method} {ctx.request.url.path}?{ctx.request.url.query}\n".encode() + raw
    ).hexdigest()
    first = await idempotency.begin(scope, key, fingerprint)
    if first is not None:
        return Response(
            first.body,
            status_code=first.status,
            media_type="application/json",
            headers={"Cache-Control": "no-store", REPLAYED_HEADER: "true"},
        )
    ctx.idempotency_key = key
    try:
        response = await handler(ctx)
    except GatewayError as exc:
        if exc.retryable or exc.status >= 500:
            await idempotency.release(scope, key)  # worth trying again as a first request
        else:  # a refusal is the answer: replays get it too
            answer = error_response(exc)
            await idempotency.finish(scope, key, exc.status, bytes(answer.body).decode())
        raise
    except BaseException:
        await idempotency.release(scope, key)
        raise
    await idempotency.finish(scope, key, response.status_code, bytes(response.body).decode())
    return response
