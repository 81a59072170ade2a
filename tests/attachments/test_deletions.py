"""The queue of blobs to delete goes on past a key the storage refuses (the store is a
real SQLite file and the blob store real files; only one key's deletion is refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from gateway.auth import FileLinks
from gateway.errors import BlobsUnavailable
from gateway.ports.blobs.local import LocalBlobs
from gateway.ports.store.sqlite import SQLiteStore
from gateway.services.attachments import DELETE_RETRY, Attachments


class Refusing(LocalBlobs):
    """Local files, but the keys in ``refused`` cannot be deleted (access denied)."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.refused: set[str] = set()

    async def delete(self, key: str) -> None:
        if key in self.refused:
            raise BlobsUnavailable(f"access denied to {key}")
        await super().delete(key)


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_key_the_storage_refuses_does_not_stop_the_others(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "g.db"))
    await store.open()
    blobs = Refusing(str(tmp_path / "blobs"))
    await blobs.open()
    now = [1000.0]
    files = Attachments(
        store=store,
        blobs=blobs,
        rules={},
        links=FileLinks(b"k" * 32),
        clock=lambda: now[0],
        staging=tmp_path / "staging",
        orphan_age=3600.0,
        link_ttl=60.0,
        check_every=5.0,
    )
    try:
        keys = ["cv_1/a", "cv_1/bad", "cv_1/z"]
        for key in keys:
            await blobs.put(key, chunks(b"x"), max_bytes=10)
        await store.queue_blob_deletions(keys, 0.0)
        blobs.refused.add("cv_1/bad")
        assert await files.drain() == 2  # the one after the refused key too
        assert await store.due_blob_deletions(now[0]) == []
        assert await store.due_blob_deletions(now[0] + DELETE_RETRY) == ["cv_1/bad"]
        blobs.refused.clear()
        now[0] += DELETE_RETRY
        assert await files.drain() == 1
        assert await store.due_blob_deletions(now[0] + 10 * DELETE_RETRY) == []
        assert not (tmp_path / "blobs" / "cv_1" / "bad").exists()
    finally:
        await blobs.close()
        await store.close()
