"""The agent's workspace and the supervisor's view, in SQL both dialects share: chosen
statuses, templates, notes, merging and finding contacts, the history search and the
facts the reports count. Each dialect says how to test a JSON list for a value
(``_JSON_LIST_HAS``)."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from gateway.errors import Conflict, NotFound
from gateway.model.channels import ChannelName
from gateway.model.records import (
    AgentChosenStatus,
    Contact,
    Conversation,
    ConversationNote,
    Template,
)
from gateway.ports.store._rows import (
    CONTACTS,
    CONVERSATIONS,
    NOTES,
    TEMPLATES,
    AddressTaken,
    SQLBase,
    claim_address,
    email_key,
    search_fold,
)
from gateway.ports.store.base import HistoryFilter, ReportFact

_CONV_COLUMNS = ", ".join(f"v.{c}" for c in CONVERSATIONS.columns)
# The first "agent joined" event of a conversation (gateway/services/views.py event_body).
_JOINED = (
    "(SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = v.id"
    " AND m.kind = 'event' AND m.body LIKE '{\"event\":\"agent\\_joined\"%' ESCAPE '\\')"
)


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains ``text``", its wildcards escaped (ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# A contact not folded yet (written before migration 0017, or by an older node during
# an upgrade, until fold_contacts reaches it) is matched as before: the database's lower().
_UNFOLDED = (
    "({k}name_fold IS NULL AND (lower({k}name) LIKE {p} ESCAPE '\\'"
    " OR {k}email_key LIKE {p} ESCAPE '\\'))"
)


def _folded(text: str) -> str:
    """The searched text folded as the contacts' columns are. A text that folds to
    nothing (combining marks alone) stays as it is: it finds nothing, rather than the
    empty pattern finding everyone."""
    return search_fold(text) or text


# contacts whose folded columns are filled per transaction (fold_contacts): a short
# hold of SQLite's one writer each
_FOLD_BATCH = 100


class WorkspaceRows(SQLBase):
    # "{col} contains the string {arg}" for a JSON list column, per dialect
    _JSON_LIST_HAS: ClassVar[str]

    # -- chosen statuses -------------------------------------------------------------
    async def agent_statuses(self) -> dict[str, AgentChosenStatus]:
        async with self._connection() as c:
            rows = await c.fetch("SELECT agent_id, status FROM agent_status")
        return {r[0]: r[1] for r in rows}

    async def set_agent_status(self, agent_id: str, status: AgentChosenStatus, now: float) -> None:
        if status not in ("available", "away"):
            raise ValueError(f"unknown status {status!r}")
        try:
            async with self._connection() as c:
                await c.execute(
                    "INSERT INTO agent_status (agent_id, status, changed_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (agent_id) DO UPDATE SET status = excluded.status,"
                    " changed_at = excluded.changed_at",
                    agent_id,
                    status,
                    now,
                )
        except NotFound:
            raise NotFound(f"agent {agent_id!r} not found") from None

    # -- contacts ------------------------------------------------------------------------
    async def merge_contacts(self, source_id: str, into_id: str) -> Contact:
        if source_id == into_id:
            raise ValueError("a contact cannot be merged into itself")
        async with self._transaction() as c:
            into = await c.fetchrow(CONTACTS.sql_get, into_id)
            if into is None:
                raise NotFound(f"contact {into_id!r} not found")
            if await c.fetchrow("SELECT id FROM contacts WHERE id = $1", source_id) is None:
                raise NotFound(f"contact {source_id!r} not found")
            await c.execute(
                "UPDATE contact_addresses SET contact_id = $2 WHERE contact_id = $1",
                source_id,
                into_id,
            )
            await c.execute(
                "UPDATE conversations SET contact_id = $2 WHERE contact_id = $1", source_id, into_id
            )
            await c.execute("DELETE FROM contacts WHERE id = $1", source_id)
        return CONTACTS.decode(into)

    async def saved_contacts_with(
        self, *, email: str = "", phone: str = "", limit: int = 2
    ) -> list[Contact]:
        where = [
            *(["email_key = $1"] if email else []),
            *([f"phone = ${2 if email else 1}"] if phone else []),
        ]
        if not where or limit <= 0:
            return []
        args = [*([email_key(email)] if email else []), *([phone] if phone else []), limit]
        async with self._connection() as c:
            rows = await c.fetch(
                f"{CONTACTS.select} WHERE saved AND ({' OR '.join(where)})"
                f" ORDER BY number LIMIT ${len(args)}",
                *args,
            )
        return [CONTACTS.decode(r) for r in rows]

    async def link_free_address(
        self, channel: ChannelName, address: str, contact_id: str, *, now: float
    ) -> Contact | None:
        try:
            async with self._transaction() as c:
                await claim_address(c, channel, address, contact_id, now)
        except AddressTaken as taken:
            return taken.contact
        except NotFound as exc:
            raise NotFound(f"contact {contact_id!r} not found") from exc
        return None

    async def search_contacts(self, text: str, limit: int = 20) -> list[Contact]:
        text = text.strip()
        if not text or limit <= 0:
            return []
        async with self._connection() as c:
            rows = await c.fetch(
                f"{CONTACTS.select} WHERE saved AND (name_fold LIKE $1 ESCAPE '\\'"
                f" OR email_fold LIKE $1 ESCAPE '\\' OR {_UNFOLDED.format(k='', p='$2')}"
                " OR phone LIKE $2 ESCAPE '\\') ORDER BY number LIMIT $3",
                like_pattern(_folded(text)),
                like_pattern(text.lower()),
                limit,
            )
        return [CONTACTS.decode(r) for r in rows]

    async def fold_contacts(self) -> int:
        seen: set[str] = set()
        while True:
            async with self._connection() as c:
                rows = await c.fetch(
                    "SELECT id, name, email FROM contacts"
                    " WHERE name_fold IS NULL OR email_fold IS NULL LIMIT $1",
                    _FOLD_BATCH,
                )
            if not rows or seen.issuperset(r[0] for r in rows):
                return len(seen)  # done, or every one changed under this (it folded them)
            seen.update(r[0] for r in rows)
            async with self._transaction() as c:
                for contact_id, name, email in rows:
                    await c.execute(
                        "UPDATE contacts SET name_fold = $4, email_fold = $5"
                        " WHERE id = $1 AND name = $2 AND email = $3",
                        contact_id,
                        name,
                        email,
                        search_fold(name),
                        search_fold(email),
                    )

    # -- history -------------------------------------------------------------------------
    async def search_conversations(self, query: HistoryFilter) -> list[Conversation]:
        if query.limit <= 0 or not query.states:
            return []
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        states = sorted(set(query.states))
        where.append(f"v.state IN ({', '.join(arg(s) for s in states)})")
        text = query.text.strip()
        if text:
            folded = arg(like_pattern(_folded(text)))
            lowered = arg(like_pattern(text.lower()))
            where.append(
                f"(k.name_fold LIKE {folded} ESCAPE '\\' OR k.email_fold LIKE {folded}"
                f" ESCAPE '\\' OR {_UNFOLDED.format(k='k.', p=lowered)}"
                f" OR k.phone LIKE {lowered} ESCAPE '\\' OR v.address = {arg(text)})"
            )
        for column, value in (
            ("v.contact_id", query.contact_id),
            ("v.touchpoint_id", query.touchpoint_id),
            ("v.owner_agent_id", query.agent_id),
            ("v.channel", query.channel),
        ):
            if value:
                where.append(f"{column} = {arg(value)}")
        if query.queue_id:
            where.append(self._JSON_LIST_HAS.format(col="v.queue_ids", arg=arg(query.queue_id)))
        if query.since is not None:
            where.append(f"v.created_at >= {arg(float(query.since))}")
        if query.until is not None:
            where.append(f"v.created_at < {arg(float(query.until))}")
        if query.before is not None:
            at, cid = arg(float(query.before[0])), arg(query.before[1])
            where.append(f"(v.created_at < {at} OR (v.created_at = {at} AND v.id < {cid}))")
        sql = (
            f"SELECT {_CONV_COLUMNS} FROM conversations v JOIN contacts k ON k.id = v.contact_id"
            f" WHERE {' AND '.join(where)} ORDER BY v.created_at DESC, v.id DESC"
            f" LIMIT {arg(query.limit)}"
        )
        async with self._connection() as c:
            rows = await c.fetch(sql, *args)
        return [CONVERSATIONS.decode(r) for r in rows]

    async def report_facts(self, since: float, until: float) -> list[ReportFact]:
        async with self._connection() as c:
            rows = await c.fetch(
                "SELECT v.id, v.created_at, v.channel, v.touchpoint_id, v.queue_ids,"
                f" v.owner_agent_id, v.state, {_JOINED}, v.ended_at FROM conversations v"
                " WHERE v.created_at >= $1 AND v.created_at < $2 ORDER BY v.created_at, v.id",
                float(since),
                float(until),
            )
        return [
            ReportFact(
                conversation_id=r[0],
                created_at=r[1],
                channel=r[2],
                touchpoint_id=r[3],
                queue_ids=msgspec.json.decode(r[4]) if isinstance(r[4], str | bytes) else r[4],
                agent_id=r[5],
                state=r[6],
                joined_at=r[7],
                ended_at=r[8],
            )
            for r in rows
        ]

    # -- templates -----------------------------------------------------------------------
    async def put_template(self, template: Template) -> None:
        await self._put(TEMPLATES, template)

    async def update_template(self, template: Template) -> None:
        await self._update(TEMPLATES, template)

    async def create_template(self, template: Template) -> None:
        await self._insert_new(TEMPLATES, template)

    async def get_template(self, template_id: str) -> Template:
        return await self._get(TEMPLATES, template_id)

    async def list_templates(self) -> list[Template]:
        return await self._list(TEMPLATES)

    async def delete_template(self, template_id: str) -> None:
        await self._delete(TEMPLATES, template_id)

    # -- notes ---------------------------------------------------------------------------
    async def add_note(self, note: ConversationNote) -> None:
        try:
            async with self._connection() as c:
                await c.execute(NOTES.sql_insert, *NOTES.params(note))
        except NotFound:
            raise NotFound(f"conversation {note.conversation_id!r} not found") from None
        except Conflict:
            raise Conflict(f"note {note.id!r} exists") from None

    async def notes(self, conversation_id: str) -> list[ConversationNote]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"{NOTES.select} WHERE conversation_id = $1 ORDER BY created_at, id",
                conversation_id,
            )
            if not rows and not await c.fetchrow(
                "SELECT 1 FROM conversations WHERE id = $1", conversation_id
            ):
                raise NotFound(f"conversation {conversation_id!r} not found")
        return [NOTES.decode(r) for r in rows]
