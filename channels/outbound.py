"""Calling a provider's send API: one HTTP client per adapter, and what an answer means
for the delivery worker (gateway/services/deliveries.py): a timeout, a connection
error, a 5xx or a 429 is worth trying again (after the provider's Retry-After, if it
gave one); any other 4xx is final, with the provider's reason. A message the provider
takes as several sends goes out part by part (:func:`in_parts`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx

from channels.base import ChannelAdapter, Core
from gateway.model.records import Conversation, Message
from gateway.services import http_client
from gateway.services.deliveries import Outcome, failed, sent

log = logging.getLogger("gateway.channels")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def client() -> httpx.AsyncClient:
    return http_client.client(timeout=TIMEOUT)


class HttpAdapter(ChannelAdapter):
    """An adapter that calls its provider over HTTP: one client, opened at start."""

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = client()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError(f"the {self.name} adapter is not started")
        return self._client


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transient(response: httpx.Response, reason: str) -> Outcome | None:
    """The outcome of a 5xx or 429 (retry), None for any other status."""
    if response.status_code == 429:
        return failed(
            reason or "the provider is rate limiting",
            retryable=True,
            retry_after=retry_after(response),
        )
    if response.status_code >= 500:
        return failed(f"the provider failed ({response.status_code}); retrying", retryable=True)
    return None


async def post(
    http: httpx.AsyncClient, provider: str, url: str, **kwargs: object
) -> httpx.Response | Outcome:
    """POST to the provider; a retryable Outcome when it cannot be reached in time."""
    try:
        return await http.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        return failed(f"{provider} did not answer in time; retrying", retryable=True)
    except httpx.TransportError as exc:
        log.warning("%s unreachable: %s", provider, type(exc).__name__)
        return failed(f"{provider} could not be reached; retrying", retryable=True)


async def in_parts(
    core: Core,
    conv: Conversation,
    message: Message,
    count: int,
    send_one: Callable[[int], Awaitable[Outcome]],
) -> Outcome:
    """Deliver a message the provider takes as ``count`` sends (a text, then a file it
    cannot caption), in order. What was sent is recorded on the message (the channel
    state's content) after each part, so a retry goes on from the part that failed
    instead of sending the first ones again. The outcome carries the last part's id."""
    progress = await core.state.content(conv.id, message.client_msg_id) or {}
    done = int(progress.get("parts_sent", 0)) if count > 1 else 0
    outcome = sent(str(progress.get("last_part_id", "")))
    for index in range(done, count):
        outcome = await send_one(index)
        if not outcome.sent:
            return outcome
        if count > 1:
            progress = {**progress, "parts_sent": index + 1, "last_part_id": outcome.provider_id}
            await core.state.put_content(conv.id, message.client_msg_id, progress)
    return outcome
