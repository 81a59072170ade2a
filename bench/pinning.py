"""Where a benchmark's processes run: every server process of a system (its nodes, Redis,
PostgreSQL, every thread of each) on the same core(s), the load generators on another,
the same way for every system, so that systems with more processes (two nodes, Redis,
PostgreSQL) get no more CPU than one process does.

On by default where ``os.sched_setaffinity`` exists and the process may use two cores or
more; ``BENCH_PIN=0`` (or ``./scripts/bench relay --no-pin``) leaves the servers to the
scheduler (the generators stay on their core). With N cores the generators get the last one and the servers the N - 1 others."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ENV = "BENCH_PIN"


@dataclass(frozen=True)
class Placement:
    servers: frozenset[int] | None  # None: not pinned
    generator: int | None
    note: str

    def as_json(self) -> dict[str, object]:
        return {
            "server_cpus": sorted(self.servers) if self.servers is not None else None,
            "generator_cpu": self.generator,
            "note": self.note,
        }

    def pin(self, pids: Iterable[int]) -> None:
        if self.servers is not None:
            pin_tasks(pids, self.servers)


def placement(want: bool | None = None) -> Placement:
    """The placement for this machine; ``want`` None: as ``BENCH_PIN`` says (on unless 0)."""
    if want is None:
        want = os.environ.get(ENV, "1") != "0"
    if not hasattr(os, "sched_setaffinity"):
        return Placement(None, None, "not pinned: this system has no os.sched_setaffinity")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Placement(None, None, f"not pinned: only core {cpus[0]} may be used")
    gen = cpus[-1]
    if not want:
        return Placement(
            None, gen, f"servers not pinned ({ENV}=0); load generators pinned to core {gen}"
        )
    servers = frozenset(cpus[:-1])
    names = ", ".join(str(c) for c in sorted(servers))
    return Placement(
        servers,
        gen,
        f"every server process of each system (nodes, Redis, PostgreSQL, all their threads) "
        f"pinned to core {names}; load generators pinned to core {gen}",
    )


def pin_tasks(pids: Iterable[int], cpus: frozenset[int] | set[int]) -> None:
    """Pin every thread of these processes (``sched_setaffinity`` on a pid moves only
    that one thread; threads and children started later inherit their parent's)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)
