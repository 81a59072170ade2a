"""A small typed client of the engagement gateway's integration API, and the check of its
signed webhooks (docs/integration-api.md). Needs only httpx.

    async with IntegrationClient("https://chat.example.com", "tp_shop_app", key) as api:
        conv = await api.start_conversation("lin@example.com", subject="Order 1042",
                                            message="Where is my parcel?")
        await api.send(conv.id, "It was due yesterday.")

A receiver of the gateway's webhooks checks each one with :func:`verify_webhook` before
it believes it, and drops an event whose ``id`` it has seen (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx

SIGNATURE_HEADER = "Gateway-Signature"
TOLERANCE = 300.0

Direction = Literal["inbound", "outbound"]
Sender = Literal["contact", "bot"]


class ApiError(Exception):
    """An error answer: its HTTP status, the gateway's error code and message."""

    def __init__(self, status: int, code: str, message: str, fields: list[Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


class InvalidSignature(Exception):
    """A webhook whose signature is missing, wrong, or too old (or too new)."""


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class Conversation:
    id: str
    touchpoint_id: str
    channel: str
    state: str
    direction: str
    subject: str
    interaction_id: str
    contact: Contact
    queue_ids: list[str]
    priority: int
    owner_agent_id: str | None
    bot_id: str
    created_at: float
    arrived_at: float
    ended_at: float | None
    closed_at: float | None
    last_seq: int

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Conversation:
        return cls(**{**data, "contact": Contact(**data["contact"])})


@dataclass(frozen=True)
class Message:
    conversation_id: str
    seq: int
    kind: str
    sender: str
    sender_name: str
    body: str
    created_at: float
    delivery: str = ""
    # its files: id, name, content_type, size (and width, height, thumbnail of images)
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MessagePage:
    items: list[Message]
    next_after_seq: int
    has_more: bool


@dataclass(frozen=True)
class TranscriptLine:
    sender: Literal["contact", "bot", "agent"]
    text: str
    at: float | None = None
    name: str = ""

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sender": self.sender, "text": self.text}
        if self.at is not None:
            out["at"] = self.at
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Event:
    """A webhook: ``type`` is ``message.created``, ``conversation.started``, ... and
    ``data`` the whole body (``conversation``, ``contact``, ``message``, ...)."""

    id: str
    type: str
    created_at: float
    data: dict[str, Any] = field(repr=False)

    @property
    def conversation(self) -> dict[str, Any]:
        return dict(self.data.get("conversation") or {})

    @property
    def message(self) -> dict[str, Any] | None:
        return self.data.get("message")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """A ``Gateway-Signature`` header value for ``body`` (for signed API requests)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_webhook(
    secret: str,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE,
) -> Event:
    """The event a webhook carries, once its signature is checked: HMAC-SHA256 over
    ``"<t>." + body`` with the endpoint's secret, ``t`` within ``tolerance`` seconds."""
    parts = dict(p.strip().split("=", 1) for p in (signature or "").split(",") if "=" in p.strip())
    t, given = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not given:
        raise InvalidSignature("no Gateway-Signature: t=...,v1=... header")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise InvalidSignature("the signature does not match the body")
    if abs((time.time() if now is None else now) - int(t)) > tolerance:
        raise InvalidSignature("the signature is too old (or from the future): a replay?")
    data = json.loads(body)
    return Event(data["id"], data["type"], data["created_at"], data)


class IntegrationClient:
    """The integration API of one touchpoint, with one of its API keys. Every POST sends
    an Idempotency-Key (a fresh one unless given): retry a failed call with the same key
    and the gateway answers what it answered the first time, doing nothing twice. With
    ``signing_secret``, every request is signed too."""

    def __init__(
        self,
        base_url: str,
        touchpoint_id: str,
        api_key: str,
        *,
        signing_secret: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.touchpoint_id = touchpoint_id
        self._secret = signing_secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> IntegrationClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _path(self, conversation_id: str = "", tail: str = "") -> str:
        base = f"/api/integrations/{self.touchpoint_id}/conversations"
        return base + (f"/{conversation_id}" if conversation_id else "") + tail

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        params: Mapping[str, Any] | None = None,
        raw: bytes | None = None,
    ) -> Any:
        """One call (a JSON ``body``, or the ``raw`` bytes of a file); the decoded
        answer, or ApiError."""
        content = json.dumps(body).encode() if body is not None else (raw or b"")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or secrets.token_urlsafe(16)
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, content)
        r = await self._http.request(method, path, content=content, headers=headers, params=params)
        data = r.json() if r.content else None
        if r.status_code >= 400:
            error = (data or {}).get("error", {})
            raise ApiError(
                r.status_code,
                error.get("code", "http_error"),
                error.get("message", r.text),
                error.get("fields", []),
            )
        return data

    async def start_conversation(
        self,
        email: str,
        *,
        name: str = "",
        direction: Direction = "inbound",
        subject: str = "",
        interaction_id: str | None = None,
        message: str | None = None,
        transcript: Sequence[TranscriptLine] = (),
        fields: Mapping[str, str] | None = None,
        agent_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Conversation:
        body: dict[str, Any] = {
            "contact": {"email": email, "name": name},
            "direction": direction,
            "subject": subject,
            "transcript": [line.json() for line in transcript],
            "fields": dict(fields or {}),
        }
        for key, value in (
            ("interaction_id", interaction_id),
            ("message", message),
            ("agent_id", agent_id),
        ):
            if value is not None:
                body[key] = value
        data = await self.request("POST", self._path(), body, idempotency_key=idempotency_key)
        return Conversation.of(data)

    async def conversation(self, conversation_id: str) -> Conversation:
        return Conversation.of(await self.request("GET", self._path(conversation_id)))

    async def messages(
        self, conversation_id: str, *, after_seq: int = 0, limit: int = 50
    ) -> MessagePage:
        data = await self.request(
            "GET",
            self._path(conversation_id, "/messages"),
            params={"after_seq": after_seq, "limit": limit},
        )
        return MessagePage(
            [Message(**m) for m in data["items"]], data["next_after_seq"], data["has_more"]
        )

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        sender: Sender = "contact",
        message_id: str | None = None,
        idempotency_key: str | None = None,
        attachments: Sequence[str] = (),
    ) -> Message:
        body: dict[str, Any] = {"text": text, "sender": sender}
        if attachments:
            body["attachments"] = list(attachments)
        if message_id is not None:
            body["message_id"] = message_id
        data = await self.request(
            "POST",
            self._path(conversation_id, "/messages"),
            body,
            idempotency_key=idempotency_key,
        )
        return Message(**data)

    async def upload(
        self, conversation_id: str, name: str, data: bytes, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """The contact's file (send its ``id`` in a message's ``attachments``)."""
        answer = await self.request(
            "POST",
            self._path(conversation_id, "/attachments"),
            params={"name": name},
            raw=data,
            idempotency_key=idempotency_key,
        )
        return dict(answer["attachment"])

    async def escalate(
        self,
        conversation_id: str,
        transcript: Sequence[TranscriptLine] = (),
        *,
        queue_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Conversation:
        body: dict[str, Any] = {"transcript": [line.json() for line in transcript]}
        if queue_id is not None:
            body["queue_id"] = queue_id
        data = await self.request(
            "POST",
            self._path(conversation_id, "/escalate"),
            body,
            idempotency_key=idempotency_key,
        )
        return Conversation.of(data)

    async def transfer(
        self,
        conversation_id: str,
        *,
        agent_id: str | None = None,
        queue_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Conversation:
        body = {k: v for k, v in (("agent_id", agent_id), ("queue_id", queue_id)) if v}
        data = await self.request(
            "POST",
            self._path(conversation_id, "/transfer"),
            body,
            idempotency_key=idempotency_key,
        )
        return Conversation.of(data)

    async def close(
        self, conversation_id: str, *, idempotency_key: str | None = None
    ) -> Conversation:
        data = await self.request(
            "POST", self._path(conversation_id, "/close"), idempotency_key=idempotency_key
        )
        return Conversation.of(data)
