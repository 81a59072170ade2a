"""The rows a node keeps of the conversations it wrote to (gateway/services/recent.py)."""

from __future__ import annotations

from gateway.model.records import Conversation, ConversationState
from gateway.services.recent import RecentConversations, encode_row


def _conv(state: ConversationState) -> Conversation:
    return Conversation(
        id="c1", touchpoint_id="tp", channel="chat", contact_id="ct", address="a", state=state
    )


def test_a_conversation_still_new_is_not_kept() -> None:
    # its routing is about to change it: the next message would be written on a row known
    # to be out of date (a failed guarded append, then a read and a second append)
    recent = RecentConversations()
    recent.put(_conv("new"))
    assert recent.get("c1") is None


def test_a_routed_conversation_is_kept_and_a_new_row_replaces_it() -> None:
    recent = RecentConversations()
    recent.put(_conv("assigned"))
    got = recent.get("c1")
    assert got is not None and got.state == "assigned"
    recent.put(_conv("new"))  # a row said new is the newest news: the older one goes
    assert recent.get("c1") is None


def test_a_row_sent_by_another_node_is_kept_as_it_was_sent() -> None:
    recent = RecentConversations()
    sent = Conversation(
        id="c1", touchpoint_id="tp", channel="sms", contact_id="ct", address="+15550100",
        state="assigned", owner_agent_id="ag1", queue_ids=["q1", "q2"], last_seq=7,
        created_at=1.5, fields={"plan": "pro"},
    )  # fmt: skip
    recent.heard(encode_row(sent))
    assert recent.get("c1") == sent
    recent.heard(b"\x81\xa2id")  # not a row: dropped, the kept one stays
    recent.heard(encode_row(_conv("new")))  # a row said new: the kept one goes (as put)
    assert recent.get("c1") is None
