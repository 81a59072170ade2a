"""Meta's webhooks: the subscription handshake (``GET ...?hub.mode=subscribe&
hub.verify_token=...&hub.challenge=...``, answered with the challenge when the token is
the touchpoint's) and the signature of every event (``X-Hub-Signature-256: sha256=<hex
HMAC-SHA256 of the raw body with the app secret>``), checked in constant time before
the body is decoded."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from channels.webhooks import read_body
from gateway.errors import Forbidden, InvalidInput, ProtocolError
from gateway.model.records import Touchpoint
from gateway.settings import Settings


def handshake(request: Request, tp: Touchpoint) -> PlainTextResponse:
    q = request.query_params
    expected = str(tp.settings.get("verify_token", ""))
    given = q.get("hub.verify_token", "")
    if (
        q.get("hub.mode") != "subscribe"
        or not expected
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise Forbidden("the verify token is not this touchpoint's", code="bad_verify_token")
    return PlainTextResponse(q.get("hub.challenge", ""))


def check_signature(app_secret: str, body: bytes, header: str) -> None:
    """Forbidden (403) unless ``header`` is the body's signature with ``app_secret``."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not app_secret or not hmac.compare_digest(header.encode(), expected.encode()):
        raise Forbidden("the webhook's signature is missing or wrong", code="bad_signature")


async def signed_event(
    request: Request, settings: Settings, tp: Touchpoint, shape: type[Any]
) -> Any:
    """The event of a webhook request, read, verified with ``tp``'s app secret, then
    decoded as ``shape``."""
    body = await read_body(request, settings)
    check_signature(
        str(tp.settings.get("app_secret", "")),
        body,
        request.headers.get("x-hub-signature-256", ""),
    )
    return decode(body, shape)


def decode(body: bytes, shape: type[Any], at: str = "") -> Any:
    """The verified body (or a part of it, at ``at``) as ``shape``: 400 for what is not
    JSON or not the platform's shape, 422 for JSON nested too deeply to decode (Python's
    stack ends before msgspec's nesting does: a RecursionError, never a 500)."""
    try:
        return msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        where = f" at {at}" if at else ""
        raise ProtocolError(
            f"not a webhook of this platform{where}: {exc}", code="invalid_field"
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise ProtocolError("the webhook's body is not JSON", code="bad_json") from None
    except RecursionError:
        raise InvalidInput([(at, "the body is nested too deeply")]) from None
