"""The agents' outbound start as docs/channels/sms.md and docs/channels/email.md write it
runs as written: the curl commands, sent to a real demo gateway (the SMS one on the
demo's SMS line, with the Twilio emulator; the email one on the touchpoint the email
doc's own example creates), with the demo agent online. Written without
``client_msg_id`` they were a 422; the email doc's create used a ``$TP`` nothing set."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from channels.phone import SMS
from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.channels.conftest import start_emulators
from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT
from tests.integration.conftest import Node, admin_client
from tests.integration.test_docs import curl

DOCS = Path(__file__).resolve().parents[2] / "docs" / "channels"
_SH = re.compile(r"```sh\n(.*?)```", re.S)


def curls(doc: str, needle: str) -> list[str]:
    """The curl commands of the doc's ```sh blocks that mention ``needle``."""
    out = []
    for block in _SH.findall((DOCS / doc).read_text()):
        text = re.sub(r"^ {2}", "", block, flags=re.M)  # a block indented in a list item
        out += [c for c in re.split(r"\n(?=curl )", text.strip()) if needle in c]
    assert out, f"no curl with {needle!r} in {doc}"
    return out


@pytest.fixture
async def demo() -> AsyncIterator[tuple[services.GatewayProcess, EmulatorClient]]:
    emu = start_emulators()
    gw: services.GatewayProcess | None = None
    try:
        port = services.free_port()
        twilio = emu.client("twilio")
        await twilio.configure(
            accounts={SMS["account_sid"]: SMS["auth_token"]},
            numbers={
                SMS["number"]: {
                    "account": SMS["account_sid"],
                    "sms_url": f"http://127.0.0.1:{port}/webhooks/sms/tp_demo_sms",
                    "status": "ok",
                }
            },
        )
        env = {"GATEWAY_DEMO": "1", "GATEWAY_DEMO_PROVIDERS": f"twilio={emu.urls['twilio']}"}
        gw = services.start_gateway(env, port=port)
        yield gw, twilio
    finally:
        if gw is not None:
            gw.stop()
        emu.proc.terminate()
        emu.proc.wait(10)


async def test_the_sms_and_email_docs_outbound_starts_run_as_written(
    demo: tuple[services.GatewayProcess, EmulatorClient],
) -> None:
    gw, twilio = demo
    agent = AgentClient(gw, *AGENT)
    await agent.login()
    await agent.connect()  # online: the start is theirs at once
    async with await admin_client(Node(gw, gw.env, "")) as admin:
        token = admin.headers["Authorization"].removeprefix("Bearer ")
    env = {"GW": gw.base_url, "TOKEN": token, "AGENT_TOKEN": agent.token}
    async with httpx.AsyncClient(timeout=30) as http:
        # SMS: the first text goes out, the retry is the same message
        [sms] = curls("sms.md", '"$GW/api/conversations"')
        r = await curl(http, sms, env)
        assert r.status_code == 201, r.text
        first = r.json()
        assert "duplicate" not in first and first["conversation_id"], first
        assert first["message"]["body"] == "Hello from Demo Shop: your order is ready."
        again = await curl(http, sms, env)
        assert (again.status_code, again.json()["duplicate"]) == (200, True), again.text
        assert again.json()["conversation_id"] == first["conversation_id"]
        [sent] = await twilio.sent(1)  # once: the retry sent nothing
        assert (sent["To"], sent["From"]) == ("+14155550123", SMS["number"]), sent
        # email: the doc's touchpoint, created and activated as written, then the start
        made, activated = curls("email.md", "/api/admin/touchpoints")
        r = await curl(http, made, env)
        assert r.status_code == 201 and r.json()["id"] == "tp_shop_mail", r.text
        r = await curl(http, activated, env)
        assert r.status_code == 200 and r.json()["active"] is True, r.text
        [mail] = curls("email.md", '"$GW/api/conversations"')
        r = await curl(http, mail, env)
        assert r.status_code == 201, r.text
        assert "duplicate" not in r.json() and r.json()["conversation_id"], r.text
