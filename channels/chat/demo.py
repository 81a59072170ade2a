"""The demo's chat touchpoints: one for http://localhost and one for http://127.0.0.1, so
the demo shop works under either name (gateway/demo.py seeds them)."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.model.records import FormField, Touchpoint
from gateway.settings import Settings

DEMO_TOUCHPOINTS = {"localhost": "tp_demo_localhost", "127.0.0.1": "tp_demo_127"}
# The same site, its chats handed to the demo bot first (gateway/demo.py seeds the bot,
# an integration touchpoint; examples/demo_bot.py answers for it).
DEMO_BOT_TOUCHPOINTS = {"localhost": "tp_demo_bot_localhost", "127.0.0.1": "tp_demo_bot_127"}
DEMO_BOT = "tp_demo_bot"
BOT_FLOW = {
    "default": {
        "queue_ids": ["q_support"],
        "priority": 1,
        "acceptance": "manual",
        "bot": DEMO_BOT,
        "bot_timeout": 300,
    }
}

FLOW = {
    "default": {
        "queue_ids": ["q_support"],
        "priority": 1,
        "acceptance": "manual",
        "auto_reply": "Thanks for your message! All our agents are busy; we will answer as soon as one is free.",
    }
}


def demo_domain(host: str, port: int) -> str:
    """The demo touchpoint's domain: the host with the port the gateway serves on (a
    configured domain without a port matches only the default port)."""
    return host if port == 80 else f"{host}:{port}"


def demo_port(settings: Settings) -> int:
    """The port visitors reach: the public URL's (behind a load balancer, where all
    nodes share it), else this node's."""
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        return parts.port or (443 if parts.scheme == "https" else 80)
    return settings.port


def demo_touchpoints(port: int, now: float) -> list[Touchpoint]:
    form = [
        FormField(name="name", label="Your name", max_length=80),
        FormField(name="email", label="Email", kind="email"),
    ]
    return [
        Touchpoint(
            id=tp_id,
            name=f"Demo site ({host})",
            channel="chat",
            active=True,
            routing_mode="flow",
            domain=demo_domain(host, port),
            queue_ids=["q_support"],
            flow=FLOW,
            form=form,
            created_at=now,
            widget={"title": "Chat with us", "color": "#1d4ed8"},
            display_name="Demo shop",
        )
        for host, tp_id in DEMO_TOUCHPOINTS.items()
    ]


def demo_bot_touchpoints(port: int, now: float) -> list[Touchpoint]:
    """Chat touchpoints of the demo site whose chats go to the demo bot first."""
    return [
        Touchpoint(
            id=tp_id,
            name=f"Demo site with a bot ({host})",
            channel="chat",
            active=True,
            routing_mode="flow",
            domain=demo_domain(host, port),
            queue_ids=["q_support"],
            flow=BOT_FLOW,
            created_at=now,
            widget={"title": "Ask our bot", "color": "#047857"},
        )
        for host, tp_id in DEMO_BOT_TOUCHPOINTS.items()
    ]
