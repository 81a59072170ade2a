"""Attachments through a real gateway (uvicorn, SQLite), on local files and on S3 (moto's
server): upload over HTTP, send over the socket, links, download with the safe headers,
bad input, deletion."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit import services
from tests.attachments import files
from tests.gateway.client import AgentClient, Visitor, accepted_chat
from tests.gateway.conftest import ADMIN, demo_agent, demo_visitor
from tests.poll import until


@pytest.fixture(scope="module", params=["local", "s3"])
def node(request: pytest.FixtureRequest) -> Iterator[services.GatewayProcess]:
    env = {"GATEWAY_DEMO": "1", "GATEWAY_OFFER_TIMEOUT": "60"}
    if request.param == "s3":
        s3: services.S3Server = request.getfixturevalue("s3_server")
        bucket = f"gw-files-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        env["GATEWAY_BLOB_URL"] = s3.url(bucket, "files")
    gw = services.start_gateway(env)
    yield gw
    gw.stop()


async def upload(
    visitor: Visitor, name: str, data: bytes | AsyncIterator[bytes], **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            visitor.node.base_url + "/widget/attachments",
            params={"name": name},
            content=data,
            headers={"Authorization": f"Bearer {visitor.token}", "Origin": visitor.origin,
                     **headers},
        )  # fmt: skip


async def agent_upload(
    agent: AgentClient, cid: str, name: str, data: bytes, content_type: str = ""
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {agent.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{agent.node.base_url}/api/conversations/{cid}/attachments",
            params={"name": name},
            content=data,
            headers=headers,
        )


async def links(sock: Any, ids: list[str], cid: str = "") -> dict[str, Any]:
    ref = uuid.uuid4().hex[:8]
    frame: dict[str, Any] = {"type": "links", "attachment_ids": ids, "ref": ref}
    if cid:
        frame["conversation_id"] = cid
    await sock.send(frame)
    return await sock.expect_any(("links", "error"), ref=ref)  # type: ignore[no-any-return]


async def fetch(node: services.GatewayProcess, url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(node.base_url + url)


async def test_files_go_both_ways_and_are_served_safely(node: services.GatewayProcess) -> None:
    visitor, agent = demo_visitor(node), demo_agent(node)
    cid = await accepted_chat(agent, visitor, name="Ines", email="ines@example.com")
    assert visitor.sock and agent.sock

    r = await upload(visitor, "holiday photo.jpg", files.jpeg_with_gps())
    assert r.status_code == 201, r.text
    photo = r.json()["attachment"]
    assert (photo["content_type"], photo["width"], photo["thumbnail"]) == ("image/jpeg", 800, True)
    await visitor.sock.send({"type": "send", "client_msg_id": "f-1", "attachments": [photo["id"]]})
    ack = await visitor.sock.expect("ack", client_msg_id="f-1")
    # the agent sees it in order with the messages
    seen = await agent.sock.expect("message", seq=ack["seq"])
    assert [a["id"] for a in seen["attachments"]] == [photo["id"]] and seen["body"] == ""
    # a retry stores nothing twice
    await visitor.sock.send({"type": "send", "client_msg_id": "f-1", "attachments": [photo["id"]]})
    assert (await visitor.sock.expect("ack", client_msg_id="f-1"))["duplicate"] is True

    got = await links(agent.sock, [photo["id"]], cid)
    link = got["links"][photo["id"]]
    full = await fetch(node, link["url"])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in full.headers["content-security-policy"]
    assert full.headers["content-disposition"].startswith("inline;")
    assert not files.has_gps(full.content)  # location stripped
    thumb = await fetch(node, link["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert len(thumb.content) < len(full.content)
    dl = await fetch(node, link["url"] + "&dl=1")
    assert dl.headers["content-disposition"].startswith("attachment;")

    # the agent replies with a document; the visitor gets it and its link
    r = await agent_upload(agent, cid, "résumé 履歴書.pdf", files.pdf(2000))
    assert r.status_code == 201, r.text
    doc = r.json()["attachment"]
    await agent.sock.send(
        {"type": "send", "conversation_id": cid, "client_msg_id": "a-f", "body": "Here you go",
         "attachments": [doc["id"]]}
    )  # fmt: skip
    await agent.sock.expect("ack", client_msg_id="a-f")
    message = await visitor.sock.expect("message", client_msg_id="a-f")
    assert message["attachments"][0]["name"] == "résumé 履歴書.pdf"
    mine = await links(visitor.sock, [doc["id"], photo["id"]])
    assert set(mine["links"]) == {doc["id"], photo["id"]}
    pdf = await fetch(node, mine["links"][doc["id"]]["url"])
    assert pdf.status_code == 200 and pdf.content == files.pdf(2000)
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9" in pdf.headers["content-disposition"]
    assert pdf.headers["accept-ranges"] == "bytes"

    # One range of it (a download resumed, a player seeking) was the whole file, 200:
    # a resumed download started again from the first byte.
    whole = files.pdf(2000)
    url = node.base_url + mine["links"][doc["id"]]["url"]
    async with httpx.AsyncClient() as http:
        for asked, first, last in (("bytes=10-19", 10, 19), ("bytes=-5", len(whole) - 5,
                len(whole) - 1), ("bytes=2000-", 2000, len(whole) - 1), ("bytes=0-999999",
                0, len(whole) - 1)):  # fmt: skip
            part = await http.get(url, headers={"Range": asked})
            assert part.status_code == 206, (asked, part.status_code)
            assert part.content == whole[first : last + 1], asked
            assert part.headers["content-range"] == f"bytes {first}-{last}/{len(whole)}"
            assert part.headers["content-length"] == str(last - first + 1)
            assert part.headers["x-content-type-options"] == "nosniff"
            assert part.headers["content-disposition"].startswith("attachment;")
        past = await http.get(url, headers={"Range": f"bytes={len(whole)}-"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(whole)}"
        # several ranges, one that does not parse, or a condition: the whole file
        for headers in ({"Range": "bytes=0-1,5-6"}, {"Range": "bytes=9-2"},
                        {"Range": "lines=1-2"}, {"Range": "bytes=0-9", "If-Range": '"x"'}):  # fmt: skip
            full = await http.get(url, headers=headers)
            assert full.status_code == 200 and full.content == whole, headers
        # the photo's thumbnail too
        thumb_part = await http.get(
            node.base_url + link["thumbnail_url"], headers={"Range": "bytes=0-1"}
        )
        assert thumb_part.status_code == 206 and thumb_part.content == b"\xff\xd8"

    # a link is the reader's: changed by a byte, or used for another file, it is refused
    bad = mine["links"][doc["id"]]["url"].replace("r=c%3A", "r=a%3A")
    assert (await fetch(node, bad)).status_code == 401
    other = mine["links"][doc["id"]]["url"].replace(doc["id"], photo["id"])
    assert (await fetch(node, other)).status_code == 401

    # another visitor reaches none of these files
    stranger = demo_visitor(node)
    await stranger.bootstrap()
    await stranger.connect()
    await stranger.start()
    assert stranger.sock
    none = await links(stranger.sock, [doc["id"], photo["id"]])
    assert none["links"] == {}
    foreign = await links(stranger.sock, [doc["id"]], cid)
    assert foreign["type"] == "error" and foreign["code"] == "not_found"
    for client in (visitor, agent, stranger):
        assert client.sock
        await client.sock.close()


async def test_bad_uploads_are_refused_clearly_and_leave_nothing(
    node: services.GatewayProcess,
) -> None:
    visitor, agent = demo_visitor(node), demo_agent(node)
    cid = await accepted_chat(agent, visitor)
    cases = [
        ("empty.pdf", b"", 422, "file_empty"),
        ("../../etc/passwd.txt", b"x", 422, "file_name_invalid"),
        ("bell\x07.txt", b"x", 422, "file_name_invalid"),
        ("notes.txt", b"<html><script>alert(1)</script>", 415, "file_type_mismatch"),
        ("page.html", b"<!doctype html><html>hi</html>", 415, "file_type_refused"),
        ("photo.png", files.jpeg_with_gps((50, 50)), 415, "file_type_mismatch"),
        ("cat.png", files.png() + files.zip_bytes(), 415, "file_polyglot"),
    ]
    for name, data, status, code in cases:
        r = await upload(visitor, name, data)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (name, r.text)
    refused = (await upload(visitor, "page.html", b"<html><body>x</body></html>")).json()
    assert "pdf" in refused["error"]["allowed"] and "accepted:" in refused["error"]["message"]

    # A name of 1,000 characters and more is a name too long, as one of 256 is (it was a
    # generic 422 "invalid" saying "the file's name is required"); a line separator
    # (U+2028, U+2029) breaks the name's line wherever it is shown.
    for name in ("a" * 1000 + ".pdf", "b" * 2000 + ".pdf", "line\u2028break.pdf",
                 "para\u2029graph.pdf"):  # fmt: skip
        r = await upload(visitor, name, files.pdf())
        assert r.status_code == 422 and r.json()["error"]["code"] == "file_name_invalid", r.text
    # a parameter the endpoint does not take is named as such, not as a missing name
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            node.base_url + "/widget/attachments",
            params={"name": "x.pdf", "nmae": "x.pdf"},
            content=files.pdf(),
            headers={"Authorization": f"Bearer {visitor.token}", "Origin": visitor.origin},
        )
    assert r.status_code == 422 and "required" not in r.json()["error"]["message"], r.text
    assert "nmae" in r.json()["error"]["message"]

    # A multipart form (what an HTML form or curl -F sends) is not the file: it was
    # stored with its boundaries and part headers inside (a .txt), or refused as a
    # type the gateway does not know (anything else). Refused, saying what to send.
    form = (b"--zzz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nhello\r\n--zzz--\r\n")  # fmt: skip
    r = await upload(
        visitor, "a.txt", form, **{"Content-Type": "multipart/form-data; boundary=zzz"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (415, "upload_not_raw"), r.text
    assert "multipart" in r.json()["error"]["message"]
    r = await agent_upload(
        agent, cid, "a.txt", form, content_type="multipart/form-data; boundary=z"
    )
    assert (r.status_code, r.json()["error"]["code"]) == (415, "upload_not_raw"), r.text

    # over the limit: declared, and lied about (streamed without a length)
    big = 10 * 1024 * 1024 + 1
    r = await upload(visitor, "big.pdf", files.pdf(big))
    assert (r.status_code, r.json()["error"]["code"]) == (413, "file_too_large")

    async def lying() -> AsyncIterator[bytes]:
        yield files.pdf()
        for _ in range(12):
            yield b"0" * (1024 * 1024)

    r = await upload(visitor, "stream.pdf", lying())
    assert (r.status_code, r.json()["error"]["code"]) == (413, "file_too_large")

    # an upload cut off half-way: nothing stored, and the gateway answers the next one
    with socket.create_connection(("127.0.0.1", node.port)) as raw:
        raw.sendall(
            b"POST /widget/attachments?name=cut.pdf HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {visitor.token}\r\nOrigin: {visitor.origin}\r\n".encode()
            + b"Content-Length: 1000000\r\n\r\n"
            + files.pdf(50_000)
        )
    r = await upload(visitor, "after.pdf", files.pdf())
    assert r.status_code == 201
    assert node.alive()
    if "GATEWAY_BLOB_URL" not in node.env:  # local files: only what was accepted is there
        await until(
            lambda: not list((Path(node.env["GATEWAY_DATA_DIR"]) / "uploads").rglob("*.*")),
            what="no upload left behind",
        )
        stored = [p for p in (Path(node.env["GATEWAY_DATA_DIR"]) / "blobs").rglob("*")
                  if p.is_file() and cid in str(p)]  # fmt: skip
        assert len(stored) == 1  # after.pdf, and nothing of the refused ones

    # any other Content-Type, or none, is the file's bytes: its type is in its content
    for content_type in ("application/octet-stream", "image/png", "text/html", ""):
        r = await upload(visitor, "plain.txt", b"hello", **{"Content-Type": content_type})
        assert r.status_code == 201 and r.json()["attachment"]["content_type"] == "text/plain"

    # uploads need the visitor's token, from its origin
    r = await upload(visitor, "x.pdf", files.pdf(), Authorization="Bearer forged")
    assert r.status_code == 401
    r = await upload(visitor, "x.pdf", files.pdf(), Origin="https://evil.example")
    assert r.status_code == 403
    assert visitor.sock and agent.sock
    await visitor.sock.close()
    await agent.sock.close()


def blob_names(node: services.GatewayProcess, request: pytest.FixtureRequest) -> list[str]:
    """What the node's blob store holds: files under its data directory, or the keys
    of its bucket on the S3 server."""
    url = node.env.get("GATEWAY_BLOB_URL")
    if url is None:
        root = Path(node.env["GATEWAY_DATA_DIR"]) / "blobs"
        return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    s3: services.S3Server = request.getfixturevalue("s3_server")
    return s3.keys(services.S3Server.bucket_of(url))


async def test_only_the_owner_uploads_and_deleting_the_contact_deletes_its_files(
    node: services.GatewayProcess, request: pytest.FixtureRequest
) -> None:
    visitor, agent = demo_visitor(node), demo_agent(node)
    cid = await accepted_chat(agent, visitor)
    assert visitor.sock
    r = await upload(visitor, "keep.pdf", files.pdf())
    file_id = r.json()["attachment"]["id"]
    r = await upload(visitor, "photo.jpg", files.jpeg_with_gps())  # with a thumbnail
    photo_id = r.json()["attachment"]["id"]
    assert r.json()["attachment"]["thumbnail"]
    ours = [k for k in blob_names(node, request) if file_id in k or photo_id in k]
    assert len(ours) == 3, ours  # the PDF, the photo and its thumbnail are stored
    await visitor.sock.send(
        {"type": "send", "client_msg_id": "d-1", "attachments": [file_id, photo_id]}
    )
    await visitor.sock.expect("ack", client_msg_id="d-1")
    admin = AgentClient(node, *ADMIN)
    await admin.login()
    assert (await agent_upload(admin, cid, "x.pdf", files.pdf())).status_code == 403
    await admin.connect()
    assert admin.sock
    link = (await links(admin.sock, [file_id], cid))["links"][file_id]["url"]
    assert (await fetch(node, link)).status_code == 200
    async with httpx.AsyncClient() as http:
        conv = (await http.get(f"{node.base_url}/api/admin/conversations/{cid}",
                               headers={"Authorization": f"Bearer {admin.token}"})).json()  # fmt: skip
        exported = await http.get(
            f"{node.base_url}/api/admin/contacts/{conv['contact_id']}/export",
            headers={"Authorization": f"Bearer {admin.token}"},
        )
        files_out = exported.json()["conversations"][-1]["attachments"]
        assert [f["id"] for f in files_out] == [file_id, photo_id]
        gone = await http.delete(
            f"{node.base_url}/api/admin/contacts/{conv['contact_id']}",
            params={"force": "true"},
            headers={"Authorization": f"Bearer {admin.token}"},
        )
        assert gone.status_code == 200, gone.text
    assert (await fetch(node, link)).status_code == 404
    # Its blobs go too, from local disk as from S3 (at once, not at the next sweep).
    await until(
        lambda: not [k for k in blob_names(node, request) if file_id in k or photo_id in k],
        what="the contact's blobs deleted",
    )
    for client in (visitor, agent, admin):
        assert client.sock
        await client.sock.close()


async def test_clients_learn_what_files_they_may_send(node: services.GatewayProcess) -> None:
    """The widget from its bootstrap, the console from its snapshot (docs/attachments.md)."""
    visitor, agent = demo_visitor(node), demo_agent(node)
    chat = {
        "types": [
            "jpg",
            "png",
            "gif",
            "webp",
            "pdf",
            "txt",
            "csv",
            "doc",
            "docx",
            "xls",
            "xlsx",
            "ppt",
            "pptx",
            "odt",
            "ods",
            "mp3",
            "mp4",
        ],
        "max_bytes": 10 * 1024 * 1024,
        "max_files": 10,
    }
    assert (await visitor.bootstrap())["config"]["attachments"] == chat
    await agent.login()
    channels = (await agent.connect())["channels"]
    assert channels["chat"]["files"] == chat
    assert channels["sms"]["files"] == {
        "types": ["jpg", "png", "gif", "pdf", "mp3", "mp4"],
        "max_bytes": 5 * 1024 * 1024,
        "max_files": 10,
    }
    assert "files" not in channels["voice"] and not channels["voice"].get("attachments")
    assert agent.sock
    await agent.sock.close()


async def test_files_never_sent_are_held_to_two_messages_worth(
    node: services.GatewayProcess,
) -> None:
    """Each upload not sent stays for the orphan age: a client uploading without ever
    sending filled the storage for everyone. Two messages' worth of unsent files (chat:
    20), then 429 too_many_uploads until some are sent."""
    visitor = demo_visitor(node)  # an agent's capacity is the other tests' by now
    await visitor.bootstrap()
    await visitor.connect()
    await visitor.start()
    assert visitor.sock
    ids = []
    for i in range(20):
        r = await upload(visitor, f"page-{i}.pdf", files.pdf())
        assert r.status_code == 201, r.text
        ids.append(r.json()["attachment"]["id"])
    r = await upload(visitor, "one-more.pdf", files.pdf())
    assert (r.status_code, r.json()["error"]["code"]) == (429, "too_many_uploads"), r.text
    await visitor.sock.send({"type": "send", "client_msg_id": "u-1", "attachments": ids[:10]})
    await visitor.sock.expect("ack", client_msg_id="u-1")
    r = await upload(visitor, "one-more.pdf", files.pdf())
    assert r.status_code == 201, r.text
