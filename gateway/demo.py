"""Demo data for ``./scripts/serve`` (``GATEWAY_DEMO=1``): created once, when neither demo
account exists, and never over a record that exists: an operator who changed the demo
admin's password, or deleted the demo agent, keeps what they did.

The chat channel's two demo touchpoints (channels/chat/demo.py), the messaging
channels' touchpoints when the provider emulators run (channels/phone), one queue, a
disposition set, an agent and an admin.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec

from channels import phone
from channels.chat.demo import DEMO_TOUCHPOINTS, demo_domain, demo_port, demo_touchpoints
from channels.email.demo import DEMO_TOUCHPOINT_ID, demo_touchpoint
from gateway.auth import hash_password
from gateway.model.records import Agent, DispositionSet, GlobalSettings, Queue
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.settings import Settings

log = logging.getLogger("gateway.demo")

DEMO_AGENT = ("agent@demo.test", "demo-agent")
DEMO_ADMIN = ("admin@demo.test", "demo-admin")


async def seed_demo(
    store: Store,
    directory: Directory,
    settings: Settings,
    reload: Callable[[], Awaitable[None]],
    now: float,
) -> bool:
    """Create the demo data when no demo account exists (True if created), leaving every
    existing record as it is; otherwise create nothing, and keep the demo touchpoints'
    domains, where they exist, on the port the gateway serves on now."""
    port = demo_port(settings)
    agents = await store.list_agents()
    demo_ids, demo_emails = {"ag_demo", "ag_admin"}, {DEMO_AGENT[0], DEMO_ADMIN[0]}
    if any(a.id in demo_ids or a.email.lower() in demo_emails for a in agents):
        changed = False
        if DEMO_TOUCHPOINT_ID not in directory.touchpoints:
            # a demo database from before the email channel
            await store.put_touchpoint(demo_touchpoint(now))
            changed = True
        for host, tp_id in DEMO_TOUCHPOINTS.items():
            tp = directory.touchpoints.get(tp_id)
            if tp is not None and tp.domain != demo_domain(host, port):
                await store.put_touchpoint(
                    msgspec.structs.replace(tp, domain=demo_domain(host, port))
                )
                changed = True
        for tp in directory.touchpoints.values():
            moved = phone.refreshed(tp, settings)
            if moved is not None:
                await store.put_touchpoint(moved)
                changed = True
        known = set(directory.touchpoints)
        for tp in phone.demo_touchpoints(settings, now):
            if tp.id not in known:  # the emulators run for the first time on this data
                await store.put_touchpoint(tp)
                changed = True
        if changed:
            await reload()
        return False
    if not any(q.id == "q_support" for q in await store.list_queues()):
        await store.put_queue(Queue(id="q_support", name="Support"))
    if not any(d.id == "ds_default" for d in await store.list_disposition_sets()):
        await store.put_disposition_set(
            DispositionSet(
                id="ds_default", name="Default", dispositions=["Resolved", "Follow-up", "Spam"]
            )
        )
        await store.put_settings(GlobalSettings(disposition_set_id="ds_default"))
    existing = {tp.id for tp in await store.list_touchpoints()}
    for tp in [
        *demo_touchpoints(port, now),
        *phone.demo_touchpoints(settings, now),
        demo_touchpoint(now),
    ]:
        if tp.id not in existing:
            await store.put_touchpoint(tp)
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
    await reload()
    log.warning("demo data created: agent %s / %s, admin %s / %s", *DEMO_AGENT, *DEMO_ADMIN)
    return True
