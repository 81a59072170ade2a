"""Calling a provider's send API: one HTTP client per adapter, and what an answer means
for the delivery worker (gateway/services/deliveries.py): a timeout, a connection
error, a 5xx or a 429 is worth trying again (after the provider's Retry-After, if it
gave one); any other 4xx is final, with the provider's reason. A message the provider
takes as several sends goes out part by part (:func:`parts_of`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx

from channels.base import ChannelAdapter, Core
from gateway.model.records import Conversation, Message
from gateway.services import http_client
from gateway.services.deliveries import UNBUILDABLE, Outcome, failed, sent

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
    except UNBUILDABLE:
        raise  # nothing sent, and no retry can help: the delivery worker fails it for good
    except httpx.TimeoutException:
        return failed(f"{provider} did not answer in time; retrying", retryable=True)
    except httpx.TransportError as exc:
        log.warning("%s unreachable: %s", provider, type(exc).__name__)
        return failed(f"{provider} could not be reached; retrying", retryable=True)


# The key of the channel state's content that marks one part of a message, by the
# provider's id for it, as failed after the provider took it (a status callback): a
# replay of the message sends that part again.
FAILED_PART = "failed-part:"


async def part_failed(core: Core, conversation_id: str, provider_id: str) -> None:
    """The provider failed the part it took as ``provider_id`` after answering its send
    (WhatsApp's failed status). Kept before the message is failed, so a replay finds it."""
    if provider_id:
        await core.state.put_content(conversation_id, FAILED_PART + provider_id, {"failed": True})


async def in_parts(
    core: Core,
    conv: Conversation,
    message: Message,
    count: int,
    send_one: Callable[[int], Awaitable[Outcome]],
) -> Outcome:
    """:func:`parts_of` for a provider whose statuses need not know which part is the
    last one sent (Messenger)."""

    async def send(index: int, final: bool) -> Outcome:
        return await send_one(index)

    return await parts_of(core, conv, message, count, send)


async def parts_of(
    core: Core,
    conv: Conversation,
    message: Message,
    count: int,
    send_one: Callable[[int, bool], Awaitable[Outcome]],
) -> Outcome:
    """Deliver a message the provider takes as ``count`` sends (a text, then a file it
    cannot caption), in order; ``send_one(index, final)``, final for the last send of
    this delivery. What was sent is recorded on the message (the channel state's
    content: how many parts went, each one's provider id) after each part, so a retry
    goes on from the part that failed instead of sending the first ones again. A replay
    of a message that failed after every part was taken sends again the parts the
    provider failed (:func:`part_failed`), or, when none is known, the whole message: it
    never answers "sent" with nothing sent. The outcome carries the last id sent."""
    progress = await core.state.content(conv.id, message.client_msg_id) or {}
    done = min(int(progress.get("parts_sent", 0)), count) if count > 1 else 0
    ids = [str(i) for i in progress.get("part_ids", [])][:count]
    ids += [""] * (count - len(ids))
    failed: list[int] = []
    if done:  # delivered before (a retry, a take-over, a replay): what the provider failed
        contents = await core.state.contents(conv.id)
        failed = [i for i in range(done) if ids[i] and FAILED_PART + ids[i] in contents]
    todo = failed + list(range(done, count))
    if not todo and message.provider_id:
        # every part went and the send was recorded, yet it is delivered again: a replay
        # after a failure no part is known for (failed before the parts were told apart)
        todo = list(range(count))
    outcome = sent(str(progress.get("last_part_id", "")))
    for n, index in enumerate(todo):
        outcome = await send_one(index, n == len(todo) - 1)
        if not outcome.sent:
            return outcome
        if count > 1:
            ids[index] = outcome.provider_id
            done = max(done, index + 1)
            progress = {
                **progress,
                "parts_sent": done,
                "last_part_id": outcome.provider_id,
                "part_ids": ids,
            }
            await core.state.put_content(conv.id, message.client_msg_id, progress)
    return outcome
