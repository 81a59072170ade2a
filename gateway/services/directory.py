"""The configuration this node works from: touchpoints, queues, agents, global settings,
disposition sets and webhooks (automations), loaded from the store at start and reloaded when the admin API
changes them, so the message path reads them without a query."""

from __future__ import annotations

from gateway.model.integrations import Webhook
from gateway.model.records import Agent, DispositionSet, GlobalSettings, Queue, Touchpoint
from gateway.ports.store.base import Store


class Directory:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.touchpoints: dict[str, Touchpoint] = {}
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self.disposition_sets: dict[str, DispositionSet] = {}
        self.settings = GlobalSettings()
        self.webhooks: dict[str, Webhook] = {}

    async def load(self) -> None:
        self.touchpoints = {t.id: t for t in await self._store.list_touchpoints()}
        self.queues = {q.id: q for q in await self._store.list_queues()}
        self.agents = {a.id: a for a in await self._store.list_agents()}
        self.disposition_sets = {d.id: d for d in await self._store.list_disposition_sets()}
        self.settings = await self._store.get_settings()
        self.webhooks = {w.id: w for w in await self._store.list_webhooks()}

    def agent_name(self, agent_id: str | None) -> str:
        agent = self.agents.get(agent_id or "")
        return agent.name if agent else ""

    def touchpoint_name(self, touchpoint_id: str) -> str:
        tp = self.touchpoints.get(touchpoint_id)
        return tp.name if tp else touchpoint_id

    def display_name(self, touchpoint_id: str) -> str:
        """The name contacts see on the touchpoint's automatic messages ("" for none:
        never the internal name, which is for agents and admins)."""
        tp = self.touchpoints.get(touchpoint_id)
        return tp.display_name if tp else ""

    def dispositions(self) -> list[str]:
        ds = self.disposition_sets.get(self.settings.disposition_set_id or "")
        return list(ds.dispositions) if ds else []
