"""The S3 server stops answering while a visitor uploads (its process stopped with
SIGSTOP: connections are accepted, nothing is answered, as a hung or partitioned
storage does). The upload must end in a bounded time with ``503 storage_unavailable``,
leave nothing behind (no record, no object), and the next upload must work once the
storage answers again.

The gateway is the real application under the real uvicorn server (``gateway serve``'s
``build_server``), in this process so that the S3 deadline can be shortened to seconds
(``CALL_TIMEOUT``, 60 s in production); the clients reach it over real sockets. The S3
server is one of this test's own (stopping the session's would stop other tests').
Before the deadline, botocore's timeouts and retries and the clean-up's deletes held
such an upload for more than four minutes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from devkit import services
from gateway.cli import build_server
from gateway.ports.blobs import s3
from gateway.settings import load_settings
from tests.attachments import files
from tests.attachments.test_gateway import upload
from tests.gateway.client import Visitor, accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.poll import until

DEADLINE = 2.0


async def post(visitor: Visitor, name: str, data: bytes) -> httpx.Response:
    """An upload, given a minute at most (before the fix: more than four)."""
    return await asyncio.wait_for(upload(visitor, name, data), 60)


async def send(visitor: Visitor, attachment_id: str) -> None:
    assert visitor.sock
    ref = f"m-{attachment_id}"
    await visitor.sock.send({"type": "send", "client_msg_id": ref, "attachments": [attachment_id]})
    await visitor.sock.expect("ack", client_msg_id=ref)


def multipart_uploads(storage: services.S3Server, bucket: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=storage.endpoint, **services._boto_env())
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def records(data: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'gateway.db'}?mode=ro", uri=True)) as db:
        return [r[0] for r in db.execute("SELECT name FROM attachments ORDER BY created_at")]


@pytest.mark.apart
async def test_an_s3_that_stops_answering_is_a_prompt_503_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3, "CALL_TIMEOUT", DEADLINE, raising=False)  # (older code: none)
    storage = services.start_s3()
    data = Path(tempfile.mkdtemp(prefix="gw-s3-down-"))
    port = services.free_port()
    try:
        storage.create_bucket("gw-down")
        settings = load_settings(
            {
                **services.TEST_LIMITS,
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(port),
                "GATEWAY_DATA_DIR": str(data),
                "GATEWAY_DATABASE_URL": f"sqlite:///{data}/gateway.db",
                "GATEWAY_SECRET_KEY": services.SECRET_KEY,
                "GATEWAY_LOG_LEVEL": "warning",
                "GATEWAY_DEMO": "1",
                "GATEWAY_OFFER_TIMEOUT": "60",
                # what a hung S3 applies late is deleted by the sweep, once due
                "GATEWAY_ATTACHMENT_ORPHAN_AGE": "5",
                "GATEWAY_BLOB_URL": storage.url("gw-down", "files"),
            }
        )
        settings.prepare_data_dir()
        from gateway.app import create_app

        server = build_server(create_app(settings), settings)
        task = await services.serving(server)
        node = services.Listening(port)
        visitor, agent = demo_visitor(node), demo_agent(node)
        try:
            await accepted_chat(agent, visitor)
            assert visitor.sock
            first = await post(visitor, "first.pdf", files.pdf(100))
            assert first.status_code == 201, first.text
            await send(visitor, first.json()["attachment"]["id"])

            os.kill(storage.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                # a small file (one PutObject) and one of several parts (multipart)
                for name, pad in (("hung.pdf", 100), ("hung-big.pdf", 6 * 1024 * 1024)):
                    r = await post(visitor, name, files.pdf(pad))
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["code"] == "storage_unavailable"
                # each a few deadlines (the put, an abort), not botocore's minutes
                assert time.monotonic() - started < 12 * DEADLINE + 10
            finally:
                os.kill(storage.proc.pid, signal.SIGCONT)

            # It answers again: the next upload goes through, and nothing of the
            # refused ones is anywhere (records, objects, unfinished multipart uploads).
            again = await post(visitor, "again.pdf", files.pdf(100))
            assert again.status_code == 201, again.text
            await send(visitor, again.json()["attachment"]["id"])
            assert records(data) == ["first.pdf", "again.pdf"]
            # A request the stopped server had received may be carried out when it
            # resumes (an object, a multipart upload): the deletion queue, which had
            # the keys before anything was sent, removes them once due.
            ids = {first.json()["attachment"]["id"], again.json()["attachment"]["id"]}
            await until(
                lambda: {k.rsplit("/", 1)[-1] for k in storage.keys("gw-down")} == ids,
                what="every file in the storage",
            )
            await until(
                lambda: not multipart_uploads(storage, "gw-down"), what="no multipart upload left"
            )
            for client in (visitor, agent):
                assert client.sock
                await client.sock.close()
        finally:
            server.should_exit = True
            await task
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(storage.proc.pid, signal.SIGCONT)
        storage.stop()
        shutil.rmtree(data, ignore_errors=True)
