"""The configuration and login sessions, in SQL both dialects share."""

from __future__ import annotations

import msgspec

from gateway.errors import Conflict, NotFound
from gateway.model.records import (
    Agent,
    AgentSession,
    DispositionSet,
    EmbedRefusal,
    GlobalSettings,
    Queue,
    RefusalCode,
    Touchpoint,
)
from gateway.ports.store._rows import (
    AGENTS,
    DISPOSITION_SETS,
    QUEUES,
    REFUSALS,
    SESSIONS,
    TOUCHPOINTS,
    Conn,
    SQLBase,
    email_key,
    to_json,
)
from gateway.ports.store.base import LAST_ADMIN


class ConfigRows(SQLBase):
    async def put_touchpoint(self, tp: Touchpoint) -> None:
        await self._put(TOUCHPOINTS, tp)

    async def update_touchpoint(self, tp: Touchpoint) -> None:
        await self._update(TOUCHPOINTS, tp)

    async def create_touchpoint(self, tp: Touchpoint) -> None:
        await self._insert_new(TOUCHPOINTS, tp)

    async def get_touchpoint(self, touchpoint_id: str) -> Touchpoint:
        return await self._get(TOUCHPOINTS, touchpoint_id)

    async def list_touchpoints(self) -> list[Touchpoint]:
        return await self._list(TOUCHPOINTS)

    async def delete_touchpoint(self, touchpoint_id: str) -> None:
        await self._delete(TOUCHPOINTS, touchpoint_id)

    async def record_refusal(
        self,
        touchpoint_id: str,
        origin: str,
        *,
        page_url: str,
        code: RefusalCode,
        reason: str,
        now: float,
        keep: int = 20,
    ) -> None:
        try:
            async with self._transaction() as c:
                await c.execute(_RECORD_REFUSAL, touchpoint_id, origin, page_url, code, reason, now)
                await c.execute(_TRIM_REFUSALS, touchpoint_id, keep)
        except NotFound as exc:
            raise NotFound(f"touchpoint {touchpoint_id!r} not found") from exc

    async def list_refusals(self, touchpoint_id: str) -> list[EmbedRefusal]:
        async with self._connection() as c:
            rows = await c.fetch(
                f"{REFUSALS.select} WHERE touchpoint_id = $1 ORDER BY last_at DESC, origin",
                touchpoint_id,
            )
        return [REFUSALS.decode(r) for r in rows]

    async def put_queue(self, queue: Queue) -> None:
        await self._put(QUEUES, queue)

    async def update_queue(self, queue: Queue) -> None:
        await self._update(QUEUES, queue)

    async def create_queue(self, queue: Queue) -> None:
        await self._insert_new(QUEUES, queue)

    async def get_queue(self, queue_id: str) -> Queue:
        return await self._get(QUEUES, queue_id)

    async def list_queues(self) -> list[Queue]:
        return await self._list(QUEUES)

    async def delete_queue(self, queue_id: str) -> None:
        await self._delete(QUEUES, queue_id)

    async def put_agent(self, agent: Agent) -> None:
        await self._write_agent(agent, f"{AGENTS.sql_upsert} RETURNING id")

    async def update_agent(self, agent: Agent) -> None:
        await self._write_agent(agent, AGENTS.sql_update)

    async def _write_agent(self, agent: Agent, sql: str) -> None:
        async def write(c: Conn) -> None:
            if not (agent.role == "admin" and agent.active):
                await self._keep_an_admin(c, agent.id)
            if await c.fetchrow(sql, *AGENTS.params(agent)) is None:
                raise NotFound(f"agent {agent.id!r} not found")

        try:
            await self._atomically(write)
        except Conflict as exc:
            if exc.code == LAST_ADMIN:
                raise
            raise Conflict(f"the email {agent.email!r} belongs to another agent") from exc

    async def create_agent(self, agent: Agent) -> None:
        try:
            await self._insert_new(AGENTS, agent)
        except Conflict as exc:
            if exc.field == "id":
                raise
            raise Conflict(f"the email {agent.email!r} belongs to another agent") from exc

    async def _keep_an_admin(self, c: Conn, agent_id: str) -> None:
        """Refuse (Conflict ``last_admin``) when ``agent_id`` is the only active admin,
        in the caller's transaction, before it changes or deletes that agent. The admins'
        rows stay locked to the end of it (PostgreSQL: FOR UPDATE; SQLite's writer is
        one at a time already), so two admins demoting each other at once are checked
        one after the other: the second sees the first's change and is refused."""
        rows = await c.fetch(
            # in one order, so two such transactions never lock them crosswise
            "SELECT id FROM agents WHERE role = 'admin' AND active = $1"
            f" ORDER BY id{self._row_lock}",
            True,
        )
        admins = {str(r[0]) for r in rows}
        if agent_id in admins and len(admins) == 1:
            raise Conflict(
                "this would leave no active admin: make another agent an admin first",
                code=LAST_ADMIN,
            )

    async def get_agent(self, agent_id: str) -> Agent:
        return await self._get(AGENTS, agent_id)

    async def get_agent_by_email(self, email: str) -> Agent:
        async with self._connection() as c:
            row = await c.fetchrow(
                f"{AGENTS.select} WHERE email_key = $1 AND email_key <> ''", email_key(email)
            )
        if row is None:
            raise NotFound(f"no agent with the email {email!r}")
        return AGENTS.decode(row)

    async def list_agents(self) -> list[Agent]:
        return await self._list(AGENTS)

    async def delete_agent(self, agent_id: str) -> None:
        async def delete(c: Conn) -> None:
            await self._keep_an_admin(c, agent_id)
            if await c.fetchrow(AGENTS.sql_delete, agent_id) is None:
                raise NotFound(f"agent {agent_id!r} not found")

        await self._atomically(delete)

    async def put_disposition_set(self, ds: DispositionSet) -> None:
        await self._put(DISPOSITION_SETS, ds)

    async def update_disposition_set(self, ds: DispositionSet) -> None:
        await self._update(DISPOSITION_SETS, ds)

    async def create_disposition_set(self, ds: DispositionSet) -> None:
        await self._insert_new(DISPOSITION_SETS, ds)

    async def get_disposition_set(self, ds_id: str) -> DispositionSet:
        return await self._get(DISPOSITION_SETS, ds_id)

    async def list_disposition_sets(self) -> list[DispositionSet]:
        return await self._list(DISPOSITION_SETS)

    async def delete_disposition_set(self, ds_id: str) -> None:
        await self._delete(DISPOSITION_SETS, ds_id)

    async def get_settings(self) -> GlobalSettings:
        async with self._connection() as c:
            row = await c.fetchrow("SELECT data FROM settings WHERE id = 1")
        if row is None:
            return GlobalSettings()
        return msgspec.json.decode(row[0], type=GlobalSettings)

    async def put_settings(self, settings: GlobalSettings) -> None:
        async with self._connection() as c:
            await c.execute(
                "INSERT INTO settings (id, data) VALUES (1, $1)"
                " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                to_json(settings),
            )

    # -- agent sessions ------------------------------------------------------------
    async def create_session(self, session: AgentSession) -> None:
        try:
            async with self._connection() as c:
                await c.execute(SESSIONS.sql_insert, *SESSIONS.params(session))
        except Conflict as exc:
            raise Conflict(f"session {session.id!r} exists") from exc
        except NotFound as exc:
            raise NotFound(f"agent {session.agent_id!r} not found") from exc

    async def get_session(self, session_id: str) -> AgentSession:
        return await self._get(SESSIONS, session_id)

    async def revoke_session(self, session_id: str) -> None:
        async with self._connection() as c:
            row = await c.fetchrow(
                "UPDATE agent_sessions SET revoked = $2 WHERE id = $1 RETURNING id",
                session_id,
                True,
            )
        if row is None:
            raise NotFound(f"session {session_id!r} not found")

    async def revoke_agent_sessions(self, agent_id: str) -> list[str]:
        async with self._connection() as c:
            rows = await c.fetch(
                "UPDATE agent_sessions SET revoked = $2 WHERE agent_id = $1 AND revoked = $3"
                " RETURNING id",
                agent_id,
                True,
                False,
            )
        return [str(r[0]) for r in rows]


_RECORD_REFUSAL = (
    "INSERT INTO embed_refusals"
    " (touchpoint_id, origin, page_url, code, reason, times, first_at, last_at)"
    " VALUES ($1, $2, $3, $4, $5, 1, $6, $6) ON CONFLICT (touchpoint_id, origin) DO UPDATE"
    " SET page_url = excluded.page_url, code = excluded.code, reason = excluded.reason,"
    " times = embed_refusals.times + 1, last_at = excluded.last_at"
)
# Bounded per touchpoint: anyone can send refused bootstraps from made-up origins.
_TRIM_REFUSALS = (
    "DELETE FROM embed_refusals WHERE touchpoint_id = $1 AND origin NOT IN ("
    "SELECT origin FROM embed_refusals WHERE touchpoint_id = $1"
    " ORDER BY last_at DESC, origin LIMIT $2)"
)
