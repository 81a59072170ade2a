"""The blob store fixtures: every contract test runs against local files and S3 (moto's
S3 server, started once for the session)."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import pytest

from devkit import services
from gateway.ports.blobs import BlobStore, create_blobs

_buckets = itertools.count(1)


@pytest.fixture(params=["local", "s3"])
async def blobs(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        store = create_blobs(f"file://{os.path.join(tmp_path, 'blobs')}")
    else:
        s3: services.S3Server = request.getfixturevalue("s3_server")
        bucket = f"gw-blobs-{os.getpid()}-{next(_buckets)}"
        s3.create_bucket(bucket)
        store = create_blobs(s3.url(bucket, "attachments"))
    await store.open()
    try:
        yield store
    finally:
        await store.close()
