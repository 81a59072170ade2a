"""docs/protocol.md and docs/protocol.schema.json agree with gateway/protocol.py."""

import json
import re
from pathlib import Path
from typing import Any, get_args

import msgspec
import pytest

from gateway import protocol as p
from gateway.errors import RECONNECT, CloseCode

DOCS = Path(__file__).resolve().parents[2] / "docs"
TEXT = (DOCS / "protocol.md").read_text()

DECODERS: dict[tuple[str, str], msgspec.json.Decoder[Any]] = {
    ("visitor", "→"): msgspec.json.Decoder(p.VisitorIn),
    ("visitor", "←"): msgspec.json.Decoder(p.VisitorOut),
    ("agent", "→"): msgspec.json.Decoder(p.AgentIn),
    ("agent", "←"): msgspec.json.Decoder(p.AgentOut),
}


def example_lines() -> list[tuple[str, str, str]]:
    blocks = re.findall(r"```frames\n(.*?)```", TEXT, re.S)
    assert blocks, "the example conversation is missing"
    out = []
    for line in "\n".join(b.strip() for b in blocks).splitlines():
        who, arrow, frame = line.split(" ", 2)
        out.append((who, arrow, frame))
    return out


def tags(union: Any) -> set[str]:
    return {t.__struct_config__.tag for t in get_args(union)}


def test_the_schema_file_is_generated_from_the_code() -> None:
    on_disk = json.loads((DOCS / "protocol.schema.json").read_text())
    assert on_disk == json.loads(json.dumps(p.json_schema())), (
        "regenerate with: python -m gateway.protocol > docs/protocol.schema.json"
    )


@pytest.mark.parametrize(("who", "arrow", "frame"), example_lines())
def test_every_example_frame_decodes_for_its_endpoint_and_direction(
    who: str, arrow: str, frame: str
) -> None:
    decoded = DECODERS[(who, arrow)].decode(frame)
    # Round trip: nothing in the example is ignored or invented.
    assert json.loads(p.encode(decoded)) == {k: v for k, v in json.loads(frame).items()}


def test_the_example_shows_every_frame_type() -> None:
    seen = {(w, a, json.loads(f)["type"]) for w, a, f in example_lines()}
    expected_common = {("visitor", "→", t) for t in ("hello", "start", "send", "read")}
    expected_common |= {
        ("agent", "→", t) for t in ("hello", "accept", "send", "end", "wrapup", "read")
    }
    expected_common |= {
        ("visitor", "←", t)
        for t in ("welcome", "started", "ack", "message", "event", "unread", "typing", "error")
    }
    expected_common |= {
        ("agent", "←", t)
        for t in ("snapshot", "offer", "sound", "conversation", "ok", "ack", "history")
    }
    assert expected_common <= seen


def test_every_frame_type_is_documented() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", TEXT))
    for union in (p.VisitorIn, p.VisitorOut, p.AgentIn, p.AgentOut):
        missing = tags(union) - documented
        assert not missing, f"frame types not in docs/protocol.md: {missing}"


def test_every_close_code_is_documented_with_the_right_reconnect_advice() -> None:
    rows = dict(re.findall(r"^\| (\d{4}) \| [^|]+ \| ([^|]+) \|", TEXT, re.M))
    assert {int(c) for c in rows} == {int(c) for c in CloseCode}
    for code, advice in rows.items():
        assert ("**reconnect**" in advice) == (int(code) in RECONNECT), code


# Fields the tables name without `?` though the decoder has a default: the server needs
# them all the same (a blank body without attachments, neither transfer target, an agent's
# links without a conversation are refused; a disposition left out clears it).
NAMED_WITHOUT_MARK = {"body", "to_agent_id", "to_queue_id", "conversation_id", "disposition"}


def client_rows(section: str) -> list[tuple[list[str], dict[str, bool]]]:
    """The "Client to server" table of a section: each row's frame types and its fields
    (name: marked optional with `?`); text in parentheses is left out."""
    table = TEXT.split(section, 1)[1].split("Client to server:", 1)[1].strip()
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, fields = line.split(" | ")[:2]
        while (bare := re.sub(r"\([^()]*\)", "", fields)) != fields:
            fields = bare
        marked = {m[0]: bool(m[1]) for m in re.findall(r"`([a-z_]+)`(\?)?", fields)}
        rows.append((re.findall(r"`([a-z_]+)`", names), marked))
    return rows


@pytest.mark.parametrize(
    ("section", "union"), [("## Visitor frames", p.VisitorIn), ("## Agent frames", p.AgentIn)]
)
def test_the_frame_tables_name_each_field_and_mark_the_optional_ones(
    section: str, union: Any
) -> None:
    """A field the server accepts without is marked `?` (or is one it needs all the same),
    a field it needs is not, and no field is missing or invented."""
    by_tag = {t.__struct_config__.tag: t for t in get_args(union)}
    tabled = set()
    for names, marked in client_rows(section):
        for name in names:
            tabled.add(name)
            required = {f.name: f.required for f in msgspec.structs.fields(by_tag[name])}
            assert set(marked) == set(required), (name, marked, required)
            for field, optional in marked.items():
                if optional:
                    assert not required[field], f"{name}.{field} is required, not optional"
                elif not required[field]:
                    assert field in NAMED_WITHOUT_MARK, f"{name}.{field}: mark it optional"
    assert tabled == set(by_tag), set(by_tag) - tabled
