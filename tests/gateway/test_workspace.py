"""The agent's workspace and the supervisor's view against a real gateway: notes that
never reach the contact, the contact card (save, conflict, merge, earlier
conversations), templates, history and its downloads, reports, the live view and
monitoring, a chosen "away" that survives a restart, and the console drawn before its
agent comes online."""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from devkit import services
from tests.gateway.client import AgentClient, Visitor, accepted_chat
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def http(node: services.GatewayProcess, agent: AgentClient) -> httpx.Client:
    return httpx.Client(
        base_url=node.base_url, headers={"Authorization": f"Bearer {agent.token}"}, timeout=10
    )


async def admin_away(node: services.GatewayProcess) -> AgentClient:
    """The demo admin, logged in and away (so offers ring only the demo agent)."""
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    await admin.connect()
    assert admin.sock
    await admin.sock.send({"type": "status", "status": "away", "ref": "s"})
    await admin.sock.expect("ok", ref="s")
    return admin


async def ended(agent: AgentClient, cid: str, notes: str = "") -> None:
    assert (await agent.act("end", cid))["type"] == "ok"
    done = await agent.act("wrapup", cid, notes=notes, disposition="Resolved")
    assert done["type"] == "ok", done


async def test_notes_never_reach_the_contact(gateway: services.GatewayProcess) -> None:
    admin = await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Lin", email="lin@example.com")
    assert agent.sock and visitor.sock and admin.sock
    await visitor.say("Hello", "c-1")
    await agent.sock.send(
        {"type": "note", "conversation_id": cid, "body": "SECRET note: VIP", "ref": "n1"}
    )
    note = await agent.sock.expect("note")
    assert note["body"] == "SECRET note: VIP" and note["agent_id"] == "ag_demo"
    await agent.sock.expect("ok", ref="n1")
    # a blank one: the protocol's invalid_field (before: HTTP's "invalid", undocumented)
    await agent.sock.send({"type": "note", "conversation_id": cid, "body": "  ", "ref": "n0"})
    blank = await agent.sock.expect("error", ref="n0")
    assert blank["code"] == "invalid_field" and "note" in blank["message"]
    # A transfer's note goes to the receiving agent, never to the contact.
    await admin.sock.send({"type": "status", "status": "available", "ref": "s2"})
    await admin.sock.expect("ok", ref="s2")
    moved = await agent.act("transfer", cid, to_agent_id="ag_admin", note="SECRET handover")
    assert moved["type"] == "ok", moved
    handover = await admin.sock.expect("note", body="SECRET handover")
    assert handover["agent_name"].startswith("Ada")
    await admin.say(cid, "Grace here")
    # The visitor: live frames, history and a fresh resume carry no note.
    frames = visitor.sock.seen + visitor.sock.drain()
    await visitor.sock.send({"type": "history", "conversation_id": cid})
    page = await visitor.sock.expect("history")
    await visitor.sock.close()
    visitor.last_seq = {cid: 0}
    await visitor.connect()
    await visitor.say("after resume", "c-2")
    everything = [*frames, page, *visitor.sock.seen]
    assert all("SECRET" not in str(f) for f in everything), everything
    assert any(i.get("body") == "Grace here" for i in page["items"] + everything)
    # The notes are read back through the API, and both are kept with the conversation.
    with http(gateway, admin) as c:
        notes = c.get(f"/api/console/conversations/{cid}/notes").json()
    assert [n["body"] for n in notes] == ["SECRET note: VIP", "SECRET handover"]
    # An agent who no longer has the conversation cannot add one.
    await agent.sock.send({"type": "note", "conversation_id": cid, "body": "x", "ref": "n2"})
    refused = await agent.sock.expect("error", ref="n2")
    assert refused["code"] in ("forbidden", "not_found")


