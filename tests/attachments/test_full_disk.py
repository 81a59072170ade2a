"""A full disk, for real: a 1 MiB tmpfs under the staging directory, or under the blob
store, of a real gateway process. An upload that does not fit is ``503 storage_full``
(retryable), nothing of it stays (no staging file, no blob, no partial file, no
record), the process stays up, and a file that fits is stored next.

Mounting needs root, as the rest of the test set-up does (scripts/setup-services
installs Debian packages); without it this test fails and says so."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit import services
from tests.attachments import files
from tests.attachments.test_gateway import upload
from tests.gateway.client import accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor


@contextlib.contextmanager
def tiny_disk(path: Path, size: str = "1m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a {size} tmpfs at {path} ({done.stderr.strip()}): this test "
            "fills a real file system and needs root, as ./scripts/test has",
            pytrace=False,
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def regular_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def stored_records(data: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'gateway.db'}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM attachments").fetchone()[0])


@pytest.mark.parametrize("full", ["staging", "blobs"])
async def test_a_full_disk_is_a_clear_503_and_leaves_nothing(full: str) -> None:
    data = Path(tempfile.mkdtemp(prefix="gw-full-"))
    blobs = data / "blobs"
    tiny = data / ("uploads" if full == "staging" else "blobs")
    try:
        with tiny_disk(tiny):
            node = services.start_gateway(
                {
                    "GATEWAY_DEMO": "1",
                    "GATEWAY_DATA_DIR": str(data),
                    "GATEWAY_DATABASE_URL": f"sqlite:///{data}/gateway.db",
                    "GATEWAY_BLOB_URL": f"file://{blobs}",
                }
            )
            try:
                visitor, agent = demo_visitor(node), demo_agent(node)
                await accepted_chat(agent, visitor)
                r = await upload(visitor, "big.pdf", files.pdf(pad=1_500_000))
                assert r.status_code == 503, r.text
                error = r.json()["error"]
                assert error["code"] == "storage_full"
                assert "no space is left for files" in error["message"]
                # Nothing of it anywhere: staging, blobs (no partial file), records.
                assert regular_files(data / "uploads") == []
                assert regular_files(blobs) == []
                assert stored_records(data) == 0
                # The process is up, and a file that fits goes through.
                assert node.alive()
                async with httpx.AsyncClient() as http:
                    assert (await http.get(node.base_url + "/readyz")).status_code == 200
                small = await upload(visitor, "small.pdf", files.pdf(pad=10_000))
                assert small.status_code == 201, small.text
                assert stored_records(data) == 1
                assert len(regular_files(blobs)) == 1
                for client in (visitor, agent):
                    assert client.sock
                    await client.sock.close()
            finally:
                node.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)
