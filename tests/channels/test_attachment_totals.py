"""A message's files within its channel's count and total (PRODUCT.md, email
"attachments up to 25 MB total"; docs/attachments.md, "Rules per channel"), through a
real gateway: the agent uploads over HTTP, each file within the per-file limit, and
sends them over the console socket. Files that add up to more than the channel's total,
or more files than it takes, are refused with the documented code; nothing is stored
or sent, and the uploads still go in a smaller message.

Email on the demo mailbox (a real gateway process with the demo data); SMS/MMS (10
files, 5 MB in all) against the Twilio emulator (tests/channels/test_media.py), both
ways: a contact's files past the total are left out of the message and named in the
agent's notice, as their count past the rule's is."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from gateway.model.attachment_rules import MB, RULES
from tests.attachments import files
from tests.attachments.test_gateway import agent_upload
from tests.channels.support import agent_on, history, inbox_conversation, send_files
from tests.channels.test_media import US_LINE, US_PHONE, medium, sms  # noqa: F401 - fixtures
from tests.gateway.client import AgentClient

CUSTOMER = "casey@customer.test"


def pdf_of(size: int) -> bytes:
    """A PDF of exactly ``size`` bytes (stored as sent: only images are rewritten)."""
    data = files.pdf(size - len(files.pdf()))
    assert len(data) == size
    return data


async def uploaded(agent: AgentClient, cid: str, name: str, data: bytes) -> str:
    r = await agent_upload(agent, cid, name, data)
    assert r.status_code == 201, r.text
    assert r.json()["attachment"]["size"] == len(data)
    return str(r.json()["attachment"]["id"])


async def smalls(agent: AgentClient, cid: str, count: int) -> list[str]:
    return [await uploaded(agent, cid, f"note-{i}.pdf", files.pdf(i)) for i in range(count)]


def agent_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i["type"] == "message" and i["sender"] == "agent"]


async def refusal(agent: AgentClient, cid: str, ids: list[str]) -> dict[str, Any]:
    frame = await send_files(agent, cid, "", ids, uuid.uuid4().hex)
    assert frame["type"] == "error", frame
    return frame


# -- email: 20 files, 25 MB per message --------------------------------------------------


@pytest.fixture
async def demo() -> AsyncIterator[services.GatewayProcess]:
    gw = services.start_gateway({"GATEWAY_DEMO": "1"})
    try:
        yield gw
    finally:
        gw.stop()


async def sent_to(node: services.GatewayProcess, address: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        r = await http.get("/demo/email/messages", params={"address": address})
    r.raise_for_status()
    return list(r.json())


async def test_email_refuses_files_over_25_mb_in_all_or_over_20(
    demo: services.GatewayProcess,
) -> None:
    rule = RULES["email"]
    assert (rule.max_files, rule.max_total_bytes, rule.max_file_bytes) == (20, 25 * MB, 25 * MB)
    agent = await agent_on(demo)
    assert agent.sock
    async with httpx.AsyncClient(base_url=demo.base_url, timeout=30) as http:
        r = await http.post(
            "/demo/email/messages",
            json={"from": CUSTOMER, "name": "Casey", "subject": "Files", "text": "Send them"},
        )
        assert r.status_code == 201, r.text
    cid = str((await inbox_conversation(agent, "email"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    auto: list[dict[str, Any]] = []
    for _ in range(300):  # the auto-reply, through the demo post office (nothing announces it)
        auto = await sent_to(demo, CUSTOMER)
        if auto:
            break
        await asyncio.sleep(0.1)
    assert [m["subject"] for m in auto] == ["Re: Files"]

    # each within 25 MB, together one byte over
    big = await uploaded(agent, cid, "contract.pdf", pdf_of(13 * MB))
    rest = await uploaded(agent, cid, "annex.pdf", pdf_of(12 * MB + 1))
    over = await refusal(agent, cid, [big, rest])
    assert over["code"] == "file_too_large", over
    assert "add up to" in over["message"] and str(25 * MB) in over["message"]
    # 21 files, each small: the send frame carries at most 20 ids (docs/protocol.md,
    # "Files"), so the email rule's 20 is refused by the frame's own check
    notes = await smalls(agent, cid, 21)
    many = await refusal(agent, cid, notes)
    assert many["code"] == "invalid_field" and "attachments" in many["message"], many

    # nothing stored, nothing sent: the uploads go in a message within the rule
    assert agent_messages(await history(agent, cid)) == []
    fits = [big, *notes[:19]]  # 20 files, 13 MB and a little
    ack = await send_files(agent, cid, "Here they are", fits, "fits")
    assert ack["type"] == "ack", ack
    assert [a["id"] for a in ack["message"]["attachments"]] == fits
    await agent.sock.expect("delivery", seq=ack["seq"], status="sent", timeout=30)
    assert [m["subject"] for m in await sent_to(demo, CUSTOMER)] == ["Re: Files", "Re: Files"]
    [stored] = agent_messages(await history(agent, cid))
    assert stored["seq"] == ack["seq"] and len(stored["attachments"]) == 20
    # exactly 25 MB in all is within the rule: the rest of the refused message goes
    exact = await uploaded(agent, cid, "summary.pdf", pdf_of(12 * MB - 1))
    ack = await send_files(agent, cid, "", [rest, exact], "exact")
    assert ack["type"] == "ack", ack


# -- SMS/MMS: 10 files, 5 MB per message -------------------------------------------------


async def test_mms_refuses_files_over_5_mb_in_all_or_over_10(
    sms: services.GatewayProcess,  # noqa: F811
    twilio: EmulatorClient,
) -> None:
    rule = RULES["sms"]
    assert (rule.max_files, rule.max_total_bytes, rule.max_file_bytes) == (10, 5 * MB, 5 * MB)
    agent = await agent_on(sms)
    assert agent.sock
    await twilio.phone_send(to=US_LINE, body="hi", **{"from": US_PHONE})
    cid = str((await inbox_conversation(agent, "sms"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"

    photo = await uploaded(agent, cid, "photo.pdf", pdf_of(3 * MB))
    scan = await uploaded(agent, cid, "scan.pdf", pdf_of(2 * MB + 1))
    over = await refusal(agent, cid, [photo, scan])
    assert over["code"] == "file_too_large" and str(5 * MB) in over["message"], over
    notes = await smalls(agent, cid, 11)
    many = await refusal(agent, cid, notes)
    assert many["code"] == "too_many_files" and "10" in many["message"], many
    assert agent_messages(await history(agent, cid)) == []
    assert await twilio.sent() == []

    # the same uploads, within the rule: 5 MB exactly, then 10 files
    exact = await uploaded(agent, cid, "page.pdf", pdf_of(2 * MB))
    first = await send_files(agent, cid, "Two pages", [photo, exact], "exact")
    assert first["type"] == "ack", first
    second = await send_files(agent, cid, "Notes", notes[:10], "ten")
    assert second["type"] == "ack", second
    for ack in (first, second):
        await agent.sock.expect("delivery", seq=ack["seq"], status="delivered", timeout=30)
    sent = await twilio.sent(2)
    assert sorted(len(m["MediaUrl"]) for m in sent) == [2, 10]
    assert [len(m["attachments"]) for m in agent_messages(await history(agent, cid))] == [2, 10]


async def test_a_contacts_mms_keeps_the_files_that_fit_the_total_and_names_the_rest(
    sms: services.GatewayProcess,  # noqa: F811
    twilio: EmulatorClient,
) -> None:
    agent = await agent_on(sms)
    first, second, third = pdf_of(3 * MB), pdf_of(3 * MB - 7), pdf_of(2 * MB)
    await twilio.phone_send(
        to=US_LINE,
        body="Three scans",
        media=[medium(d, "application/pdf") for d in (first, second, third)],
        **{"from": US_PHONE},
    )
    cid = str(
        (await inbox_conversation(agent, "sms", last_message="Three scans"))["conversation_id"]
    )
    assert (await agent.act("assign", cid))["type"] == "ok"
    items = await history(agent, cid)
    # the second would take the message past 5 MB; the third still fits beside the first
    [message] = [i for i in items if i["type"] == "message"]
    assert [(a["name"], a["size"]) for a in message["attachments"]] == [
        ("mms-1.pdf", len(first)),
        ("mms-3.pdf", len(third)),
    ]
    [notice] = [i for i in items if i["type"] == "event" and i["event"] == "notice"]
    assert "mms-2" in notice["text"] and str(5 * MB) in notice["text"], notice
    assert "mms-1" not in notice["text"] and "mms-3" not in notice["text"]