async def test_contact_card_save_conflict_and_merge(gateway: services.GatewayProcess) -> None:
    await admin_away(gateway)
    agent, first = demo_agent(gateway), demo_visitor(gateway)
    cid1 = await accepted_chat(agent, first, name="Lin", email="lin@example.com")
    with http(gateway, agent) as c:
        card = c.get(f"/api/console/conversations/{cid1}/card").json()
        # The form's email is shown, unconfirmed: the contact is not saved from it.
        assert card["fields"]["email"] == "lin@example.com"
        assert card["contact"]["email"] == "" and not card["contact"]["saved"]
        assert card["page"] == first.page_url and card["editable"]
        assert card["address"] == first.visitor_id
        bad = c.put(f"/api/console/conversations/{cid1}/contact", json={"email": "nope"})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "email"
        saved = c.put(
            f"/api/console/conversations/{cid1}/contact",
            json={"name": "Lin Wu", "email": "lin@example.com", "phone": "+44 20 7946 0958"},
        ).json()
        assert saved["contact"]["saved"] and saved["contact"]["phone"] == "+442079460958"
        known_id = saved["contact"]["id"]
    await ended(agent, cid1)

    # A second visitor (another browser) types the same email: the card offers a merge.
    second = demo_visitor(gateway)
    await second.bootstrap()
    await second.connect()
    cid2 = await second.start(name="L.", email="lin@example.com")
    assert agent.sock
    await agent.sock.expect("offer", timeout=15)
    assert (await agent.act("accept", cid2))["type"] == "ok"
    with http(gateway, agent) as c:
        card = c.get(f"/api/console/conversations/{cid2}/card").json()
        assert card["contact"]["id"] != known_id and card["earlier"] == []
        clash = c.put(
            f"/api/console/conversations/{cid2}/contact", json={"email": "LIN@example.com"}
        )
        assert clash.status_code == 409
        assert clash.json()["error"]["contact_id"] == known_id
        found = c.get("/api/console/contacts", params={"q": "lin@"}).json()
        assert [x["id"] for x in found] == [known_id]
        merged = c.post(
            f"/api/console/conversations/{cid2}/contact/merge", json={"contact_id": known_id}
        ).json()
        assert merged["contact"]["id"] == known_id
        assert [e["conversation_id"] for e in merged["earlier"]] == [cid1]
        assert {a["address"] for a in merged["addresses"]} == {first.visitor_id, second.visitor_id}
        # The earlier conversation reads from the card, and not without it.
        via = c.get(f"/api/console/history/{cid1}", params={"via": cid2})
        assert via.status_code == 200 and via.json()["conversation"]["contact_id"] == known_id
        assert c.get("/api/console/history/cv_nope", params={"via": cid2}).status_code == 404


async def test_templates_admin_and_use(gateway: services.GatewayProcess) -> None:
    await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Lin Wu")
    admin = AgentClient(gateway, *ADMIN)
    await admin.login()
    with http(gateway, admin) as c:
        unknown = c.post(
            "/api/admin/templates",
            json={"collection": "Sales", "name": "Hi", "content": {"default": "{{contact.age}}"}},
        )
        assert unknown.status_code == 422 and "unknown variable" in unknown.text
        made = c.post(
            "/api/admin/templates",
            json={
                "collection": "Sales",
                "name": "Greeting",
                "content": {
                    "default": "Hello {{contact.first_name}}, {{agent.first_name}} here.",
                    "sms": "Hi",
                },
            },
        )
        assert made.status_code == 201, made.text
        c.post(
            "/api/admin/templates",
            json={"collection": "Support", "name": "SMS only", "content": {"sms": "Text"}},
        )
    with http(gateway, agent) as c:
        assert c.get("/api/admin/templates").status_code == 403
        rendered = c.get(f"/api/console/conversations/{cid}/templates").json()
        assert [(t["collection"], t["name"], t["text"]) for t in rendered] == [
            ("Sales", "Greeting", "Hello Lin, Ada here.")
        ]
        assert (
            c.get(f"/api/console/conversations/{cid}/templates", params={"q": "zzz"}).json() == []
        )


