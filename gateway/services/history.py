"""History (FAQ 16, 17): closed conversations found by contact, date, touchpoint,
queue and agent; a transcript to read, link and download as JSON, CSV or text.

Who finds and reads which is the access policy's: agents their own, supervisors and
admins every one (gateway/services/access.py).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Literal

import msgspec

from gateway.errors import InvalidInput, NotFound
from gateway.model.records import Agent, Conversation
from gateway.ports.store.base import HistoryFilter, Store
from gateway.services.access import AccessPolicy
from gateway.services.directory import Directory
from gateway.services.views import WIRE_SENDER, EventBody

ExportFormat = Literal["json", "csv", "text"]
MAX_TRANSCRIPT = 10_000  # messages in one transcript
DELETED_AGENT = "(deleted agent)"
TRUNCATED = f"Only the first {MAX_TRANSCRIPT:,} messages: the conversation has more."
EVENT_TEXT = {
    "agent_joined": "{name} joined",
    "agent_left": "{name} left",
    "ended": "The chat ended",
}


class HistoryRow(msgspec.Struct, kw_only=True):
    conversation_id: str
    channel: str
    touchpoint_id: str
    touchpoint_name: str
    contact_id: str
    contact_name: str
    queue_ids: list[str]
    agent_id: str
    agent_name: str
    state: str
    created_at: float
    ended_at: float | None = None
    disposition: str = ""


class HistoryPageOut(msgspec.Struct, kw_only=True):
    items: list[HistoryRow]
    # pass as `before` for the next page; absent on the last
    next_before: str | None = None


class Line(msgspec.Struct, kw_only=True):
    seq: int
    at: float
    sender: str  # visitor, agent, system, event
    name: str
    text: str


class NoteLine(msgspec.Struct, kw_only=True):
    at: float
    agent_name: str
    body: str


class Transcript(msgspec.Struct, kw_only=True):
    conversation: HistoryRow
    notes: str  # the wrap-up notes
    lines: list[Line]
    conversation_notes: list[NoteLine]
    # the conversation has more than MAX_TRANSCRIPT messages: lines holds the first ones
    truncated: bool = False


def cursor(conv: Conversation) -> str:
    return f"{conv.created_at!r}:{conv.id}"


def parse_cursor(value: str) -> tuple[float, str]:
    at, _, cid = value.partition(":")
    try:
        return float(at), cid
    except ValueError:
        raise InvalidInput([("before", "pass next_before from the previous page")]) from None


class History:
    def __init__(self, store: Store, directory: Directory, access: AccessPolicy) -> None:
        self._store = store
        self._dir = directory
        self._access = access

    async def search(self, agent: Agent, query: HistoryFilter) -> HistoryPageOut:
        scope = self._access.history_scope(agent)
        if scope is not None:
            query = msgspec.structs.replace(query, agent_id=scope)
        rows = await self._store.search_conversations(
            msgspec.structs.replace(query, limit=query.limit + 1)
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return HistoryPageOut(
            items=[await self.row(c) for c in rows],
            next_before=cursor(rows[-1]) if more and rows else None,
        )

    async def row(self, conv: Conversation) -> HistoryRow:
        contact = await self._store.get_contact(conv.contact_id)
        return HistoryRow(
            conversation_id=conv.id,
            channel=conv.channel,
            touchpoint_id=conv.touchpoint_id,
            touchpoint_name=self._dir.touchpoint_name(conv.touchpoint_id),
            contact_id=contact.id,
            contact_name=contact.display_name,
            queue_ids=list(conv.queue_ids),
            agent_id=conv.owner_agent_id or "",
            agent_name=self._agent_name(conv.owner_agent_id) if conv.owner_agent_id else "",
            state=conv.state,
            created_at=conv.created_at,
            ended_at=conv.ended_at,
            disposition=conv.disposition,
        )

    def _agent_name(self, agent_id: str) -> str:
        """The agent's name; an agent deleted since is named so, not left blank."""
        return self._dir.agent_name(agent_id) or DELETED_AGENT

    async def conversation(self, agent: Agent, conversation_id: str) -> Conversation:
        """A conversation this agent may read in history; NotFound otherwise."""
        try:
            conv = await self._store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        if not (self._access.sees(agent, conv) and self._access.reads(agent, conv)):
            raise NotFound("no such conversation")
        return conv

    async def transcript(self, conv: Conversation) -> Transcript:
        """The caller has checked that the agent may read it."""
        contact = await self._store.get_contact(conv.contact_id)
        messages = await self._store.messages(conv.id, limit=MAX_TRANSCRIPT + 1)
        truncated = len(messages) > MAX_TRANSCRIPT
        messages = messages[:MAX_TRANSCRIPT]
        lines = []
        for m in messages:
            if m.kind == "event":
                body = msgspec.json.decode(m.body, type=EventBody)
                text = EVENT_TEXT.get(body.event, body.event).format(
                    name=body.agent_name or "An agent"
                )
                lines.append(Line(seq=m.seq, at=m.created_at, sender="event", name="", text=text))
                continue
            if m.sender == "agent":
                name = self._agent_name(m.sender_id)
            elif m.sender == "contact":
                name = contact.display_name
            else:
                name = self._dir.touchpoint_name(conv.touchpoint_id)
            lines.append(
                Line(
                    seq=m.seq, at=m.created_at, sender=WIRE_SENDER[m.sender], name=name, text=m.body
                )
            )
        notes = [
            NoteLine(at=n.created_at, agent_name=self._agent_name(n.agent_id), body=n.body)
            for n in await self._store.notes(conv.id)
        ]
        return Transcript(
            conversation=await self.row(conv),
            notes=conv.notes,
            lines=lines,
            conversation_notes=notes,
            truncated=truncated,
        )


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def export(t: Transcript, fmt: ExportFormat) -> tuple[bytes, str]:
    """(body, media type) of a transcript in one of the download formats."""
    if fmt == "json":
        return msgspec.json.encode(t), "application/json"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["seq", "time_utc", "sender", "name", "text"])
        for line in t.lines:
            writer.writerow(
                [line.seq, _when(line.at), line.sender, safe_cell(line.name), safe_cell(line.text)]
            )
        if t.truncated:
            writer.writerow(["", "", "notice", "", TRUNCATED])
        return out.getvalue().encode(), "text/csv; charset=utf-8"
    c = t.conversation
    head = [
        f"Conversation {c.conversation_id} with {c.contact_name}",
        f"{c.channel} · {c.touchpoint_name} · agent: {c.agent_name or '—'}",
        f"Started {_when(c.created_at)}" + (f", ended {_when(c.ended_at)}" if c.ended_at else ""),
        "",
    ]
    body = [
        f"[{_when(line.at)}] {line.text}"
        if line.sender == "event"
        else f"[{_when(line.at)}] {line.name}: {line.text}"
        for line in t.lines
    ]
    tail = ["", TRUNCATED] if t.truncated else []
    if t.conversation_notes or t.notes or c.disposition:
        tail.append("")
        tail.extend(
            f"Note by {n.agent_name} ({_when(n.at)}): {n.body}" for n in t.conversation_notes
        )
        if t.notes:
            tail.append(f"Wrap-up notes: {t.notes}")
        if c.disposition:
            tail.append(f"Disposition: {c.disposition}")
    return ("\n".join(head + body + tail) + "\n").encode(), "text/plain; charset=utf-8"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting with =, +, -,
    @, a tab or a carriage return gets a leading apostrophe. Every text cell of a
    download goes through it, whoever wrote the text (a visitor's name from the form
    as much as a message)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
