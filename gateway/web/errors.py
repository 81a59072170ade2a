"""Errors on the wire, mapped once per transport from the exception tree
(gateway/errors.py): one Starlette handler for HTTP, two functions for sockets.

HTTP bodies are ``{"error": {"code", "message", ...details}}`` with the error's status.
Under ``/api`` Starlette's own 404/405 take the same shape; elsewhere they stay plain
text. A socket either answers a failed request with an ``error`` frame and stays open,
or, when the session itself fails, closes with the error's code. Only
``public_message`` ever reaches a client: store and driver text stays in the logs.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway import metrics
from gateway import protocol as p
from gateway.errors import GatewayError, RateLimited, StoreError

log = logging.getLogger("gateway.web")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def error_body(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **details}}


def error_response(exc: GatewayError) -> JSONResponse:
    if isinstance(exc, StoreError):
        log.warning("store error answered %d: %s", exc.status, exc.message)
        metrics.count_store_error(exc)
    headers = {"Cache-Control": "no-store"}
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(
        error_body(exc.code, exc.public_message, **exc.details()),
        status_code=exc.status,
        headers=headers,
    )


async def gateway_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Errors Starlette raises itself (no route, wrong method): the API's JSON error
    shape under /api, plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


def error_frame(exc: GatewayError, ref: str = "") -> p.Error:
    """A failed request on a socket: the socket stays open. A field the services refuse
    (InvalidInput, ``invalid`` over HTTP) is the protocol's ``invalid_field``, as a
    field the decoder refuses is (docs/protocol.md lists no other)."""
    code = "invalid_field" if exc.code == "invalid" else exc.code
    return p.Error(code=code, message=exc.public_message, retryable=exc.retryable, ref=ref)


def close_reason(exc: GatewayError) -> tuple[int, str]:
    """A failed session: the close code and reason (at most 123 bytes on the wire)."""
    return int(exc.close), exc.public_message.encode()[:120].decode(errors="ignore")
