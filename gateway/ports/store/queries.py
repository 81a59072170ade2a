"""What the history search asks the store (``HistoryFilter``) and what the reports
count (``ReportFact``): the arguments and rows of ``Store.search_conversations`` and
``Store.report_facts`` (gateway/ports/store/base.py)."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from gateway.model.records import ConversationState


class HistoryFilter(msgspec.Struct, kw_only=True, frozen=True):
    """What ``search_conversations`` looks for; every filter given must match."""

    # in the contact's name, email or phone (case-insensitive substring)
    text: str = ""
    contact_id: str = ""
    # created at or after ``since``, before ``until``
    since: float | None = None
    until: float | None = None
    touchpoint_id: str = ""
    queue_id: str = ""
    # the agent who had it last
    agent_id: str = ""
    channel: str = ""
    states: tuple[ConversationState, ...] = ("closed",)
    # the cursor: (created_at, id) of the last row of the previous page
    before: tuple[float, str] | None = None
    limit: int = 50


class ReportFact(NamedTuple):
    """One conversation as the reports count it."""

    conversation_id: str
    created_at: float
    channel: str
    touchpoint_id: str
    queue_ids: list[str]
    agent_id: str | None
    state: ConversationState
    # when an agent first joined (None: no agent ever did), when it ended
    joined_at: float | None
    ended_at: float | None
