"""Dead letters of WhatsApp messages sent in parts (a long text, then an image), replayed
(channels/outbound.py ``parts_of``): a replay sends again exactly the part WhatsApp
failed after taking it, never nothing under "sent". Against the WhatsApp emulator over
real HTTP; the emulator fetches the image from the gateway's link through a relay the
test can cut, so that WhatsApp itself fails the later part (error 131053)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest

from devkit import services
from devkit.emulators.client import EmulatorClient
from tests.attachments import files
from tests.attachments.test_gateway import agent_upload
from tests.channels.support import (
    APP_SECRET,
    WA_TOKEN,
    admin_get,
    admin_token,
    inbox_conversation,
    meta_signed,
    whatsapp_touchpoint,
)
from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT, seed

PNID = "106540352242922"
NUMBER = "+14155550111"
WA_ID = "447911123456"
LONG = "x" * 1100  # over the 1,024-character caption: the text goes first, on its own

Factory = Callable[..., services.GatewayProcess]


@dataclass
class Relay:
    """GATEWAY_PUBLIC_URL: what providers reach the gateway's links through, relayed to
    the gateway; ``cut`` connections are closed unanswered (a link that fails)."""

    port: int = field(default_factory=services.free_port)
    target: int = 0
    cut: int = 0
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut > 0:
            self.cut -= 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()


@dataclass
class Line:
    node: services.GatewayProcess
    database_url: str
    relay: Relay


@pytest.fixture
async def line(gateway_factory: Factory, whatsapp: EmulatorClient) -> AsyncIterator[Line]:
    relay = Relay()
    await relay.start()
    urls: list[str] = []

    def setup(url: str, port: int) -> None:
        urls.append(url)
        seed(url, touchpoints=[whatsapp_touchpoint("tp_wa", PNID, NUMBER, whatsapp.base_url)])

    node = gateway_factory({"GATEWAY_PUBLIC_URL": relay.url}, setup=setup)
    relay.target = node.port
    await whatsapp.configure(
        numbers={
            PNID: {
                "display_phone_number": NUMBER,
                "token": WA_TOKEN,
                "app_secret": APP_SECRET,
                "webhook_url": f"{node.base_url}/webhooks/whatsapp/tp_wa",
            }
        }
    )
    yield Line(node, urls[0], relay)
    await relay.stop()


async def assigned(line: Line, whatsapp: EmulatorClient) -> tuple[AgentClient, str]:
    """The contact writes; the agent (on the console at the public URL) takes it."""
    agent = AgentClient(line.node, *AGENT, origin=line.relay.url)
    await agent.login()
    await agent.connect()
    await whatsapp.phone_send(phone_number_id=PNID, name="Ana", body="oi", **{"from": WA_ID})
    cid = str((await inbox_conversation(agent, "whatsapp", last_message="oi"))["conversation_id"])
    assert (await agent.act("assign", cid))["type"] == "ok"
    return agent, cid


async def send_text_and_image(agent: AgentClient, cid: str) -> int:
    r = await agent_upload(agent, cid, "foto.png", files.png())
    assert r.status_code == 201, r.text
    assert agent.sock
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "client_msg_id": "wa-parts", "body": LONG,
         "attachments": [r.json()["attachment"]["id"]]}
    )  # fmt: skip
    ack = await agent.sock.expect("ack", client_msg_id="wa-parts")
    return int(ack["seq"])


async def replay(line: Line, cid: str, seq: int) -> None:
    """The dead letter, listed and delivered again through the admin API (a WhatsApp
    touchpoint's ``failed-messages``), which the node's delivery worker claims."""
    failed = await admin_get(line.node, "/api/admin/touchpoints/tp_wa/failed-messages")
    assert [(m["conversation_id"], m["seq"]) for m in failed] == [(cid, seq)]
    token = await admin_token(line.node)
    async with httpx.AsyncClient() as http:
        r = await http.post(
            line.node.base_url + "/api/admin/touchpoints/tp_wa/failed-messages/replay",
            headers={"Authorization": f"Bearer {token}"},
            json={"conversation_id": cid, "seq": seq},
        )
    assert r.status_code == 200, r.text


async def test_a_replay_sends_again_only_the_later_part_whatsapp_failed(
    line: Line, whatsapp: EmulatorClient
) -> None:
    """Both parts were taken; WhatsApp could not fetch the image (131053, in a status
    after the send): the message is a dead letter. Replayed, only the image goes again
    (before, the replay answered "sent" and sent nothing)."""
    agent, cid = await assigned(line, whatsapp)
    line.relay.cut = 1  # WhatsApp's fetch of the image's link finds nothing
    seq = await send_text_and_image(agent, cid)
    assert agent.sock
    failed = await agent.sock.expect("delivery", seq=seq, status="failed", timeout=30)
    assert "131053" in failed["reason"]
    first = await whatsapp.sent(2)
    assert [(s["type"], s.get("error_code")) for s in first] == [("text", None), ("image", 131053)]
    await replay(line, cid, seq)
    await agent.sock.expect("delivery", seq=seq, status="delivered", timeout=30)
    sent = await whatsapp.sent(3)
    assert [(s["type"], s.get("error_code")) for s in sent] == [
        ("text", None),
        ("image", 131053),
        ("image", None),
    ]
    assert sent[2]["biz_opaque_callback_data"] == f"{cid}.{seq}"
    inbox = await whatsapp._call("GET", f"/_emulator/phone/{WA_ID}/inbox")
    assert [m["type"] for m in inbox] == ["text", "image"]


async def test_a_replay_sends_again_only_the_earlier_part_whatsapp_failed_after_all_went(
    line: Line, whatsapp: EmulatorClient
) -> None:
    """The whole message was sent and delivered, then WhatsApp failed its first part
    (the text) in a later status: replayed, the text goes again, not the image, and the
    message follows the text's statuses (it is the replay's last send)."""
    agent, cid = await assigned(line, whatsapp)
    seq = await send_text_and_image(agent, cid)
    assert agent.sock
    await agent.sock.expect("delivery", seq=seq, status="delivered", timeout=30)
    text, image = await whatsapp.sent(2)
    assert (text["type"], image["type"]) == ("text", "image")
    assert text["biz_opaque_callback_data"] == f"{cid}.{seq}~1"
    status = {
        "id": text["id"],
        "status": "failed",
        "timestamp": str(int(time.time())),
        "recipient_id": WA_ID,
        "biz_opaque_callback_data": text["biz_opaque_callback_data"],
        "errors": [{"code": 131026, "title": "Message undeliverable"}],
    }
    event = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": NUMBER.lstrip("+"), "phone_number_id": PNID},
            "statuses": [status]}}]}],
    }  # fmt: skip
    body = json.dumps(event).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            f"{line.node.base_url}/webhooks/whatsapp/tp_wa", content=body, headers=meta_signed(body)
        )
    assert r.status_code == 200
    failed = await agent.sock.expect("delivery", seq=seq, status="failed", timeout=30)
    assert failed["reason"].startswith("part 1 of the message:")
    await replay(line, cid, seq)
    await agent.sock.expect("delivery", seq=seq, status="delivered", timeout=30)
    sent = await whatsapp.sent(3)
    assert [s["type"] for s in sent] == ["text", "image", "text"]
    assert sent[2]["text"]["body"] == LONG
    assert sent[2]["biz_opaque_callback_data"] == f"{cid}.{seq}"
