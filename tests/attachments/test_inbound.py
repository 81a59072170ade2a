"""Files a messaging channel receives (``InboundMessage.files`` and ``.unsupported``)
through ``ConversationService.receive`` on a real node (its store, blob store, rules
and notifier; docs/attachments.md "Inbound files"): stored under the channel's rules,
metadata stripped; what cannot be passed on reaches the agent as an automatic
``unsupported`` notice after the message, or in its place; a provider's retry fetches
nothing again; a download that breaks leaves nothing behind.

The adapter's part (fetching from the provider) is a function here that streams bytes,
as the real adapters' ``open`` does; the provider emulators are the adapters' tests."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway import protocol as p
from gateway import topics
from gateway.app import Node
from gateway.errors import FileRefused
from gateway.model.inbound import InboundFile, InboundMessage
from gateway.model.records import Agent, Conversation, Message, Queue, Touchpoint
from gateway.services.deliveries import Outcome, sent
from gateway.settings import load_settings
from gateway.web.hub import Connection
from tests.attachments import files

US = "+12025550143"  # MMS is for US, Canadian and Australian numbers (the rule's regions)
UK = "+442079460958"


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    settings = load_settings(
        {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "GATEWAY_SECRET_KEY": "k" * 40,
            "GATEWAY_DEMO": "false",
        }
    )
    node = Node(settings)
    await node.start()
    await node.store.put_queue(Queue(id="q", name="Q"))
    await node.store.put_agent(Agent(id="ag", email="a@x.test", name="Ada", queue_ids=["q"]))
    await node.store.put_touchpoint(
        Touchpoint(
            id="tp_sms",
            name="SMS",
            channel="sms",
            active=True,
            routing_mode="simplified",
            queue_ids=["q"],
        )
    )
    await node.shell.config_changed()
    await node.agents.online("ag")
    try:
        yield node
    finally:
        await node.stop()


class Fetches:
    """The provider's side of ``InboundFile.open``: streams bytes, counts the fetches,
    and may break half-way as a connection does."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def file(
        self, name: str, data: bytes, *, break_after: int | None = None, size: int | None = None
    ) -> InboundFile:
        def open_() -> AsyncIterator[bytes]:
            return self._stream(name, data, break_after)

        return InboundFile(name=name, open=open_, size=size)

    async def _stream(
        self, name: str, data: bytes, break_after: int | None
    ) -> AsyncIterator[bytes]:
        self.count[name] = self.count.get(name, 0) + 1
        for i in range(0, len(data), 64 * 1024):
            if break_after is not None and i >= break_after:
                raise ConnectionResetError("the provider closed the connection")
            await asyncio.sleep(0)
            yield data[i : i + 64 * 1024]


async def agent_frames(node: Node) -> Callable[[str], Any]:
    """What the agent's console on this node receives; ``next_of(type)`` waits for one."""
    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_text(text: str) -> None:
        got.put_nowait(json.loads(text))

    async def close(code: int, reason: str) -> None:
        return None

    await node.hub.add(Connection(topics.agent("ag"), send_text, close, 256, 1 << 22))

    async def next_of(kind: str) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(got.get(), 10)
            if frame["type"] == kind:
                return frame

    return next_of


async def assigned(node: Node, address: str) -> Conversation:
    """A conversation of this contact on SMS, assigned to the agent."""
    conv, _, _ = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms", address=address, provider_message_id="first", body="hello"
        )
    )
    await node.desk.act(node.agents.agent("ag"), p.Assign(conversation_id=conv.id))
    return await node.conversations.get(conv.id)


async def stored_bytes(node: Node, conv: Conversation, attachment_id: str) -> bytes:
    d = await node.attachments.open_download(attachment_id, "file", conv.id)
    return b"".join([chunk async for chunk in d.blob.chunks])


def files_on_disk(node: Node) -> list[Path]:
    data = Path(node.settings.data_dir)
    return [p for p in (data / "blobs").rglob("*") if p.is_file()] + [
        p for p in (data / "uploads").rglob("*") if p.is_file()
    ]


async def messages(node: Node, conv: Conversation) -> list[Message]:
    return await node.store.messages(conv.id)


async def test_files_are_stored_under_the_channels_rules_and_the_rest_is_a_notice(
    node: Node,
) -> None:
    conv = await assigned(node, US)
    next_of = await agent_frames(node)
    provider = Fetches()
    pdf = files.pdf(pad=50_000)
    conv2, message, created = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms",
            address=US,
            provider_message_id="SM-2",
            body="the photo and the form",
            files=(
                provider.file("photo.jpg", files.jpeg_with_gps()),
                provider.file("form.pdf", pdf),
                provider.file("notes.txt", b"plain words\n"),  # SMS takes no text files
            ),
            unsupported=("a location (48.8584, 2.2945)",),
        )
    )
    assert created and conv2.id == conv.id
    assert [a.name for a in message.attachments] == ["photo.jpg", "form.pdf"]
    photo, form = message.attachments
    assert photo.content_type == "image/jpeg" and form.content_type == "application/pdf"
    # The PDF as it came; the photo without its position.
    assert await stored_bytes(node, conv, form.id) == pdf
    assert (await node.attachments.get(form.id)).sha256 == hashlib.sha256(pdf).hexdigest()
    assert not files.has_gps(await stored_bytes(node, conv, photo.id))

    # The agent gets the message with its files, then the automatic notice.
    frame = await next_of("message")
    assert frame["seq"] == message.seq and frame["body"] == "the photo and the form"
    assert [a["name"] for a in frame["attachments"]] == ["photo.jpg", "form.pdf"]
    notice = await next_of("event")
    assert notice["event"] == "notice" and notice["seq"] == message.seq + 1
    assert "notes.txt: text files are not accepted on sms" in notice["text"]
    assert "a location (48.8584, 2.2945)" in notice["text"]
    stored = await messages(node, conv)
    assert [(m.kind, m.seq) for m in stored[-2:]] == [
        ("text", message.seq),
        ("event", message.seq + 1),
    ]

    # The provider retries the same message: nothing is fetched or stored again.
    _, again, created = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms",
            address=US,
            provider_message_id="SM-2",
            body="the photo and the form",
            files=(provider.file("photo.jpg", files.jpeg_with_gps()),),
            unsupported=("a location (48.8584, 2.2945)",),
        )
    )
    assert not created and again.seq == message.seq
    assert provider.count == {"photo.jpg": 1, "form.pdf": 1, "notes.txt": 1}
    assert len(await messages(node, conv)) == len(stored)


