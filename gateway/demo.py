"""Demo data for ``./scripts/serve``: created once, when the demo agent does not exist.

Two touchpoints for the demo page (one for http://localhost, one for http://127.0.0.1,
so the page works under either name), one queue, an agent and an admin.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import msgspec

from gateway.auth import hash_password
from gateway.ports.store.base import (
    Agent,
    DispositionSet,
    FormField,
    GlobalSettings,
    Queue,
    Touchpoint,
)
from gateway.services.engine import Engine
from gateway.settings import Settings

log = logging.getLogger("gateway.demo")

DEMO_AGENT = ("agent@demo.test", "demo-agent")
DEMO_ADMIN = ("admin@demo.test", "demo-admin")
DEMO_TOUCHPOINTS = {"localhost": "tp_demo_localhost", "127.0.0.1": "tp_demo_127"}

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


async def seed_demo(engine: Engine) -> bool:
    """Create the demo data unless it is there already (True if created); either way,
    keep the demo touchpoints' domains on the port the gateway serves on now."""
    store = engine.store
    port = demo_port(engine.settings)
    if any(a.id == "ag_demo" for a in await store.list_agents()):
        changed = False
        for host, tp_id in DEMO_TOUCHPOINTS.items():
            tp = engine.directory.touchpoints.get(tp_id)
            if tp is not None and tp.domain != demo_domain(host, port):
                await store.put_touchpoint(
                    msgspec.structs.replace(tp, domain=demo_domain(host, port))
                )
                changed = True
        if changed:
            await engine.config_changed()
        return False
    now = engine.clock()
    await store.put_queue(Queue(id="q_support", name="Support"))
    await store.put_disposition_set(
        DispositionSet(
            id="ds_default", name="Default", dispositions=["Resolved", "Follow-up", "Spam"]
        )
    )
    await store.put_settings(GlobalSettings(disposition_set_id="ds_default"))
    form = [
        FormField(name="name", label="Your name", max_length=80),
        FormField(name="email", label="Email", kind="email"),
    ]
    for host, tp_id in DEMO_TOUCHPOINTS.items():
        await store.put_touchpoint(
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
            )
        )
    await store.put_agent(
        Agent(
            id="ag_demo",
            email=DEMO_AGENT[0],
            name="Ada (demo agent)",
            role="agent",
            queue_ids=["q_support"],
            password_hash=hash_password(DEMO_AGENT[1]),
        )
    )
    await store.put_agent(
        Agent(
            id="ag_admin",
            email=DEMO_ADMIN[0],
            name="Grace (demo admin)",
            role="admin",
            queue_ids=["q_support"],
            password_hash=hash_password(DEMO_ADMIN[1]),
        )
    )
    await engine.config_changed()
    log.warning("demo data created: agent %s / %s, admin %s / %s", *DEMO_AGENT, *DEMO_ADMIN)
    return True
