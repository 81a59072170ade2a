"""What the routing of a ``new`` conversation asks the store to announce of the messages
written while it was new (gateway/services/effects.py, ``_persist_queued``): nothing at
all -- so the routing is one statement, with no row lock taken first and no read of the
messages -- when no webhook wants ``message.created`` and no bot takes the conversation.
The contact-center benchmark's set-up ran 2.7 times slower when every routing, on the
router leader's one-at-a-time path, took that lock and read the messages for no one."""

from __future__ import annotations

from pathlib import Path

from gateway.model.integrations import Webhook, bot_target
from gateway.model.records import Conversation, Message
from gateway.ports.store.sqlite import SQLiteStore
from gateway.services.automations import Announcer
from gateway.services.directory import Directory


def _announcer(tmp_path: Path, *hooks: Webhook) -> Announcer:
    directory = Directory(SQLiteStore(str(tmp_path / "gw.db")))
    directory.webhooks = {w.id: w for w in hooks}
    return Announcer(directory, lambda: 100.0)


def _routed(state: str, bot: str = "") -> tuple[Conversation, Message]:
    conv = Conversation(
        id="cv1",
        touchpoint_id="tp",
        channel="chat",
        contact_id="k1",
        address="a1",
        state=state,  # type: ignore[arg-type]
        bot_id=bot,
        queue_ids=["q1"],
    )
    msg = Message(
        conversation_id="cv1",
        seq=1,
        sender="contact",
        sender_id="k1",
        client_msg_id="m1",
        body="hello",
        created_at=99.0,
    )
    return conv, msg


def _hook(**kw: object) -> Webhook:
    return Webhook(id="wh1", name="n", url="http://127.0.0.1:1/", secret="s", **kw)  # type: ignore[arg-type]


def test_no_one_wants_the_written_messages(tmp_path: Path) -> None:
    assert _announcer(tmp_path).written("") is None
    other = _hook(events=["conversation.started"])
    assert _announcer(tmp_path, other).written("") is None
    off = _hook(events=["message.created"], active=False)
    assert _announcer(tmp_path, off).written("") is None


def test_a_webhook_or_a_bot_gets_them(tmp_path: Path) -> None:
    hooked = _announcer(tmp_path, _hook(events=["message.created"])).written("")
    assert hooked is not None
    [event] = hooked(*_routed("waiting"))
    assert (event.type, event.targets) == ("message.created", ("wh1",))

    to_bot = _announcer(tmp_path).written("bot1")
    assert to_bot is not None
    [event] = to_bot(*_routed("bot", bot="bot1"))
    assert event.targets == (bot_target("bot1"),)
    assert to_bot.announced == [event]
