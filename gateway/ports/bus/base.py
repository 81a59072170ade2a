"""The bus: topics of already-encoded frames, fanned out to the nodes that subscribe.

Topics are ``v:<visitor id>`` (a visitor's sockets) and ``a:<agent id>`` (an agent's
sockets). A node subscribes to a topic while it holds a socket for it. The bus is the
fast path, never the record: delivery is at most once, and clients resume from the
store by sequence number (ARCHITECTURE.md, principle 3).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

Deliver = Callable[[str, bytes], None]

# A frame for every socket of its topic but one (the socket that sent the message and
# gets it in its ack): ``~<socket ref> <frame>``. Frames are JSON objects, so they never
# start with ``~``; the envelope travels inside the payload, so it holds across nodes on
# any bus, and the receiving node's hub opens it (gateway/web/hub.py).
_ENVELOPE = b"~"


# Data for the node that holds the topic's sockets, not for the sockets: ``=<data>``
# (a conversation row the node's next write in it may use, gateway/services/recent.py).
# A node without sockets of the topic is not subscribed to it and never gets it.
_FOR_NODE = b"="


def for_node(data: bytes) -> bytes:
    return _FOR_NODE + data


def node_part(data: bytes) -> bytes | None:
    """What :func:`for_node` wrapped, or None for a frame for the sockets."""
    return data[1:] if data.startswith(_FOR_NODE) else None


def all_but(ref: str, data: bytes) -> bytes:
    """``data`` for every socket of the topic but the one whose ref is ``ref``."""
    return b"%s%s %s" % (_ENVELOPE, ref.encode(), data) if ref else data


def opened(data: bytes) -> tuple[bytes, bytes]:
    """(the ref of the socket to leave out, or b"", the frame) of what was published."""
    if not data.startswith(_ENVELOPE):
        return b"", data
    ref, _, frame = data[1:].partition(b" ")
    return ref, frame


class Bus(abc.ABC):
    @abc.abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Begin delivering: ``deliver(topic, data)`` is called for every frame published
        on a subscribed topic, on the event loop, never concurrently."""

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, topic: str, data: bytes) -> None:
        """Send to every subscriber of ``topic`` (none is fine); returns once the bus
        has it, raises :class:`~gateway.errors.BusUnavailable` if it could not be sent."""

    @abc.abstractmethod
    def post(self, topic: str, data: bytes) -> None:
        """Queue for every subscriber of ``topic`` and return at once: the hot path's
        publish (frames for sockets). Frames posted (or published) in order are sent in
        order; one that cannot be sent is logged and counted, never raised (the store is
        the record, clients resume from it)."""

    @abc.abstractmethod
    async def subscribe(self, topic: str) -> None: ...

    @abc.abstractmethod
    async def unsubscribe(self, topic: str) -> None: ...
