"""Benchmarks, run by ``./scripts/bench WORKLOAD [--quick] [--json FILE]``."""

from __future__ import annotations

import platform
import time
from typing import Any


def header(workload: str, quick: bool) -> dict[str, Any]:
    """What every result starts with, ``date`` the time it started (the page lists the
    runs it shows by it)."""
    return {
        "workload": workload,
        "quick": quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