async def test_nothing_passed_on_the_notice_takes_the_messages_place(node: Node) -> None:
    conv = await assigned(node, UK)
    next_of = await agent_frames(node)
    provider = Fetches()
    before = files_on_disk(node)
    # MMS reaches only US, Canadian and Australian numbers: the photo is refused for
    # this contact, the sticker was never passable.
    _, message, created = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms",
            address=UK,
            provider_message_id="SM-9",
            files=(provider.file("photo.png", files.png()),),
            unsupported=("a sticker",),
        )
    )
    assert created and message.kind == "event" and not message.attachments
    notice = await next_of("event")
    assert notice["event"] == "notice" and notice["seq"] == message.seq
    assert "photo.png: files (MMS) can be sent only to numbers of US, CA, AU" in notice["text"]
    assert "a sticker" in notice["text"]
    assert files_on_disk(node) == before  # nothing stored for it
    # A retry stores no second notice.
    _, again, created = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms",
            address=UK,
            provider_message_id="SM-9",
            files=(provider.file("photo.png", files.png()),),
            unsupported=("a sticker",),
        )
    )
    assert not created and again.seq == message.seq
    assert [m.seq for m in await messages(node, conv)][-1] == message.seq


@pytest.mark.parametrize(
    ("case", "size"),
    [
        ("the download breaks half-way", None),
        ("larger than SMS takes, the provider silent about the size", None),
        ("larger than SMS takes, the provider saying it is small", 1000),
    ],
)
async def test_a_file_that_fails_leaves_nothing_behind(
    node: Node, case: str, size: int | None
) -> None:
    conv = await assigned(node, US)
    provider = Fetches()
    breaks = case.startswith("the download breaks")
    data = files.pdf(pad=(300_000 if breaks else 6 * 1024 * 1024))
    item = provider.file("big.pdf", data, break_after=150_000 if breaks else None, size=size)
    _, message, created = await node.conversations.receive(
        InboundMessage(
            touchpoint_id="tp_sms",
            address=US,
            provider_message_id=f"SM-{case}",
            body="see attached",
            files=(item,),
        )
    )
    assert created and message.body == "see attached" and not message.attachments
    notice = (await messages(node, conv))[-1]
    assert notice.kind == "event" and notice.seq == message.seq + 1
    if breaks:
        assert "big.pdf: it could not be fetched" in notice.body
    else:
        assert "big.pdf:" in notice.body and "5242880" in notice.body
    assert files_on_disk(node) == []  # no blob, no staging file
    assert await node.store.expire_unattached(created_before=2**40) == 0  # and no record


async def test_agents_send_files_only_where_the_adapter_delivers_them(node: Node) -> None:
    """An SMS reply is delivered by the channel's adapter: files from the agent only if
    it sends them along (``delivers_files``), never stored to be dropped."""
    conv = await assigned(node, US)
    agent = node.agents.agent("ag")

    async def pdf() -> AsyncIterator[bytes]:
        yield files.pdf()

    class TextOnlyAdapter:  # an adapter that would drop files
        async def check_outbound(self, conv: Conversation) -> None:
            return None

        async def deliver(self, conv: Conversation, message: Message) -> Outcome:
            return sent(f"SM-{message.seq}")

    node.deliveries.register("sms", TextOnlyAdapter())  # type: ignore[arg-type]
    with pytest.raises(FileRefused) as refused:
        await node.desk.upload(agent, conv.id, "quote.pdf", pdf(), None)
    assert refused.value.code == "attachments_unavailable"
    assert "its adapter does not deliver them" in refused.value.public_message

    delivered: asyncio.Queue[Message] = asyncio.Queue()

    class FilesAdapter:
        delivers_files = True

        async def check_outbound(self, conv: Conversation) -> None:
            return None

        async def deliver(self, conv: Conversation, message: Message) -> Outcome:
            outcome = sent(f"SM-{message.seq}")
            delivered.put_nowait(message)
            return outcome

    node.deliveries.register("sms", FilesAdapter())  # type: ignore[arg-type]
    stored = await node.desk.upload(agent, conv.id, "quote.pdf", pdf(), None)
    ack = await node.desk.send(agent, conv, "r-1", "", attachments=[stored.id])
    last = (await messages(node, conv))[-1]
    assert last.seq == ack.seq and [a.id for a in last.attachments] == [stored.id]
    # and the adapter is handed the message with its file
    out = await asyncio.wait_for(delivered.get(), 30)
    assert out.seq == ack.seq and [a.id for a in out.attachments] == [stored.id]
