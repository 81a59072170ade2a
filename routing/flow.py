"""Flow routing rules: conditions on channel, touchpoint, pre-chat form fields, opening
hours (a calendar in a time zone) and a share of the traffic choose queues, priority,
acceptance and the automatic reply. The first rule whose every condition holds wins;
otherwise ``default`` applies.

The gateway stores a :class:`FlowConfig` as JSON and rebuilds it with
``msgspec.convert(d, FlowConfig)``; :func:`compile_flow` validates it once, at
configuration time, so routing an arrival never fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from typing import Final, Literal

import msgspec

from routing.errors import InvalidFlow
from routing.model import Acceptance

UNSET = msgspec.UNSET
UnsetType = msgspec.UnsetType
# Seconds a bot keeps a conversation when the rule does not say.
DEFAULT_BOT_TIMEOUT: Final = 600.0

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final[tuple[Weekday, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Calendar(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Opening hours. ``hours`` maps a weekday to spans ``"HH:MM-HH:MM"`` in local time
    (end exclusive, ``24:00`` allowed, no span across midnight: write two);
    ``closed_dates`` are local ISO dates (holidays) closed all day."""

    timezone: str
    hours: dict[Weekday, list[str]] = {}
    closed_dates: list[str] = []


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every given condition must hold. ``fields`` maps a form field to accepted values,
    compared trimmed and case-insensitively. ``open`` needs the flow's calendar: true
    matches within opening hours, false outside them. ``share`` ``[start, end]`` (whole
    percents, 0 <= start < end <= 100) holds for that share of the conversations: each
    falls in one of 100 buckets by a hash of its id (``bucket``), the same on every node
    and after a rebuild, so rules with adjoining shares split the traffic between them
    (a traffic splitter). Unset, it is left out of the
    encoding, so flows without one keep their bytes (the router's snapshots)."""

    channels: list[str] | None = None
    touchpoint_ids: list[str] | None = None
    fields: dict[str, list[str]] = {}
    open: bool | None = None
    share: list[int] | UnsetType = UNSET


class Outcome(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a matching conversation goes. Empty ``queue_ids`` means the touchpoint's
    queues. ``acceptance``: ``manual`` rings an agent, ``auto`` assigns directly,
    ``hold`` rings no one (it waits in the Inbox for an agent to take it: e.g. a rule for
    closed hours). ``auto_reply`` is sent when no agent can take the conversation on
    arrival.

    ``bot`` hands the conversation to a bot first (the gateway's id for it: an
    integration touchpoint): it waits for no agent until the bot hands it over, the
    contact asks for a person, or ``bot_timeout`` seconds pass; then it is routed as
    this outcome says, its waiting time starting at the handover. Both are left out of
    the encoding when unset, so flows without a bot keep their bytes."""

    queue_ids: list[str] = []
    priority: int = 0
    acceptance: Acceptance = "manual"
    auto_reply: str | None = None
    bot: str | UnsetType = UNSET
    bot_timeout: int | UnsetType = UNSET  # whole seconds


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    when: Condition = Condition()
    then: Outcome = Outcome()
    name: str = ""


class FlowConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: list[Rule] = []
    default: Outcome = Outcome()
    calendar: Calendar | None = None


class Routing(msgspec.Struct, frozen=True):
    """The resolved outcome for one arrival; ``rule`` names the rule that matched."""

    queue_ids: tuple[str, ...]
    priority: int = 0
    acceptance: Acceptance = "manual"
    auto_reply: str | None = None
    rule: str | None = None
    bot: str | None = None
    bot_timeout: float = DEFAULT_BOT_TIMEOUT


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    value = int(hours) * 60 + int(minutes)
    if not (len(minutes) == 2 and 0 <= int(minutes) < 60 and 0 <= value <= 24 * 60):
        raise ValueError(text)
    return value


class _Hours:
    """A calendar made fast: spans in minutes per weekday, closed dates as a set."""

    __slots__ = ("closed", "spans", "zone")

    def __init__(self, cal: Calendar) -> None:
        try:
            self.zone = zoneinfo.ZoneInfo(cal.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidFlow(f"unknown time zone {cal.timezone!r}") from exc
        self.spans: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
        for day, spans in cal.hours.items():
            for span in spans:
                try:
                    start, end = (_minutes(part) for part in span.split("-", 1))
                except ValueError as exc:
                    raise InvalidFlow(f"bad opening hours {span!r} on {day}") from exc
                if start >= end:
                    raise InvalidFlow(f"opening hours {span!r} on {day} end before they start")
                self.spans[WEEKDAYS.index(day)].append((start, end))
        try:
            self.closed = frozenset(dt.date.fromisoformat(d) for d in cal.closed_dates)
        except ValueError as exc:
            raise InvalidFlow(f"bad closed date in {cal.closed_dates!r}") from exc

    def is_open(self, now: float) -> bool:
        local = dt.datetime.fromtimestamp(now, self.zone)
        if local.date() in self.closed:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.spans[local.weekday()])

    def next_open(self, now: float) -> float | None:
        """When the next opening span starts after ``now``, looking two weeks ahead
        (None: no opening hours in that time)."""
        today = dt.datetime.fromtimestamp(now, self.zone).date()
        for offset in range(15):
            day = today + dt.timedelta(days=offset)
            if day in self.closed:
                continue
            for start, _ in sorted(self.spans[day.weekday()]):
                at = dt.datetime(
                    day.year, day.month, day.day, start // 60, start % 60, tzinfo=self.zone
                ).timestamp()
                if at > now:
                    return at
        return None


class CompiledFlow:
    """A validated flow, ready to route arrivals."""

    __slots__ = ("_default", "_hours", "_rules")

    def __init__(self, flow: FlowConfig, touchpoint_queues: tuple[str, ...]) -> None:
        self._hours = _Hours(flow.calendar) if flow.calendar is not None else None
        self._rules: list[tuple[Condition, dict[str, frozenset[str]], Routing]] = []
        for i, rule in enumerate(flow.rules):
            if rule.when.open is not None and self._hours is None:
                raise InvalidFlow(
                    f"rule {rule.name or i} tests opening hours but the flow has no calendar"
                )
            share = rule.when.share
            if isinstance(share, list) and not (
                len(share) == 2 and 0 <= share[0] < share[1] <= 100
            ):
                raise InvalidFlow(
                    f"rule {rule.name or i}: share is [start, end], whole percents with "
                    f"0 <= start < end <= 100, not {share!r}"
                )
            fields = {
                name: frozenset(v.strip().casefold() for v in values)
                for name, values in rule.when.fields.items()
            }
            self._rules.append(
                (rule.when, fields, _resolve(rule.then, touchpoint_queues, rule.name or str(i)))
            )
        self._default = _resolve(flow.default, touchpoint_queues, None)

    def is_open(self, now: float) -> bool | None:
        """Whether the calendar says open at ``now``; None when the flow has none."""
        return None if self._hours is None else self._hours.is_open(now)

    def next_open(self, now: float) -> float | None:
        return None if self._hours is None else self._hours.next_open(now)

    def route(
        self, touchpoint_id: str, channel: str, fields: dict[str, str], now: float, key: str = ""
    ) -> Routing:
        """The outcome for an arrival; ``key`` (its conversation id) places it in a share
        (a would-be arrival, with none, is in bucket 0)."""
        is_open: bool | None = None  # the clock is read at most once, and only if a rule asks
        at: int | None = None  # the key's bucket, hashed at most once, and only if a rule asks
        for when, wanted, routing in self._rules:
            share = when.share
            if isinstance(share, list):
                if at is None:
                    at = bucket(key)
                if not share[0] <= at < share[1]:
                    continue
            if when.channels is not None and channel not in when.channels:
                continue
            if when.touchpoint_ids is not None and touchpoint_id not in when.touchpoint_ids:
                continue
            if any(
                fields.get(name, "").strip().casefold() not in ok for name, ok in wanted.items()
            ):
                continue
            if when.open is not None:
                if is_open is None:
                    assert self._hours is not None  # checked at compile time
                    is_open = self._hours.is_open(now)
                if when.open != is_open:
                    continue
            return routing
        return self._default


def bucket(key: str) -> int:
    """Which of 100 buckets a conversation id falls in: a hash, not Python's ``hash``
    (salted per process), so every node and every rebuild agrees. "" is bucket 0."""
    if not key:
        return 0
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def _resolve(outcome: Outcome, touchpoint_queues: tuple[str, ...], rule: str | None) -> Routing:
    queues = tuple(dict.fromkeys(outcome.queue_ids)) or touchpoint_queues
    bot = outcome.bot if isinstance(outcome.bot, str) else None
    timeout = outcome.bot_timeout if isinstance(outcome.bot_timeout, int) else None
    where = f"rule {rule}" if rule is not None else "the default outcome"
    if bot is not None and not bot:
        raise InvalidFlow(f"{where}: bot names the bot's id")
    if timeout is not None and (bot is None or not 0 < timeout <= 86_400):
        raise InvalidFlow(
            f"{where}: bot_timeout is for a bot, in seconds, more than 0 and at most a day"
        )
    return Routing(
        queues,
        outcome.priority,
        outcome.acceptance,
        outcome.auto_reply,
        rule,
        bot,
        float(timeout) if timeout is not None else DEFAULT_BOT_TIMEOUT,
    )
