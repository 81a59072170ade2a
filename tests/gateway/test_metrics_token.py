"""GATEWAY_METRICS_TOKEN: /metrics asks for it as a bearer token when it is set, and
stays open when it is not; over a real gateway process."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import pytest

from devkit import services
from gateway.errors import ConfigError
from gateway.settings import Settings, load_settings

TOKEN = "m3trics-T0ken_for.tests~42"


def scrape(node: services.GatewayProcess, headers: Mapping[str, str | bytes]) -> httpx.Response:
    return httpx.get(node.base_url + "/metrics", headers=headers, timeout=10)


def test_without_the_setting_metrics_are_open(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    node = gateway_factory()
    r = scrape(node, {})
    assert r.status_code == 200
    assert "gateway_connections" in r.text


def test_with_the_setting_metrics_need_the_token(
    gateway_factory: Callable[..., services.GatewayProcess],
) -> None:
    node = gateway_factory({"GATEWAY_METRICS_TOKEN": TOKEN})
    refused: list[dict[str, str | bytes]] = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer " + TOKEN[:-1]},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Authorization": "Basic " + TOKEN},
        {"Authorization": TOKEN},
        # a byte that is no ASCII: still just a 401
        {"Authorization": ("Bearer \u00e9" + TOKEN[1:]).encode("latin-1")},
    ]
    for headers in refused:
        r = scrape(node, headers)
        assert r.status_code == 401, headers
        assert r.json()["error"]["code"] == "unauthenticated"
        assert "gateway_connections" not in r.text
    for scheme in ("Bearer", "bearer"):
        r = scrape(node, {"Authorization": f"{scheme} {TOKEN}"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "gateway_connections" in r.text
    # the rest of the gateway is not behind it
    assert httpx.get(node.base_url + "/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("bad", [" ", "two words", "tab\there", "caf\u00e9", "line\nbreak"])
def test_a_token_that_cannot_travel_in_a_header_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_METRICS_TOKEN"):
        load_settings({"GATEWAY_METRICS_TOKEN": bad})


def test_the_token_is_off_by_default() -> None:
    assert Settings().metrics_token == ""
    assert load_settings({"GATEWAY_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