async def test_history_downloads_and_reports(gateway: services.GatewayProcess) -> None:
    # The days the chat may fall on: a run that crosses midnight UTC spans two.
    since = _today()
    await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Lin")
    await visitor.say("=1+1 is a formula", "c-1")
    await agent.say(cid, "Hello Lin")
    await ended(agent, cid, notes="Sorted")
    until = _today()
    admin = AgentClient(gateway, *ADMIN)
    await admin.login()
    with http(gateway, agent) as c:
        page = c.get("/api/console/history", params={"q": "lin", "since": since}).json()
        assert [r["conversation_id"] for r in page["items"]] == [cid]
        assert page["items"][0]["agent_id"] == "ag_demo"
        assert c.get("/api/console/history", params={"agent_id": "ag_admin"}).json()["items"] == [
            page["items"][0]
        ]  # an agent's search is limited to their own, whatever they ask
        t = c.get(f"/api/console/history/{cid}").json()
        # the chat starts with its first message, then the agent joins
        assert [line["sender"] for line in t["lines"]] == [
            "visitor",
            "event",
            "visitor",
            "agent",
            "event",
        ]
        assert t["notes"] == "Sorted" and t["conversation"]["disposition"] == "Resolved"
        text = c.get(f"/api/console/history/{cid}/export", params={"format": "text"})
        assert "Ada (demo agent): Hello Lin" in text.text and "Disposition: Resolved" in text.text
        assert text.headers["content-disposition"].endswith('.txt"')
        rows = list(
            csv.reader(
                io.StringIO(
                    c.get(f"/api/console/history/{cid}/export", params={"format": "csv"}).text
                )
            )
        )
        assert rows[0] == ["seq", "time_utc", "sender", "name", "text"]
        assert rows[3][4] == "'=1+1 is a formula"  # no formula for a spreadsheet to run
        assert c.get("/api/reports", params={"since": since, "until": until}).status_code == 403
    with http(gateway, admin) as c:
        assert c.get("/api/console/history").json()["items"][0]["conversation_id"] == cid
        bad = c.get("/api/reports", params={"since": since, "until": "2000-01-01"})
        assert bad.status_code == 422
        report = c.get(
            "/api/reports", params={"since": since, "until": until, "group_by": "agent"}
        ).json()
        assert report["satisfaction_available"] is True  # none rated here: None below
        row = report["rows"][0]
        assert (row["key"], row["conversations"], row["answered"], row["abandoned"]) == (
            "ag_demo",
            1,
            1,
            0,
        )
        assert row["avg_wait"] >= 0 and row["avg_handle"] > 0 and row["satisfaction"] is None
        sheet = c.get("/api/reports.csv", params={"since": since, "until": until})
        lines = list(csv.reader(io.StringIO(sheet.text)))
        assert lines[0][:3] == ["day", "label", "conversations"]
        assert lines[-1][1:3] == ["Total", "1"]


