"""The message path: store first, acknowledge second, publish third.

A message is committed (with its per-conversation sequence number) before the sender's
ack, then published on the bus to the other side's sockets. Whatever the bus drops, a
client gets back by resuming from its last seq, which reads the store. Conversation
events a visitor sees (agent joined / left, ended) are stored the same way, so a resume
replays them too.
"""

from __future__ import annotations

import msgspec

from gateway import protocol as p
from gateway.ports.store.base import Message

EVENT_KINDS = ("agent_joined", "agent_left", "ended")


class EventBody(msgspec.Struct, frozen=True):
    """What an event message stores in its body."""

    event: str
    agent_name: str = ""


_event_decoder = msgspec.json.Decoder(EventBody)
_event_encoder = msgspec.json.Encoder()


def event_body(event: str, agent_name: str = "") -> str:
    return _event_encoder.encode(EventBody(event, agent_name)).decode()


def frame_for(msg: Message, sender_name: str) -> p.MessageOut | p.EventOut:
    """The wire frame of a stored message."""
    if msg.kind == "event":
        body = _event_decoder.decode(msg.body)
        event = body.event if body.event in EVENT_KINDS else "ended"
        return p.EventOut(
            conversation_id=msg.conversation_id,
            seq=msg.seq,
            event=event,  # type: ignore[arg-type]
            at=msg.created_at,
            agent_name=body.agent_name,
        )
    return p.MessageOut(
        conversation_id=msg.conversation_id,
        seq=msg.seq,
        sender=msg.sender,
        sender_name=sender_name,
        body=msg.body,
        at=msg.created_at,
        client_msg_id=msg.client_msg_id,
    )


def seq_of(data: bytes) -> tuple[str, int] | None:
    """(conversation id, seq) of an encoded message or event frame, else None. Used only
    on the rare path that filters frames held during a resume."""
    try:
        frame = _peek.decode(data)
    except msgspec.DecodeError:
        return None
    if frame.type in ("message", "event") and frame.seq is not None:
        return frame.conversation_id, frame.seq
    return None


class _Peek(msgspec.Struct):
    type: str
    conversation_id: str = ""
    seq: int | None = None


_peek = msgspec.json.Decoder(_Peek)
