"""How a conversation ends from the contact's side, and what follows: the contact ends
it, or it goes idle (gateway/services/idle.py), and the contact rates it.

An unassigned conversation the contact ends closes at once; an assigned one goes to its
agent's wrap-up with the points freed (routing's ``ContactEnded``). One that was never
routed (created, no message yet) is closed here: the router never knew it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import routing as r
from gateway.errors import ActionRefused, Conflict, NotFound
from gateway.model.records import Conversation, Rating
from gateway.ports.store.base import Store
from gateway.services.effects import Effects
from gateway.services.router_shell import RouterShell

ENDED = ("wrapup", "closed")
By = Literal["contact", "idle"]


class Endings:
    def __init__(
        self,
        *,
        store: Store,
        shell: RouterShell,
        effects: Effects,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._shell = shell
        self._effects = effects
        self._clock = clock

    async def end(self, conv: Conversation, by: By) -> None:
        """The contact ends ``conv`` (``by="contact"``) or it went idle (``"idle"``).
        Ending what has ended is not an error: two tabs may press End together."""
        if conv.state in ENDED:
            return
        if conv.state == "new":
            await self._close_unrouted(conv, by)
            return
        try:
            await self._shell.apply(r.ContactEnded(conv.id, by))
        except ActionRefused as exc:
            if exc.code not in ("already_ended", "unknown_conversation"):
                raise

    async def _close_unrouted(self, conv: Conversation, by: By) -> None:
        now = self._clock()
        conv = await self._store.update_conversation(
            conv.id, state="closed", ended_at=now, closed_at=now
        )
        event = await self._effects.event_message(conv, "ended", "", now, by)
        await self._effects.deliver(conv, [event], "")

    async def rate(self, conv: Conversation, score: int, comment: str) -> Rating:
        """The contact's rating of an ended conversation of theirs; once."""
        if conv.state not in ENDED:
            raise Conflict("a conversation is rated once it has ended", code="not_ended")
        rating = Rating(
            conversation_id=conv.id,
            touchpoint_id=conv.touchpoint_id,
            contact_id=conv.contact_id,
            agent_id=conv.owner_agent_id or "",
            score=score,
            comment=comment.strip(),
            created_at=self._clock(),
        )
        try:
            await self._store.put_rating(rating)
        except Conflict:
            raise Conflict("this conversation is rated already", code="already_rated") from None
        return rating

    async def ratings(self, conversation_ids: list[str]) -> Mapping[str, float]:
        """The reports' rating source (gateway/services/reports.py: RatingSource)."""
        scores = await self._store.rating_scores(conversation_ids)
        return {cid: float(score) for cid, score in scores.items()}

    async def rated(self, conversation_id: str) -> bool:
        try:
            await self._store.get_rating(conversation_id)
        except NotFound:
            return False
        return True
