"""The workspace's downloads, searches and reports at their edges, against a real gateway:
no spreadsheet formula in any cell of a transcript's CSV (the contact's name from the
form included), a transcript cut at its limit that says so, names with non-ASCII
capitals found as written, history pages that stay whole while conversations close,
reports at the midnight boundary (UTC) and for agents deleted since, and no second
saved contact with an email or phone a saved one has."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.chat.identity import sign
from devkit import services
from devkit.inprocess import InProcessGateway
from gateway import metrics
from gateway.model.records import Conversation
from gateway.ports.store import create_store
from gateway.services.views import event_body
from tests.gateway.client import AgentClient, accepted_chat
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor
from tests.gateway.test_workspace import admin_away, ended, http
from tests.poll import until
from tests.security.conftest import SECRET_OPTIONAL, seed_security
from tests.security.conftest import visitor as security_visitor

FORMULA = '=HYPERLINK("http://evil.example";"Lin")'


async def test_transcript_csv_neutralises_every_text_cell(
    gateway: services.GatewayProcess,
) -> None:
    """Regression: the CSV neutralised the message text only; the name column carried
    the contact's name from the pre-chat form as it was typed, a formula."""
    await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name=FORMULA)
    await visitor.say("\t=1+1", "c-1")
    await visitor.say("-2+3", "c-2")
    await agent.say(cid, "@SUM(A1)")
    await ended(agent, cid)
    with http(gateway, agent) as c:
        sheet = c.get(f"/api/console/history/{cid}/export", params={"format": "csv"})
    assert sheet.status_code == 200
    rows = list(csv.reader(io.StringIO(sheet.text)))[1:]
    cells = [cell for row in rows for cell in row[2:]]  # sender, name, text
    assert "'" + FORMULA in cells and "'\t=1+1" in cells and "'@SUM(A1)" in cells
    assert "'-2+3" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")], rows


async def test_search_finds_names_with_non_ascii_capitals_as_written(
    gateway: services.GatewayProcess,
) -> None:
    """Regression: the search folded the text with Python's lower() ("ångström") and the
    name with the database's, which folds ASCII only ("Ångström"): a name starting with
    a non-ASCII capital was never found, not even typed exactly as stored."""
    await admin_away(gateway)
    agent, visitor = demo_agent(gateway), demo_visitor(gateway)
    cid = await accepted_chat(agent, visitor, name="Ångström Zoë")
    with http(gateway, agent) as c:
        saved = c.put(f"/api/console/conversations/{cid}/contact", json={"name": "Émile Öz"})
        assert saved.status_code == 200, saved.text
        for q in ("Émile", "ÉMILE ÖZ", "Émile Öz", "mile"):
            found = c.get("/api/console/contacts", params={"q": q}).json()
            assert [x["name"] for x in found] == ["Émile Öz"], (q, found)
    await ended(agent, cid)
    other = demo_visitor(gateway)
    await other.bootstrap()
    await other.connect()
    cid2 = await other.start(name="Ærøskøbing Ltd")
    assert agent.sock
    await agent.sock.expect("offer", timeout=15)
    assert (await agent.act("accept", cid2))["type"] == "ok"
    await ended(agent, cid2)
    with http(gateway, agent) as c:
        # the other case of a non-ASCII capital too (once a known limit)
        for q, want in (("Émile", [cid]), ("ÉMILE ÖZ", [cid]), ("Ærø", [cid2]), ("ærø", [cid2])):
            page = c.get("/api/console/history", params={"q": q}).json()
            assert [r["conversation_id"] for r in page["items"]] == want, (q, page)


