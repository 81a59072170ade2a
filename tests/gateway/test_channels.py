"""The channels are defined once (gateway/model/channels.py); everything else reads it."""

from __future__ import annotations

import re
from pathlib import Path

import routing as r
from gateway.model.channels import CHANNELS, CONFIGURABLE_WEIGHTS, DEFAULT_WEIGHTS, ROUTING_MODES
from gateway.model.records import SOUND_NAMES, GlobalSettings
from gateway.services.agents import CHANNEL_INFO
from gateway.web.admin.schemas import ChannelWeights

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "channels.md").read_text()
CONSOLE = ROOT / "gateway" / "web" / "static" / "console"


def expected_rows() -> list[str]:
    rows = []
    for c in CHANNELS.values():
        weight = str(c.default_weight) + ("" if c.weight_configurable else " (fixed)")
        window = f"{c.session_window / 3600:g} h" if c.session_window else "—"
        cells = [
            f"`{c.name}`",
            c.label,
            f"`{c.address}`",
            weight,
            "yes" if c.live else "no",
            ", ".join(c.routing_modes),
            "yes" if c.attachments else "no",
            "yes" if c.outbound_start else "no",
            window,
            "tracked" if c.tracked_delivery else "socket",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def test_the_doc_table_is_the_definition() -> None:
    table = DOC.split("<!-- channels table: generated from gateway/model/channels.py -->")[1]
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("| `")]
    assert rows == expected_rows()


def test_router_admin_and_console_read_the_one_definition() -> None:
    # the router's modes and default weights
    config = r.RouterConfig(channel_weights=DEFAULT_WEIGHTS, channel_modes=ROUTING_MODES)
    assert config.validated().channel_modes.keys() == CHANNELS.keys()
    # the admin API's weights and the stored defaults: the configurable channels
    assert set(ChannelWeights.__struct_fields__) == set(CONFIGURABLE_WEIGHTS)
    assert GlobalSettings().channel_weights == CONFIGURABLE_WEIGHTS
    # the console's labels arrive in the snapshot; console.js names no channel itself
    assert {k: v.label for k, v in CHANNEL_INFO.items()} == {
        c.name: c.label for c in CHANNELS.values()
    }
    script = (CONSOLE / "console.js").read_text()
    assert not re.search(r"WhatsApp|Messenger", script)


def test_the_console_plays_exactly_the_sounds_the_settings_may_name() -> None:
    script = (CONSOLE / "sounds.js").read_text()
    table = script.split("export const SOUNDS = {")[1].split("\n};")[0]
    assert set(re.findall(r"^\s+(\w+)\(\)", table, re.M)) == set(SOUND_NAMES)
