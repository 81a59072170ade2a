"""What an operator's walkthrough of the integration API found, against a real gateway
process: the bad-key lock-out's 429 says when to come back (``Retry-After``) and holds a
good key back too (docs/integration-api.md, "bad input"); a contact email that is not
one is named in words, not with a regex, and leaves the Idempotency-Key free; the
example bot takes a greeting as a greeting and the next message as the question
(examples/demo_bot.py); the worked example with nobody online waits and its transfer is
refused, as the doc now says; "" clears an optional channel secret and is a 422 on a
required one (docs/admin-api.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from devkit.services import free_port
from examples.demo_bot import is_greeting
from tests.integration.conftest import SECRET, Node, admin_client, integration
from tests.integration.receiver import Receiver
from tests.integration.test_bots import agent_online, bot_first, chat, example_bot, wait_listening
from tests.integration.test_docs import curl, examples, match


async def test_the_bad_key_lock_out_says_when_to_come_back(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory({"GATEWAY_LOGINS_PER_IP_PER_MINUTE": "3"})
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_lock", receiver.url)
    url = f"{node.base_url}/api/integrations/tp_lock/conversations/cv_none"
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(3):
            bad = await http.get(url, headers={"Authorization": f"Bearer gk_wrong{n}"})
            assert bad.status_code == 401 and "Retry-After" not in bad.headers, bad.text
        for sent in ("gk_wrong", key):  # the good key is held back too: no oracle
            over = await http.get(url, headers={"Authorization": f"Bearer {sent}"})
            assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
            # whole seconds until the first bad key leaves the minute
            assert 1 <= int(over.headers["Retry-After"]) <= 60, over.headers


async def test_a_contact_email_that_is_not_one_is_named_clearly(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_mail", receiver.url)
    url = f"{node.base_url}/api/integrations/tp_mail/conversations"
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "start-kim"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        for email in ("kim@", "kim", "kim@@example.com"):
            r = await http.post(url, json={"contact": {"email": email}, "message": "hi"})
            assert r.status_code == 422, r.text
            [problem] = r.json()["error"]["fields"]
            assert problem["field"] == "contact.email", r.text
            assert problem["message"].startswith("not an email address: "), r.text
            assert "regex" not in problem["message"] and "`" not in problem["message"]
        # refused as bad input: the key is free for the corrected request
        r = await http.post(url, json={"contact": {"email": "kim@example.com"}, "message": "hi"})
        assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.text
    assert len(node.conversations("tp_mail")) == 1


async def test_the_example_bot_takes_a_greeting_then_the_question(
    node_factory: Callable[..., Node],
) -> None:
    """/demo/bot's chat starts with "Hi": the bot greeted and at once answered "Hi" as
    the question ("I am not sure ... hand you over"). Now it waits for the question."""
    node = node_factory()
    port = free_port()
    key = await bot_first(node, f"http://127.0.0.1:{port}/events")
    bot = example_bot(node, key, port)
    try:
        await wait_listening(port, bot)
        agent = await agent_online(node)
        guest, cid = await chat(node, "Hi")
        assert guest.sock and agent.sock
        # bounds for a busy machine, as test_bots's: the bot is a process of its own
        greeting = await guest.sock.expect("message", timeout=60, sender="system")
        assert greeting["body"].startswith("Hi! I am the demo bot.")
        await guest.say("How long does delivery take?")
        # the next thing the bot says answers the question (not "I am not sure" to "Hi")
        answer = await guest.sock.expect("message", timeout=60, sender="system")
        assert answer["body"].startswith("We deliver in three working days."), answer
        offer = await agent.sock.expect("offer", timeout=60)
        assert offer["conversation"]["conversation_id"] == cid
    finally:
        bot.terminate()
        bot.wait(10)


def test_only_a_greeting_waits_for_the_question() -> None:
    """The bot's rule for the chat's first message: a greeting waits for the question;
    anything else is the question, with or without a "?" (it ignored "My printer is
    broken" when only a "?" or a known topic counted)."""
    for text in ("Hi", "hello there!", "Good morning.", " hey "):
        assert is_greeting(text), text
    for text in ("My printer is broken and I need help", "Hi, where is my parcel?", "delivery"):
        assert not is_greeting(text), text


async def test_the_worked_example_with_nobody_online(node: Node) -> None:
    """docs/integration-api.md's worked example assumes the demo agent online; with
    nobody online its start waits in the queue, and its transfer is refused, as the doc
    says beside step 2."""
    hooks = Receiver(SECRET)
    await hooks.start()
    try:
        async with await admin_client(node) as admin:
            token = admin.headers["Authorization"].removeprefix("Bearer ")
        env = {"GW": node.base_url, "TOKEN": token, "HOOKS": hooks.url}
        steps = [cmd for cmd, _ in examples()]
        start = next(c for c in steps if "order-1042-start" in c)
        transfer = next(c for c in steps if c.rstrip().endswith('/transfer"'))
        close = next(c for c in steps if c.rstrip().endswith('/close"'))
        async with httpx.AsyncClient(timeout=10) as http:
            for cmd, answer in examples()[:3]:  # the touchpoint, its activation, its key
                r = await curl(http, cmd, env)
                match(json.loads(answer.partition("\n\n")[2]), r.json(), env)
            r = await curl(http, start, env)
            assert r.status_code == 201, r.text
            conv = r.json()
            assert (conv["state"], conv["owner_agent_id"], conv["last_seq"]) == ("waiting", None, 1)
            env["CONVERSATION"] = conv["id"]
            r = await curl(http, transfer, env)
            assert (r.status_code, r.json()["error"]["code"]) == (409, "not_assigned"), r.text
            r = await curl(http, close, env)
            assert (r.status_code, r.json()["state"]) == (200, "closed"), r.text
    finally:
        await hooks.stop()


async def test_an_optional_secret_is_cleared_a_required_one_only_replaced(node: Node) -> None:
    """docs/admin-api.md, "write-only secrets": "" clears an optional secret; on a
    required one it is a 422 and the stored secret stays."""
    mail = {
        "id": "tp_walk_mail",
        "name": "Walk mail",
        "channel": "email",
        "queue_ids": ["q_support"],
        "routing_mode": "simplified",
        "settings": {
            "address": "walk@shop.example",
            "imap": {"host": "imap.shop.example"},
            "smtp": {"host": "smtp.shop.example"},
            "auth": "oauth2",
            "oauth_token": "token-1",
            "password": "old-password",
        },
    }
    sms = {
        "id": "tp_walk_sms",
        "name": "Walk SMS",
        "channel": "sms",
        "queue_ids": ["q_support"],
        "routing_mode": "simplified",
        "settings": {
            "number": "+14155550142",
            "account_sid": "AC" + "0123456789abcdef" * 2,
            "auth_token": "sms-token",
        },
    }
    async with await admin_client(node) as admin:
        for body in (mail, sms):
            r = await admin.post("/api/admin/touchpoints", json=body)
            assert r.status_code == 201, r.text
        url = "/api/admin/touchpoints/tp_walk_mail"
        # under oauth2 the password is optional: "" clears it
        r = await admin.patch(url, json={"settings": {"password": ""}})
        assert r.status_code == 200 and r.json()["settings"]["password_set"] is False, r.text
        # the token oauth2 uses is required: "" is refused, the token kept
        r = await admin.patch(url, json={"settings": {"oauth_token": ""}})
        assert [f["field"] for f in r.json()["error"]["fields"]] == ["settings.oauth_token"]
        assert (await admin.get(url)).json()["settings"]["oauth_token_set"] is True
        r = await admin.patch(
            "/api/admin/touchpoints/tp_walk_sms", json={"settings": {"auth_token": ""}}
        )
        assert r.status_code == 422, r.text
        assert [f["field"] for f in r.json()["error"]["fields"]] == ["settings.auth_token"]
        r = await admin.patch(
            "/api/admin/touchpoints/tp_walk_sms", json={"settings": {"auth_token": "new"}}
        )
        assert r.status_code == 200 and r.json()["settings"]["auth_token_set"] is True, r.text
