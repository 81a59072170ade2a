"""Through a real gateway process: the newcomer's demo (write as the customer on
/demo/email, answer from the agent's socket and the message API, read the answer back),
and the admin API of an email touchpoint (secrets never shown nor lost on edit,
connection status, "Email provider connection lost", reconnect)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devkit import services
from tests.channels.email.mail import SmtpServer, new_mailbox, settings_for
from tests.gateway.client import AgentClient
from tests.gateway.conftest import ADMIN, AGENT


@pytest.fixture
async def node() -> AsyncIterator[services.GatewayProcess]:
    gw = services.start_gateway({"GATEWAY_DEMO": "1"})
    try:
        yield gw
    finally:
        gw.stop()


async def _login(http: httpx.AsyncClient, who: tuple[str, str]) -> dict[str, str]:
    r = await http.post("/api/login", json={"email": who[0], "password": who[1]})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_the_demo_mailbox_round_trip(node: services.GatewayProcess) -> None:
    agent = AgentClient(node, *AGENT)
    await agent.login()
    await agent.connect()
    assert agent.sock
    async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
        page = await http.get("/demo/email")
        assert (
            page.status_code == 200
            and "default-src 'none'" in page.headers["content-security-policy"]
        )
        r = await http.post(
            "/demo/email/messages",
            json={"from": "casey@customer.test", "name": "Casey", "subject": "My order",
                  "text": "Where is it?"},
        )  # fmt: skip
        assert r.status_code == 201
        row = await agent.sock.expect("conversation", timeout=30)
        cid = row["conversation"]["conversation_id"]
        assert row["conversation"]["channel"] == "email"
        assert (await agent.act("assign", cid))["type"] == "ok"

        headers = {"Authorization": f"Bearer {agent.token}"}
        content = (await http.get(f"/api/conversations/{cid}/content", headers=headers)).json()
        [mail] = [c for c in content["items"].values() if c.get("direction") == "in"]
        assert mail["subject"] == "My order" and mail["text"] == "Where is it?"
        r = await http.post(
            f"/api/conversations/{cid}/messages",
            headers=headers,
            json={"client_msg_id": uuid.uuid4().hex, "body": "On its way!",
                  "content": {"cc": ["partner@customer.test"], "subject": "Your order",
                              "html": "<p>On its <b>way</b>!<script>x()</script></p>"}},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        bad = await http.post(
            f"/api/conversations/{cid}/messages",
            headers=headers,
            json={"client_msg_id": "x", "body": "b", "content": {"to": ["not an address"]}},
        )
        assert bad.status_code == 422

        answers: list[dict[str, Any]] = []
        for _ in range(300):  # the auto-reply and the answer, through the demo post office
            answers = (
                await http.get("/demo/email/messages", params={"address": "casey@customer.test"})
            ).json()
            if len(answers) >= 2:
                break
            await asyncio.sleep(0.1)
        subjects = [a["subject"] for a in answers]
        assert subjects == ["Re: My order", "Your order"], subjects
        assert "On its way!" in answers[1]["text"] and "Ada" not in answers[0]["text"]


async def test_email_touchpoints_in_the_admin_api(
    node: services.GatewayProcess, dovecot: services.Dovecot
) -> None:
    smtp = SmtpServer()
    smtp.start()
    address, _ = new_mailbox(dovecot)
    try:
        async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
            admin = await _login(http, ADMIN)
            settings = settings_for(dovecot, smtp, address)
            settings["password"] = "wrong"
            r = await http.post(
                "/api/admin/touchpoints",
                headers=admin,
                json={"name": "Support mail", "channel": "email", "direction": "both",
                      "routing_mode": "simplified", "queue_ids": ["q_support"],
                      "settings": settings},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            tp = r.json()
            assert "password" not in tp["settings"] and tp["settings"]["password_set"] is True
            assert "wrong" not in r.text
            tp_id = tp["id"]
            # an edit that leaves the secret out keeps it; a PATCH too
            r = await http.patch(
                f"/api/admin/touchpoints/{tp_id}", headers=admin, json={"name": "Mail"}
            )
            assert r.status_code == 200 and r.json()["settings"]["password_set"] is True
            r = await http.put(
                f"/api/admin/touchpoints/{tp_id}", headers=admin, json={**tp, "name": "Mail"}
            )
            assert r.status_code == 200 and r.json()["settings"]["password_set"] is True
            bad = await http.patch(
                f"/api/admin/touchpoints/{tp_id}", headers=admin,
                json={"settings": {"imap": {"host": "mail.example.com", "security": "none"}}},
            )  # fmt: skip
            assert bad.status_code == 422 and "loopback" in bad.text

            status = (await http.get(f"/api/admin/touchpoints/{tp_id}/email", headers=admin)).json()
            assert status["status"] == "inactive"
            assert (
                await http.post(f"/api/admin/touchpoints/{tp_id}/activate", headers=admin)
            ).status_code == 200
            for _ in range(300):
                status = (
                    await http.get(f"/api/admin/touchpoints/{tp_id}/email", headers=admin)
                ).json()
                if status["status"] == "lost":
                    break
                await asyncio.sleep(0.1)
            assert status["notices"] == ["Email provider connection lost"]
            assert "credentials" in status["reason"]

            agent_headers = await _login(http, AGENT)
            forbidden = await http.get(
                f"/api/admin/touchpoints/{tp_id}/email", headers=agent_headers
            )
            assert forbidden.status_code == 403

            r = await http.post(
                f"/api/admin/touchpoints/{tp_id}/email/reconnect", headers=admin,
                json={"password": "secret"},
            )  # fmt: skip
            assert r.status_code == 200 and "secret" not in r.text
            for _ in range(300):
                status = (
                    await http.get(f"/api/admin/touchpoints/{tp_id}/email", headers=admin)
                ).json()
                if status["status"] == "connected":
                    break
                await asyncio.sleep(0.1)
            assert status["status"] == "connected" and status["notices"] == []
            assert "secret" not in node.output() and "wrong" not in node.output()
    finally:
        smtp.stop()
