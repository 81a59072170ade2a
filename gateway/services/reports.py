"""Reports (FAQ 15): per day, queue, agent or channel — conversations, wait time,
handle time, abandonment and satisfaction — counted from the store's facts
(``Store.report_facts``), never from a client.

* **wait**: from arrival until an agent first joined; **handle**: from then until the
  end; averages over the conversations that have them.
* **abandoned**: ended or closed without any agent ever joining (a chat a bot closed
  included).
* **by agent**: the agent who had the conversation last (a transferred one counts once,
  for its last agent, with its wait and handle time as above).
* **satisfaction**: the average rating (1 to 5) from a :class:`RatingSource`; absent
  (``None``) while no source is plugged in.
* Days are UTC calendar days: a conversation counts on the day it arrived (one that
  spans midnight counts once, on its first day, with its whole handle time); a
  conversation in two queues counts in each.
* An agent or queue deleted since keeps its rows, labelled with its id and
  "(deleted)".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

import msgspec

from gateway.ports.store.base import ReportFact, Store
from gateway.services.directory import Directory
from gateway.services.history import safe_cell

GroupBy = Literal["day", "queue", "agent", "channel"]
GROUPS: tuple[GroupBy, ...] = ("day", "queue", "agent", "channel")
MAX_SPAN = 366 * 86400.0


class RatingSource(Protocol):
    """Where satisfaction ratings come from (the widget's rating after the end)."""

    async def ratings(self, conversation_ids: list[str]) -> Mapping[str, float]:
        """The rating of each rated conversation among these (1 to 5)."""
        ...


class ReportRow(msgspec.Struct, kw_only=True):
    key: str
    label: str
    conversations: int
    answered: int
    abandoned: int
    abandonment_rate: float | None
    avg_wait: float | None
    avg_handle: float | None
    rated: int
    satisfaction: float | None


class Report(msgspec.Struct, kw_only=True):
    group_by: GroupBy
    since: float
    until: float
    # whether a rating source is plugged in (satisfaction is None everywhere without)
    satisfaction_available: bool
    rows: list[ReportRow]
    total: ReportRow


def _keys(fact: ReportFact, group: GroupBy) -> list[str]:
    if group == "day":
        return [datetime.fromtimestamp(fact.created_at, UTC).strftime("%Y-%m-%d")]
    if group == "queue":
        return list(dict.fromkeys(fact.queue_ids)) or [""]
    if group == "agent":
        return [fact.agent_id or ""]
    return [fact.channel]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _row(key: str, label: str, facts: list[ReportFact], ratings: Mapping[str, float]) -> ReportRow:
    waits = [f.joined_at - f.created_at for f in facts if f.joined_at is not None]
    handles = [
        f.ended_at - f.joined_at
        for f in facts
        if f.joined_at is not None and f.ended_at is not None
    ]
    finished = [f for f in facts if f.state in ("wrapup", "closed")]
    abandoned = sum(1 for f in finished if f.joined_at is None)
    rated = [ratings[f.conversation_id] for f in facts if f.conversation_id in ratings]
    return ReportRow(
        key=key,
        label=label,
        conversations=len(facts),
        answered=sum(1 for f in facts if f.joined_at is not None),
        abandoned=abandoned,
        abandonment_rate=round(abandoned / len(finished), 4) if finished else None,
        avg_wait=_mean([max(0.0, w) for w in waits]),
        avg_handle=_mean([max(0.0, h) for h in handles]),
        rated=len(rated),
        satisfaction=_mean(rated),
    )


def _label(key: str, group: GroupBy, labels: Mapping[str, str]) -> str:
    if not key:
        return "(none)"
    if key in labels:
        return labels[key]
    # an agent or queue deleted since: its conversations still count, under its id
    return f"{key} (deleted)" if group in ("agent", "queue") else key


def aggregate(
    facts: Iterable[ReportFact],
    group: GroupBy,
    labels: Mapping[str, str],
    ratings: Mapping[str, float],
) -> tuple[list[ReportRow], ReportRow]:
    """Rows by key (sorted by key), and the total over every fact."""
    facts = list(facts)
    groups: dict[str, list[ReportFact]] = {}
    for fact in facts:
        for key in _keys(fact, group):
            groups.setdefault(key, []).append(fact)
    rows = [_row(key, _label(key, group, labels), groups[key], ratings) for key in sorted(groups)]
    return rows, _row("", "Total", facts, ratings)


class Reports:
    def __init__(self, store: Store, directory: Directory) -> None:
        self._store = store
        self._dir = directory
        self.ratings: RatingSource | None = None  # plugged in by the composition root

    async def report(self, since: float, until: float, group: GroupBy) -> Report:
        facts = await self._store.report_facts(since, until)
        ratings: Mapping[str, float] = {}
        if self.ratings is not None and facts:
            ratings = await self.ratings.ratings([f.conversation_id for f in facts])
        d = self._dir
        labels: dict[str, str] = {}
        if group == "queue":
            labels = {q.id: q.name for q in d.queues.values()}
        elif group == "agent":
            labels = {a.id: a.name for a in d.agents.values()}
        rows, total = aggregate(facts, group, labels, ratings)
        return Report(
            group_by=group,
            since=since,
            until=until,
            satisfaction_available=self.ratings is not None,
            rows=rows,
            total=total,
        )


CSV_COLUMNS = (
    "key",
    "label",
    "conversations",
    "answered",
    "abandoned",
    "abandonment_rate",
    "avg_wait",
    "avg_handle",
    "rated",
    "satisfaction",
)


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([report.group_by, *CSV_COLUMNS[1:]])
    for row in [*report.rows, report.total]:
        values = msgspec.to_builtins(row)
        writer.writerow(["" if values.get(c) is None else _cell(values[c]) for c in CSV_COLUMNS])
    return out.getvalue().encode()


def _cell(value: object) -> object:
    return value if isinstance(value, int | float) else safe_cell(str(value))
