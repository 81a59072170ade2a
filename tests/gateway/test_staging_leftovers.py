"""A node's start clears what a crash left in its uploads' staging, and only that: the
nodes of the systemd recipe share one data directory, and another node's upload under
way is staged there (gateway/services/attachments.py, ``Attachments.start``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from devkit import services
from gateway.services.attachments import STALE_UPLOAD


def test_a_start_removes_stale_staging_and_leaves_an_upload_under_way(
    gateway_factory: Callable[..., services.GatewayProcess], tmp_path: Path
) -> None:
    """Regression (review): the start removed the whole staging directory, so starting
    one node of a host failed the uploads the others were receiving."""
    staging = tmp_path / "uploads"

    def leftovers(url: str, port: int) -> None:
        crashed = staging / "up_crashed"
        crashed.mkdir(parents=True)
        (crashed / "file").write_bytes(b"half")
        long_ago = time.time() - STALE_UPLOAD - 60
        for path in (crashed / "file", crashed):
            os.utime(path, (long_ago, long_ago))
        (staging / "up_under_way").mkdir()
        (staging / "up_under_way" / "file").write_bytes(b"being received")

    node = gateway_factory({"GATEWAY_DATA_DIR": str(tmp_path)}, setup=leftovers)
    assert httpx.get(f"{node.base_url}/readyz", timeout=10).status_code == 200
    assert sorted(p.name for p in staging.iterdir()) == ["up_under_way"]
