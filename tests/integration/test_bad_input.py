"""Bad integration API input: a clear 4xx, and nothing stored (read from the database)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from examples.gateway_client import sign
from tests.channels.support import declared_body_status
from tests.integration.conftest import SECRET, Node, admin_client, integration
from tests.integration.receiver import Receiver

GOOD = {"contact": {"email": "lin@example.com"}, "message": "hello", "subject": "Hi"}


async def test_bad_input_is_refused_clearly_and_stores_nothing(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
        other = await integration(admin, "tp_other", receiver.url)
        revoked = (
            await admin.post("/api/admin/touchpoints/tp_app/api-keys", json={"name": "old"})
        ).json()
        r = await admin.delete(f"/api/admin/touchpoints/tp_app/api-keys/{revoked['id']}")
        assert r.status_code == 204
        # an integration touchpoint that is not active takes nothing
        r = await admin.post("/api/admin/touchpoints/tp_other/deactivate")
        assert r.status_code == 200

    base = node.base_url + "/api/integrations"
    url = f"{base}/tp_app/conversations"

    def auth(k: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {k}", "Content-Type": "application/json"}

    body = json.dumps(GOOD).encode()
    old = sign(SECRET, body, int(time.time()) - 3600)
    cases: list[tuple[str, str, dict[str, str], bytes, int, str]] = [
        ("unknown touchpoint", f"{base}/tp_nope/conversations", auth(key), body, 404, "not_found"),
        ("a chat touchpoint", f"{base}/tp_demo_127/conversations", auth(key), body, 404, "not_found"),
        ("no key", url, {"Content-Type": "application/json"}, body, 401, "unauthenticated"),
        ("wrong key", url, auth("gk_" + "x" * 43), body, 401, "invalid_api_key"),
        ("not a key", url, auth("an admin token"), body, 401, "invalid_api_key"),
        ("revoked key", url, auth(revoked["key"]), body, 401, "invalid_api_key"),
        ("key of another touchpoint", url, auth(other), body, 403, "forbidden"),
        ("inactive touchpoint", f"{base}/tp_other/conversations", auth(other), body, 403, "forbidden"),
        ("not JSON", url, auth(key), b"{nope", 422, "invalid"),
        ("not an object", url, auth(key), b"[1, 2]", 422, "invalid"),
        ("no contact", url, auth(key), b'{"message": "hi"}', 422, "invalid"),
        ("bad email", url, auth(key), b'{"contact": {"email": "x"}}', 422, "invalid"),
        ("an email with two dots", url, auth(key), b'{"contact": {"email": "x..y@example.com"}}', 422, "invalid"),
        ("not a phone", url, auth(key), b'{"contact": {"email": "a@b.co", "phone": "n/a-x"}}', 422, "invalid"),
        ("not UTF-8", url, auth(key), b'{"contact": {"email": "a@b.co", "name": "\xff"}}', 422, "invalid"),
        ("a NUL", url, auth(key), b'{"contact": {"email": "a@b.co", "name": "a\\u0000"}}', 422, "invalid"),
        ("nested too deeply", url, auth(key), b'{"contact": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 422, "invalid"),
        ("unknown field", url, auth(key), b'{"contact": {"email": "a@b.co"}, "x": 1}', 422, "invalid"),
        ("too long", url, auth(key), json.dumps({**GOOD, "message": "a" * 4001}).encode(), 422, "invalid"),
        ("outbound with a message", url, auth(key), json.dumps({**GOOD, "direction": "outbound"}).encode(), 422, "invalid"),
        ("unknown agent", url, auth(key), json.dumps({"contact": GOOD["contact"], "direction": "outbound", "agent_id": "zed"}).encode(), 422, "invalid"),
        ("bad signature", url, {**auth(key), "Gateway-Signature": "t=1,v1=00"}, body, 401, "signature_invalid"),
        ("expired signature", url, {**auth(key), "Gateway-Signature": old}, body, 401, "signature_expired"),
        ("bad idempotency key", url, {**auth(key), "Idempotency-Key": "x" * 300}, body, 422, "invalid"),
    ]  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        for what, target, headers, content, status, code in cases:
            r = await http.post(target, content=content, headers=headers)
            assert r.status_code == status, (what, r.status_code, r.text)
            assert r.json()["error"]["code"] == code, (what, r.text)
            assert r.json()["error"]["message"], what
        # the same goes for reading and for others' conversations
        r = await http.get(f"{url}/cv_nope", headers=auth(key))
        assert r.status_code == 404
        r = await http.get(f"{url}/cv_nope/messages?limit=0", headers=auth(key))
        assert r.status_code == 422
        # a body declared over GATEWAY_API_MAX_BODY_BYTES: 413 before a byte is read (the
        # request guard answers and closes: asked on a raw socket, as sending the body
        # whole would meet the closed connection)
        assert (
            await declared_body_status(node.proc, "/api/integrations/tp_app/conversations", 300_000)
            == 413
        )
        # a chunked body over the limit is cut off too (no Content-Length to trust); on a
        # raw socket, the chunks stop when the answer comes (the guard closes after it)
        assert (
            await chunked_body_status(node.proc.port, url.removeprefix(node.base_url), key) == 413
        )
    assert node.conversations("tp_app") == [] and node.conversations("tp_other") == []
    # the log has no key, no secret, no body
    out = node.proc.output()
    assert key not in out and SECRET not in out and "lin@example.com" not in out


async def chunked_body_status(port: int, path: str, key: str) -> int:
    """The status a chunked POST of up to 400 KB gets, sending until it is answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        answer = asyncio.ensure_future(reader.readline())
        for _ in range(40):
            if answer.done():
                break
            try:
                writer.write(b"2710\r\n" + b"a" * 10_000 + b"\r\n")
                await writer.drain()
            except ConnectionError:
                break
        return int((await asyncio.wait_for(answer, 60)).split()[1])
    finally:
        writer.close()


