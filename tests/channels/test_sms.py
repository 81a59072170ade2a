"""SMS through Twilio's API, against the Twilio emulator over real HTTP: inbound
webhooks, sending, status callbacks, keywords, refusals, faults (docs/channels/sms.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import pytest
from twilio.request_validator import RequestValidator

from channels.sms.keywords import REPLIES
from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.support import (
    ACCOUNT,
    TOKEN,
    admin_get,
    admin_token,
    agent_on,
    declared_body_status,
    history,
    inbox_conversation,
    sms_touchpoint,
    start,
)
from tests.gateway.client import AgentClient
from tests.gateway.conftest import ADMIN
from tests.poll import until

NUMBER = "+14155550100"
OTHER_NUMBER = "+14155550123"
PHONE = "+12025550143"
OTHER_PHONE = "+12025550187"

Factory = Callable[..., services.GatewayProcess]


async def configure(twilio: EmulatorClient, node: services.GatewayProcess, **numbers: str) -> None:
    """The emulator's account, and its numbers' webhooks at this gateway."""
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            number: {
                "account": ACCOUNT,
                "sms_url": f"{node.base_url}/webhooks/sms/{tp_id}",
                "status": "ok",
            }
            for tp_id, number in numbers.items()
        },
    )


@pytest.fixture
async def line(
    gateway_factory: Factory,
    twilio: EmulatorClient,
) -> services.GatewayProcess:
    node = start(
        gateway_factory,
        sms_touchpoint("tp_sms", NUMBER, twilio.base_url),
        sms_touchpoint("tp_sms2", OTHER_NUMBER, twilio.base_url),
    )
    await configure(twilio, node, tp_sms=NUMBER, tp_sms2=OTHER_NUMBER)
    return node


async def assigned(agent: AgentClient, twilio: EmulatorClient, body: str = "Hello?") -> str:
    """The phone texts the line; the agent takes the conversation; its id."""
    await twilio.phone_send(to=NUMBER, body=body, **{"from": PHONE})
    conv = await inbox_conversation(agent, "sms")
    assert (await agent.act("assign", conv["conversation_id"]))["type"] == "ok"
    return str(conv["conversation_id"])


async def test_a_text_reaches_the_agent_whose_reply_is_sent_and_tracked(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    await twilio.phone_send(to=NUMBER, body="Is my order shipped?", **{"from": PHONE})
    conv = await inbox_conversation(agent, "sms", last_message="Is my order shipped?")
    assert conv["contact_name"] == PHONE  # no name known: the number
    assert conv["last_message"] == "Is my order shipped?"
    assert conv["channel_state"]["segments"] is True
    assert conv["channel_state"]["attachments"] is True  # US to US: MMS allowed
    cid = conv["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Yes, it left today.")
    [sent] = await twilio.sent(1)
    assert (sent["From"], sent["To"], sent["Body"]) == (NUMBER, PHONE, "Yes, it left today.")
    callback = f"{line.base_url}/webhooks/sms/tp_sms/status?m={cid}.{ack['seq']}"
    assert sent["StatusCallback"] == callback
    assert agent.sock
    for status in ("sent", "delivered"):
        frame = await agent.sock.expect("delivery", seq=ack["seq"], status=status)
        assert frame["conversation_id"] == cid
    inbox = await twilio._call("GET", f"/_emulator/phone/{PHONE}/inbox")
    assert [m["body"] for m in inbox] == ["Yes, it left today."]


async def test_a_bad_or_missing_signature_is_403_and_stores_nothing(
    line: services.GatewayProcess,
) -> None:
    url = f"{line.base_url}/webhooks/sms/tp_sms"
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": PHONE,
        "To": NUMBER,
        "Body": "hi",
        "AccountSid": ACCOUNT,
    }
    good = RequestValidator(TOKEN).compute_signature(url, params)
    async with httpx.AsyncClient() as http:
        for headers in (
            {},
            {"X-Twilio-Signature": "bm90IGl0"},
            {"X-Twilio-Signature": RequestValidator("other").compute_signature(url, params)},
        ):
            r = await http.post(
                url,
                content=urlencode(params),
                headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            )
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "bad_signature"
        # the same body with a tampered field
        tampered = {**params, "Body": "hi there"}
        r = await http.post(
            url,
            content=urlencode(tampered),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": good,
            },
        )
        assert r.status_code == 403
    contacts = await admin_get(line, "/api/admin/touchpoints/tp_sms")
    assert contacts["id"] == "tp_sms"
    agent = await agent_on(line)
    assert [c for c in agent.snapshot["inbox"] if c["channel"] == "sms"] == []


async def test_malformed_unknown_and_oversized_webhooks_are_clear_4xx(
    line: services.GatewayProcess,
) -> None:
    def signed(path: str, params: dict[str, str]) -> tuple[str, dict[str, str], str]:
        url = line.base_url + path
        sig = RequestValidator(TOKEN).compute_signature(url, params)
        return (
            url,
            {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
            urlencode(params),
        )

    async with httpx.AsyncClient() as http:
        url, headers, body = signed("/webhooks/sms/tp_sms", {"Body": "no sender"})
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 422 and "MessageSid" in r.text
        url, headers, body = signed(
            "/webhooks/sms/tp_sms",
            {"MessageSid": "SMx", "From": "not a number", "To": NUMBER, "Body": "hi"},
        )
        assert (await http.post(url, content=body, headers=headers)).status_code == 422
        url, headers, body = signed("/webhooks/sms/tp_nope", {"MessageSid": "SMx"})
        assert (await http.post(url, content=body, headers=headers)).status_code == 404
        # an id no provider gives (PostgreSQL refuses a NUL: it was a 500 there), or a
        # text past the model's 100,000 characters (Twilio's limit is 1,600)
        base = {"MessageSid": "SMy", "From": PHONE, "To": NUMBER, "Body": "hi"}
        for bad in (
            {"MessageSid": "SM\x00y"},
            {"MessageSid": "SM" + "9" * 250},
            {"Body": "x" * 100_001},
        ):
            url, headers, body = signed("/webhooks/sms/tp_sms", {**base, **bad})
            r = await http.post(url, content=body, headers=headers)
            assert r.status_code == 422, r.text
        # past GATEWAY_MAX_WEBHOOK_BODY_BYTES (3 MiB, sized for Meta's batches)
        assert await declared_body_status(line, "/webhooks/sms/tp_sms", 3 * 2**20 + 1) == 413
    agent = await agent_on(line)
    assert [c for c in agent.snapshot["inbox"] if c["channel"] == "sms"] == []


async def test_a_provider_retry_stores_nothing_twice_and_unanswered_webhooks_are_retried(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    sid = "SM" + "ab" * 16
    await twilio.phone_send(to=NUMBER, body="once", sid=sid, **{"from": PHONE})
    cid = (await inbox_conversation(agent, "sms"))["conversation_id"]
    await twilio.phone_send(to=NUMBER, body="once", sid=sid, **{"from": PHONE})  # a retry
    hooks = await twilio.webhooks()
    assert [h["attempts"] for h in hooks] == [[200], [200]]
    assert (await agent.act("assign", cid))["type"] == "ok"
    assert agent.sock
    await agent.sock.send({"type": "history", "conversation_id": cid})
    history = await agent.sock.expect("history")
    assert [m["body"] for m in history["items"] if m["type"] == "message"] == ["once"]
    # a number whose webhook points at a touchpoint the gateway does not know: 404,
    # and the provider tries again as many times as it retries
    await twilio.configure(
        numbers={
            "+14155550188": {"account": ACCOUNT, "sms_url": f"{line.base_url}/webhooks/sms/tp_gone"}
        }
    )
    await twilio.phone_send(to="+14155550188", body="anyone?", **{"from": PHONE})
    hooks = await twilio.webhooks()
    assert hooks[-1]["attempts"] == [404, 404, 404] and not hooks[-1]["delivered"]


async def test_stop_blocks_every_number_start_lifts_it_help_answers(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    assert agent.sock
    await twilio.phone_send(to=NUMBER, body="  Stop! ", **{"from": PHONE})
    update = await agent.sock.expect("conversation", timeout=15)
    while update["conversation"].get("channel_state", {}).get("locked") != "opted_out":
        update = await agent.sock.expect("conversation", timeout=15)
    assert "texted STOP" in update["conversation"]["channel_state"]["notice"]
    [reply] = await twilio.sent(1)
    assert reply["To"] == PHONE and "unsubscribed" in reply["Body"]
    refused = await send_refused(agent, cid)
    assert refused["code"] == "opted_out" and "START" in refused["message"]
    # every SMS number of the gateway: the other line refuses too
    await twilio.phone_send(to=OTHER_NUMBER, body="other line", **{"from": PHONE})
    other = await inbox_conversation(agent, "sms", touchpoint_id="tp_sms2")
    assert other["channel_state"]["locked"] == "opted_out"
    # "STOP PLEASE" is an ordinary message; HELP answers; START lifts the block
    await twilio.phone_send(to=NUMBER, body="STOP PLEASE", **{"from": PHONE})
    await twilio.phone_send(to=NUMBER, body="help", **{"from": PHONE})
    sent = await twilio.sent(2)
    assert "Reply STOP to unsubscribe" in sent[1]["Body"]
    await twilio.phone_send(to=NUMBER, body="START", **{"from": PHONE})
    sent = await twilio.sent(3)
    assert "re-subscribed" in sent[2]["Body"]
    ack = await agent.say(cid, "Welcome back")
    assert ack["seq"] > 0
    assert (await twilio.sent(4))[3]["Body"] == "Welcome back"


async def send_refused(agent: AgentClient, cid: str) -> dict[str, object]:
    assert agent.sock
    await agent.sock.send(
        {
            "type": "send",
            "conversation_id": cid,
            "body": "Are you there?",
            "client_msg_id": "refused-1",
        }
    )
    return await agent.sock.expect("error", ref="refused-1")


async def test_the_providers_unsubscribed_error_fails_the_message_and_records_the_opt_out(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    await twilio.unsubscribe(PHONE)  # the carrier knew before the gateway
    ack = await agent.say(cid, "Hello?")
    assert agent.sock
    frame = await agent.sock.expect("delivery", seq=ack["seq"], status="failed")
    assert "unsubscribed" in frame["reason"]
    [refused] = await twilio.sent(1)
    assert refused["refused"] == 400
    assert (await send_refused(agent, cid))["code"] == "opted_out"


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [("unverified_tollfree", 30032, "toll-free"), ("unregistered_a2p", 30034, "A2P")],
)
async def test_an_unverified_sender_fails_to_send_and_notifies_the_admins(
    gateway_factory: Factory,
    twilio: EmulatorClient,
    status: str,
    code: int,
    words: str,
) -> None:
    number = "+18005550100" if status == "unverified_tollfree" else NUMBER
    node = start(gateway_factory, sms_touchpoint("tp_sms", number, twilio.base_url))
    await twilio.configure(
        accounts={ACCOUNT: TOKEN},
        numbers={
            number: {
                "account": ACCOUNT,
                "sms_url": f"{node.base_url}/webhooks/sms/tp_sms",
                "status": status,
            }
        },
    )
    admin = await agent_on(node, ("admin@demo.test", "demo-admin"))
    agent = await agent_on(node)
    await twilio.phone_send(to=number, body="hi", **{"from": PHONE})
    cid = (await inbox_conversation(agent, "sms"))["conversation_id"]
    assert (await agent.act("assign", cid))["type"] == "ok"
    ack = await agent.say(cid, "Hello from us")
    assert agent.sock and admin.sock
    failed = await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=15)
    assert failed["reason"].startswith("Failed to send message") and words in failed["reason"]
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_sms"
    assert f"error {code}" in notice["message"]
    listed = await admin_get(node, "/api/admin/notices")
    assert [n["id"] for n in listed] == [notice["id"]]
    # the same refusal again is not a second notice (one per hour and touchpoint)
    ack2 = await agent.say(cid, "Second try")
    await agent.sock.expect("delivery", seq=ack2["seq"], status="failed", timeout=15)
    assert len(await admin_get(node, "/api/admin/notices")) == 1


async def test_sends_are_retried_on_5xx_never_on_4xx(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    await twilio.fail(503)
    ack = await agent.say(cid, "after a hiccup")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="sent", timeout=20)
    sent = await twilio.sent(2)
    assert [s.get("refused") for s in sent] == [503, None]
    await twilio.fail(
        400,
        body={
            "code": 21617,
            "message": "The concatenated message body exceeds the 1600 character limit.",
            "status": 400,
        },
    )
    ack = await agent.say(cid, "refused for good")
    failed = await agent.sock.expect("delivery", seq=ack["seq"], status="failed", timeout=20)
    assert "21617" in failed["reason"]
    assert len(await twilio.sent(3)) == 3  # no retry after a 4xx


async def test_dedicated_routing_lands_in_the_agents_assigned_list(
    gateway_factory: Factory,
    twilio: EmulatorClient,
) -> None:
    node = start(
        gateway_factory,
        sms_touchpoint(
            "tp_sms",
            NUMBER,
            twilio.base_url,
            routing_mode="dedicated",
            queue_ids=[],
            dedicated_agent_id="ag_demo",
        ),
    )
    await configure(twilio, node, tp_sms=NUMBER)
    agent = await agent_on(node)
    await twilio.phone_send(to=NUMBER, body="my usual agent please", **{"from": PHONE})
    conv = await inbox_conversation(agent, "sms", place="assigned")
    assert conv["dedicated"] is True and conv["state"] == "assigned"
    ack = await agent.say(conv["conversation_id"], "Hi, it's me again")
    assert ack["seq"] > 0
    assert (await twilio.sent(1))[0]["Body"] == "Hi, it's me again"


async def dedicated_waiting(
    factory: Factory, twilio: EmulatorClient, **fields: Any
) -> tuple[services.GatewayProcess, dict[str, Any]]:
    """A gateway whose SMS number is ag_demo's (dedicated, the q_support queue), with a
    text waiting in the agent's backlog (they are offline): the gateway and its live row."""
    node = start(
        factory,
        sms_touchpoint(
            "tp_sms",
            NUMBER,
            twilio.base_url,
            routing_mode="dedicated",
            queue_ids=["q_support"],
            dedicated_agent_id="ag_demo",
            **fields,
        ),
    )
    await configure(twilio, node, tp_sms=NUMBER)
    await twilio.phone_send(to=NUMBER, body="for my usual agent", **{"from": PHONE})
    # stored and routed by the webhook (nothing tells a test)
    [waiting] = await until(
        lambda: live_sms(node),
        lambda rows: [c["state"] for c in rows] == ["waiting"],
        what="the text waiting",
    )
    assert (waiting["state"], waiting["agent_id"], waiting["dedicated"]) == ("waiting", "", True)
    return node, waiting


