"""A chat touchpoint's mailbox (settings.email_touchpoint_id): the answer to a left
message goes to the visitor by email, and an ended chat's transcript on request, through
a real email touchpoint (aiosmtpd takes the mail, Dovecot keeps the copy in Sent); the
gateway is the app in-process, driven over its real HTTP and WebSocket API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devkit import services
from devkit.inprocess import InProcessGateway
from tests.attachments.files import pdf
from tests.channels.email.mail import SmtpServer, count_in, settings_for
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import ADMIN, AGENT, demo_visitor

CHAT = "tp_demo_127"
TP = "/api/admin/touchpoints"


@pytest.fixture
async def gw() -> AsyncIterator[InProcessGateway]:
    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gateway:
        yield gateway


async def admin(gw: InProcessGateway) -> httpx.AsyncClient:
    async with gw.http() as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 200, r.text
    return gw.http(headers={"Authorization": f"Bearer {r.json()['token']}"})


async def add_mailbox(
    http: httpx.AsyncClient,
    dovecot: services.Dovecot,
    smtp: SmtpServer,
    tp_id: str = "tp_mail",
    direction: str = "outbound",
) -> str:
    """An active email touchpoint sending through aiosmtpd; its address."""
    address = f"support-{uuid.uuid4().hex[:8]}@example.test"
    dovecot.add_user(address, "secret")
    r = await http.post(
        TP,
        json={
            "id": tp_id,
            "name": "Support mailbox",
            "channel": "email",
            "direction": direction,
            "routing_mode": "simplified",
            "queue_ids": ["q_support"],
            "settings": settings_for(dovecot, smtp, address),
        },
    )
    assert r.status_code == 201, r.text
    r = await http.post(f"{TP}/{tp_id}/activate")
    assert r.status_code == 200, r.text
    return address


async def use_mailbox(http: httpx.AsyncClient, tp_id: str | None) -> httpx.Response:
    settings = {"email_touchpoint_id": tp_id} if tp_id is not None else {}
    return await http.patch(f"{TP}/{CHAT}", json={"settings": settings})


async def agent_online(gw: InProcessGateway) -> AgentClient:
    agent = AgentClient(gw, *AGENT)
    await agent.login()
    await agent.connect()
    return agent


async def leave_message(visitor: Visitor, body: str, email: str = "noor@example.com") -> str:
    await visitor.bootstrap()
    await visitor.connect()
    assert visitor.sock
    ref = uuid.uuid4().hex
    await visitor.sock.send(
        {
            "type": "start",
            "fields": {"name": "Noor", "email": email},
            "message": body,
            "client_msg_id": ref,
            "leave_message": True,
        }
    )
    cid = str((await visitor.sock.expect("started"))["conversation_id"])
    await visitor.sock.expect("ack", client_msg_id=ref)
    return cid


async def row_of(agent: AgentClient, cid: str) -> dict[str, Any]:
    assert agent.sock
    while True:
        row = await agent.sock.expect("conversation", timeout=10)
        if row["conversation"]["conversation_id"] == cid:
            return dict(row["conversation"])


async def test_the_chat_touchpoint_names_an_email_touchpoint_that_sends(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    async with await admin(gw) as http:
        visitor = demo_visitor(gw)
        config = (await visitor.bootstrap())["config"]
        assert config["answers_by_email"] is False and config["transcripts"] is False

        await add_mailbox(http, dovecot, smtp, "tp_in", direction="inbound")
        for value, why in (
            ("tp_nope", "unknown touchpoint id tp_nope"),
            ("tp_demo_127", "not an email one"),
            ("tp_in", "only receives email"),
            ("", "the id of an email touchpoint"),
        ):
            r = await use_mailbox(http, value)
            assert r.status_code == 422, r.text
            [problem] = r.json()["error"]["fields"]
            assert problem["field"] == "settings.email_touchpoint_id"
            assert why in problem["message"]
        r = await http.patch(f"{TP}/{CHAT}", json={"settings": {"mailbox": "x"}})
        assert (
            r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "settings.mailbox"
        )

        await add_mailbox(http, dovecot, smtp)
        r = await use_mailbox(http, "tp_mail")
        assert r.status_code == 200, r.text
        assert r.json()["settings"] == {"email_touchpoint_id": "tp_mail"}
        config = (await visitor.bootstrap())["config"]
        assert config["answers_by_email"] is True and config["transcripts"] is True

        # the mailbox deactivated: nothing is offered any more
        assert (await http.post(f"{TP}/tp_mail/deactivate")).status_code == 200
        config = (await visitor.bootstrap())["config"]
        assert config["answers_by_email"] is False and config["transcripts"] is False
        # and null clears the setting (a JSON merge patch)
        r = await http.patch(f"{TP}/{CHAT}", json={"settings": {"email_touchpoint_id": None}})
        assert r.status_code == 200 and r.json()["settings"] == {}, r.text
    assert smtp.recorder.messages == []


async def test_the_answer_to_a_left_message_is_emailed_and_shown_on_the_next_visit(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    async with await admin(gw) as http:
        address = await add_mailbox(http, dovecot, smtp)
        assert (await use_mailbox(http, "tp_mail")).status_code == 200
    agent = await agent_online(gw)
    visitor = demo_visitor(gw)
    cid = await leave_message(visitor, "Do you ship to Oslo?")
    row = await row_of(agent, cid)
    assert row["left_message"] is True
    assert row["channel_state"]["notice"] == (
        "Your answer is emailed to noor@example.com (from Support mailbox) and shown on the "
        "visitor's next visit."
    )
    assert visitor.sock
    await visitor.sock.close()  # the visitor leaves

    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Yes, <b>we do</b>: 3 days.")
    assert agent.sock
    delivery = await agent.sock.expect("delivery", seq=ack["seq"], timeout=30)
    assert delivery["status"] == "sent"
    [mail] = await smtp.recorder.until(1)
    assert mail["To"] == "noor@example.com"
    assert address in mail["From"] and "Demo shop" in mail["From"]
    assert mail["Subject"] == "Re: your message to Demo shop"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Ada (demo agent) wrote:")
    assert "Yes, <b>we do</b>: 3 days." in text and "> Do you ship to Oslo?" in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;we do&lt;/b&gt;" in html and "<b>we do</b>" not in html
    assert await count_in(dovecot, address, "Sent", mail["Message-ID"]) == 1

    # the agent's files go along as the email's attachments
    async with gw.http(headers={"Authorization": f"Bearer {agent.token}"}) as http:
        r = await http.post(
            f"/api/conversations/{cid}/attachments", params={"name": "quote.pdf"}, content=pdf()
        )
    assert r.status_code == 201, r.text
    client_id = uuid.uuid4().hex
    await agent.sock.send(
        {
            "type": "send",
            "conversation_id": cid,
            "body": "The quote.",
            "client_msg_id": client_id,
            "attachments": [r.json()["attachment"]["id"]],
        }
    )
    ack = await agent.sock.expect("ack", client_msg_id=client_id)
    assert (await agent.sock.expect("delivery", seq=ack["seq"], timeout=30))["status"] == "sent"
    _, second = await smtp.recorder.until(2)
    [part] = list(second.iter_attachments())  # type: ignore[attr-defined]
    assert part.get_filename() == "quote.pdf" and part.get_content() == pdf()

    # and the next visit shows it too
    welcome = await visitor.connect(resume=False)
    assert welcome["conversation"]["conversation_id"] == cid
    assert welcome["conversation"]["unread"] == 2


async def test_a_visitor_who_is_connected_reads_the_answer_live_and_is_not_emailed(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    async with await admin(gw) as http:
        await add_mailbox(http, dovecot, smtp)
        assert (await use_mailbox(http, "tp_mail")).status_code == 200
    agent = await agent_online(gw)
    visitor = demo_visitor(gw)
    cid = await leave_message(visitor, "Still there?")
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Yes, right here.")
    assert visitor.sock and agent.sock
    live = await visitor.sock.expect("message", seq=ack["seq"])
    assert live["body"] == "Yes, right here." and live.get("delivery", "") == ""
    assert ack["message"].get("delivery", "") == ""  # no delivery job
    assert smtp.recorder.messages == []


async def test_without_a_mailbox_the_answer_waits_for_the_next_visit_and_the_agent_is_told(
    gw: InProcessGateway, smtp: SmtpServer
) -> None:
    agent = await agent_online(gw)
    visitor = demo_visitor(gw)
    cid = await leave_message(visitor, "Call me back?")
    row = await row_of(agent, cid)
    assert "visitor sees your answer on their next visit only" in row["channel_state"]["notice"]
    assert visitor.sock
    await visitor.sock.close()
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "We will call at 5.")
    # its own message comes back in the ack (docs/protocol.md)
    assert ack["message"].get("delivery", "") == ""  # no delivery job: nothing to send
    welcome = await visitor.connect(resume=False)
    assert welcome["conversation"]["unread"] == 1
    assert smtp.recorder.messages == []


async def ended_chat(gw: InProcessGateway, agent: AgentClient) -> tuple[Visitor, str]:
    """A chat Ada answered, with a note, ended by the visitor."""
    visitor = demo_visitor(gw)
    await visitor.bootstrap()
    await visitor.connect()
    cid = await visitor.start("Is <script>x</script> safe?", name="Noor", email="noor@example.com")
    assert agent.sock and visitor.sock
    offer = await agent.sock.expect("offer", timeout=10)
    assert offer["conversation"]["conversation_id"] == cid
    assert (await agent.act("accept", cid))["type"] == "ok"
    await agent.say(cid, "Yes & it stays text.")
    ref = uuid.uuid4().hex[:12]
    await agent.sock.send(
        {"type": "note", "conversation_id": cid, "body": "INTERNAL: vip customer", "ref": ref}
    )
    await agent.sock.expect_any(("ok", "note"), ref=ref)
    return visitor, cid


async def ask(visitor: Visitor, cid: str, email: str) -> dict[str, Any]:
    assert visitor.sock
    ref = uuid.uuid4().hex[:12]
    await visitor.sock.send(
        {"type": "transcript", "conversation_id": cid, "email": email, "ref": ref}
    )
    return await visitor.sock.expect_any(("ok", "error"), ref=ref)


async def test_a_transcript_by_email_on_request_at_most_three_times(
    gw: InProcessGateway, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    async with await admin(gw) as http:
        await add_mailbox(http, dovecot, smtp)
        assert (await use_mailbox(http, "tp_mail")).status_code == 200
    agent = await agent_online(gw)
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "available", "ref": "s"})
    await agent.sock.expect("ok", ref="s")
    visitor, cid = await ended_chat(gw, agent)

    refused = await ask(visitor, cid, "noor@example.com")
    assert refused["type"] == "error" and refused["code"] == "not_ended"
    assert visitor.sock
    await visitor.sock.send({"type": "end", "conversation_id": cid, "ref": "end"})
    await visitor.sock.expect("ok", ref="end")

    for email, code in (
        ("not an address", "invalid_field"),
        ("noor@", "invalid_field"),
    ):
        error = await ask(visitor, cid, email)
        assert error["type"] == "error" and error["code"] == code, error
    error = await ask(visitor, "cv_" + "0" * 20, "noor@example.com")
    assert error["code"] == "not_found"
    assert smtp.recorder.messages == []

    smtp.recorder.refuse, smtp.recorder.refuse_once = "550 5.1.1 no such user", True
    error = await ask(visitor, cid, "noor@example.com")
    assert error["code"] == "transcript_not_sent" and error["retryable"] is True

    for n in range(1, 4):
        ok = await ask(visitor, cid, "noor@example.com")
        assert ok["type"] == "ok", ok
        assert len(await smtp.recorder.until(n)) == n
    over = await ask(visitor, cid, "noor@example.com")
    assert over["code"] == "transcript_limit"
    assert len(smtp.recorder.messages) == 3

    mail = smtp.recorder.messages[0][2]
    assert smtp.recorder.messages[0][1] == ["noor@example.com"]
    assert mail["Subject"] == "Your chat with Demo shop"
    assert mail["Auto-Submitted"] == "auto-replied"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Is <script>x</script> safe?" in text and "Yes & it stays text." in text
    assert "Noor, " in text and "Ada (demo agent), " in text and " UTC:" in text
    assert "INTERNAL" not in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "Yes &amp; it stays text." in html and "INTERNAL" not in html


async def test_no_transcript_without_a_mailbox(gw: InProcessGateway, smtp: SmtpServer) -> None:
    agent = await agent_online(gw)
    assert agent.sock
    await agent.sock.send({"type": "status", "status": "available", "ref": "s"})
    await agent.sock.expect("ok", ref="s")
    visitor, cid = await ended_chat(gw, agent)
    assert visitor.sock
    await visitor.sock.send({"type": "end", "conversation_id": cid, "ref": "end"})
    await visitor.sock.expect("ok", ref="end")
    error = await ask(visitor, cid, "noor@example.com")
    assert error["code"] == "transcript_unavailable"
    assert smtp.recorder.messages == []
