"""devkit.services.start_gateway waits for its own process: a gateway already on the
port (another test's node that took it between free_port() and the bind) answered
/healthz, and the test talked to it (a CI run's agent socket closed 1008 there: that
node's public URL was another origin). Its node id tells them apart now."""

from __future__ import annotations

import pytest

from devkit import services


def test_a_port_another_gateway_holds_is_said_not_taken_for_ours() -> None:
    other = services.start_gateway({})
    try:
        with pytest.raises(services.PortTaken, match=f"port {other.port} is another process's"):
            services.start_gateway({}, port=other.port)
        assert other.alive()
    finally:
        other.stop()