def _at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def _seed_history(url: str) -> None:
    """Two closed chats on either side of midnight UTC of 2025-06-30, the first answered
    by an agent who no longer exists (deleted since), the second abandoned."""

    async def run() -> None:
        store = create_store(url)
        await store.open()
        try:
            contact = await store.create_contact(
                "ct_mid", name="Midnight", now=_at("2025-06-30 23:59:59.000000")
            )
            spans = Conversation(
                id="cv_spans",
                touchpoint_id="tp_demo_127",
                channel="chat",
                contact_id=contact.id,
                address="v-mid",
                state="closed",
                queue_ids=["q_support", "q_gone"],
                owner_agent_id="ag_gone",
                created_at=_at("2025-06-30 23:59:59.500000"),
                arrived_at=_at("2025-06-30 23:59:59.500000"),
                ended_at=_at("2025-07-01 00:10:00.000000"),
                closed_at=_at("2025-07-01 00:10:00.000000"),
            )
            await store.create_conversation(spans)
            await store.append_message(
                "cv_spans", sender="contact", sender_id="v-mid", client_msg_id="m1",
                body="Hello", now=_at("2025-06-30 23:59:59.500000"),
            )  # fmt: skip
            await store.append_message(
                "cv_spans", sender="system", sender_id="router", client_msg_id="j1",
                body=event_body("agent_joined", "Gone Agent"), kind="event",
                now=_at("2025-06-30 23:59:59.900000"),
            )  # fmt: skip
            await store.append_message(
                "cv_spans", sender="agent", sender_id="ag_gone", client_msg_id="a1",
                body="Hi, I am leaving the company", now=_at("2025-07-01 00:00:01.000000"),
            )  # fmt: skip
            await store.create_conversation(
                Conversation(
                    id="cv_after",
                    touchpoint_id="tp_demo_127",
                    channel="chat",
                    contact_id=contact.id,
                    address="v-mid",
                    state="closed",
                    queue_ids=["q_support"],
                    created_at=_at("2025-07-01 00:00:00.000000"),
                    arrived_at=_at("2025-07-01 00:00:00.000000"),
                    ended_at=_at("2025-07-01 00:05:00.000000"),
                    closed_at=_at("2025-07-01 00:05:00.000000"),
                )
            )
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def test_reports_at_midnight_and_for_deleted_agents(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    """A chat that spans midnight counts once, on the day it arrived, with its whole
    handle time; one that arrives at 00:00:00.000 is the next day's. Regression: an
    agent (or queue) deleted since was labelled with its bare id in the report, and with
    no name at all in history and its transcript ("[…] : Hi")."""
    node = gateway_factory(setup=lambda url, port: _seed_history(url))
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    with http(node, admin) as c:

        def report(since: str, until: str, group: str = "day") -> dict[str, Any]:
            r = c.get("/api/reports", params={"since": since, "until": until, "group_by": group})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        days = report("2025-06-30", "2025-07-01")
        assert [(r["key"], r["conversations"], r["answered"], r["abandoned"]) for r in
                days["rows"]] == [("2025-06-30", 1, 1, 0), ("2025-07-01", 1, 0, 1)]  # fmt: skip
        first = days["rows"][0]
        assert abs(first["avg_wait"] - 0.4) < 0.01 and abs(first["avg_handle"] - 600.1) < 0.01
        assert days["total"]["abandonment_rate"] == 0.5
        assert [r["key"] for r in report("2025-07-01", "2025-07-01")["rows"]] == ["2025-07-01"]
        assert [r["key"] for r in report("2025-06-30", "2025-06-30")["rows"]] == ["2025-06-30"]
        assert report("2025-06-29", "2025-06-29")["rows"] == []
        agents = report("2025-06-30", "2025-07-01", "agent")["rows"]
        assert [(r["key"], r["label"]) for r in agents] == [
            ("", "(none)"),
            ("ag_gone", "ag_gone (deleted)"),
        ]
        queues = report("2025-06-30", "2025-07-01", "queue")["rows"]
        assert [(r["key"], r["label"], r["conversations"]) for r in queues] == [
            ("q_gone", "q_gone (deleted)", 1),
            ("q_support", "Support", 2),
        ]
        sheet = c.get(
            "/api/reports.csv",
            params={"since": "2025-06-30", "until": "2025-07-01", "group_by": "agent"},
        )
        assert next(
            row[:2] for row in csv.reader(io.StringIO(sheet.text)) if row[0] == "ag_gone"
        ) == ["ag_gone", "ag_gone (deleted)"]
        page = c.get("/api/console/history", params={"agent_id": "ag_gone"}).json()
        assert [(r["conversation_id"], r["agent_name"]) for r in page["items"]] == [
            ("cv_spans", "(deleted agent)")
        ]
        text = c.get("/api/console/history/cv_spans/export", params={"format": "text"}).text
        assert "(deleted agent): Hi, I am leaving the company" in text, text
        assert "Gone Agent joined" in text


def _seed_unsaved_contact(url: str) -> None:
    """A contact made by an email that wrote in (unsaved, its address its email) and one
    by an SMS sender (its number its phone): the oldest with each."""

    async def run() -> None:
        store = create_store(url)
        await store.open()
        try:
            await store.create_contact("ct_mail", email="dup@example.com", now=1.0)
            await store.create_contact("ct_sms", phone="+442079460958", now=2.0)
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def test_saving_a_contact_refuses_a_saved_duplicate_behind_an_unsaved_one(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    """Regression: the duplicate check looked only at the oldest contact with the email
    or phone; when that one was unsaved (an email or SMS sender's), a second saved
    contact with the same email or phone was made instead of a 409 and a merge. A
    signed identity matched that unsaved contact too, and saved it: a second saved
    contact again, instead of the saved one."""

    def setup(url: str, port: int) -> None:
        seed_security(url, port)  # tp_signed: a touchpoint with an identity secret
        _seed_unsaved_contact(url)

    node = gateway_factory(setup=setup)
    await admin_away(node)
    agent = demo_agent(node)
    first = await accepted_chat(agent, demo_visitor(node), name="Dee")
    with http(node, agent) as c:
        saved = c.put(
            f"/api/console/conversations/{first}/contact",
            json={"name": "Dee", "email": "dup@example.com", "phone": "+44 20 7946 0958"},
        )
        assert saved.status_code == 200, saved.text
        known = saved.json()["contact"]["id"]
    await ended(agent, first)
    second = demo_visitor(node)
    await second.bootstrap()
    await second.connect()
    cid = await second.start(name="D.")
    assert agent.sock
    await agent.sock.expect("offer", timeout=15)
    assert (await agent.act("accept", cid))["type"] == "ok"
    with http(node, agent) as c:
        for details in ({"email": "DUP@example.com"}, {"phone": "+442079460958"}):
            clash = c.put(f"/api/console/conversations/{cid}/contact", json=details)
            assert clash.status_code == 409, (details, clash.text)
            assert clash.json()["error"]["contact_id"] == known
        found = c.get("/api/console/contacts", params={"q": "dup@example.com"}).json()
        assert [x["id"] for x in found] == [known]
    # The site signs the same email: the visitor is the saved contact.
    email = "Dup@Example.com"
    signed = security_visitor(node, "tp_signed")
    async with httpx.AsyncClient() as client:
        r = await client.post(
            node.base_url + "/widget/bootstrap",
            json={
                "touchpoint_id": "tp_signed",
                "page_url": signed.page_url,
                "identity": {"email": email, "signature": sign(SECRET_OPTIONAL, email)},
            },
            headers={"Origin": signed.origin},
        )
    r.raise_for_status()
    signed.token, signed.visitor_id = r.json()["token"], r.json()["visitor_id"]
    await signed.connect()
    cid3 = await signed.start()
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    with http(node, admin) as c:
        assert c.get(f"/api/admin/conversations/{cid3}").json()["contact_id"] == known
        found = c.get("/api/console/contacts", params={"q": "dup@example.com"}).json()
        assert [x["id"] for x in found] == [known]


def _seed_many(url: str) -> None:
    """450 closed chats of "Müller" (three per instant: ties on created_at) on one day."""

    async def run() -> None:
        store = create_store(url)
        await store.open()
        try:
            contact = await store.create_contact("ct_many", name="Hans Müller", now=1.0)
            base = _at("2025-03-01 12:00:00.000000")
            for i in range(450):
                at = base + (i // 3) * 0.001
                await store.create_conversation(
                    Conversation(
                        id=f"cv_many_{i:04d}",
                        touchpoint_id="tp_demo_127",
                        channel="chat",
                        contact_id=contact.id,
                        address="v-many",
                        state="closed",
                        queue_ids=["q_support"],
                        created_at=at,
                        arrived_at=at,
                        ended_at=at + 60,
                        closed_at=at + 60,
                    )
                )
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def test_history_pages_of_hundreds_with_tied_times_hold_every_match_once(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    """A search that matches hundreds of conversations that arrived at the same instants,
    paged 200 at a time: every match once, none twice, in order (ties on the arrival
    instant broken by id)."""
    node = gateway_factory(setup=lambda url, port: _seed_many(url))
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    seen: list[str] = []
    before = ""
    with http(node, admin) as c:
        for _ in range(10):
            params = {"q": "MÜLLER", "limit": "200", "until": "2025-03-01"}
            if before:
                params["before"] = before
            page = c.get("/api/console/history", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [r["conversation_id"] for r in body["items"]]
            before = body.get("next_before") or ""
            if not before:
                break
    assert seen == [f"cv_many_{i:04d}" for i in reversed(range(450))]


def _seed_long(url: str) -> None:
    """A closed chat of 10,001 messages: one more than a transcript holds."""

    async def run() -> None:
        store = create_store(url)
        await store.open()
        try:
            contact = await store.create_contact("ct_long", name="Long", now=1.0)
            await store.create_conversation(
                Conversation(
                    id="cv_long",
                    touchpoint_id="tp_demo_127",
                    channel="chat",
                    contact_id=contact.id,
                    address="v-long",
                    state="closed",
                    owner_agent_id="ag_demo",
                    created_at=10.0,
                    ended_at=20.0,
                    closed_at=20.0,
                )
            )
            for start in range(0, 10_001, 500):
                await asyncio.gather(
                    *(
                        store.append_message(
                            "cv_long",
                            sender="contact",
                            sender_id="v-long",
                            client_msg_id=f"m{i}",
                            body=f"line {i}",
                            now=11.0 + i / 1e5,
                        )
                        for i in range(start, min(start + 500, 10_001))
                    )
                )
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def test_monitoring_opens_no_socket_in_the_connections_gauge(
    inprocess_gateway: InProcessGateway,
) -> None:
    """A monitor subscribes the supervisor's socket to a conversation: the gauge of open
    sockets counted it as one more agent socket (three monitors, four "sockets")."""
    agents = metrics.CONNECTIONS.labels(kind="agent")
    admin = AgentClient(inprocess_gateway, *ADMIN)
    await admin.login()
    await admin.connect()
    assert admin.sock
    open_now = agents._value.get()
    cids = []
    for _ in range(3):
        visitor = demo_visitor(inprocess_gateway)
        await visitor.bootstrap()
        await visitor.connect()
        cids.append(await visitor.start())
    for cid in cids:
        await admin.sock.send({"type": "monitor", "conversation_id": cid})
        await admin.sock.expect("ok", ref=f"monitor:{cid}")
    assert agents._value.get() == open_now
    await admin.sock.send({"type": "monitor", "conversation_id": cids[0], "on": False})
    await admin.sock.expect("ok", ref=f"monitor:{cids[0]}")
    assert agents._value.get() == open_now
    await admin.sock.close()
    # a gauge tells no one when it moves
    await until(lambda: agents._value.get() == open_now - 1, what="the monitor gauge down")


async def test_a_transcript_cut_at_its_limit_says_so(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    """Regression: a conversation longer than a transcript's 10,000 messages came back,
    and downloaded, as if it had no more: nothing said the rest was missing."""
    node = gateway_factory(setup=lambda url, port: _seed_long(url))
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    with http(node, admin) as c:
        t = c.get("/api/console/history/cv_long").json()
        assert len(t["lines"]) == 10_000 and t["truncated"] is True
        assert t["lines"][-1]["text"] == "line 9999"
        export = "/api/console/history/cv_long/export"
        text = c.get(export, params={"format": "text"}).text
        assert "Only the first 10,000 messages: the conversation has more." in text
        rows = list(csv.reader(io.StringIO(c.get(export, params={"format": "csv"}).text)))
        assert len(rows) == 1 + 10_000 + 1 and rows[-1][2] == "notice"
        assert c.get(export, params={"format": "json"}).json()["truncated"] is True


async def test_the_live_view_is_sent_whole_after_an_agent_is_deleted(
    gateway: services.GatewayProcess,
) -> None:
    """The router's rebuild after a deletion sent no update for the rows it dropped: an
    open Live view kept the deleted agent until it was opened again."""
    admin = await admin_away(gateway)
    assert admin.sock
    with http(gateway, admin) as c:
        r = c.post("/api/admin/agents", json={"name": "Temp", "email": "temp@example.com",
                                               "password": "a-long-password", "queue_ids": []})  # fmt: skip
        assert r.status_code == 201, r.text
        temp = r.json()["id"]
        await admin.sock.send({"type": "live"})
        live = await admin.sock.expect("live")
        assert temp in {a["agent_id"] for a in live["agents"]}
        assert c.delete(f"/api/admin/agents/{temp}").status_code == 204
    # the snapshots before the deletion (the one asked for, the one after the creation's
    # rebuild) show the agent; the one after the deletion's rebuild does not
    while temp in {a["agent_id"] for a in live["agents"]}:
        live = await admin.sock.expect("live")
    assert "ag_admin" in {a["agent_id"] for a in live["agents"]}
