"""The blob store interface: where attachments' bytes are kept.

Two implementations live beside this file: ``local.py`` (files under the data
directory, the embedded default) and ``s3.py`` (S3-compatible object storage, for
clusters); ``tests/blobs/`` runs one contract suite against both. Bytes arrive and
leave as streams of chunks: nothing here holds a whole file in memory.

Keys are made by the gateway (``<conversation id>/<attachment id>``); only
``[A-Za-z0-9._-]`` segments separated by ``/`` are valid, so no key can name a path
outside the store. Implementations translate their own errors: an unknown key is
``NotFound``; a storage that cannot be reached, refuses, or has no space left is
``BlobsUnavailable``; a stream longer than allowed is ``FileTooLarge``. A failed or
refused ``put`` leaves nothing under its key.
"""

from __future__ import annotations

import abc
import errno
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import NamedTuple, TypeVar

from gateway.errors import BlobsUnavailable

T = TypeVar("T")
CHUNK = 64 * 1024
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,3}$")


def check_key(key: str) -> str:
    """The key, if it is one the gateway makes; ValueError otherwise."""
    if not _KEY.match(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def unavailable(exc: OSError) -> BlobsUnavailable:
    """A file system's failure as the gateway's error (``storage_full`` when out of space)."""
    if exc.errno in _NO_SPACE:
        return BlobsUnavailable(f"no space left for files: {exc}", code="storage_full")
    return BlobsUnavailable(f"file storage failed: {exc}")


async def storage_step(step: Awaitable[T]) -> T:
    """One file operation on this machine's disk, its OSError as the gateway's error."""
    try:
        return await step
    except OSError as exc:
        raise unavailable(exc) from exc


class Blob(NamedTuple):
    """A stored blob being read: the size of what ``chunks`` yields, and its bytes as
    they come; for a byte range, where the range starts and the whole blob's size."""

    size: int
    chunks: AsyncIterator[bytes]
    start: int = 0
    total: int | None = None  # None: the whole blob (``size``)


class ByteRange(NamedTuple):
    """One range of an HTTP Range header (``bytes=first-last``, both included):
    ``last`` None reads to the end; ``first`` None reads the last ``last`` bytes."""

    first: int | None
    last: int | None

    def within(self, total: int) -> tuple[int, int]:
        """(first, last), both included, in a blob of ``total`` bytes;
        RangeNotSatisfiable when none of its bytes are in it (RFC 9110, 14.1.1)."""
        if self.first is None:  # a suffix: the last N bytes
            if not self.last or not total:
                raise RangeNotSatisfiable(total)
            return max(0, total - self.last), total - 1
        if self.first >= total:
            raise RangeNotSatisfiable(total)
        last = total - 1 if self.last is None else min(self.last, total - 1)
        return self.first, last


class RangeNotSatisfiable(Exception):
    """A byte range that starts past the blob's end (HTTP 416 with its ``total``)."""

    def __init__(self, total: int) -> None:
        super().__init__(f"no byte of the range is within the {total} bytes")
        self.total = total


class BlobStore(abc.ABC):
    """Streams in, streams out. Every operation stands alone (no transactions)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Make ready (create the directory, check the bucket); BlobsUnavailable if the
        storage cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the storage answers; never raises."""

    @abc.abstractmethod
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """Store the stream under ``key`` (replacing what was there) and return its
        size. Counted as it arrives: past ``max_bytes`` FileTooLarge, and nothing is
        stored. The key shows the new bytes only once all of them are stored."""

    @abc.abstractmethod
    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob:
        """The blob's size and bytes (of ``byte_range`` only, when given: RangeNotSatisfiable
        if it starts past the end); NotFound for an unknown key. The chunks must be
        read to the end, or closed (``aclose``), to release what they hold."""

    @abc.abstractmethod
    async def size(self, key: str) -> int:
        """The blob's size, its bytes not read (a file's metadata, S3's ``HeadObject``):
        what a HEAD request answers; NotFound for an unknown key."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove it; an unknown key is no error (deleting is idempotent)."""
