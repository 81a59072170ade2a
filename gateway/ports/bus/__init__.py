"""The bus carries frames between nodes: the interface in base.py, in-process beside it."""

from gateway.ports.bus.base import Bus, Deliver, all_but, for_node, node_part, opened
from gateway.ports.bus.memory import InProcessBus

__all__ = [
    "Bus",
    "Deliver",
    "InProcessBus",
    "all_but",
    "create_bus",
    "for_node",
    "node_part",
    "opened",
]


def create_bus(redis_url: str) -> Bus:
    """The in-process bus when no Redis URL is set (one node)."""
    if not redis_url:
        return InProcessBus()
    from gateway.ports.bus.redis import RedisBus  # only when configured: keeps start-up light

    return RedisBus(redis_url)
