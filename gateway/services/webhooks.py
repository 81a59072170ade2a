"""Signed webhooks: how the gateway signs what it sends to integrations, bots and
automations, how a receiver (or the gateway, for signed API requests) checks a
signature, and the one HTTP sender both delivery workers use (the integration
adapter's, through gateway/services/deliveries.py, and the outbox's).

The signature is Stripe's scheme: ``Gateway-Signature: t=<unix seconds>,v1=<hex>`` where
the hex is HMAC-SHA256 of ``"<t>." + body`` with the endpoint's secret. A receiver
recomputes it over the raw body, compares in constant time, and refuses a timestamp
further than the tolerance (300 s by default) from its clock: a captured request cannot
be replayed later. Several ``v1=`` values may be present (while a secret is rotated);
any one matching is enough. docs/integration-api.md, "Webhooks", shows a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from gateway.errors import AuthError
from gateway.services import http_client
from gateway.services.deliveries import Outcome, failed, sent
from gateway.settings import http_url_problem

log = logging.getLogger("gateway.webhooks")

SIGNATURE_HEADER: Final = "Gateway-Signature"
EVENT_ID_HEADER: Final = "Gateway-Event-Id"
EVENT_TYPE_HEADER: Final = "Gateway-Event-Type"
ATTEMPT_HEADER: Final = "Gateway-Delivery-Attempt"
DEFAULT_TOLERANCE: Final = 300.0
USER_AGENT: Final = "engagement-gateway-webhooks/1"


class SignatureExpired(AuthError):
    """The signature's timestamp is outside the tolerance window."""

    code = "signature_expired"


class SignatureInvalid(AuthError):
    """The signature is missing, malformed or does not match."""

    code = "signature_invalid"


class SignatureReplayed(AuthError):
    """This very signature was used already (a captured request sent again)."""

    code = "signature_replayed"


def check_url(url: object) -> str | None:
    """Why ``url`` cannot receive webhooks, or None."""
    if not isinstance(url, str) or not url:
        return "the URL the gateway sends events to (http or https) is required"
    if len(url) > 2000:
        return "at most 2000 characters"
    if any(c <= " " or c == "\x7f" for c in url):
        return "no spaces or control characters (percent-encode them)"
    if http_url_problem(url):  # also an unclosed IPv6 bracket or a bad port (a 500)
        return "an http:// or https:// URL with a host (and a numeric port)"
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "no credentials in the URL (it would be shown and logged): the secret signs"
    return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the ``Gateway-Signature`` header."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check a ``Gateway-Signature`` header over ``body``; return its timestamp. Raises
    SignatureInvalid (missing, malformed, wrong) or SignatureExpired (outside the
    tolerance either way: a clock far ahead is refused like a replay)."""
    check = StreamCheck(secret, header)
    check.update(body)
    check.finish()
    check.in_time(now, tolerance)
    return check.timestamp


class StreamCheck:
    """A ``Gateway-Signature`` checked over a body that is read as it arrives (an
    upload is not held in memory): the header is parsed first, each chunk is fed to
    the HMAC, and :meth:`finish` compares once the body has ended."""

    def __init__(self, secret: str, header: str | None) -> None:
        if not header:
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
        timestamp: int | None = None
        self._candidates: list[str] = []
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name == "t" and value.isdigit():
                timestamp = int(value)
            elif name == "v1" and value:
                self._candidates.append(value)
        if timestamp is None or not self._candidates:
            raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is not t=<time>,v1=<hex>")
        self.timestamp = timestamp
        self._mac = hmac.new(secret.encode(), str(timestamp).encode() + b".", hashlib.sha256)

    def in_time(self, now: float, tolerance: float) -> None:
        if abs(now - self.timestamp) > tolerance:
            raise SignatureExpired(
                f"the signature's timestamp is more than {tolerance:g} s from the gateway's clock"
            )

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def finish(self) -> None:
        expected = self._mac.hexdigest()
        if not any(hmac.compare_digest(expected, c) for c in self._candidates):
            raise SignatureInvalid("the signature does not match the body")


# What of a receiver's answer is read: its status says what came of the event; a body
# read to its end lets the connection serve the next one, a longer one is cut off with it.
ANSWER_READ = 64 * 1024


async def _drain(response: aiohttp.ClientResponse) -> None:
    read = 0
    async for chunk in response.content.iter_any():
        read += len(chunk)
        if read > ANSWER_READ:
            return


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class WebhookSender:
    """POSTs signed JSON to receivers and says what came of it. Every failure is worth
    retrying (a receiver being deployed answers 404 or 502 for a while); the workers
    give up after their bounded number of attempts. Redirects are not followed."""

    def __init__(self, clock: Callable[[], float], *, timeout: float = 10.0) -> None:
        self._clock = clock
        self._timeout = timeout
        self._client: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, made at the first POST (aiohttp's belongs to the running
        event loop, which the gateway's app is built before)."""
        if self._client is None:
            self._client = http_client.session(self._timeout, headers={"User-Agent": USER_AGENT})
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
        async with self.session().post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            await _drain(response)
        return response

    async def post(
        self,
        url: str,
        secret: str,
        body: bytes,
        *,
        event_id: str,
        event_type: str,
        attempt: int | None = None,
    ) -> Outcome:
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
        }
        if attempt is not None:
            headers[ATTEMPT_HEADER] = str(attempt)
        try:
            try:
                response = await self._post(url, body, headers)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise
                # A kept-alive connection the receiver closed as it was reused (its idle
                # timeout, 5 s on uvicorn, meeting our next event) is no attempt: tried
                # once more at once, on another connection. Safe to repeat: receivers drop
                # an event they already have by its Gateway-Event-Id.
                response = await self._post(url, body, headers)
        except TimeoutError:
            return failed("the receiver did not answer in time", retryable=True)
        except aiohttp.ClientError as exc:
            # connection refused, reset, DNS: the receiver is down or unreachable
            return failed(f"the receiver cannot be reached ({type(exc).__name__})", retryable=True)
        if 200 <= response.status < 300:
            return sent()
        return failed(
            f"the receiver answered HTTP {response.status}",
            retryable=True,
            retry_after=_retry_after(response),
        )
