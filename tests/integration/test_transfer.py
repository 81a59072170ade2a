"""An integration transfers a conversation (PRODUCT.md, the integration API's "transfer";
docs/integration-api.md, ``POST …/conversations/{id}/transfer``) over a real gateway,
through the example client's ``transfer``: the front end moves the agent's
conversation to another agent and to a queue, and the agents' consoles follow; the bot
holding one hands it to an agent; what cannot be transferred (waiting, ended, unknown,
another integration's) is refused with its code and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from examples.gateway_client import ApiError, IntegrationClient
from tests.channels.test_attachment_totals import send_files
from tests.gateway.client import AgentClient
from tests.gateway.conftest import ADMIN, AGENT
from tests.integration.conftest import Node, admin_client, client, integration
from tests.integration.receiver import Receiver
from tests.integration.test_bots import bot_first, chat

ADA, GRACE = "ag_demo", "ag_admin"


async def online(node: Node, who: tuple[str, str]) -> AgentClient:
    agent = AgentClient(node.proc, *who)
    await agent.login()
    await agent.connect()
    return agent


async def update(agent: AgentClient, cid: str, **match: Any) -> dict[str, Any]:
    """The next ``conversation`` frame of ``cid`` whose row has these fields."""
    assert agent.sock
    while True:
        frame = await agent.sock.expect("conversation", timeout=10)
        row = frame["conversation"]
        if row["conversation_id"] == cid and all(row.get(k) == v for k, v in match.items()):
            return frame


async def write(agent: AgentClient, cid: str, body: str) -> dict[str, Any]:
    """The ack or the error of one reply."""
    return await send_files(agent, cid, body, [], uuid.uuid4().hex)


async def refused(call: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call
    return caught.value


async def test_the_front_end_transfers_to_an_agent_then_to_a_queue(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
        other_key = await integration(admin, "tp_other", receiver.url)
        r = await admin.post("/api/admin/queues", json={"id": "q_billing", "name": "Billing"})
        assert r.status_code == 201, r.text
        r = await admin.post(
            "/api/admin/agents",
            json={"id": "ag_off", "email": "off@transfer.test", "name": "Otto", "role": "agent",
                  "queue_ids": ["q_support"], "password": "otto-password-1"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    ada = await online(node, AGENT)
    async with client(node, "tp_app", key) as api, client(node, "tp_other", other_key) as other:
        conv = await api.start_conversation("lin@example.com", subject="Refund", message="Hi")
        await update(ada, conv.id, place="assigned")  # auto-accept: Ada holds it
        grace = await online(node, ADMIN)
        assert ada.sock and grace.sock

        # to an agent: Grace holds it now, and her console is told with the transfer sound
        moved = await api.transfer(conv.id, agent_id=GRACE, idempotency_key="t-agent")
        assert (moved.state, moved.owner_agent_id) == ("assigned", GRACE)
        await update(grace, conv.id, place="assigned")
        sound = await grace.sock.expect("sound", conversation_id=conv.id)
        assert sound["event"] == "transferred", sound
        await update(ada, conv.id, place="gone")  # off Ada's Assigned list
        # Ada may no longer write in it; Grace may
        assert (await write(ada, conv.id, "Ada here."))["type"] == "error"
        assert (await write(grace, conv.id, "Grace here."))["type"] == "ack"

        # another integration's key cannot reach it, whether it exists or not
        assert (await refused(other.transfer(conv.id, agent_id=ADA))).status == 404
        assert (await refused(api.transfer("cv_nope", agent_id=ADA))).status == 404
        unknown = await refused(api.transfer(conv.id, agent_id="ag_nope"))
        assert (unknown.status, unknown.code) == (422, "invalid")
        # the same request again (its Idempotency-Key) is answered as the first, run once
        replayed = await api.transfer(conv.id, agent_id=GRACE, idempotency_key="t-agent")
        assert (replayed.state, replayed.owner_agent_id) == ("assigned", GRACE)
        # to an agent who is offline: refused, nothing changes
        offline = await refused(api.transfer(conv.id, agent_id="ag_off"))
        assert (offline.status, offline.code) == (409, "agent_unavailable"), offline
        # to the agent who holds it already: refused, nothing changes
        same = await refused(api.transfer(conv.id, agent_id=GRACE))
        assert (same.status, same.code) == (409, "invalid_transfer"), same
        assert (await api.conversation(conv.id)).owner_agent_id == GRACE

        # to a queue: it waits there (nobody is in q_billing), labelled with it
        queued = await api.transfer(conv.id, queue_id="q_billing")
        assert (queued.state, queued.queue_ids, queued.owner_agent_id) == (
            "waiting",
            ["q_billing"],
            None,
        )
        # off Grace's Assigned list, into the Inbox she sees as an admin (every queue's),
        # with its unread count (PRODUCT.md, "Unread counts")
        row = (await update(grace, conv.id, place="inbox"))["conversation"]
        assert (row["state"], row["queue_ids"], row["unread"]) == ("waiting", ["q_billing"], 1)

        # waiting for an agent, it cannot be transferred (409 not_assigned)
        waiting = await refused(api.transfer(conv.id, agent_id=ADA))
        assert (waiting.status, waiting.code) == (409, "not_assigned")
        assert (await api.conversation(conv.id)).queue_ids == ["q_billing"]
        # nor once ended
        assert (await api.close(conv.id)).state == "closed"
        ended = await refused(api.transfer(conv.id, queue_id="q_support"))
        assert (ended.status, ended.code) == (409, "not_assigned")
        assert (await api.conversation(conv.id)).state == "closed"


async def test_an_ended_conversation_in_wrap_up_is_not_transferred(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
    ada = await online(node, AGENT)
    async with client(node, "tp_app", key) as api:
        conv = await api.start_conversation("kim@example.com", subject="Done", message="Bye")
        await update(ada, conv.id, place="assigned")
        assert (await api.close(conv.id)).state == "wrapup"
        ended = await refused(api.transfer(conv.id, agent_id=GRACE))
        assert (ended.status, ended.code) == (409, "not_assigned")
        after = await api.conversation(conv.id)
        assert (after.state, after.owner_agent_id) == ("wrapup", ADA)


async def test_the_bot_holding_it_transfers_to_an_agent(node: Node, receiver: Receiver) -> None:
    key = await bot_first(node, receiver.url)
    grace = await online(node, ADMIN)
    _, cid = await chat(node, "Where is my order?")
    await receiver.wait_events("conversation.started")
    async with IntegrationClient(node.base_url, "tp_bot", key) as bot:
        assert (await bot.conversation(cid)).state == "bot"
        moved = await bot.transfer(cid, agent_id=GRACE)
        assert (moved.state, moved.owner_agent_id) == ("assigned", GRACE)
        await update(grace, cid, place="assigned")
        [handover] = await receiver.wait_events("conversation.handed_over")
        assert handover.data["handover"] == {"reason": "transferred"}
        # the bot no longer holds it: a second transfer is not the bot's to make
        again = await refused(bot.transfer(cid, queue_id="q_support"))
        assert (again.status, again.code) == (409, "not_contact_side"), again
