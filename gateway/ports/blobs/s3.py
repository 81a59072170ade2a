"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, Garage, ...), for clusters.

Through aiobotocore: an asyncio client for botocore, so transfers stream on the event
loop instead of holding a thread each (boto3 would need one per transfer). A blob is
sent as a multipart upload of 5 MiB parts (S3's smallest), so an upload in flight
holds one part in memory whatever the file's size, and at most ``TRANSFERS`` uploads
run at once (the others wait their turn: their bytes are in the attachment service's
staging file), so the memory they take is bounded whatever the number of uploads
(bench/attachments.py measures it); the upload is completed only once
every part arrived, and aborted on any failure or when the stream passes its limit,
so a key never shows half a file. A file smaller than one part is one ``PutObject``.
Reads stream the object's body in 64 KiB chunks; a size (a HEAD request's answer) is
a ``HeadObject``, no body read.

Every request to the storage has a deadline (:data:`CALL_TIMEOUT`, botocore's retries
included): botocore's own timeouts bound a connection and each read, but not a write to
a server that stopped reading, nor the sum of its retries, so an S3 that hangs held an
upload for minutes. Past the deadline the request fails as ``BlobsUnavailable`` (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from gateway.errors import BlobsUnavailable, FileTooLarge, NotFound
from gateway.ports.blobs.base import CHUNK, Blob, BlobStore, ByteRange, check_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger("gateway.blobs")

T = TypeVar("T")
PART = 5 * 1024 * 1024
# Uploads to S3 at once per process: each holds up to two parts' worth (the chunks of
# the next part and the part being sent).
TRANSFERS = 4
# One request to the storage, its retries included: a 5 MiB part at 100 KiB/s fits.
CALL_TIMEOUT = 60.0
_FAILURES = (BotoCoreError, ClientError, aiohttp.ClientError, OSError, TimeoutError)


def _code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


async def _deadline(call: Awaitable[T]) -> T:
    """One S3 request within CALL_TIMEOUT (TimeoutError past it)."""
    scope = asyncio.timeout(CALL_TIMEOUT)
    try:
        async with scope:
            return await call
    except TimeoutError:
        if scope.expired():
            raise TimeoutError(f"no answer within {CALL_TIMEOUT:g} s") from None
        raise


async def _s3(call: Awaitable[T]) -> T:
    """One S3 request, its failure (or no answer in time) as the gateway's error."""
    try:
        return await _deadline(call)
    except _FAILURES as exc:
        raise BlobsUnavailable(f"S3: {exc}") from exc


@contextlib.contextmanager
def _keyed(key: str, name: str, what: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Requests on one key: a key S3 does not have is NotFound (nothing at all with
    ``missing_ok``), any other failure BlobsUnavailable."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) not in ("NoSuchKey", "404", "NotFound"):
            raise BlobsUnavailable(f"S3 {what} {name!r}: {exc}") from exc
        if not missing_ok:
            raise NotFound(f"no blob {key!r}") from None
    except _FAILURES as exc:
        raise BlobsUnavailable(f"S3 {what} {name!r}: {exc}") from exc


class S3Blobs(BlobStore):
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint: str | None = None,
        region: str = "us-east-1",
        addressing: str = "path",
    ) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint = endpoint
        self.region = region
        self.addressing = addressing
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None
        self._transfers = asyncio.Semaphore(TRANSFERS)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _require(self) -> S3Client:
        if self._client is None:
            raise BlobsUnavailable("the blob store is not open")
        return self._client

    async def open(self) -> None:
        if self._client is not None:
            return
        config = AioConfig(
            s3={"addressing_style": self.addressing},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        stack = contextlib.AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                get_session().create_client(
                    "s3", endpoint_url=self.endpoint, region_name=self.region, config=config
                )
            )
            await _deadline(client.head_bucket(Bucket=self.bucket))
        except _FAILURES as exc:
            await stack.aclose()
            raise BlobsUnavailable(
                f"S3 bucket {self.bucket!r} at {self.endpoint or 'AWS'}: {exc}"
            ) from exc
        self._stack, self._client = stack, client

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def ping(self) -> bool:
        try:
            await _deadline(self._require().head_bucket(Bucket=self.bucket))
            return True
        except Exception:
            return False

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        async with self._transfers:
            return await self._put(key, chunks, max_bytes)

    async def _put(self, key: str, chunks: AsyncIterable[bytes], max_bytes: int) -> int:
        client = self._require()
        name = self._key(key)
        held: list[bytes] = []  # the chunks of the next part
        held_bytes = 0
        size = 0
        upload_id = ""
        parts: list[dict[str, Any]] = []

        async def send_part(body: bytes) -> None:
            nonlocal upload_id
            if not upload_id:
                started = await _s3(client.create_multipart_upload(Bucket=self.bucket, Key=name))
                upload_id = started["UploadId"]
            number = len(parts) + 1
            sent = await _s3(
                client.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
                )
            )
            parts.append({"ETag": sent["ETag"], "PartNumber": number})

        def take() -> bytes:
            nonlocal held_bytes
            body = b"".join(held)  # one copy; the chunks go as it is made
            held.clear()
            held_bytes = 0
            return body

        try:
            # the source's own errors (a client gone) pass through as they are
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLarge(
                        f"the file is larger than {max_bytes} bytes", max_bytes=max_bytes
                    )
                held.append(chunk)
                held_bytes += len(chunk)
                if held_bytes >= PART:  # a part may be a chunk longer than PART
                    await send_part(take())
            if not upload_id:
                await _s3(client.put_object(Bucket=self.bucket, Key=name, Body=take()))
                return size
            if held:
                await send_part(take())
            await _s3(
                client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
            )
            upload_id = ""
            return size
        finally:
            if upload_id:  # failed or refused half-way: the parts must not linger
                try:
                    await _deadline(
                        client.abort_multipart_upload(
                            Bucket=self.bucket, Key=name, UploadId=upload_id
                        )
                    )
                except _FAILURES as exc:
                    log.warning("S3 multipart upload %s not aborted: %s", upload_id, exc)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> Blob:
        client = self._require()
        name = self._key(key)
        first = last = total = 0
        with _keyed(key, name, "get"):
            if byte_range is None:
                response = await _deadline(client.get_object(Bucket=self.bucket, Key=name))
            else:
                # the size first: the range is resolved here as for local files (S3's
                # own reading of a suffix or an overlong range differs between servers)
                head = await _deadline(client.head_object(Bucket=self.bucket, Key=name))
                total = int(head["ContentLength"])
                first, last = byte_range.within(total)
                response = await _deadline(
                    client.get_object(Bucket=self.bucket, Key=name, Range=f"bytes={first}-{last}")
                )
        body = response["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk
            except _FAILURES as exc:
                raise BlobsUnavailable(f"S3 read {name!r}: {exc}") from exc
            finally:
                body.close()

        if byte_range is None:
            return Blob(int(response["ContentLength"]), chunks())
        return Blob(last - first + 1, chunks(), first, total)

    async def size(self, key: str) -> int:
        name = self._key(key)
        with _keyed(key, name, "head"):
            head = await _deadline(self._require().head_object(Bucket=self.bucket, Key=name))
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        """The object, and any unfinished multipart upload of its key: one whose
        ``CreateMultipartUpload`` the storage carried out without the answer reaching
        the gateway (it timed out, the connection broke) was never aborted by ``put``,
        and its parts would be kept, unlisted, for ever."""
        client = self._require()
        name = self._key(key)
        with _keyed(key, name, "delete", missing_ok=True):
            await _deadline(client.delete_object(Bucket=self.bucket, Key=name))
        # The object is gone: the uploads' clean-up is best effort. It needs the bucket's
        # s3:ListBucketMultipartUploads (docs/attachments.md); a failure here would keep
        # the key queued for ever, and hold back every deletion behind it.
        try:
            listed = await _deadline(client.list_multipart_uploads(Bucket=self.bucket, Prefix=name))
            for upload in listed.get("Uploads", []):
                if upload.get("Key") == name and upload.get("UploadId"):
                    await _deadline(
                        client.abort_multipart_upload(
                            Bucket=self.bucket, Key=name, UploadId=upload["UploadId"]
                        )
                    )
        except _FAILURES as exc:
            log.warning("S3 %r deleted; its unfinished uploads not aborted: %s", name, exc)