async def live_sms(node: services.GatewayProcess) -> list[dict[str, Any]]:
    """The SMS rows of the supervisors' live view (the admin API's)."""
    page = await admin_get(node, "/api/admin/live/conversations?channel=sms")
    return list(page["items"])


async def restarted(gw: services.GatewayProcess) -> services.GatewayProcess:
    gw.stop()
    return services.start_gateway(gw.env, port=gw.port)


async def test_a_dedicated_conversation_waiting_for_its_agent_survives_a_restart(
    gateway_factory: Factory,
    twilio: EmulatorClient,
) -> None:
    """Regression: a dedicated conversation waiting for its offline agent was dropped
    from the router by a restart (restored without its agent: refused), so it reached
    no one; and one sent back to the Inbox went back to the agent's backlog."""
    node, waiting = await dedicated_waiting(gateway_factory, twilio)
    node = await restarted(node)
    try:
        assert [c["id"] for c in await live_sms(node)] == [waiting["id"]]
        # its agent comes: it is theirs, as dedicated
        agent = await agent_on(node)
        row = await inbox_conversation(agent, "sms", place="assigned")
        assert row["conversation_id"] == waiting["id"] and row["dedicated"] is True
        # sent back to the Inbox it is no longer dedicated, and stays so over a restart
        assert (await agent.act("send_to_inbox", waiting["id"]))["type"] == "ok"
        assert agent.sock
        await agent.sock.close()
        node = await restarted(node)
        agent = await agent_on(node)
        assert [c["conversation_id"] for c in agent.snapshot["inbox"]] == [waiting["id"]]
        assert agent.snapshot["assigned"] == []
    finally:
        node.stop()


