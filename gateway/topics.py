"""Bus topic names, written once.

* ``a:<agent id>`` every socket of one agent (their console tabs, on any node);
* ``c:<channel>:<address>`` the contact side of a channel that holds sockets of its
  own (chat: every tab of one visitor);
* ``w:<conversation id>`` the messages of one conversation, for the consoles of
  supervisors monitoring it (gateway/services/notify.py);
* ``gw:...`` the nodes' own traffic (router forwarding, the router log, replies),
  never delivered to a socket.
"""

from __future__ import annotations

from typing import Final, Literal

AGENT: Final = "a:"
CONTACT: Final = "c:"
CLUSTER: Final = "gw:"
WATCH: Final = "w:"
# The router leader's inbox (forwarded events, snapshot requests) and its log.
ROUTER: Final = "gw:router"
LOG: Final = "gw:log"

Kind = Literal["agent", "contact", "cluster"]


def agent(agent_id: str) -> str:
    return AGENT + agent_id


def contact(channel: str, address: str) -> str:
    return f"{CONTACT}{channel}:{address}"


def watch(conversation_id: str) -> str:
    return WATCH + conversation_id


def node(node_id: str) -> str:
    """A node's own inbox (replies to its requests)."""
    return f"{CLUSTER}node:{node_id}"


def kind(topic: str) -> Kind:
    if topic.startswith((AGENT, WATCH)):  # a monitor is an agent's socket
        return "agent"
    if topic.startswith(CLUSTER):
        return "cluster"
    return "contact"


def agent_of(topic: str) -> str | None:
    """The agent id of an agent topic, else None."""
    return topic[len(AGENT) :] if topic.startswith(AGENT) else None
