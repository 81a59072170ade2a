"""Blobs as files under one directory: the embedded default (``<data dir>/blobs``).

A blob is written to a temporary file in ``.partial/`` and renamed onto its place only
once complete and flushed to disk, so a reader never sees half a file and a crash
leaves at most a temporary file, which a later ``open()`` removes once it is
``STALE_PARTIAL`` old: nodes may share the directory (a cluster's mount), and another
node's upload in progress is written to all along. Files are 0600,
directories 0700. Paths are the key's segments under a two-level fan-out by a hash of
the key, so no directory grows with the number of conversations. File I/O runs in
threads (anyio), one 64 KiB chunk at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import anyio

from gateway.errors import FileTooLarge, NotFound
from gateway.ports.blobs.base import (
    CHUNK,
    Blob,
    BlobStore,
    ByteRange,
    check_key,
    storage_step,
    unavailable,
)

# A temporary file unwritten for this long is a crash's leftover, not an upload under
# way on a node sharing the directory (each chunk written moves its mtime).
STALE_PARTIAL = 3600.0


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _private_dirs(path: Path) -> None:
    """``path`` and its missing parents, each 0700 (``mkdir(parents=True)`` gives the
    parents the umask's mode: 0755 for the hash-prefix levels)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


class LocalBlobs(BlobStore):
    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self._partial = self.root / ".partial"

    def path(self, key: str) -> Path:
        digest = hashlib.sha256(check_key(key).encode()).hexdigest()
        return self.root / digest[:2] / digest[2:4] / key

    async def open(self) -> None:
        def prepare() -> None:
            _private_dirs(self._partial)
            for folder in (self.root, self._partial):  # made by an older version: 0755
                os.chmod(folder, 0o700)
            # what a crash left half-written (not another node's upload under way)
            stale = time.time() - STALE_PARTIAL
            for leftover in self._partial.iterdir():
                with contextlib.suppress(OSError):
                    if leftover.stat().st_mtime < stale:
                        leftover.unlink()

        try:
            await anyio.to_thread.run_sync(prepare)
        except OSError as exc:
            raise unavailable(exc) from exc

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        return await anyio.to_thread.run_sync(os.access, self._partial, os.W_OK)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        final = self.path(key)
        temp = self._partial / f"{secrets.token_hex(12)}.part"
        size = 0
        try:
            out = await storage_step(anyio.open_file(temp, "xb", opener=_private))
            try:
                # the source's own errors (a client gone) pass through as they are
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileTooLarge(
                            f"the file is larger than {max_bytes} bytes", max_bytes=max_bytes
                        )
                    await storage_step(out.write(chunk))
                await storage_step(out.flush())
                await storage_step(anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno()))
            finally:
                await storage_step(out.aclose())

            def publish() -> None:
                for last in (False, True):
                    _private_dirs(final.parent)
                    try:
                        os.replace(temp, final)
                        return
                    except FileNotFoundError:
                        # a delete of the folder's last blob removed the folder between
                        # the mkdir and the rename (delete() leaves no empty folder)
                        if last or not temp.exists():
                            raise

            await storage_step(anyio.to_thread.run_sync(publish))
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()  # gone already when it was published
        return size

    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob:
        path = self.path(key)
        try:
            file = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"no blob {key!r}") from None
        except OSError as exc:
            raise unavailable(exc) from exc
        total = os.fstat(file.wrapped.fileno()).st_size
        if byte_range is None:
            first, last = 0, total - 1
        else:
            try:
                first, last = byte_range.within(total)
                await storage_step(file.seek(first))
            except BaseException:
                await file.aclose()
                raise
        size = last - first + 1

        async def chunks() -> AsyncIterator[bytes]:
            left = size
            async with file:
                while left > 0 and (chunk := await file.read(min(CHUNK, left))):
                    left -= len(chunk)
                    yield chunk

        if byte_range is None:
            return Blob(size, chunks())
        return Blob(size, chunks(), first, total)

    async def size(self, key: str) -> int:
        try:
            stat = await anyio.to_thread.run_sync(os.stat, self.path(key))
        except FileNotFoundError:
            raise NotFound(f"no blob {key!r}") from None
        except OSError as exc:
            raise unavailable(exc) from exc
        return stat.st_size

    async def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            await anyio.to_thread.run_sync(path.unlink)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise unavailable(exc) from exc
        with contextlib.suppress(OSError):  # leave no empty directory behind
            await anyio.to_thread.run_sync(path.parent.rmdir)
