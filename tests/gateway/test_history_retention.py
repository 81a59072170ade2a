"""GATEWAY_HISTORY_RETENTION over a real gateway: a conversation closed longer ago than
the retention is deleted with its messages and its file's bytes; a newer closed one, an
old live one and the contact stay; with the default (0) nothing is deleted."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from devkit import services
from devkit.endpoint import Endpoint
from gateway.model.records import Attachment, Conversation
from gateway.ports.blobs import create_blobs
from gateway.ports.blobs.local import LocalBlobs
from gateway.ports.store import create_store
from tests.gateway.conftest import ADMIN, InProcessFactory
from tests.poll import until

DAY = 86400.0


def seed_history(database_url: str, blob_url: str) -> None:
    """Contact k1 with three conversations: ``old`` closed two days ago (a message and a
    file whose bytes are in the blob store), ``recent`` closed an hour ago, and ``live``,
    waiting since thirty days ago."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 10

    async def run() -> None:
        now = time.time()
        store = create_store(database_url)
        blobs = create_blobs(blob_url)
        await store.open()
        await blobs.open()
        try:
            await store.create_contact("k1", now=now - 40 * DAY)
            for cid, state, closed in (
                ("old", "closed", now - 2 * DAY),
                ("recent", "closed", now - 3600),
                ("live", "waiting", None),
            ):
                await store.create_conversation(
                    Conversation(
                        id=cid,
                        touchpoint_id="tp_demo_127",
                        channel="chat",
                        contact_id="k1",
                        address=f"v-{cid}",
                        state=state,  # type: ignore[arg-type]
                        queue_ids=["q_support"],
                        created_at=now - 30 * DAY,
                        arrived_at=now - 30 * DAY,
                        ended_at=closed,
                        closed_at=closed,
                    )
                )
                await store.append_message(
                    cid,
                    sender="contact",
                    sender_id=f"v-{cid}",
                    client_msg_id="m1",
                    body=f"hello from {cid}",
                    now=now - 30 * DAY,
                )
            await blobs.put("old/file", chunks(), max_bytes=100)
            await store.create_attachment(
                Attachment(
                    id="at_old",
                    conversation_id="old",
                    uploader="contact",
                    uploader_id="v-old",
                    name="f.txt",
                    content_type="text/plain",
                    size=10,
                    sha256="ab" * 32,
                    blob_key="old/file",
                    created_at=now - 30 * DAY,
                )
            )
        finally:
            await blobs.close()
            await store.close()

    # called from inside the test's event loop: run it on a thread of its own
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def admin_client(node: Endpoint) -> httpx.AsyncClient:
    token = services.login_token(node.base_url, *ADMIN)
    return httpx.AsyncClient(
        base_url=node.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def test_a_conversation_closed_before_the_retention_goes_with_its_file(
    gateway_factory: Callable[..., services.GatewayProcess], tmp_path: Path
) -> None:
    blob_dir = tmp_path / "blobs"
    node = gateway_factory(
        {"GATEWAY_HISTORY_RETENTION": str(DAY), "GATEWAY_BLOB_URL": f"file://{blob_dir}"},
        setup=lambda url, port: seed_history(url, f"file://{blob_dir}"),
    )
    blob = LocalBlobs(str(blob_dir)).path("old/file")
    async with admin_client(node) as admin:
        # The purge runs as the node starts, then hourly: nothing announces it, so look
        # a bounded number of times.
        async def purged() -> bool:
            old = await admin.get("/api/admin/conversations/old")
            return old.status_code == 404 and not blob.exists()

        await until(purged, what="the old conversation and its file gone", every=0.1)
        assert (await admin.get("/api/admin/conversations/old/messages")).status_code == 404
        for cid in ("recent", "live"):
            r = await admin.get(f"/api/admin/conversations/{cid}/messages")
            assert r.status_code == 200, (cid, r.text)
            assert [m["body"] for m in r.json()["items"]] == [f"hello from {cid}"]
        # the contact stays, with what is left of its history
        r = await admin.get("/api/admin/contacts/k1/conversations")
        assert r.status_code == 200
        assert sorted(c["id"] for c in r.json()["items"]) == ["live", "recent"]
        metrics = (await admin.get("/metrics")).text
        assert "gateway_history_purged_conversations_total 1.0" in metrics


async def test_retention_zero_deletes_nothing(
    inprocess_factory: InProcessFactory, tmp_path: Path
) -> None:
    blob_url = f"file://{tmp_path / 'blobs'}"
    gw = await inprocess_factory(
        {"GATEWAY_BLOB_URL": blob_url}, setup=lambda url, port: seed_history(url, blob_url)
    )
    retention = gw.node.retention
    assert retention.retention == 0 and retention._task is None  # nothing runs
    assert await retention.purge() == 0
    assert (await gw.node.store.get_conversation("old")).state == "closed"
    assert LocalBlobs(str(tmp_path / "blobs")).path("old/file").exists()
