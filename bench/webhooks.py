"""Messaging intake: signed SMS webhooks into a real gateway, and the agents' replies out
through the provider emulator.

A gateway process (SQLite, demo data) with an SMS touchpoint on the Twilio emulator
(devkit/emulators, its own process). ``contacts`` phones each text ``per_contact``
messages, ``concurrency`` webhooks in flight at a time, each signed as Twilio signs
(the gateway verifies every one with the official validator, stores it, then answers):
webhooks per second and the webhook's latency (signature check, commit, answer). Then
the demo agent replies once to each contact's conversation and the worker delivers:
replies per second until the emulator has them all.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bench.loadgen import percentile
from devkit import services
from gateway.model.records import Touchpoint
from gateway.ports.store import create_store

NUMBER = "+14155550100"
ACCOUNT = "AC" + "be" * 16
TOKEN = "bench-auth-token"
AGENT = ("agent@demo.test", "demo-agent")


async def _seed(database_url: str, emulator: str) -> None:
    store = create_store(database_url)
    await store.open()
    try:
        await store.put_touchpoint(
            Touchpoint(
                id="tp_bench",
                name="Bench line",
                channel="sms",
                active=True,
                routing_mode="simplified",
                queue_ids=["q_support"],
                settings={
                    "number": NUMBER,
                    "account_sid": ACCOUNT,
                    "auth_token": TOKEN,
                    "api_base": emulator,
                },
            )
        )
    finally:
        await store.close()


async def _intake(
    node: services.GatewayProcess, contacts: int, per_contact: int, concurrency: int
) -> tuple[list[float], float]:
    url = f"{node.base_url}/webhooks/sms/tp_bench"
    validator = RequestValidator(TOKEN)
    jobs = [(c, i) for i in range(per_contact) for c in range(contacts)]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(http: httpx.AsyncClient, c: int, i: int) -> None:
        params = {
            "MessageSid": f"SM{c:08d}{i:024d}",
            "AccountSid": ACCOUNT,
            "From": f"+1202555{c:04d}",
            "To": NUMBER,
            "Body": f"message {i}",
            "NumMedia": "0",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, params),
        }
        async with gate:
            started = time.perf_counter()
            r = await http.post(url, content=urlencode(params), headers=headers)
            latencies.append(time.perf_counter() - started)
        r.raise_for_status()

    async with httpx.AsyncClient(timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(one(http, c, i) for c, i in jobs))
        elapsed = time.perf_counter() - started
    return sorted(latencies), elapsed


async def _replies(
    node: services.GatewayProcess, emulator: str, per_conversation: int
) -> tuple[int, float]:
    """The demo agent takes as many conversations as its capacity allows (10 SMS at
    10 points each) and writes ``per_conversation`` replies in each; the time until
    the provider has them all (a conversation's messages go out in order)."""
    from tests.gateway.client import AgentClient

    agent = AgentClient(node, *AGENT)
    await agent.login()
    await agent.connect()
    convs = []
    for row in agent.snapshot["inbox"]:
        if (
            row["channel"] == "sms"
            and (await agent.act("assign", row["conversation_id"]))["type"] == "ok"
        ):
            convs.append(row["conversation_id"])
    total = len(convs) * per_conversation
    started = time.perf_counter()
    for i in range(per_conversation):
        for cid in convs:
            await agent.say(cid, f"Thanks, on it ({i}).")
    async with httpx.AsyncClient(timeout=180) as http:
        r = await http.get(f"{emulator}/_emulator/sent", params={"min": total, "timeout": 170})
    assert len(r.json()) >= total, "not every reply reached the provider"
    return total, time.perf_counter() - started


def run(quick: bool = False) -> dict[str, Any]:
    contacts, per_contact, concurrency = (5, 2, 4) if quick else (100, 10, 16)
    replies_per_conversation = 1 if quick else 10
    port = services.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit.emulators", "--twilio", str(port)], cwd=services.ROOT
    )
    try:
        services.wait_port(port, proc=proc)
        emulator = f"http://127.0.0.1:{port}"
        gw_port = services.free_port()

        tmp = tempfile.mkdtemp(prefix="gw-bench-")
        db = f"sqlite:///{tmp}/gateway.db"
        asyncio.run(_seed(db, emulator))
        node = services.start_gateway(
            {"GATEWAY_DEMO": "1", "GATEWAY_DATABASE_URL": db, "GATEWAY_DATA_DIR": tmp}, port=gw_port
        )
        try:
            httpx.post(
                f"{emulator}/_emulator/configure",
                json={
                    "accounts": {ACCOUNT: TOKEN},
                    "numbers": {
                        NUMBER: {
                            "account": ACCOUNT,
                            "sms_url": f"{node.base_url}/webhooks/sms/tp_bench",
                        }
                    },
                },
            )
            latencies, elapsed = asyncio.run(_intake(node, contacts, per_contact, concurrency))
            replies, reply_time = asyncio.run(_replies(node, emulator, replies_per_conversation))
        finally:
            node.stop()
    finally:
        services.stop_process(proc)
    n = len(latencies)
    return {
        "webhooks": n,
        "contacts": contacts,
        "concurrency": concurrency,
        "webhooks_per_s": n / elapsed,
        "webhook_p50_ms": percentile(latencies, 50) * 1000,
        "webhook_p99_ms": percentile(latencies, 99) * 1000,
        "replies": replies,
        "replies_per_s": replies / reply_time,
    }


def summary(result: dict[str, Any]) -> str:
    return (
        f"SMS intake: {result['webhooks']} signed webhooks from {result['contacts']} phones,"
        f" {result['concurrency']} in flight: {result['webhooks_per_s']:.0f}/s,"
        f" p50 {result['webhook_p50_ms']:.1f} ms, p99 {result['webhook_p99_ms']:.1f} ms;"
        f" {result['replies']} agent replies delivered to the provider at"
        f" {result['replies_per_s']:.1f}/s"
    )


def section(data: dict[str, Any]) -> str:
    """Its part of docs/benchmarks.md."""
    if "error" in data or "webhooks" not in data:
        return "No webhooks results." + (f" ({data['error']})" if "error" in data else "")
    return "\n".join(
        [
            "One gateway process (SQLite) with an SMS touchpoint on the Twilio emulator (its "
            f"own process): {data['contacts']} phones text {data['webhooks']} messages, "
            f"{data['concurrency']} webhooks in flight at a time, each signed as Twilio signs "
            "and verified by the gateway with the official validator, stored, then answered. "
            "Then the demo agent replies to each conversation and the outbound worker "
            "delivers the replies to the emulator.",
            "",
            "Command: `./scripts/bench webhooks --json docs/benchmarks/webhooks.json`, then "
            "`./scripts/bench report`.",
            "",
            "| webhooks/s | webhook p50 ms | webhook p99 ms | replies | replies delivered/s |",
            "|---|---|---|---|---|",
            f"| {data['webhooks_per_s']:.0f} | {data['webhook_p50_ms']:.1f} "
            f"| {data['webhook_p99_ms']:.1f} | {data['replies']} "
            f"| {data['replies_per_s']:.1f} |",
            "",
            "A webhook's time is the signature check, one commit and the answer; replies are "
            "delivered in order per conversation, each waiting for the provider's answer "
            "before the next one of the same conversation leaves.",
        ]
    )
