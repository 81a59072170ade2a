"""A message is written on the conversation as the node last knew it, without reading
it first (gateway/services/recent.py); a conversation changed since is read again and
decided again, never written to on the old decision."""

from __future__ import annotations

from tests.gateway.client import AgentClient, accepted_chat
from tests.gateway.conftest import InProcessFactory, agent_record, demo_agent, demo_visitor, seed


async def test_a_reply_after_a_transfer_is_decided_on_the_conversation_as_it_is_now(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory(
        setup=lambda url, port: seed(url, agents=[agent_record("ag_b", "b@test", ["q_support"])])
    )
    ada, bob, visitor = demo_agent(node), AgentClient(node, "b@test", "pw-ag_b"), demo_visitor(node)
    cid = await accepted_chat(ada, visitor)
    await bob.login()
    await bob.connect()
    assert ada.sock and bob.sock and visitor.sock
    first = await ada.say(cid, "Ada here")  # the node now knows the conversation as Ada's
    assert first["seq"] >= 2
    await visitor.say("thanks")
    assert (await ada.act("transfer", cid, to_agent_id="ag_b"))["type"] == "ok"
    await bob.sock.expect("sound", event="transferred")
    # Ada's reply, on what the node knew (hers): refused, not stored
    await ada.sock.send(
        {"type": "send", "conversation_id": cid, "body": "late", "client_msg_id": "a2"}
    )
    error = await ada.sock.expect("error")
    assert error["code"] in ("forbidden", "not_found") and error["ref"] == "a2"
    # Bob's, on what the node knew (Ada's): decided again on the conversation, accepted
    reply = await bob.say(cid, "Bob here")
    shown = await visitor.sock.expect("message", body="Bob here")
    assert shown["seq"] == reply["seq"]
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    history = await visitor.sock.expect("history")
    bodies = [item.get("body") for item in history["items"] if item.get("type") == "message"]
    assert "late" not in bodies and bodies[-1] == "Bob here"
    # and the visitor's next message reaches Bob
    await visitor.say("hello Bob")
    assert (await bob.sock.expect("message", body="hello Bob"))["conversation_id"] == cid


async def test_a_visitor_message_after_the_agent_ended_the_chat_is_refused(
    inprocess_factory: InProcessFactory,
) -> None:
    node = await inprocess_factory()
    ada, visitor = demo_agent(node), demo_visitor(node)
    cid = await accepted_chat(ada, visitor)
    assert ada.sock and visitor.sock
    await visitor.say("first")  # the node now knows the conversation as assigned
    assert (await ada.act("end", cid))["type"] == "ok"
    await visitor.sock.expect("event", event="ended")
    await visitor.sock.send({"type": "send", "body": "too late", "client_msg_id": "v9"})
    error = await visitor.sock.expect("error")
    assert error["code"] == "conversation_ended" and error["ref"] == "v9"
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    history = await visitor.sock.expect("history")
    assert "too late" not in [item.get("body") for item in history["items"]]
