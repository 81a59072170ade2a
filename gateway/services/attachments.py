"""Files in conversations, for every channel: upload, check, attach, link, serve, forget.

* **Upload** (:meth:`Attachments.upload`): the bytes stream to a staging file under
  ``<data dir>/uploads``, counted as they come (past the channel's largest file the
  upload stops with FileTooLarge, whatever the client declared); then the content's
  type, the name and the channel's rule are checked, images are cleaned
  (gateway/services/file_check.py), and the result streams to the blob store. Its keys
  are queued for deletion *before* the upload and taken off the queue with the record
  in one transaction, so a crash at any point leaves nothing behind for good.
* **Attach**: a message names its uploads (``send`` with ``attachments``); the rule's
  count and total are checked here, ownership and "not sent yet" atomically by the
  store's append.
* **Links and serving**: a reader (a contact by their address, an agent by id) gets
  short-lived signed links to files of a conversation they may read; a download is
  checked against the signature, and an agent's access again, at the moment it is
  served (gateway/web/files.py adds the safe headers).
* **Lifecycle**: uploads never attached expire after ``GATEWAY_ATTACHMENT_ORPHAN_AGE``;
  queued blob deletions (expired uploads, forgotten contacts) are carried out by a
  sweep every few minutes, and at once after a contact's deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

import anyio
import phonenumbers

from gateway import protocol as p
from gateway.aio import cancel_and_wait
from gateway.auth import FileLinks, new_id
from gateway.errors import (
    BlobsUnavailable,
    FileRefused,
    FileTooLarge,
    FileTypeRefused,
    GatewayError,
    NotFound,
    RateLimited,
)
from gateway.model.attachment_rules import FILE_TYPES, AttachmentRule
from gateway.model.inbound import InboundFile
from gateway.model.records import Attachment, Conversation, Sender
from gateway.ports.blobs import Blob, BlobStore, ByteRange
from gateway.ports.blobs.base import CHUNK, storage_step
from gateway.ports.store.base import Store
from gateway.services import file_check

# A staging directory unwritten for this long is a crash's leftover, not an upload
# under way on a node sharing the data directory (each chunk written moves its mtime).
STALE_UPLOAD = 3600.0

log = logging.getLogger("gateway.attachments")

Variant = str  # "file" or "thumb"
# Images decoded at once: each may take a few hundred MB at the pixel limit.
IMAGE_SLOTS = 2
# Files an uploader may hold in a conversation not sent yet, in messages' worth (the
# channel's files and bytes a message carries): room to pick, drop and pick again.
UNSENT_MESSAGES = 2
# A blob the storage refused to delete is tried again this many seconds later; this
# many refusals in a row end a round of deletions.
DELETE_RETRY = 300.0
REFUSALS_IN_A_ROW = 3
# /readyz waits this long for the file storage's answer (the probe must answer in time
# whatever the storage does); it asks at most once in GATEWAY_STORAGE_CHECK_INTERVAL
# (balancers probe every node every few seconds: each probe must not be a request to S3).
STORAGE_CHECK_TIMEOUT = 2.0


def contact_reader(address: str) -> str:
    return f"c:{address}"


def agent_reader(agent_id: str) -> str:
    return f"a:{agent_id}"


def provider_reader(channel: str) -> str:
    """A channel's provider fetching a file it is asked to send (Twilio's MediaUrl,
    Meta's media link): the link is the only credential, so it names the provider."""
    return f"p:{channel}"


# How long a provider's link to a file it must send stays valid: long enough for a
# provider's queue (Twilio fetches MMS media when it sends, Meta shortly after the call).
PROVIDER_LINK_TTL = 3600


# Thumbnails are JPEG, whatever the image (file_check.clean_image).
THUMB_TYPE = "image/jpeg"
THUMB_EXTENSION = FILE_TYPES[THUMB_TYPE].extensions[0]


class Download:
    """A file being served: its record, which variant, its bytes."""

    def __init__(self, attachment: Attachment, variant: Variant, blob: Blob) -> None:
        self.attachment = attachment
        self.variant = variant
        self.blob = blob

    @property
    def content_type(self) -> str:
        return THUMB_TYPE if self.variant == "thumb" else self.attachment.content_type

    @property
    def name(self) -> str:
        """The name it downloads under. A thumbnail's is the file's stem and the
        thumbnail's own extension (``photo.jpg`` → ``photo-thumbnail.jpg``, ``scan.png``
        → ``scan-thumbnail.jpg``): it was ``thumbnail-photo.jpg.jpg``."""
        if self.variant != "thumb":
            return self.attachment.name
        stem, dot, _ = self.attachment.name.rpartition(".")
        return f"{stem if dot else self.attachment.name}-thumbnail.{THUMB_EXTENSION}"

    @property
    def inline(self) -> bool:
        """Shown in the page (raster images) rather than only downloaded."""
        known = FILE_TYPES.get(self.content_type)
        return bool(known and known.inline)


