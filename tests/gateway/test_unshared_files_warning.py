"""A node of a cluster (a Redis bus) whose attachments go to the default directory in
its own data directory says at start, in one line, that files will not be shared
between nodes: uploaded through it, a file cannot be read through another node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import services
from gateway.app import unshared_files_warning
from gateway.settings import Settings

SAID = "files will not be shared between nodes"


@pytest.fixture(scope="module")
def redis() -> Iterator[services.Redis]:
    server = services.start_redis()  # its own: a node takes the router's lease there
    try:
        yield server
    finally:
        server.stop()


def said(node: services.GatewayProcess) -> list[str]:
    # the line is logged before the node answers /healthz, which start_gateway awaited
    return [line for line in node.output().splitlines() if SAID in line]


def test_a_cluster_node_on_its_own_blob_directory_says_so(redis: services.Redis) -> None:
    node = services.start_gateway({"GATEWAY_REDIS_URL": redis.url})
    try:
        (line,) = said(node)
        blobs = Path(node.env["GATEWAY_DATA_DIR"]) / "blobs"
        assert line.startswith("warning: ") and str(blobs) in line, line
        assert "GATEWAY_BLOB_URL" in line
        assert node.alive()  # said, not refused
    finally:
        node.stop()


def test_a_cluster_node_on_shared_storage_says_nothing(
    redis: services.Redis, tmp_path: Path
) -> None:
    node = services.start_gateway(
        {"GATEWAY_REDIS_URL": redis.url, "GATEWAY_BLOB_URL": f"file://{tmp_path}"}
    )
    try:
        assert said(node) == []
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("redis_url", "blob_url", "warned"),
    [
        ("", "", False),  # one node: its own directory is all there is
        ("redis://127.0.0.1:6379/0", "", True),
        ("redis://127.0.0.1:6379/0", "file:///srv/shared/blobs", False),
        ("redis://127.0.0.1:6379/0", "s3://bucket/files", False),
    ],
)
def test_only_a_cluster_node_on_the_default_directory_is_warned(
    redis_url: str, blob_url: str, warned: bool
) -> None:
    settings = Settings(
        redis_url=redis_url, blob_url=blob_url, data_dir="/var/lib/gw", secret_key="k" * 32
    )
    warning = unshared_files_warning(settings)
    assert (warning is not None) == warned
    if warning:
        assert SAID in warning and "/var/lib/gw/blobs" in warning
