"""The Autobahn WebSocket compliance cases, run by ``kosoku``, against the gateway's own
WebSocket stack.

Autobahn's cases need an *echo* endpoint: they send a message and expect it back. The
gateway's endpoints speak a protocol (hello first, JSON only, text only), so pointed at
``/ws/visitor`` nearly every case would end in a 4000 close and test nothing but that.
So this module serves the real gateway, from ``gateway.cli`` with exactly its uvicorn
settings (frame size limit, no compression, pings), plus one extra route that exists
only here: ``/ws/echo``, a Starlette WebSocket echoing every message. The cases then
exercise the framing, fragmentation, UTF-8 validation, ping/pong and closing handshake
of the same uvicorn + websockets implementation every gateway socket runs on.

    python -m tests.security.autobahn            # the full suite, a report in reports/
    python -m tests.security.autobahn --quick    # the subset the test suite runs

Expected failures (docs/security.md#autobahn): 9.* and 1.1.6-1.1.8 / 1.2.6-1.2.8 and
others with messages over GATEWAY_MAX_FRAME_BYTES are closed 1009 on purpose; 12.* and
13.* need permessage-deflate, which the gateway never negotiates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

QUICK = [
    "1.1.1",
    "1.1.5",
    "1.2.1",
    "2.*",
    "3.*",
    "4.*",
    "5.*",
    "6.1.*",
    "6.3.*",
    "6.4.*",
    "7.1.*",
    "7.5.1",
    "7.7.*",
    "7.9.*",
    "10.*",
]
LIMIT_CASES = {"1.1.6", "1.1.7", "1.1.8", "1.2.6", "1.2.7", "1.2.8", "10.1.1"}
# Fails in the websockets library's sans-I/O protocol that uvicorn uses, not in the
# gateway: a close frame between the fragments of a message is answered 1002 instead
# of completing the closing handshake with 1000. The connection closes either way.
UPSTREAM = {"7.1.5": "websockets sans-I/O answers a close between fragments with 1002"}


def serve() -> None:
    """Run the gateway as ``gateway serve`` does (the same ``build_server``), with
    /ws/echo added."""
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            elif message.get("bytes") is not None:
                await ws.send_bytes(message["bytes"])

    from gateway.app import create_app
    from gateway.cli import build_server
    from gateway.settings import load_settings

    settings = load_settings()
    app = create_app(settings)
    app.router.routes.insert(0, WebSocketRoute("/ws/echo", echo))
    build_server(app, settings).run()


@contextmanager
def echo_gateway() -> Iterator[str]:
    """A gateway process with /ws/echo; yields its ws:// URL."""
    from devkit.services import ROOT, free_port, wait_port

    port = free_port()
    tmp = tempfile.mkdtemp(prefix="gw-autobahn-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_PORT": str(port),
        "GATEWAY_DATA_DIR": tmp,
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db",
        "GATEWAY_DEMO": "0",
        "GATEWAY_LOG_LEVEL": "warning",
    }
    log = open(os.path.join(tmp, "gateway.log"), "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.security.autobahn", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, timeout=30, proc=proc)
        yield f"ws://127.0.0.1:{port}/ws/echo"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def expected_failure(case_id: str) -> str | None:
    """Why a case is expected to fail, or None if it must pass."""
    if case_id.startswith(("12.", "13.")):
        return "permessage-deflate is never negotiated (GATEWAY: compression off)"
    if case_id.startswith("9.") or case_id in LIMIT_CASES:
        return "message over GATEWAY_MAX_FRAME_BYTES: closed 1009 by design"
    return UPSTREAM.get(case_id)


async def run_cases(url: str, cases: list[str] | None) -> list[Any]:
    from kosoku import FailureError, run_fuzzingclient

    try:
        return list(await run_fuzzingclient(url, cases, None, concurrency=4))
    except FailureError as failure:
        return list(failure.results)


def summarise(results: list[Any]) -> tuple[list[str], list[str]]:
    """(unexpected failures, expected failures), one line each."""
    unexpected, expected = [], []
    for r in results:
        if r.passed:
            continue
        line = (
            f"{r.case_id}: {r.behavior.value}/{r.behavior_close.value} "
            f"(close {r.remote_close_code}) {r.result_close}"
        )
        why = expected_failure(r.case_id)
        (expected if why else unexpected).append(f"{line} - {why}" if why else line)
    return unexpected, expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.security.autobahn")
    parser.add_argument("mode", nargs="?", choices=["run", "serve"], default="run")
    parser.add_argument("--quick", action="store_true", help="the suite's subset only")
    parser.add_argument(
        "--outdir", default="bench-results/autobahn", help="HTML/JSON reports (git-ignored)"
    )
    args = parser.parse_args(argv)
    if args.mode == "serve":
        serve()
        return 0
    with echo_gateway() as url:
        results = asyncio.run(run_cases(url, QUICK if args.quick else None))
    if not args.quick:
        from kosoku._report import write_reports

        write_reports(results, args.outdir)
    unexpected, expected = summarise(results)
    passed = sum(r.passed for r in results)
    print(
        f"{len(results)} cases: {passed} passed, {len(expected)} expected failures, "
        f"{len(unexpected)} unexpected failures"
    )
    for line in expected[:20]:
        print("  expected:", line)
    if len(expected) > 20:
        print(f"  ... and {len(expected) - 20} more expected")
    for line in unexpected:
        print("  UNEXPECTED:", line)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