async def test_a_text_a_dedicated_agent_starts_on_their_number_is_theirs_over_a_restart(
    gateway_factory: Factory,
    twilio: EmulatorClient,
) -> None:
    """Regression: an agent's start on their own dedicated number was an ordinary
    conversation (their going offline would send it to the queue), and the store kept
    only ``how == "dedicated"`` as dedicated: it is theirs as dedicated, kept so by the
    store, so a restart's rebuild brings it back the same."""
    node, _ = await dedicated_waiting(gateway_factory, twilio, direction="both")
    agent = await agent_on(node)  # the waiting text is theirs now; they text another
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{node.base_url}/api/conversations",
            json={
                "touchpoint_id": "tp_sms",
                "address": OTHER_PHONE,
                "client_msg_id": "start-1",
                "body": "Hi, Ada here",
            },
            headers={"Authorization": f"Bearer {agent.token}"},
        )
    assert r.status_code == 201, r.text
    started = r.json()["conversation_id"]
    [row] = [c for c in await live_sms(node) if c["id"] == started]
    assert (row["state"], row["agent_id"], row["dedicated"]) == ("assigned", "ag_demo", True)
    assert agent.sock
    await agent.sock.close()
    node = await restarted(node)
    try:
        [row] = [c for c in await live_sms(node) if c["id"] == started]
        assert (row["state"], row["agent_id"], row["dedicated"]) == ("assigned", "ag_demo", True)
    finally:
        node.stop()


