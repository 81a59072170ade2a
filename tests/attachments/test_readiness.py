"""``/readyz`` and the file storage, through a real gateway (uvicorn, SQLite): on S3
(moto's server, behind a relay that records the gateway's requests and can hold them,
as a storage that stops answering) and on local files (their directory taken away).

Readiness did not look at the storage. Decision (docs/deploy.md): a storage that does
not answer leaves the node ready (200: chat goes on, and every node shares the storage,
so failing them all would stop everything) but says so, ``"status": "degraded"`` and
``"files": "unavailable"``; the storage is asked at most once in a few seconds, within
a bound, however often the balancers probe."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from devkit import services
from gateway.services.attachments import STORAGE_CHECK_TIMEOUT
from tests import poll
from tests.attachments.observe import S3Recorder

ENV = {"GATEWAY_DEMO": "1"}
# the storage asked at every probe but a few: a change shows at the next probes, where
# the default interval kept the last answer 5 s
FREQUENT = {**ENV, "GATEWAY_STORAGE_CHECK_INTERVAL": "0.2"}


async def ready(http: httpx.AsyncClient) -> dict[str, Any]:
    """One probe: 200 whatever the storage does, answered within the check's bound."""
    started = time.monotonic()
    r = await http.get("/readyz")
    assert time.monotonic() - started < STORAGE_CHECK_TIMEOUT + 5
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def until_ready(http: httpx.AsyncClient, status: str, files: str) -> None:
    # a balancer's probes, faster (nothing tells a change)
    body = await poll.until(
        lambda: ready(http), lambda b: b["files"] == files, what=f"/readyz files {files}", every=0.1
    )
    assert body["status"] == status, body


def s3_env(s3_server: services.S3Server, env: dict[str, str]) -> tuple[dict[str, str], Any]:
    """A gateway's settings on a new bucket behind a recorder, and a count of the
    storage's checks (HeadBucket) the recorder saw."""
    bucket = f"gw-ready-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    recorder = S3Recorder(s3_server.port)

    def checks() -> int:
        return sum((m, p) == ("HEAD", f"/{bucket}") for m, p in recorder.requests())

    url = f"s3://{bucket}/files?endpoint={recorder.endpoint()}"
    return {**env, "GATEWAY_BLOB_URL": url}, (recorder, checks)


async def test_probes_in_a_burst_ask_the_storage_once(s3_server: services.S3Server) -> None:
    """Probes in a burst (every balancer, every few seconds) ask S3 once at most: the
    answer is kept GATEWAY_STORAGE_CHECK_INTERVAL (5 s by default)."""
    env, (recorder, checks) = s3_env(s3_server, ENV)
    try:
        with services.running_gateway(env) as gw:
            async with httpx.AsyncClient(base_url=gw.base_url, timeout=30) as http:
                body = await ready(http)
                assert (body["status"], body["files"]) == ("ok", "ok"), body
                before = checks()
                for _ in range(20):
                    assert (await ready(http))["files"] == "ok"
                assert checks() - before <= 1
    finally:
        recorder.close()


async def test_a_storage_that_stops_answering_is_degraded_not_unready(
    s3_server: services.S3Server,
) -> None:
    env, (recorder, _) = s3_env(s3_server, FREQUENT)
    try:
        with services.running_gateway(env) as gw:
            async with httpx.AsyncClient(base_url=gw.base_url, timeout=30) as http:
                body = await ready(http)
                assert (body["status"], body["files"]) == ("ok", "ok"), body
                recorder.holding.set()  # S3 takes requests and answers none
                try:
                    await until_ready(http, "degraded", "unavailable")
                finally:
                    recorder.holding.clear()
                await until_ready(http, "ok", "ok")
    finally:
        recorder.close()


async def test_local_files_gone_is_degraded_not_unready() -> None:
    with services.running_gateway(FREQUENT) as gw:
        blobs = Path(gw.env["GATEWAY_DATA_DIR"]) / "blobs"
        async with httpx.AsyncClient(base_url=gw.base_url, timeout=30) as http:
            body = await ready(http)
            assert (body["status"], body["files"]) == ("ok", "ok"), body
            away = blobs.rename(blobs.with_name("blobs-away"))  # an unmounted volume
            try:
                await until_ready(http, "degraded", "unavailable")
            finally:
                away.rename(blobs)
            await until_ready(http, "ok", "ok")
