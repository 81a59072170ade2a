"""The integration API under the gateway's hardening (docs/security.md) and with the
agent's workspace: its bodies and streamed uploads pass the per-path body limits up to
their own limits, bad API keys are limited per address like logins, the text it brings
in is stripped of control and bidi formatting characters as on every channel, and the
agent's notes and templates work on its conversations (notes never reach it)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import httpx
from PIL import Image

from tests.channels.support import declared_body_status
from tests.integration.conftest import Node, admin_client, client, integration
from tests.integration.receiver import Receiver
from tests.integration.test_api import online_agent

PUBLIC_LIMIT = 64 * 1024  # GATEWAY_MAX_PUBLIC_BODY_BYTES's default
API_LIMIT = 256 * 1024  # GATEWAY_API_MAX_BODY_BYTES's default


def noisy_png() -> bytes:
    """A PNG well over the public body limit (noise does not compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)).save(out, "PNG")
    data = out.getvalue()
    assert PUBLIC_LIMIT < len(data) < API_LIMIT
    return data


async def test_bodies_and_uploads_pass_the_guard_up_to_their_own_limits(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_big", receiver.url)
    async with client(node, "tp_big", key) as api:
        conv = await api.start_conversation("big@example.com", message="hello")
        uploaded = await api.upload(conv.id, "noise.png", noisy_png())
        assert uploaded["content_type"] == "image/png"
    url = f"{node.base_url}/api/integrations/tp_big/conversations/{conv.id}/messages"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    # A JSON body over the public limit but under the integration API's: accepted.
    padded = b'{"text": "padded", "message_id": "m-pad"' + b" " * (PUBLIC_LIMIT + 10) + b"}"
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, content=padded, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["body"] == "padded"
    # Over the integration API's limit: 413 before the body is read (asked on a raw socket:
    # the guard answers and closes the connection).
    path = url.removeprefix(node.base_url)
    assert await declared_body_status(node.proc, path, API_LIMIT + 1) == 413


async def test_bad_api_keys_are_limited_per_address(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    node = node_factory({"GATEWAY_LOGINS_PER_IP_PER_MINUTE": "3"})
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_keys", receiver.url)
    url = f"{node.base_url}/api/integrations/tp_keys/conversations/cv_none"
    async with httpx.AsyncClient(timeout=10) as http:
        good = await http.get(url, headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 404  # a good key is never counted
        for n in range(3):
            bad = await http.get(url, headers={"Authorization": f"Bearer gk_wrong{n}"})
            assert bad.status_code == 401, bad.text
        over = await http.get(url, headers={"Authorization": "Bearer gk_wrong"})
        assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"


async def test_inbound_text_is_cleaned_and_the_workspace_works(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_ws", receiver.url)
        made = await admin.post(
            "/api/admin/templates",
            json={
                "collection": "Support",
                "name": "Hello",
                "content": {"default": "Hello {{contact.first_name}}, {{agent.first_name}} here."},
            },
        )
        assert made.status_code == 201, made.text
    agent = await online_agent(node)
    assert agent.sock
    async with client(node, "tp_ws", key) as api:
        conv = await api.start_conversation(
            "lin@example.com", name="Lin\u202e Wu\x07", message="look: \u202egnp.exe\x1b!"
        )
        await agent.sock.expect("conversation", timeout=10)
        sent = await api.send(conv.id, "again\u2066 \u0085x", message_id="m-clean")
        assert sent.body == "again x"
        bodies = [m.body for m in (await api.messages(conv.id)).items if m.kind == "text"]
        assert bodies == ["look: gnp.exe!", "again x"]
        assert (await api.conversation(conv.id)).contact.name == "Lin Wu"
    # The agent's workspace on the integration's conversation: a note (never sent to the
    # integration) and a template rendered for it.
    await agent.sock.send(
        {"type": "note", "conversation_id": conv.id, "body": "SECRET note", "ref": "n1"}
    )
    await agent.sock.expect("ok", ref="n1")
    await agent.say(conv.id, "after the note")
    await receiver.wait_for(
        lambda r: any(
            e.message and e.message.get("body") == "after the note"
            for e in r.of_type("message.created")
        ),
        30,
        "the agent's message",
    )
    assert all("SECRET" not in str(g.body) for g in receiver.got)
    async with httpx.AsyncClient(
        base_url=node.base_url, headers={"Authorization": f"Bearer {agent.token}"}, timeout=10
    ) as http:
        notes = (await http.get(f"/api/console/conversations/{conv.id}/notes")).json()
        assert [n["body"] for n in notes] == ["SECRET note"]
        rendered = (await http.get(f"/api/console/conversations/{conv.id}/templates")).json()
        assert [t["text"] for t in rendered] == ["Hello Lin, Ada here."]
