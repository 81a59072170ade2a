"""Deliveries of one provider message racing each other, over real HTTP: a provider's
retry that arrives while the first delivery is still being stored, on the same node or
on another node of a cluster (channels/webhooks.py, ``receive_once``)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from devkit import services
from tests.channels.support import ACCOUNT, TOKEN, agent_on, history, sms_touchpoint, start
from tests.cluster.conftest import Cluster
from tests.gateway.client import AgentClient
from tests.gateway.conftest import seed

NUMBER = "+14155550100"
# nothing is sent in these tests: the provider's API is never called
NO_API = "http://127.0.0.1:9"


def signed_text(url: str, sid: str, sender: str, body: str) -> tuple[str, dict[str, str]]:
    """A Twilio message webhook for ``url``, form-encoded and signed."""
    params = {"MessageSid": sid, "From": sender, "To": NUMBER, "Body": body, "AccountSid": ACCOUNT}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return urlencode(params), headers


async def texts_in_inbox(agent: AgentClient) -> dict[str, list[str]]:
    """Each SMS conversation in the agent's Inbox (by contact): the contact's messages."""
    convs = [c for c in agent.snapshot["inbox"] if c["channel"] == "sms"]
    # one conversation each (an agent's capacity takes ten SMS conversations)
    phones = [c["contact_phone"] for c in convs]
    assert sorted(phones) == sorted(set(phones))
    out: dict[str, list[str]] = {}
    for conv in convs:
        cid = conv["conversation_id"]
        assert (await agent.act("assign", cid))["type"] == "ok"
        items = await history(agent, cid)
        texts = [m["body"] for m in items if m.get("type") == "message"]
        out.setdefault(conv["contact_phone"], []).extend(texts)
    return out


async def test_a_retry_racing_the_first_delivery_on_one_node_is_stored_once(
    gateway_factory: services.GatewayProcess,
) -> None:
    node = start(gateway_factory, sms_touchpoint("tp_sms", NUMBER, NO_API))  # type: ignore[arg-type]
    url = f"{node.base_url}/webhooks/sms/tp_sms"
    body, headers = signed_text(url, "SM" + "7" * 32, "+12025550143", "once")
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(http.post(url, content=body, headers=headers) for _ in range(6))
        )
    # on one node the deliveries wait for each other: each is answered 200
    assert [r.status_code for r in answers] == [200] * 6
    agent = await agent_on(node)
    assert await texts_in_inbox(agent) == {"+12025550143": ["once"]}


async def test_a_retry_racing_the_first_delivery_on_another_node_is_stored_once(
    postgres: services.Postgres,
) -> None:
    """Each of ten contacts' texts is delivered to two nodes at the same instant (the
    provider's retry racing the first delivery, through a load balancer): each is
    stored once. The delivery that loses the race on the other node is answered 503,
    and the provider's next retry 200."""
    database_url = services.createdb(postgres, f"race_{uuid.uuid4().hex[:8]}")
    cluster = Cluster(
        postgres, database_url, services.start_redis(), f"http://127.0.0.1:{services.free_port()}"
    )
    try:
        seed(database_url, touchpoints=[sms_touchpoint("tp_sms", NUMBER, NO_API)])
        nodes = [cluster.start_node(), cluster.start_node()]
        signed_at = f"{cluster.public}/webhooks/sms/tp_sms"  # the URL the provider signs
        phones = [f"+120255501{i:02d}" for i in range(10)]
        async with httpx.AsyncClient(timeout=60) as http:

            async def deliver(
                node: services.GatewayProcess, body: str, hdrs: dict[str, str]
            ) -> int:
                r = await http.post(
                    f"{node.base_url}/webhooks/sms/tp_sms", content=body, headers=hdrs
                )
                assert r.status_code in (200, 503), r.text
                return r.status_code

            for i, phone in enumerate(phones):
                body, headers = signed_text(signed_at, f"SM{i:02d}" + "5" * 30, phone, f"text {i}")
                statuses = await asyncio.gather(*(deliver(n, body, headers) for n in nodes))
                assert 200 in statuses
                if 503 in statuses:  # the provider retries: the first delivery is stored
                    assert await deliver(nodes[statuses.index(503)], body, headers) == 200
        agent = cluster.agent(nodes[0])
        await agent.login()
        await agent.connect()
        assert await texts_in_inbox(agent) == {p: [f"text {i}"] for i, p in enumerate(phones)}
    finally:
        cluster.stop()
