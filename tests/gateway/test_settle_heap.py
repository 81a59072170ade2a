"""``gateway serve`` tunes the garbage collector once started (gateway/cli.py): what
start-up built is frozen out of the full collections, and young collections are spaced
out (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys

import msgspec
import msgspec.inspect as mi
import pytest
import uvicorn
from starlette.applications import Starlette

import gateway.protocol.agent
import gateway.protocol.visitor
import gateway.protocol.workspace  # noqa: F401 (their frames, for Frame's subclasses)
import routing as r
from gateway import cli
from gateway.model.records import Conversation
from gateway.protocol.frames import AttachmentOut, Frame, MessageOut
from gateway.settings import Settings


def test_settle_heap_freezes_what_start_up_built_and_spaces_young_collections() -> None:
    # in a process of its own: freezing this one would keep the test run's garbage
    probe = (
        "import gc, json, gateway.cli as c; before = gc.get_freeze_count(); c.settle_heap(); "
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, text=True)
    before, frozen, threshold = json.loads(out.stdout)
    assert before == 0 and frozen > 10_000
    assert tuple(threshold) == cli.GC_THRESHOLD


def test_the_server_settles_the_heap_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def started(self: uvicorn.Server, sockets: object = None) -> None:
        calls.append("startup")

    monkeypatch.setattr(uvicorn.Server, "startup", started)
    monkeypatch.setattr(cli, "settle_heap", lambda: calls.append("settle"))
    server = cli.build_server(Starlette(), Settings())
    asyncio.run(server.startup())
    assert calls == ["startup", "settle"]


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _not_data(t: mi.Type, seen: set[type]) -> list[str]:
    """What in ``t`` could hold something other than data (a callable, a future, any
    object that might refer back to the record): what would make gc=False leak."""
    if isinstance(t, (mi.AnyType, mi.CustomType, mi.DataclassType)):
        return [repr(t)[:120]]
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return []
        seen.add(t.cls)
        return [
            f"{t.cls.__name__}.{f.name}: {x}" for f in t.fields for x in _not_data(f.type, seen)
        ]
    inner: list[mi.Type] = []
    for attr in ("item_type", "key_type", "value_type"):
        if isinstance(getattr(t, attr, None), mi.Type):
            inner.append(getattr(t, attr))
    for attr in ("item_types", "types"):
        inner.extend(getattr(t, attr, ()))
    return [x for i in inner for x in _not_data(i, seen)]


def test_records_frames_and_router_events_are_data_out_of_the_collectors_walks() -> None:
    # A busy node makes several of these per message and keeps a conversation's latest:
    # tracked, every young collection walked them (docs/deploy.md).
    event = r.AgentUpserted.__base__  # routing's events have one private base
    classes = [Conversation, *_subclasses(Frame), *_subclasses(event)]
    assert len(classes) > 60
    for cls in classes:
        assert cls.__struct_config__.gc is False, cls
        assert _not_data(mi.type_info(cls), set()) == [], cls
    conv = Conversation(
        id="cv_1",
        touchpoint_id="tp_1",
        channel="chat",
        contact_id="ct_1",
        address="vi_1",
        queue_ids=["q_1"],
        fields={"plan": "gold"},
    )
    out = MessageOut(
        conversation_id="cv_1",
        seq=1,
        sender="visitor",
        sender_name="",
        body="hi",
        at=1.0,
        attachments=[AttachmentOut(id="at_1", name="a.png", content_type="image/png", size=1)],
    )
    upserted = r.AgentUpserted(agent_id="ag_1", queue_ids=["q_1"])
    assert not any(gc.is_tracked(x) for x in (conv, out, upserted))

    # what the check would see without gc=False: a struct holding a list is tracked
    class Tracked(msgspec.Struct):
        queue_ids: list[str]

    assert gc.is_tracked(Tracked(queue_ids=["q_1"]))