class Attachments:
    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        rules: dict[str, AttachmentRule],
        links: FileLinks,
        clock: Callable[[], float],
        staging: Path,
        orphan_age: float,
        link_ttl: float,
        check_every: float,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.rules = rules
        self._links = links
        self._clock = clock
        self._staging = staging
        self._orphan_age = orphan_age
        self._link_ttl = link_ttl
        self._check_every = check_every
        self._images = asyncio.Semaphore(IMAGE_SLOTS)
        # (conversation, uploader, uploader id) -> uploads under way on this node
        self._uploading: dict[tuple[str, Sender, str], int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # the storage's last check: (time.monotonic(), it answered), and one under way
        self._storage_checked: tuple[float, bool] | None = None
        self._storage_check: asyncio.Task[bool] | None = None

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        def prepare() -> None:
            self._staging.mkdir(mode=0o700, parents=True, exist_ok=True)
            # what a crash left mid-upload; nodes may share the data directory (the
            # systemd recipe's instances), so not another node's upload under way
            stale = time.time() - STALE_UPLOAD
            for work in self._staging.iterdir():
                with contextlib.suppress(OSError):
                    if _last_written(work) < stale:
                        shutil.rmtree(work, ignore_errors=True)

        await anyio.to_thread.run_sync(prepare)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="attachment sweep")

    async def stop(self) -> None:
        await cancel_and_wait(self._sweeper)
        await cancel_and_wait(self._storage_check)

    async def storage_ready(self) -> bool:
        """Whether the file storage answers (readiness, docs/deploy.md): its last answer
        if younger than ``check_every`` seconds, else one check (``ping``: S3's HeadBucket, the
        directory writable), shared by the probes that arrive meanwhile and given up
        after STORAGE_CHECK_TIMEOUT."""
        checked = self._storage_checked
        if checked is not None and time.monotonic() - checked[0] < self._check_every:
            return checked[1]
        if self._storage_check is None:
            self._storage_check = asyncio.create_task(self._check_storage(), name="storage check")
        # shielded: a probe that goes away does not cancel the others' check
        return await asyncio.shield(self._storage_check)

    async def _check_storage(self) -> bool:
        try:
            async with asyncio.timeout(STORAGE_CHECK_TIMEOUT):
                ok = await self._blobs.ping()
        except TimeoutError:
            ok = False
        finally:
            self._storage_check = None
        was = self._storage_checked
        if was is None or was[1] != ok:
            if ok:
                log.info("the file storage answers")
            else:
                log.warning("the file storage does not answer: files cannot be served")
        self._storage_checked = (time.monotonic(), ok)
        return ok

    async def _sweep_forever(self) -> None:
        interval = min(300.0, max(1.0, self._orphan_age / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except GatewayError as exc:
                log.warning("attachment sweep failed, will retry: %s", exc.message)
            except Exception:
                log.exception("attachment sweep failed")

    async def sweep(self) -> tuple[int, int]:
        """Expire uploads never attached, then delete what is queued; (expired, deleted)."""
        expired = await self._store.expire_unattached(self._clock() - self._orphan_age)
        return expired, await self.drain()

    async def drain(self) -> int:
        """Delete the blobs queued and due; how many. A key the storage refuses is tried
        again DELETE_RETRY later and the others go on: one it kept refusing (a key it
        denies access to) stopped every deletion queued after it, for good. Refusals
        in a row end the round (the storage is away: the next sweep tries again)."""
        done = 0
        while keys := await self._store.due_blob_deletions(self._clock(), limit=100):
            deleted: list[str] = []
            refused = 0
            try:
                for key in keys:
                    try:
                        await self._blobs.delete(key)
                    except GatewayError as exc:
                        log.warning("blob %s not deleted, tried again later: %s", key, exc)
                        later = self._clock() + DELETE_RETRY
                        await self._store.queue_blob_deletions([key], later)
                        refused += 1
                        if refused == REFUSALS_IN_A_ROW:
                            break
                    else:
                        deleted.append(key)
                        refused = 0
            finally:
                await self._store.forget_blob_deletions(deleted)
            done += len(deleted)
            if refused == REFUSALS_IN_A_ROW:
                break
        return done

    # -- rules ---------------------------------------------------------------------
    def rule_for(self, conv: Conversation) -> AttachmentRule:
        rule = self.rules.get(conv.channel)
        if rule is None or not rule.types:
            raise FileRefused(
                f"files cannot be sent on {conv.channel}", code="attachments_unavailable"
            )
        if rule.regions and _region(conv.address) not in rule.regions:
            raise FileRefused(
                "files (MMS) can be sent only to numbers of " + ", ".join(rule.regions),
                code="attachments_unavailable",
            )
        return rule

    async def check_message(self, conv: Conversation, ids: Sequence[str]) -> None:
        """A message's files within the rule's count and total (their ownership and
        that they were not sent yet, the store checks as it attaches them)."""
        rule = self.rule_for(conv)
        if len(ids) > rule.max_files:
            raise FileRefused(
                f"at most {rule.max_files} file(s) per message on {conv.channel}",
                code="too_many_files",
            )
        total = sum(a.size for a in await self._store.get_attachments(ids))
        if total > rule.max_total_bytes:
            raise FileTooLarge(
                f"the files add up to {total} bytes; at most {rule.max_total_bytes} "
                f"per message on {conv.channel}",
                max_bytes=rule.max_total_bytes,
            )

    # -- upload --------------------------------------------------------------------
    async def upload(
        self,
        conv: Conversation,
        *,
        uploader: Sender,
        uploader_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
        declared_size: int | None = None,
        held_back: bool = True,
    ) -> Attachment:
        """Store one file for the conversation, not attached yet (see the module doc).
        RateLimited (429 ``too_many_uploads``) while the uploader has UNSENT_MESSAGES
        messages' worth of files here not sent yet (those stored, and those being
        uploaded on this node): each would stay for the orphan age, and one client
        uploading without ever sending would fill the storage for everyone. Not
        ``held_back``: a provider's files of one message, attached at once."""
        rule = self.rule_for(conv)
        name = file_check.clean_name(name)
        cap = rule.max_file_bytes
        if declared_size is not None and declared_size > cap:
            raise FileTooLarge(
                f"the file is {declared_size} bytes; at most {cap} on {conv.channel}",
                max_bytes=cap,
            )
        if not held_back:
            return await self._upload(conv, rule, uploader, uploader_id, name, chunks)
        held = (conv.id, uploader, uploader_id)
        count, size = await self._store.unsent_uploads(*held)
        count += self._uploading.get(held, 0)
        if count >= UNSENT_MESSAGES * rule.max_files or size >= (
            UNSENT_MESSAGES * rule.max_total_bytes
        ):
            raise RateLimited(
                f"{count} files ({size} bytes) uploaded here and not sent yet: send them "
                f"in a message first (unsent ones are deleted after {self._orphan_age:g} s)",
                code="too_many_uploads",
            )
        self._uploading[held] = self._uploading.get(held, 0) + 1
        try:
            return await self._upload(conv, rule, uploader, uploader_id, name, chunks)
        finally:
            if self._uploading[held] == 1:
                del self._uploading[held]
            else:
                self._uploading[held] -= 1

    async def _upload(
        self,
        conv: Conversation,
        rule: AttachmentRule,
        uploader: Sender,
        uploader_id: str,
        name: str,
        chunks: AsyncIterable[bytes],
    ) -> Attachment:
        cap = rule.max_file_bytes
        work = Path(await anyio.to_thread.run_sync(_mkdtemp, self._staging))
        attachment_id = new_id("at")
        key = f"{conv.id}/{attachment_id}"
        keys = [key, key + ".thumb"]
        written: list[str] = []  # a put that failed left nothing under its key
        stored = False
        try:
            staged = work / "upload"
            size = await _stage(chunks, staged, cap)
            if size == 0:
                raise FileRefused("the file is empty", code="file_empty")
            inspected = await anyio.to_thread.run_sync(file_check.inspect, staged, name)
            limit = rule.limit_for(inspected.mime)
            if limit is None:
                raise FileTypeRefused(
                    f"{file_check.label(inspected.mime)} files are not accepted on "
                    f"{conv.channel}; accepted: {', '.join(rule.allowed_names())}",
                    allowed=rule.allowed_names(),
                )
            if size > limit.max_bytes:
                raise FileTooLarge(
                    f"a {file_check.label(inspected.mime)} may have at most "
                    f"{limit.max_bytes} bytes on {conv.channel}",
                    max_bytes=limit.max_bytes,
                )
            async with self._images:
                image = await anyio.to_thread.run_sync(
                    file_check.clean_image, staged, inspected.mime, work / "clean"
                )
            source = image.path if image else staged
            await self._store.queue_blob_deletions(keys, self._clock() + self._orphan_age)
            digest = hashlib.sha256()
            size = await self._blobs.put(key, _read(source, digest), max_bytes=cap * 2)
            written.append(key)
            thumb_key = ""
            if image and image.thumbnail:
                thumb_key = keys[1]
                await self._blobs.put(thumb_key, _read(image.thumbnail), max_bytes=cap)
                written.append(thumb_key)
            attachment = Attachment(
                id=attachment_id,
                conversation_id=conv.id,
                uploader=uploader,
                uploader_id=uploader_id,
                name=inspected.name,
                content_type=inspected.mime,
                size=size,
                sha256=digest.hexdigest(),
                blob_key=key,
                thumb_key=thumb_key,
                width=image.width if image else 0,
                height=image.height if image else 0,
                created_at=self._clock(),
            )
            await self._store.create_attachment(attachment)
            stored = True
            return attachment
        except BlobsUnavailable as exc:
            if exc.code != "storage_full":
                # The storage does not answer: asking it to delete now would hold the
                # client as long again (a hung S3: a minute per key). The deletion
                # queue has the keys; the sweep deletes them once it answers.
                written.clear()
            raise
        finally:
            await anyio.to_thread.run_sync(shutil.rmtree, work, True)
            if not stored:  # best effort now; the queue has them otherwise
                for k in written:
                    with contextlib.suppress(GatewayError):
                        await self._blobs.delete(k)

    async def receive(
        self, conv: Conversation, address: str, files: Sequence[InboundFile]
    ) -> tuple[list[str], list[str]]:
        """A contact's files from a channel's provider, each through the channel's rules:
        the ids of those stored, and a line for the agent for each that was not. Files
        are kept in the order sent while they fit the message's count and total; one
        that would take the total past the rule's is left out (a smaller one after it
        may still fit), as an agent's message over the total is refused."""
        stored: list[str] = []
        refused: list[str] = []
        rule = self.rules.get(conv.channel)
        max_files = rule.max_files if rule else 0
        left = rule.max_total_bytes if rule else 0
        over = f"the message's files would add up to more than {left} bytes on {conv.channel}"
        for index, item in enumerate(files):
            if index >= max_files:
                refused.append(f"{item.name}: more than {max_files} file(s) in one message")
                continue
            if item.size is not None and item.size > left:  # not fetched for nothing
                refused.append(f"{item.name}: {over}")
                continue
            try:
                attachment = await self.upload(
                    conv,
                    uploader="contact",
                    uploader_id=address,
                    name=item.name,
                    chunks=item.open(),
                    declared_size=item.size,
                    held_back=False,  # the channel's rule bounds a message's files
                )
            except (FileRefused, BlobsUnavailable) as exc:
                refused.append(f"{item.name}: {exc.public_message}")
            except (OSError, TimeoutError) as exc:  # the provider's download broke
                refused.append(f"{item.name}: it could not be fetched ({exc})")
            else:
                if attachment.size > left:  # never attached: the orphans' sweep deletes it
                    refused.append(f"{item.name}: {over}")
                    continue
                left -= attachment.size
                stored.append(attachment.id)
        return stored, refused

    # -- links and downloads -------------------------------------------------------
    async def links(
        self, conv: Conversation, reader: str, ids: Sequence[str], ref: str
    ) -> p.LinksOut:
        """Signed links for ``reader`` to those of ``ids`` that are files of this
        conversation they may fetch: sent ones, and their own uploads."""
        expires = int(self._clock() + self._link_ttl)
        out: dict[str, p.FileLink] = {}
        for a in await self._store.get_attachments(ids):
            own = reader == _reader_of(a)
            if a.conversation_id != conv.id or not (a.seq or own):
                continue
            out[a.id] = p.FileLink(
                url=self._url(a, "file", reader, expires),
                thumbnail_url=self._url(a, "thumb", reader, expires) if a.thumb_key else "",
            )
        return p.LinksOut(conversation_id=conv.id, links=out, expires_at=expires, ref=ref)

    def provider_link(self, conversation_id: str, attachment_id: str, channel: str) -> str:
        """A link (path and query) for the channel's provider to fetch a file of a
        message it is asked to deliver, valid for PROVIDER_LINK_TTL."""
        expires = int(self._clock() + PROVIDER_LINK_TTL)
        return self._link(attachment_id, "file", conversation_id, provider_reader(channel), expires)

    def _url(self, a: Attachment, variant: Variant, reader: str, expires: int) -> str:
        return self._link(a.id, variant, a.conversation_id, reader, expires)

    def _link(
        self, attachment_id: str, variant: Variant, conversation_id: str, reader: str, expires: int
    ) -> str:
        sig = self._links.sign(
            attachment_id=attachment_id,
            variant=variant,
            conversation_id=conversation_id,
            reader=reader,
            expires=expires,
        )
        query = {"v": variant, "c": conversation_id, "r": reader, "e": expires, "s": sig}
        return f"/files/{attachment_id}?{urlencode(query)}"

    def verify_link(
        self,
        attachment_id: str,
        *,
        variant: Variant,
        conversation_id: str,
        reader: str,
        expires: int,
        signature: str,
    ) -> None:
        """TokenInvalid or TokenExpired unless the link is one this gateway signed, for
        exactly these, and not expired. Checked before anything is read."""
        self._links.verify(
            signature,
            attachment_id=attachment_id,
            variant=variant,
            conversation_id=conversation_id,
            reader=reader,
            expires=expires,
            now=self._clock(),
        )

    async def open_download(
        self,
        attachment_id: str,
        variant: Variant,
        conversation_id: str,
        byte_range: ByteRange | None = None,
    ) -> Download:
        """The bytes of a file (or its thumbnail) of this conversation, or of one range
        of them (RangeNotSatisfiable past its end); NotFound otherwise."""
        a, key = await self._located(attachment_id, variant, conversation_id)
        return Download(a, variant, await self._blobs.get(key, byte_range))

    async def describe_download(
        self, attachment_id: str, variant: Variant, conversation_id: str
    ) -> Download:
        """What a HEAD request answers: the file's (or thumbnail's) record and its size
        from the blob store's metadata (a file's stat, S3's HeadObject); no byte is read
        (a HEAD read the whole blob to throw it away). NotFound as ``open_download``."""
        a, key = await self._located(attachment_id, variant, conversation_id)
        return Download(a, variant, Blob(await self._blobs.size(key), _no_bytes()))

    async def _located(
        self, attachment_id: str, variant: Variant, conversation_id: str
    ) -> tuple[Attachment, str]:
        """The file's record and the key of the variant asked for, if of this conversation."""
        a = await self._store.get_attachment(attachment_id)
        key = a.thumb_key if variant == "thumb" else a.blob_key
        if a.conversation_id != conversation_id or not key:
            raise NotFound("no such file")
        return a, key

    async def get(self, attachment_id: str) -> Attachment:
        return await self._store.get_attachment(attachment_id)

    async def read(self, a: Attachment) -> Blob:
        """A file's bytes (for exports)."""
        return await self._blobs.get(a.blob_key)


def _reader_of(a: Attachment) -> str:
    return agent_reader(a.uploader_id) if a.uploader == "agent" else contact_reader(a.uploader_id)


def _region(address: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(address)) or ""
    except phonenumbers.NumberParseException:
        return ""


def _mkdtemp(parent: Path) -> str:
    return tempfile.mkdtemp(dir=parent)


async def _stage(chunks: AsyncIterable[bytes], path: Path, cap: int) -> int:
    """Write the upload to a staging file, counting; FileTooLarge past ``cap``."""
    size = 0
    out = await storage_step(anyio.open_file(path, "xb"))
    try:
        async for chunk in chunks:  # a client gone away raises here, as it is
            size += len(chunk)
            if size > cap:
                raise FileTooLarge(f"the file is larger than {cap} bytes", max_bytes=cap)
            await storage_step(out.write(chunk))
    finally:
        await storage_step(out.aclose())
    return size


async def _read(path: Path, digest: hashlib._Hash | None = None) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        while chunk := await f.read(CHUNK):
            if digest is not None:
                digest.update(chunk)
            yield chunk


async def _no_bytes() -> AsyncIterator[bytes]:
    """The chunks of a blob described, not read (HEAD)."""
    return
    yield  # an async generator that yields nothing


def _last_written(work: Path) -> float:
    """When a staging directory or a file in it was last written."""
    times = [work.stat().st_mtime]
    if work.is_dir():
        times += [p.stat().st_mtime for p in work.iterdir()]
    return max(times)
