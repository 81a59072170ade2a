"""Dispatch a benchmark workload by name.

Each workload is a module with ``run(quick: bool) -> dict`` returning JSON-able figures,
each named with its unit (``events_per_s``, ``p99_us``, ...), and ``summary(result) -> str``
for the terminal. Adding a workload is one line in WORKLOADS."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from bench import header, pinning
from devkit.scratch import scratch_root

WORKLOADS = {
    "router": "bench.router",
    "bus": "bench.bus",
    "flood": "bench.flood",
    "abuse": "bench.abuse",
    "relay": "bench.relay",
    "relay-idle": "bench.relay_idle",
    "side-by-side": "bench.side_by_side",
    "appends": "bench.appends",
    "sqlite-appends": "bench.sqlite_appends",
    "sockets": "bench.sockets",
    "profile": "bench.profile",
    "idle": "bench.idle",
    "idle-memory": "bench.idle_memory",
    "contact-center": "bench.contact_center",
    "automations": "bench.automations",
    "attachments": "bench.attachments",
    "webhooks": "bench.webhooks",
    "report": "bench.report",
    "all": "bench.all",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="relay: leave the server processes to the scheduler (the same as BENCH_PIN=0)",
    )
    args = parser.parse_args(argv)
    if args.no_pin:
        os.environ[pinning.ENV] = "0"
    module = importlib.import_module(WORKLOADS[args.workload])
    result = header(args.workload, args.quick)
    with scratch_root("gw-bench-run-"):
        result.update(module.run(quick=args.quick))
    print(module.summary(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
