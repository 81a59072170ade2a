"""The gateway alone under the relay load (bench/relay.py), its knee and a py-spy profile
a little below it: the hot path's before and after.

``./scripts/bench profile --json docs/benchmarks/profile-after.json`` measures this
checkout; with ``BENCH_GATEWAY_SOURCE=DIR`` the gateway runs the code of another
checkout (say, ``git archive`` of the commit before a change, unpacked in DIR) under the
same load generators: ``--json docs/benchmarks/profile-before.json``. Run the two one
after the other, in one sitting: the machine is shared, so only figures measured side by
side compare. bench/hotpath_page.py puts both in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import relay
from bench.loadgen import ROOT


def _commit(tree: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def run(quick: bool) -> dict[str, Any]:
    source = os.environ.get("BENCH_GATEWAY_SOURCE", "")
    with tempfile.TemporaryDirectory(prefix="gw-profile-") as tmp:
        result = relay.run(quick, systems=("gateway",), profile_dir=Path(tmp))
    gw = result["systems"]["gateway"]
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "source": source or "this checkout",
        "commit": os.environ.get("BENCH_GATEWAY_COMMIT", "") or _commit(Path(source or ROOT)),
        "config": result["config"],
        "machine": result["machine"],
        "gateway": {k: v for k, v in gw.items() if k != "server_log_tail"},
    }


def summary(result: dict[str, Any]) -> str:
    gw = result["gateway"]
    if "error" in gw:
        return f"profile: failed: {gw['error'][:300]}"
    lines = [
        f"profile: gateway from {result['source']} ({result['commit'] or 'commit unknown'}): "
        f"sustained {gw['sustained_msgs_per_s']:,} msg/s (p99 {gw['p99_ms_at_sustained']} ms), "
        f"server CPU {gw['server_cpu_us_per_msg']} us/msg (median under the knee)"
    ]
    prof = gw.get("profile", {})
    if "during_step" in prof:
        d = prof["during_step"]
        lines.append(
            f"  profiled at {d['offered_msgs_per_s']:,} msg/s: {prof['samples']} samples, "
            f"{d['server_cpu_us_per_msg']} us/msg, p99 {d['p99_ms']} ms"
        )
        for row in prof["self"][:10]:
            lines.append(f"  {row['share_pct']:>5} % self  {row['frame']}")
    return "\n".join(lines)
