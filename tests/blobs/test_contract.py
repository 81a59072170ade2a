"""The BlobStore contract (gateway/ports/blobs/base.py), run against both implementations."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from gateway.errors import FileTooLarge, NotFound
from gateway.ports.blobs import BlobStore, ByteRange, RangeNotSatisfiable
from gateway.ports.blobs.s3 import PART


async def stream(data: bytes, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]


async def read(blobs: BlobStore, key: str) -> bytes:
    blob = await blobs.get(key)
    data = b"".join([c async for c in blob.chunks])
    assert blob.size == len(data)
    return data


async def test_put_then_get_round_trips(blobs: BlobStore) -> None:
    assert await blobs.ping()
    data = os.urandom(200_000)
    assert await blobs.put("cv_1/at_1", stream(data), max_bytes=1_000_000) == len(data)
    assert await read(blobs, "cv_1/at_1") == data


async def test_an_empty_blob_and_a_replaced_one(blobs: BlobStore) -> None:
    assert await blobs.put("cv_1/empty", stream(b""), max_bytes=10) == 0
    assert await read(blobs, "cv_1/empty") == b""
    await blobs.put("cv_1/x", stream(b"first"), max_bytes=100)
    await blobs.put("cv_1/x", stream(b"second"), max_bytes=100)
    assert await read(blobs, "cv_1/x") == b"second"


async def test_a_file_of_several_parts_streams_through(blobs: BlobStore) -> None:
    """Larger than S3's part size, in odd-sized chunks: stored and read back whole."""
    data = os.urandom(2 * PART + 12345)
    assert await blobs.put("cv_2/big", stream(data, 100_003), max_bytes=3 * PART) == len(data)
    blob = await blobs.get("cv_2/big")
    digest = hashlib.sha256()
    async for chunk in blob.chunks:
        assert len(chunk) <= 64 * 1024  # read in bounded chunks, never whole
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("size", [11, PART + 1])
async def test_over_the_limit_is_refused_and_nothing_is_stored(blobs: BlobStore, size: int) -> None:
    with pytest.raises(FileTooLarge):
        await blobs.put("cv_3/too-big", stream(b"x" * (size + 1)), max_bytes=size)
    with pytest.raises(NotFound):
        await blobs.get("cv_3/too-big")


async def test_a_refused_replacement_keeps_the_old_bytes(blobs: BlobStore) -> None:
    await blobs.put("cv_3/keep", stream(b"old"), max_bytes=10)
    with pytest.raises(FileTooLarge):
        await blobs.put("cv_3/keep", stream(b"y" * 20), max_bytes=10)
    assert await read(blobs, "cv_3/keep") == b"old"


async def test_a_stream_that_breaks_leaves_nothing(blobs: BlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * PART
        yield b"b" * 1000
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put("cv_4/broken", broken(), max_bytes=10 * PART)
    with pytest.raises(NotFound):
        await blobs.get("cv_4/broken")


async def test_delete_is_idempotent_and_unknown_keys_are_not_found(blobs: BlobStore) -> None:
    await blobs.put("cv_5/gone", stream(b"bytes"), max_bytes=10)
    await blobs.delete("cv_5/gone")
    await blobs.delete("cv_5/gone")
    await blobs.delete("cv_5/never")
    with pytest.raises(NotFound):
        await blobs.get("cv_5/gone")


async def test_concurrent_puts_of_different_keys(blobs: BlobStore) -> None:
    items = {f"cv_6/at_{i}": os.urandom(30_000 + i) for i in range(8)}
    await asyncio.gather(*(blobs.put(k, stream(v), max_bytes=100_000) for k, v in items.items()))
    for k, v in items.items():
        assert await read(blobs, k) == v


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "/abs", "a//b", "cv_1/../x", "", "a\nb", "é", ".hidden", "a/b/c/d/e"]
)
async def test_keys_that_could_escape_the_store_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await blobs.put(key, stream(b"x"), max_bytes=10)
    with pytest.raises(ValueError):
        await blobs.get(key)


async def test_a_byte_range_of_a_blob(blobs: BlobStore) -> None:
    """One range (a download resumed, a player seeking), resolved alike on both: the
    bytes from ``first`` to ``last`` included, a suffix, to the end, clipped at the
    end; RangeNotSatisfiable past it (HTTP 416)."""
    data = os.urandom(PART + 1000)  # past S3's part size: a multipart upload
    await blobs.put("cv_5/r", stream(data), max_bytes=2 * PART)
    for wanted, first, last in (
        (ByteRange(0, 0), 0, 0),
        (ByteRange(10, 19), 10, 19),
        (ByteRange(None, 100), len(data) - 100, len(data) - 1),
        (ByteRange(PART - 5, None), PART - 5, len(data) - 1),
        (ByteRange(5, 10 * PART), 5, len(data) - 1),
        (ByteRange(None, 10 * PART), 0, len(data) - 1),
    ):
        blob = await blobs.get("cv_5/r", wanted)
        got = b"".join([c async for c in blob.chunks])
        assert got == data[first : last + 1], wanted
        assert (blob.size, blob.start, blob.total) == (last - first + 1, first, len(data))
    for unsatisfiable in (ByteRange(len(data), None), ByteRange(None, 0)):
        with pytest.raises(RangeNotSatisfiable) as refused:
            await blobs.get("cv_5/r", unsatisfiable)
        assert refused.value.total == len(data)
    with pytest.raises(NotFound):
        await blobs.get("cv_5/none", ByteRange(0, 1))
    whole = await blobs.get("cv_5/r")
    assert (whole.size, whole.start, whole.total) == (len(data), 0, None)
    await whole.chunks.aclose()


async def test_a_blobs_size_is_known_without_reading_it(blobs: BlobStore) -> None:
    """What a HEAD request answers (gateway/web/files.py): the size, no byte read; an
    unknown key or an invalid one as ``get``."""
    data = os.urandom(PART + 7)
    await blobs.put("cv_7/s", stream(data), max_bytes=2 * PART)
    await blobs.put("cv_7/empty", stream(b""), max_bytes=10)
    assert await blobs.size("cv_7/s") == len(data)
    assert await blobs.size("cv_7/empty") == 0
    await blobs.delete("cv_7/s")
    with pytest.raises(NotFound):
        await blobs.size("cv_7/s")
    with pytest.raises(ValueError):
        await blobs.size("../etc/passwd")