async def test_live_view_and_monitoring(gateway: services.GatewayProcess) -> None:
    admin = await admin_away(gateway)
    assert admin.sock
    await admin.sock.send({"type": "live"})
    live = await admin.sock.expect("live")
    assert live["conversations"] == []
    assert {a["agent_id"]: a["status"] for a in live["agents"]}["ag_admin"] == "away"
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    await agent.login()
    await agent.connect()
    assert agent.sock
    await agent.sock.send({"type": "live"})
    assert (await agent.sock.expect("error"))["code"] == "forbidden"
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Lin")
    ringing = await _update_with(
        admin,
        lambda u: any(
            c["conversation_id"] == cid and c.get("offer_agent_id") == "ag_demo"
            for c in u.get("conversations", [])
        ),
    )
    queue = {q["queue_id"]: q for q in ringing["queues"]}["q_support"]
    assert queue["waiting"] == 1 and queue["oldest_arrived_at"] > 0
    await agent.sock.expect("offer")
    assert (await agent.act("accept", cid))["type"] == "ok"
    taken = await _update_with(
        admin,
        lambda u: any(
            c["conversation_id"] == cid and c.get("agent_id") == "ag_demo"
            for c in u.get("conversations", [])
        ),
    )
    ada = {a["agent_id"]: a for a in taken["agents"]}["ag_demo"]
    assert ada["load"] == 25 and ada["assigned"] == [cid]
    # Monitoring: the admin reads the messages as they come, and cannot reply.
    await admin.sock.send({"type": "monitor", "conversation_id": cid})
    await admin.sock.expect("ok", ref=f"monitor:{cid}")
    await visitor.say("Are you there?", "m-1")
    seen = await admin.sock.expect("message", body="Are you there?")
    assert seen["conversation_id"] == cid
    await agent.say(cid, "Yes")
    await admin.sock.expect("message", body="Yes")
    await admin.sock.send(
        {"type": "send", "conversation_id": cid, "body": "hi", "client_msg_id": "x-1"}
    )
    assert (await admin.sock.expect("error", ref="x-1"))["code"] == "forbidden"
    await agent.sock.send({"type": "monitor", "conversation_id": cid})
    assert (await agent.sock.expect("error"))["code"] == "forbidden"
    # A supervisor transfers any assigned conversation.
    moved = await admin.act("transfer", cid, to_queue_id="q_support")
    assert moved["type"] == "ok", moved
    await _update_with(
        admin,
        lambda u: any(
            c["conversation_id"] == cid and c["state"] in ("waiting", "offered")
            for c in u.get("conversations", [])
        ),
    )


async def _update_with(
    agent: AgentClient, test: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    assert agent.sock
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while loop.time() < deadline:
        frame = await agent.sock.expect("live_update", timeout=deadline - loop.time())
        if test(frame):
            return frame
    raise TimeoutError("no matching live_update")


async def test_away_survives_a_restart_and_the_console_draws_first(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    db = f"sqlite:///{tempfile.mkdtemp(prefix='gw-away-')}/gateway.db"
    node = gateway_factory({"GATEWAY_DATABASE_URL": db})
    admin = await admin_away(node)
    agent = demo_agent(node)
    await agent.login()
    await agent.connect()
    assert agent.sock and admin.sock
    await agent.sock.send({"type": "status", "status": "away", "ref": "s"})
    await agent.sock.expect("ok", ref="s")
    await agent.sock.close()
    await admin.sock.close()
    port = node.port
    node.stop()
    # The same store on the same port (the demo touchpoint's domain names it).
    node = services.start_gateway({"GATEWAY_DATABASE_URL": db, "GATEWAY_DEMO": "1"}, port=port)
    try:
        await _after_restart(node)
    finally:
        node.stop()


async def _after_restart(node: services.GatewayProcess) -> None:
    # Three chats wait while the agent is away.
    visitors: list[Visitor] = []
    for i in range(3):
        v = demo_visitor(node)
        await v.bootstrap()
        await v.connect()
        await v.start(name=f"V{i}")
        visitors.append(v)
    agent = demo_agent(node)
    await agent.login()
    snap = await agent.connect()
    assert snap["agent"]["status"] == "away"
    assert len(snap["inbox"]) == 3 and {c["place"] for c in snap["inbox"]} == {"inbox"}
    assert agent.sock
    # Nothing rings while away; once available, the offers come after the snapshot.
    await agent.sock.send({"type": "status", "status": "available", "ref": "s"})
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["contact_name"] in {"V0", "V1", "V2"}
    assert agent.sock.seen[0]["type"] == "snapshot"


async def test_a_new_login_draws_before_it_rings(gateway: services.GatewayProcess) -> None:
    """Regression: the agent came online before the snapshot was built, so a waiting chat
    was already ringing in it; now the snapshot shows it waiting and the offer follows."""
    await admin_away(gateway)
    visitor = demo_visitor(gateway)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start(name="Early")
    agent = demo_agent(gateway)
    await agent.login()
    snap = await agent.connect()
    assert [(c["conversation_id"], c["place"]) for c in snap["inbox"]] == [(cid, "inbox")]
    assert snap["agent"]["status"] == "available"
    assert agent.sock
    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == cid
