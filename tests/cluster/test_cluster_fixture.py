"""The cluster fixture's report on a failed test: each node's state and its log's end."""

from __future__ import annotations

import contextlib
import signal
from types import SimpleNamespace

from tests.cluster import conftest
from tests.cluster.conftest import Cluster


def _report_for(cluster: Cluster, failed: bool) -> SimpleNamespace:
    """The call phase's report as the hook leaves it (pytest's item and report stood in
    for: what is tested is what the hook adds)."""
    report = SimpleNamespace(when="call", failed=failed, sections=[])
    hook = conftest.pytest_runtest_makereport(SimpleNamespace(funcargs={"cluster": cluster}), None)
    next(hook)
    with contextlib.suppress(StopIteration):
        hook.send(SimpleNamespace(get_result=lambda: report))
    return report


def test_a_failed_test_reports_each_nodes_state_and_log(cluster: Cluster) -> None:
    alive = cluster.start_node()
    gone = cluster.start_node()
    gone.stop(signal.SIGKILL)
    with gone.log.open("a") as log:
        log.write("its last words\n")

    assert _report_for(cluster, failed=False).sections == []
    [(title, text)] = _report_for(cluster, failed=True).sections
    assert title == "cluster nodes"
    first, second = text.split(f"node 2 ({gone.base_url}")
    assert first.startswith(f"node 1 ({alive.base_url}") and ": alive" in first
    assert ": exited with -9" in second and second.rstrip().endswith("its last words")
