"""Whether anyone can answer, told before the visitor types (the bootstrap), a flow that
holds conversations in closed hours, and putting the chat on a site: the loader's check,
the refusals an admin reads, the absolute snippet."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import msgspec

import routing as r
from devkit.services import GatewayProcess
from gateway.services.availability import status_of
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.gateway.test_starting import admin_client, connected, nothing_rang, online


async def availability(visitor: Visitor) -> dict[str, Any]:
    return (await visitor.bootstrap())["config"]["availability"]  # type: ignore[no-any-return]


async def test_the_bootstrap_says_whether_anyone_can_answer(gateway: GatewayProcess) -> None:
    """With every agent away the visitor used to be told agents were busy."""
    visitor = demo_visitor(gateway)
    assert await availability(visitor) == {"status": "offline"}
    agent = await online(demo_agent(gateway))
    assert await availability(visitor) == {"status": "online"}
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "away"})
    await agent.sock.expect("ok", ref="away")
    assert await availability(visitor) == {"status": "offline"}
    await agent.sock.send({"type": "status", "status": "available", "ref": "back"})
    await agent.sock.expect("ok", ref="back")
    # Four chats of 25 points fill Ada: available, but busy.
    for i in range(4):
        v = await connected(demo_visitor(gateway))
        cid = await v.start(f"question {i}")
        offer = await agent.sock.expect("offer")
        assert offer["conversation"]["conversation_id"] == cid
        assert (await agent.act("accept", cid))["type"] == "ok"
    assert await availability(visitor) == {"status": "busy"}
    boot = await visitor.bootstrap()
    assert boot["config"]["idle_close_after"] == 900
    assert [f["name"] for f in boot["config"]["leave_form"]] == ["name", "email"]
    assert boot["config"]["leave_form"][1]["required"] is True


def closed_now_flow() -> tuple[dict[str, Any], float]:
    """A flow open only on the day after tomorrow (UTC), holding conversations when
    closed; and when it opens."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    opens = dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC).timestamp()
    weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.weekday()]
    flow = {
        "calendar": {"timezone": "UTC", "hours": {weekday: ["09:00-17:00"]}},
        "rules": [
            {
                "when": {"open": False},
                "then": {"acceptance": "hold", "auto_reply": "We are closed; we answer at 9."},
                "name": "closed",
            }
        ],
        "default": {"queue_ids": ["q_support"]},
    }
    return flow, opens


async def test_closed_hours_hold_the_chat_instead_of_ringing_and_say_so_first(
    gateway: GatewayProcess,
) -> None:
    """Outside opening hours, an agent who happened to be available was rung anyway,
    and the closed text came only as an automatic reply."""
    flow, opens = closed_now_flow()
    with admin_client(gateway) as admin:
        r = admin.patch("/api/admin/touchpoints/tp_demo_127", json={"flow": flow})
        assert r.status_code == 200, r.text
    agent = await online(demo_agent(gateway))
    visitor = demo_visitor(gateway)
    assert await availability(visitor) == {"status": "closed", "opens_at": opens}
    await visitor.connect()
    cid = await visitor.start("Are you open?")
    assert visitor.sock
    auto = await visitor.sock.expect("message", sender="system")
    assert auto["body"] == "We are closed; we answer at 9."
    assert auto["seq"] == 2  # after the message it answers
    assert auto["unread"] == 1  # it counts, and says so as an agent's message does
    assert await nothing_rang(agent) == []
    # It waits in the Inbox, held, for someone to take it.
    assert (await agent.act("assign", cid))["type"] == "ok"


def test_the_loaders_check_names_the_touchpoint_and_its_rule_and_is_recorded(
    gateway: GatewayProcess,
) -> None:
    """Pasting the snippet on another site showed nothing, with only a frame-ancestors
    error in the browser's console and nothing for the admin to see."""
    base = gateway.base_url
    own = f"http://127.0.0.1:{gateway.port}"
    ok = httpx.get(
        base + "/widget/check",
        params={"touchpoint": "tp_demo_127", "page": own + "/demo"},
        headers={"Origin": own},
    )
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert ok.headers["access-control-allow-origin"] == "*"
    assert ok.json()["domain"] == f"127.0.0.1:{gateway.port}"

    refused = httpx.get(
        base + "/widget/check",
        params={"touchpoint": "tp_demo_127", "page": "https://shop.example/cart?id=42"},
        headers={"Origin": "https://shop.example"},
    )
    body = refused.json()
    assert body["ok"] is False and body["code"] == "domain_mismatch"
    assert "tp_demo_127" in body["message"] and f"127.0.0.1:{gateway.port}" in body["message"]
    assert refused.headers["access-control-allow-origin"] == "*"

    # The page matches but the request comes from another origin (a copied snippet).
    forged = httpx.get(
        base + "/widget/check",
        params={"touchpoint": "tp_demo_127", "page": own + "/demo"},
        headers={"Origin": "https://evil.example"},
    ).json()
    assert forged["code"] == "origin_mismatch" and "evil.example" in forged["message"]
    unknown = httpx.get(
        base + "/widget/check", params={"touchpoint": "tp_nope", "page": own + "/"}
    ).json()
    assert unknown["ok"] is False and unknown["code"] == "touchpoint_unavailable"

    with admin_client(gateway) as admin:
        rows = admin.get("/api/admin/touchpoints/tp_demo_127/refusals").json()
        by_origin = {r["origin"]: r for r in rows}
        assert by_origin["https://shop.example"]["code"] == "domain_mismatch"
        assert by_origin["https://shop.example"]["page_url"] == "https://shop.example/cart"
        assert by_origin["https://evil.example"]["code"] == "origin_mismatch"
        snippet = admin.get("/api/admin/touchpoints/tp_demo_127/snippet").json()
        assert snippet["script"] == (
            f'<script src="{base}/widget/loader.js" data-touchpoint="tp_demo_127" async></script>'
        )
        assert snippet["iframe"].startswith(f'<iframe src="{base}/widget/frame.html?')
        assert admin.get("/api/admin/touchpoints/tp_nope/refusals").status_code == 404


def test_the_demo_page_shows_the_absolute_snippet(gateway: GatewayProcess) -> None:
    page = httpx.get(gateway.base_url + "/demo").text
    assert (
        f"&lt;script src=&quot;{gateway.base_url}/widget/loader.js&quot; "
        "data-touchpoint=&quot;tp_demo_127&quot; async&gt;"
    ) in page


async def test_an_agent_away_sees_the_left_message_marked(gateway: GatewayProcess) -> None:
    agent = AgentClient(gateway, "agent@demo.test", "demo-agent")
    await online(agent)
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "a"})
    await agent.sock.expect("ok", ref="a")
    visitor = demo_visitor(gateway)
    assert await availability(visitor) == {"status": "offline"}


def test_a_flow_that_hands_chats_to_a_bot_first_is_online() -> None:
    """A bot answers whatever the agents' state or the hours: the widget offers the chat,
    not "leave a message" (docs/widget.md)."""
    nobody = r.Availability("tp", "manual", ["q"], False, 1.0, False, False)
    assert status_of(nobody) == "closed"
    assert status_of(msgspec.structs.replace(nobody, bot="tp_bot")) == "online"
