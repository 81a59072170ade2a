"""The socket layer's paragraph on the benchmarks page says what the numbers favour: the
verdict is worked out from the run's rows, not written once and left."""

from __future__ import annotations

from typing import Any

from bench import hotpath_page


def _row(cpu: float, kib: float) -> dict[str, Any]:
    return {"cpu_us_per_frame": cpu, "idle": {"kib_per_conn": kib}}


def _systems(gateway: dict[str, Any] | None) -> dict[str, Any]:
    systems = {
        "asgi": _row(20.0, 25.0),
        "websockets": _row(24.0, 15.0),
        "prebuilt": _row(11.0, 15.0),
    }
    if gateway is not None:
        systems["gateway"] = gateway
    return systems


def test_the_gateways_path_ahead_on_both() -> None:
    text = hotpath_page._reading(_systems(_row(19.7, 11.8)))
    assert "neither would be smaller on websockets' own server" in text
    assert "19.7 µs a frame against 24.0" in text


def test_websockets_ahead_names_what_it_would_do_better() -> None:
    text = hotpath_page._reading(_systems(_row(30.0, 11.8)))
    assert "websockets' own server would do better on CPU a frame" in text
    assert "memory" not in text.split("would do better on", 1)[1].split(",", 1)[0]
    both = hotpath_page._reading(_systems(_row(30.0, 16.0)))
    assert "would do better on CPU a frame and memory an idle socket" in both


def test_a_run_from_before_the_gateways_row() -> None:
    assert "not measured" in hotpath_page._reading(_systems(None))