async def test_a_deactivated_dedicated_agents_backlog_goes_to_the_inbox(
    gateway_factory: Factory,
    twilio: EmulatorClient,
) -> None:
    """Regression: deactivating the agent of a dedicated number (what the refusal to
    delete them advises) rebuilt the router without them, and the conversations waiting
    in their backlog were refused and reached no one. They go to the Inbox of the
    touchpoint's queues, as the docs say of a removed dedicated agent."""
    node, waiting = await dedicated_waiting(gateway_factory, twilio)
    token = await admin_token(node)
    async with httpx.AsyncClient() as http:
        r = await http.patch(
            f"{node.base_url}/api/admin/agents/ag_demo",
            json={"active": False},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    [still] = await live_sms(node)
    assert (still["id"], still["state"], still["agent_id"]) == (waiting["id"], "waiting", "")
    assert waiting["dedicated"] is True and still["dedicated"] is False
    # in the Inbox of the queue: an admin (every queue's Inbox) sees it there
    admin = await agent_on(node, ADMIN)
    assert [c["conversation_id"] for c in admin.snapshot["inbox"]] == [waiting["id"]]


async def test_a_restart_between_commit_and_send_loses_nothing(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    await twilio.fail(503, count=1)
    await agent.say(cid, "written before the restart")
    await twilio.sent(1)  # the first attempt failed: the message waits for a retry
    line.stop()
    again = services.start_gateway(line.env, port=line.port)
    try:
        sent = await twilio.sent(2, timeout=30)
        assert sent[1]["Body"] == "written before the restart" and "sid" in sent[1]
    finally:
        again.stop()


async def test_secrets_never_appear_in_api_reads_or_logs(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    tp = await admin_get(line, "/api/admin/touchpoints/tp_sms")
    assert "auth_token" not in tp["settings"] and tp["settings"]["auth_token_set"] is True
    assert tp["settings"]["account_sid"] == ACCOUNT
    listed = await admin_get(line, "/api/admin/touchpoints")
    assert TOKEN not in str(listed)
    agent = await agent_on(line)
    await assigned(agent, twilio)
    assert TOKEN not in line.output()
    assert not re.search(re.escape(PHONE), line.output())  # numbers are masked in logs


UNSUBSCRIBED = "You have successfully been unsubscribed."


async def test_a_retry_after_the_conversation_ended_is_stored_once_and_confirmed_once(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    """The provider retries a STOP after the agent ended its conversation: nothing is
    stored again (no new conversation), and the contact gets one confirmation."""
    agent = await agent_on(line)
    sid = "SM" + "5e" * 16
    await twilio.phone_send(to=NUMBER, body="STOP", sid=sid, **{"from": PHONE})
    cid = str((await inbox_conversation(agent, "sms", last_message="STOP"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    assert (await twilio.sent(1))[0]["Body"].startswith(UNSUBSCRIBED)
    assert (await agent.act("end", cid))["type"] == "ok"
    await twilio.phone_send(to=NUMBER, body="STOP", sid=sid, **{"from": PHONE})  # the retry
    # the contact's next message starts the next conversation: the retry is not in it
    await twilio.phone_send(to=NUMBER, body="START", **{"from": PHONE})
    # (by its text: a late row of the ended conversation, still "inbox" when it was made,
    # was taken for it once in CI, and its assign refused)
    conv = await inbox_conversation(agent, "sms", place="inbox", last_message="START")
    assert conv["conversation_id"] != cid
    assert (await agent.act("assign", conv["conversation_id"]))["type"] == "ok"
    items = await history(agent, conv["conversation_id"])
    assert [m["body"] for m in items if m.get("sender") == "visitor"] == ["START"]
    sent = await twilio.sent(2)
    assert [s["Body"] for s in sent] == [REPLIES["opt_out"], REPLIES["opt_in"]]


async def _start_outbound(
    node: services.GatewayProcess, agent: AgentClient, client_msg_id: str, body: str
) -> httpx.Response:
    """The agent texts PHONE first on tp_out (docs/channels.md, agents start)."""
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{node.base_url}/api/conversations",
            json={
                "touchpoint_id": "tp_out",
                "address": PHONE,
                "client_msg_id": client_msg_id,
                "body": body,
            },
            headers={"Authorization": f"Bearer {agent.token}"},
        )


async def test_an_outbound_only_number_takes_answers_and_keywords_but_no_new_conversation(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    node = start(
        gateway_factory,
        sms_touchpoint("tp_out", NUMBER, twilio.base_url, direction="outbound"),
    )
    await configure(twilio, node, tp_out=NUMBER)
    agent = await agent_on(node)
    r = await _start_outbound(node, agent, "first-1", "Your order shipped.")
    assert r.status_code == 201, r.text
    cid = r.json()["conversation_id"]
    assert (await twilio.sent(1))[0]["Body"] == "Your order shipped."
    # the contact's answer continues the conversation, and STOP is recorded in it
    await twilio.phone_send(to=NUMBER, body="When will it arrive?", **{"from": PHONE})
    assert agent.sock
    await agent.sock.expect("message", conversation_id=cid, body="When will it arrive?")
    await twilio.phone_send(to=NUMBER, body="STOP", **{"from": PHONE})
    assert (await twilio.sent(2))[1]["Body"].startswith(UNSUBSCRIBED)
    assert (await send_refused(agent, cid))["code"] == "opted_out"
    # with nothing open, a text would start a conversation: not taken, answered 200 (a
    # refusal the provider would retry changes nothing); START is recorded all the same
    assert (await agent.act("end", cid))["type"] == "ok"
    await twilio.phone_send(to=NUMBER, body="START", **{"from": PHONE})
    await twilio.phone_send(to=NUMBER, body="Hello?", **{"from": PHONE})
    hooks = [h for h in await twilio.webhooks() if "/status" not in h["url"]]
    assert [h["attempts"] for h in hooks] == [[200]] * 4
    fresh = await agent_on(node)
    assert [c for c in fresh.snapshot["inbox"] if c["channel"] == "sms"] == []
    again = await _start_outbound(node, agent, "second-1", "Anything else?")
    assert again.status_code == 201, again.text  # START lifted the block


async def test_stop_to_an_inactive_number_is_recorded(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """The admins turned the provider's own opt-out off (Setup): the gateway records
    STOP on every number it has, active or not."""
    node = start(
        gateway_factory,
        sms_touchpoint("tp_sms", NUMBER, twilio.base_url),
        msgspec.structs.replace(
            sms_touchpoint("tp_off", OTHER_NUMBER, twilio.base_url), active=False
        ),
    )
    await configure(twilio, node, tp_sms=NUMBER, tp_off=OTHER_NUMBER)
    agent = await agent_on(node)
    await twilio.phone_send(to=OTHER_NUMBER, body="STOP", **{"from": PHONE})
    await twilio.phone_send(to=OTHER_NUMBER, body="hello", **{"from": PHONE})
    assert [h["attempts"][0] for h in await twilio.webhooks()] == [200, 403]
    await twilio.phone_send(to=NUMBER, body="other line", **{"from": PHONE})
    conv = await inbox_conversation(agent, "sms", last_message="other line")
    assert conv["channel_state"]["locked"] == "opted_out"


async def test_a_text_not_taken_by_an_outbound_only_number_is_an_admin_notice(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """A contact texts an outbound-only number with nothing open: nothing is stored or
    sent back, the provider gets 200, and the admins are told (once an hour), with the
    contact's last conversation on it and never the number."""
    node = start(
        gateway_factory,
        sms_touchpoint("tp_out", NUMBER, twilio.base_url, direction="outbound"),
    )
    await configure(twilio, node, tp_out=NUMBER)
    admin = await agent_on(node, ("admin@demo.test", "demo-admin"))
    agent = await agent_on(node)
    r = await _start_outbound(node, agent, "first-1", "Your order shipped.")
    assert r.status_code == 201, r.text
    cid = r.json()["conversation_id"]
    await twilio.sent(1)
    assert (await agent.act("end", cid))["type"] == "ok"
    await twilio.phone_send(to=NUMBER, body="STOP", **{"from": PHONE})  # answered: no notice
    await twilio.phone_send(to=NUMBER, body="Thanks! One more question", **{"from": PHONE})
    assert admin.sock
    notice = await admin.sock.expect("notice", timeout=15)
    assert notice["kind"] == "sending_refused" and notice["touchpoint_id"] == "tp_out"
    assert notice["conversation_id"] == cid
    assert "outbound-only" in notice["message"] and "not taken" in notice["message"]
    assert PHONE not in notice["message"]
    await twilio.phone_send(to=NUMBER, body="Hello?", **{"from": PHONE})
    hooks = [h for h in await twilio.webhooks() if "/status" not in h["url"]]
    assert [h["attempts"] for h in hooks] == [[200]] * 3
    assert [n["id"] for n in await admin_get(node, "/api/admin/notices")] == [notice["id"]]
    # nothing went back to the contact but STOP's confirmation
    assert [s["Body"] for s in await twilio.sent()] == ["Your order shipped.", REPLIES["opt_out"]]


async def test_a_status_signed_for_another_touchpoint_changes_nothing(
    line: services.GatewayProcess, twilio: EmulatorClient
) -> None:
    """A status callback found by the provider's message id alone (no ``m``) counts only
    for a message its own touchpoint sent: another touchpoint's credentials (another
    account, another brand) cannot fail or mark a message they did not send."""
    agent = await agent_on(line)
    cid = await assigned(agent, twilio)
    ack = await agent.say(cid, "Your parcel is on its way.")
    assert agent.sock
    await agent.sock.expect("delivery", seq=ack["seq"], status="delivered")
    [sent] = await twilio.sent(1)
    params = {"MessageSid": sent["sid"], "MessageStatus": "undelivered", "ErrorCode": "30007"}
    async with httpx.AsyncClient() as http:
        for tp_id, expected in (("tp_sms2", "delivered"), ("tp_sms", "failed")):
            url = f"{line.base_url}/webhooks/sms/{tp_id}/status"
            r = await http.post(
                url,
                content=urlencode(params),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, params),
                },
            )
            assert r.status_code == 204
            [mine] = [m for m in await history(agent, cid) if m.get("seq") == ack["seq"]]
            assert mine["delivery"] == expected, tp_id


async def test_keywords_to_an_outbound_only_number_with_nothing_open_are_answered(
    gateway_factory: Factory, twilio: EmulatorClient
) -> None:
    """US carriers expect HELP and STOP answered on every number: on an outbound-only
    number with no conversation open the keywords are not taken (nothing stored), but
    each is answered through the provider, once per message (a provider's retry, even
    one after a failed send, gets one answer), and STOP is recorded as anywhere."""
    node = start(
        gateway_factory,
        sms_touchpoint("tp_out", NUMBER, twilio.base_url, direction="outbound"),
    )
    await configure(twilio, node, tp_out=NUMBER)
    agent = await agent_on(node)
    await twilio.phone_send(to=NUMBER, body="Help", **{"from": PHONE})
    [help_reply] = await twilio.sent(1)
    assert (help_reply["From"], help_reply["To"]) == (NUMBER, PHONE)
    assert help_reply["Body"] == REPLIES["help"] and "StatusCallback" not in help_reply
    # the provider could not take STOP's reply at once: the webhook is answered 503 and
    # its retry sends it; a later retry of the same message sends nothing more
    await twilio.fail(503)
    sid = "SM" + "0f" * 16
    for body in ("STOP", "STOP"):
        await twilio.phone_send(to=NUMBER, body=body, sid=sid, **{"from": PHONE})
        await twilio.webhooks()  # settled: delivered, retries included
    await twilio.phone_send(to=NUMBER, body="Hello?", **{"from": PHONE})  # not answered
    hooks = [h for h in await twilio.webhooks() if "/status" not in h["url"]]
    assert [h["attempts"] for h in hooks] == [[200], [503, 200], [200], [200]]
    sent = await twilio.sent(3)
    assert [(s.get("refused"), s["Body"]) for s in sent] == [
        (None, REPLIES["help"]),
        (503, REPLIES["opt_out"]),
        (None, REPLIES["opt_out"]),
    ]
    refused = await _start_outbound(node, agent, "first-1", "Your order shipped.")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "opted_out"
    await twilio.phone_send(to=NUMBER, body="start", **{"from": PHONE})
    assert (await twilio.sent(4))[3]["Body"] == REPLIES["opt_in"]
    r = await _start_outbound(node, agent, "first-2", "Your order shipped.")
    assert r.status_code == 201, r.text
    assert [s["Body"] for s in await twilio.sent(5)][4:] == ["Your order shipped."]
    fresh = await agent_on(node)
    assert [c for c in fresh.snapshot["inbox"] if c["channel"] == "sms"] == []
