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
    """A stored blob being read: its size, and its bytes as they come."""

    size: int
    chunks: AsyncIterator[bytes]


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
    async def get(self, key: str) -> Blob:
        """The blob's size and bytes; NotFound for an unknown key. The chunks must be
        read to the end, or closed (``aclose``), to release what they hold."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove it; an unknown key is no error (deleting is idempotent)."""
