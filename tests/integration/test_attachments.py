"""The contact's files through the integration API: uploaded (streamed into the
attachment service, checked against the integration channel's rule), sent in a message,
read back; idempotent uploads; bad files and bad signatures refused with nothing stored."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image

from examples.gateway_client import ApiError, sign
from tests.integration.conftest import SECRET, Node, admin_client, client, integration
from tests.integration.receiver import Receiver


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def stored_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


async def test_the_contacts_files_reach_the_conversation(
    node_factory: Callable[..., Node], receiver: Receiver
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="gw-int-files-"))
    node = node_factory({"GATEWAY_DATA_DIR": str(data_dir)})
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_files", receiver.url)
    async with client(node, "tp_files", key) as api:
        conv = await api.start_conversation("ana@example.com", message="I attach my receipt")
        first = await api.upload(conv.id, "receipt.png", png(), idempotency_key="up-1")
        again = await api.upload(conv.id, "receipt.png", png(), idempotency_key="up-1")
        assert first == again and first["content_type"] == "image/png"
        assert (first["width"], first["height"]) == (40, 30)
        assert len(stored_files(data_dir)) >= 1
        msg = await api.send(conv.id, "", attachments=[first["id"]], message_id="m-files")
        assert [a["id"] for a in msg.attachments] == [first["id"]]
        page = await api.messages(conv.id)
        assert [a["name"] for a in page.items[-1].attachments] == ["receipt.png"]
        # a file the channel does not take: 415, and nothing more is stored
        before = stored_files(data_dir)
        try:
            await api.upload(conv.id, "tool.exe", b"MZ\x90\x00" + bytes(2000))
            raise AssertionError("an executable was accepted")
        except ApiError as e:
            assert e.status == 415, e
        assert stored_files(data_dir) == before
        # a file sent already, or one that does not exist: refused, no message stored
        for ids in ([first["id"]], ["at_nope"]):
            try:
                await api.send(conv.id, "again", attachments=ids)
                raise AssertionError(f"{ids} was attached")
            except ApiError as e:
                assert e.status in (404, 409), e
        try:
            await api.send(conv.id, "", sender="bot", attachments=[first["id"]])
            raise AssertionError("an empty bot message was stored")
        except ApiError as e:
            assert e.status == 422
        assert (await api.messages(conv.id)).items[-1].seq == msg.seq


async def test_a_signed_upload_is_checked_over_its_bytes(node: Node, receiver: Receiver) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_sigf", receiver.url, require_signed_requests=True)
    async with client(node, "tp_sigf", key, signing_secret=SECRET) as api:
        conv = await api.start_conversation("bo@example.com", message="hello")
    url = f"{node.base_url}/api/integrations/tp_sigf/conversations/{conv.id}/attachments"
    data = png()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"}
    async with httpx.AsyncClient() as http:
        wrong = sign(SECRET, data + b"x")
        bad = await http.post(
            url,
            params={"name": "a.png"},
            content=data,
            headers={**auth, "Gateway-Signature": wrong},
        )
        good = sign(SECRET, data)
        ok = await http.post(
            url, params={"name": "a.png"}, content=data, headers={**auth, "Gateway-Signature": good}
        )
        replayed = await http.post(
            url, params={"name": "a.png"}, content=data, headers={**auth, "Gateway-Signature": good}
        )
        unsigned = await http.post(url, params={"name": "a.png"}, content=data, headers=auth)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "signature_invalid"
    assert ok.status_code == 201, ok.text
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "signature_replayed"
    assert unsigned.status_code == 401
    # what the refused uploads sent cannot be attached: only the accepted one exists
    body = json.dumps({"text": "", "attachments": [ok.json()["attachment"]["id"]]}).encode()
    async with httpx.AsyncClient() as http:
        r = await http.post(
            url.removesuffix("/attachments") + "/messages",
            content=body,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Gateway-Signature": sign(SECRET, body),
            },
        )
    assert r.status_code == 201, r.text
    assert len(r.json()["attachments"]) == 1
