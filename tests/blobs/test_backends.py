"""What is particular to one implementation: URLs, files on disk, an S3 that is away."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devkit import services
from gateway.errors import BlobsUnavailable, ConfigError
from gateway.ports.blobs import create_blobs
from gateway.ports.blobs.local import STALE_PARTIAL, LocalBlobs
from gateway.ports.blobs.s3 import S3Blobs


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_urls_choose_the_implementation() -> None:
    local = create_blobs("file:///var/lib/gateway/blobs")
    assert isinstance(local, LocalBlobs) and str(local.root) == "/var/lib/gateway/blobs"
    s3 = create_blobs("s3://files/gw?endpoint=http://127.0.0.1:9000&region=eu-west-1")
    assert isinstance(s3, S3Blobs)
    assert (s3.bucket, s3.prefix, s3.endpoint, s3.region, s3.addressing) == (
        "files",
        "gw/",
        "http://127.0.0.1:9000",
        "eu-west-1",
        "path",
    )
    assert create_blobs("s3://files").addressing == "virtual"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "file://relative/path",
        "file:///",
        "s3://",
        "s3://key:secret@bucket",
        "s3://bucket?endpont=http://x",
        "s3://bucket?addressing=sideways",
        "ftp://host/x",
        "blobs",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        create_blobs(url)


async def test_local_files_are_private_and_no_partial_file_remains(tmp_path: Path) -> None:
    store = LocalBlobs(str(tmp_path / "blobs"))
    partial = tmp_path / "blobs" / ".partial"
    partial.mkdir(parents=True)
    (partial / "crashed.part").write_bytes(b"half")
    long_ago = time.time() - STALE_PARTIAL - 60
    os.utime(partial / "crashed.part", (long_ago, long_ago))
    # another node sharing the directory is writing this one now
    (partial / "under-way.part").write_bytes(b"being written")
    await store.open()
    # a crash's leftover went; the upload under way stays (it used to be removed, and
    # that node's upload failed)
    assert [p.name for p in partial.iterdir()] == ["under-way.part"]
    await store.put("cv_1/at_1", stream(b"secret"), max_bytes=100)
    path = store.path("cv_1/at_1")
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # every folder, the key's levels included (they were the umask's 0755)
    folders = [tmp_path / "blobs", *(p for p in (tmp_path / "blobs").rglob("*") if p.is_dir())]
    assert len(folders) > 2
    assert {f: stat.S_IMODE(f.stat().st_mode) for f in folders} == dict.fromkeys(folders, 0o700)
    await store.delete("cv_1/at_1")
    assert not path.exists() and not path.parent.exists()


async def test_a_blob_published_while_its_folder_is_removed_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another blob's delete removes the folder it leaves empty; a put of a blob in the
    same folder may rename into it just after its mkdir: the put makes it again."""
    store = LocalBlobs(str(tmp_path / "blobs"))
    await store.open()
    real = os.replace
    raced: list[str] = []

    def replace(src: str, dst: str) -> None:
        if not raced:  # the delete's rmdir lands between the mkdir and the rename
            raced.append(dst)
            os.rmdir(Path(dst).parent)
        real(src, dst)

    monkeypatch.setattr("gateway.ports.blobs.local.os.replace", replace)
    assert await store.put("cv_2/at_1", stream(b"kept"), max_bytes=100) == 4
    assert raced and store.path("cv_2/at_1").read_bytes() == b"kept"


async def test_an_unreachable_s3_is_unavailable() -> None:
    store = S3Blobs(bucket="nowhere", endpoint=f"http://127.0.0.1:{services.free_port()}")
    with pytest.raises(BlobsUnavailable):
        await store.open()
    assert await store.ping() is False


async def test_a_missing_bucket_is_unavailable_at_open(s3_server: services.S3Server) -> None:
    with pytest.raises(BlobsUnavailable, match="no-such-bucket"):
        await create_blobs(s3_server.url("no-such-bucket")).open()


async def test_a_closed_s3_store_is_unavailable_and_opens_again(
    s3_server: services.S3Server,
) -> None:
    bucket = f"gw-closed-{os.getpid()}"
    s3_server.create_bucket(bucket)
    store = create_blobs(s3_server.url(bucket))
    await store.open()
    await store.close()
    with pytest.raises(BlobsUnavailable):
        await store.put("cv_7/x", stream(b"x"), max_bytes=10)
    assert await store.ping() is False
    await store.open()
    try:
        await store.put("cv_7/x", stream(b"x"), max_bytes=10)
    finally:
        await store.close()


async def test_deleting_a_key_aborts_its_unfinished_multipart_uploads(
    s3_server: services.S3Server,
) -> None:
    """A multipart upload the storage started without its answer reaching the gateway
    (a timeout, a broken connection) was never aborted by ``put``; its parts are in no
    listing of the bucket and would be kept for ever. The deletion queue deletes the
    key; deleting it also aborts such uploads (and only those of that key)."""
    import boto3

    bucket = f"gw-mpu-{os.getpid()}"
    s3_server.create_bucket(bucket)
    raw = boto3.client("s3", endpoint_url=s3_server.endpoint, **services._boto_env())
    for key in ("files/cv_9/at_1", "files/cv_9/at_1.thumb", "files/cv_9/at_10"):
        started = raw.create_multipart_upload(Bucket=bucket, Key=key)
        raw.upload_part(
            Bucket=bucket, Key=key, UploadId=started["UploadId"], PartNumber=1, Body=b"x"
        )
    store = create_blobs(s3_server.url(bucket, "files"))
    await store.open()
    try:
        await store.delete("cv_9/at_1")
    finally:
        await store.close()
    left = raw.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert sorted(u["Key"] for u in left) == ["files/cv_9/at_1.thumb", "files/cv_9/at_10"]
