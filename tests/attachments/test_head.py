"""HEAD on a file link, and the names files download under, through a real gateway
(uvicorn, SQLite) on local files and on S3 (moto's server, reached through a relay that
records the gateway's requests: tests/attachments/observe.py).

A HEAD read the whole blob to throw it away (Starlette streams a GET's body for HEAD
too; on S3 a GetObject of the whole object); it must answer GET's headers from the
blob's metadata. A thumbnail downloaded as ``thumbnail-photo.jpg.jpg``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devkit import services
from gateway.ports.blobs.local import LocalBlobs
from tests.attachments import files
from tests.attachments.observe import FileOpens, S3Recorder
from tests.attachments.test_gateway import links, upload
from tests.gateway.client import Visitor, accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.poll import until

Node = tuple[services.GatewayProcess, S3Recorder | None]
# what a HEAD must say as its GET does (Cache-Control's max-age counts down between them)
SAME = (
    "content-length",
    "content-type",
    "content-disposition",
    "accept-ranges",
    "x-content-type-options",
    "content-security-policy",
    "cross-origin-resource-policy",
    "referrer-policy",
)


@pytest.fixture(scope="module", params=["local", "s3"])
def node(request: pytest.FixtureRequest) -> Iterator[Node]:
    env = {"GATEWAY_DEMO": "1", "GATEWAY_OFFER_TIMEOUT": "60"}
    recorder = None
    if request.param == "s3":
        s3: services.S3Server = request.getfixturevalue("s3_server")
        bucket = f"gw-head-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        recorder = S3Recorder(s3.port)
        env["GATEWAY_BLOB_URL"] = f"s3://{bucket}/files?endpoint={recorder.endpoint()}"
    gw = services.start_gateway(env)
    yield gw, recorder
    gw.stop()
    if recorder:
        recorder.close()


class Reads:
    """How many times the gateway read a blob: GetObject requests on S3, opens of its
    file on local storage (a HEAD's stat opens nothing)."""

    def __init__(self, node: Node, cid: str, key: str) -> None:
        gw, self.recorder = node
        self.key = key  # <attachment id> or <attachment id>.thumb
        self.opens = None
        if self.recorder is None:
            root = Path(gw.env["GATEWAY_DATA_DIR"]) / "blobs"
            self.opens = FileOpens(LocalBlobs(str(root)).path(f"{cid}/{key}"))

    def count(self) -> int:
        if self.opens is not None:
            return self.opens.count()
        assert self.recorder
        return sum(
            method == "GET" and path.endswith(f"/{self.key}")
            for method, path in self.recorder.requests()
        )


async def sent_files(visitor: Visitor, *uploads: tuple[str, bytes]) -> list[dict[str, Any]]:
    assert visitor.sock
    out = []
    for name, data in uploads:
        r = await upload(visitor, name, data)
        assert r.status_code == 201, r.text
        out.append(r.json()["attachment"])
    ref = uuid.uuid4().hex[:8]
    await visitor.sock.send(
        {"type": "send", "client_msg_id": ref, "attachments": [a["id"] for a in out]}
    )
    await visitor.sock.expect("ack", client_msg_id=ref)
    return out


async def test_head_answers_the_headers_without_reading_the_blob(node: Node) -> None:
    gw = node[0]
    visitor, agent = demo_visitor(gw), demo_agent(gw)
    cid = await accepted_chat(agent, visitor)
    assert agent.sock and visitor.sock
    doc_bytes = files.pdf(300_000)
    photo, doc = await sent_files(
        visitor, ("holiday photo.jpg", files.jpeg_with_gps()), ("report.pdf", doc_bytes)
    )
    got = (await links(agent.sock, [photo["id"], doc["id"]], cid))["links"]
    targets = [
        (got[photo["id"]]["url"], photo["id"]),
        (got[photo["id"]]["thumbnail_url"], photo["id"] + ".thumb"),
        (got[doc["id"]]["url"] + "&dl=1", doc["id"]),
    ]
    reads = [Reads(node, cid, key) for _, key in targets]
    async with httpx.AsyncClient(base_url=gw.base_url, timeout=30) as http:
        heads = [await http.head(url) for url, _ in targets]
        # then each is fetched: the one read each blob must show
        gets = [await http.get(url) for url, _ in targets]
        # Every blob was read once: by its GET, never by a HEAD (before, twice).
        for r, (_, key) in zip(reads, targets, strict=True):
            await until(lambda r=r: r.count() >= 1, what=f"the GET of {key} reaches the storage")
            assert r.count() == 1, key
        for head, get, (url, key) in zip(heads, gets, targets, strict=True):
            assert (head.status_code, get.status_code) == (200, 200), url
            assert head.content == b""
            assert {h: head.headers.get(h) for h in SAME} == {h: get.headers.get(h) for h in SAME}
            assert head.headers["content-length"] == str(len(get.content)), key
            assert head.headers["cache-control"].startswith("private, max-age=")
        assert gets[2].content == doc_bytes
        # a Range is for GET alone (RFC 9110, 14.2): HEAD describes the whole file
        ranged = await http.head(targets[2][0], headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 200 and "content-range" not in ranged.headers
        assert ranged.headers["content-length"] == str(len(doc_bytes))
        # a link changed by a byte: refused as for GET
        changed = await http.head(targets[2][0].replace("r=a%3A", "r=c%3A"))
        assert changed.status_code == 401
        assert reads[2].count() == 1  # neither read it
    for client in (visitor, agent):
        assert client.sock
        await client.sock.close()


async def test_a_thumbnail_downloads_under_its_photos_name(node: Node) -> None:
    """``holiday photo.jpg``'s thumbnail is ``holiday photo-thumbnail.jpg`` (it was
    ``thumbnail-holiday photo.jpg.jpg``); a PNG's is a JPEG, named so."""
    gw = node[0]
    visitor, agent = demo_visitor(gw), demo_agent(gw)
    cid = await accepted_chat(agent, visitor)
    assert agent.sock
    photo, scan = await sent_files(
        visitor, ("holiday photo.jpg", files.jpeg_with_gps()), ("scan.png", files.png((640, 480)))
    )
    got = (await links(agent.sock, [photo["id"], scan["id"]], cid))["links"]
    async with httpx.AsyncClient(base_url=gw.base_url, timeout=30) as http:
        for a, name, quoted in (
            (photo, "holiday photo-thumbnail.jpg", "holiday%20photo-thumbnail.jpg"),
            (scan, "scan-thumbnail.jpg", "scan-thumbnail.jpg"),
        ):
            thumb = got[a["id"]]["thumbnail_url"]
            for r in (
                await http.get(thumb),
                await http.get(thumb + "&dl=1"),
                await http.head(thumb),
            ):
                assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
                disposition = r.headers["content-disposition"]
                assert f'filename="{name}"' in disposition, disposition
                assert f"filename*=UTF-8''{quoted}" in disposition, disposition
            # the file itself keeps its name
            full = await http.get(got[a["id"]]["url"])
            assert f'filename="{a["name"]}"' in full.headers["content-disposition"]
    for client in (visitor, agent):
        assert client.sock
        await client.sock.close()