async def test_a_conversation_of_another_touchpoint_is_not_found(
    node: Node, receiver: Receiver
) -> None:
    async with await admin_client(node) as admin:
        key = await integration(admin, "tp_app", receiver.url)
        other = await integration(admin, "tp_other", receiver.url)
    async with httpx.AsyncClient(base_url=node.base_url, timeout=10) as http:
        r = await http.post(
            "/api/integrations/tp_app/conversations",
            json=GOOD,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        for method, tail, body in (
            ("GET", "", None),
            ("GET", "/messages", None),
            ("POST", "/messages", {"text": "hi"}),
            ("POST", "/close", None),
        ):
            r = await http.request(
                method,
                f"/api/integrations/tp_other/conversations/{cid}{tail}",
                json=body,
                headers={"Authorization": f"Bearer {other}"},
            )
            assert r.status_code == 404, (method, tail, r.text)
    [conv] = node.conversations("tp_app")
    assert conv.last_seq == 1 and conv.state != "closed"


async def test_secrets_are_write_only_in_the_admin_api(node: Node, receiver: Receiver) -> None:
    async with await admin_client(node) as admin:
        await integration(admin, "tp_app", receiver.url)
        r = await admin.get("/api/admin/touchpoints/tp_app")
        settings = r.json()["settings"]
        assert settings == {
            "webhook_url": receiver.url,
            "require_signed_requests": False,
            "signing_secret_set": True,
        }
        assert SECRET not in r.text
        keys = (await admin.get("/api/admin/touchpoints/tp_app/api-keys")).json()
        assert [set(k) for k in keys] == [{"id", "name", "prefix", "created_at", "revoked_at"}]
        # GET, edit, PUT back: the secret is kept; a PATCH without it keeps it too
        doc = r.json()
        for name in ("id", "active", "created_at", "identity_secret_set"):
            doc.pop(name)
        doc["name"] = "Renamed"
        r = await admin.put("/api/admin/touchpoints/tp_app", json=doc)
        assert r.status_code == 200 and r.json()["settings"]["signing_secret_set"], r.text
        r = await admin.patch(
            "/api/admin/touchpoints/tp_app", json={"settings": {"require_signed_requests": True}}
        )
        assert r.status_code == 200 and r.json()["settings"]["signing_secret_set"], r.text
        # a short secret, a bad URL, an unknown setting: every problem at once
        r = await admin.patch(
            "/api/admin/touchpoints/tp_app",
            json={
                "settings": {
                    "signing_secret": "short",
                    "webhook_url": "ftp://user:pw@x",
                    "colour": "red",
                }
            },
        )
        assert r.status_code == 422
        assert {f["field"] for f in r.json()["error"]["fields"]} == {
            "settings.signing_secret",
            "settings.webhook_url",
            "settings.colour",
        }
