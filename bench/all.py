"""Every workload, one after the other in one run, then the report.

``./scripts/bench all`` writes each workload's figures to ``docs/benchmarks/NAME.json``
and regenerates ``docs/benchmarks.md`` with its plots (bench/report.py).
``./scripts/bench all --quick`` does the same with tiny sizes into
``bench-results/quick/`` (a smoke run: the documentation is left alone).
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
from pathlib import Path
from typing import Any

from bench import header, report

ORDER = (
    "router",
    "bus",
    "relay",
    "side-by-side",
    "sockets",
    "idle",
    "contact-center",
    "attachments",
    "webhooks",
    "automations",
    "abuse",
)
MODULES = {
    "router": "bench.router",
    "bus": "bench.bus",
    "relay": "bench.relay",
    "side-by-side": "bench.side_by_side",
    "sockets": "bench.sockets",
    "idle": "bench.idle",
    "contact-center": "bench.contact_center",
    "attachments": "bench.attachments",
    "webhooks": "bench.webhooks",
    "automations": "bench.automations",
    "abuse": "bench.abuse",
}


def run_one(name: str, quick: bool, out_dir: Path) -> dict[str, Any]:
    module = importlib.import_module(MODULES[name])
    started = time.monotonic()
    result = header(name, quick)
    try:
        result.update(module.run(quick=quick))
        print(module.summary(result), flush=True)
    except Exception as exc:  # a failed workload is reported, the others still run
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-3000:]
        print(f"{name} failed: {result['error']}", flush=True)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def run(quick: bool) -> dict[str, Any]:
    out_dir = report.results_dir(quick)
    started = time.monotonic()
    elapsed: dict[str, float] = {}
    failed: list[str] = []
    for name in ORDER:
        print(f"== {name}", flush=True)
        r = run_one(name, quick, out_dir)
        elapsed[name] = r["elapsed_s"]
        if "error" in r:
            failed.append(name)
    written = report.render(quick)
    return {
        "elapsed_s": elapsed,
        "total_s": round(time.monotonic() - started, 1),
        "failed": failed,
        "written": [str(p) for p in written],
    }


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"all workloads in {result['total_s']} s: "
        + ", ".join(f"{k} {v} s" for k, v in result["elapsed_s"].items())
    ]
    if result["failed"]:
        lines.append("FAILED: " + ", ".join(result["failed"]))
    lines += [f"  wrote {p}" for p in result["written"]]
    return "\n".join(lines)
