"""The console counts SMS segments as the agent types (gateway/web/static/console/
segments.js) exactly as the gateway does (channels/sms/segments.py): both run on the
same texts, the script under Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.sms.segments import GSM7_BASIC, GSM7_EXTENSION, count

SCRIPT = (
    Path(__file__).resolve().parents[2] / "gateway" / "web" / "static" / "console" / "segments.js"
)
RUNNER = f"""
import {{ segments }} from {json.dumps(SCRIPT.as_uri())};
let data = "";
process.stdin.on("data", (d) => (data += d));
process.stdin.on("end", () => console.log(JSON.stringify(JSON.parse(data).map(segments))));
"""

texts = st.one_of(
    st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=400),
    st.text(max_size=200),
    st.text(alphabet="aé€😀ç[", max_size=400),
)


def in_node(batch: list[str]) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install the Debian package 'nodejs'", pytrace=False)
    out = subprocess.run(
        [node, "--input-type=module", "-e", RUNNER],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        check=True,
    )
    result: list[dict[str, object]] = json.loads(out.stdout)
    return result


@settings(max_examples=25, deadline=None)
@given(st.lists(texts, min_size=1, max_size=40))
def test_the_console_and_the_gateway_count_alike(batch: list[str]) -> None:
    expected = [
        {"encoding": c.encoding, "units": c.units, "segments": c.segments}
        for c in map(count, batch)
    ]
    assert in_node(batch) == expected
