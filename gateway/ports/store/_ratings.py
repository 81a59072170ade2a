"""Satisfaction ratings, in SQL both dialects share."""

from __future__ import annotations

from typing import Any

from gateway.errors import Conflict, NotFound
from gateway.model.records import Rating
from gateway.ports.store._rows import RATINGS, SQLBase

_SLICE = 500


class RatingRows(SQLBase):
    async def put_rating(self, rating: Rating) -> None:
        try:
            async with self._connection() as c:
                await c.execute(RATINGS.sql_insert, *RATINGS.params(rating))
        except Conflict as exc:
            raise Conflict(f"conversation {rating.conversation_id!r} is rated already") from exc
        except NotFound as exc:
            raise NotFound(f"conversation {rating.conversation_id!r} not found") from exc

    async def get_rating(self, conversation_id: str) -> Rating:
        async with self._connection() as c:
            row = await c.fetchrow(f"{RATINGS.select} WHERE conversation_id = $1", conversation_id)
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} has no rating")
        return RATINGS.decode(row)

    async def list_ratings(
        self,
        *,
        touchpoint_id: str | None = None,
        since: float = 0.0,
        limit: int = 100,
        after: tuple[float, str] | None = None,
    ) -> list[Rating]:
        args: list[Any] = [since, limit]
        where = "created_at >= $1"
        if touchpoint_id is not None:
            args.append(touchpoint_id)
            where += f" AND touchpoint_id = ${len(args)}"
        if after is not None:
            # The rows past ``after`` in this order: none lost between pages when
            # several share an instant.
            args.extend(after)
            at, key = f"${len(args) - 1}", f"${len(args)}"
            where += f" AND (created_at < {at} OR (created_at = {at} AND conversation_id > {key}))"
        async with self._connection() as c:
            rows = await c.fetch(
                f"{RATINGS.select} WHERE {where} ORDER BY created_at DESC, conversation_id"
                " LIMIT $2",
                *args,
            )
        return [RATINGS.decode(r) for r in rows]

    async def rating_scores(self, conversation_ids: list[str]) -> dict[str, int]:
        wanted = sorted(set(conversation_ids))
        scores: dict[str, int] = {}
        async with self._connection() as c:
            # In slices: SQLite takes a bounded number of parameters per statement.
            for i in range(0, len(wanted), _SLICE):
                part = wanted[i : i + _SLICE]
                marks = ", ".join(f"${n + 1}" for n in range(len(part)))
                rows = await c.fetch(
                    "SELECT conversation_id, score FROM ratings"
                    f" WHERE conversation_id IN ({marks})",
                    *part,
                )
                scores.update({r[0]: int(r[1]) for r in rows})
        return scores
