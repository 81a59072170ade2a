"""docs/attachments.md shows the rules as gateway/model/attachment_rules.py defines them."""

from __future__ import annotations

from pathlib import Path

from gateway.model.attachment_rules import FILE_TYPES, AttachmentRule, chat_rule, rules
from gateway.model.channels import CHANNELS
from gateway.settings import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "attachments.md").read_text()


def _mb(n: int) -> str:
    return f"{n / 1048576:g} MB" if n >= 1048576 else f"{n // 1024} KB"


def row(r: AttachmentRule) -> str:
    types = "; ".join(
        ", ".join(FILE_TYPES[t].extensions[0] for t in limit.types) + f" ≤ {_mb(limit.max_bytes)}"
        for limit in r.limits
    )
    regions = ", ".join(r.regions) or "—"
    return f"| `{r.channel}` | {types} | {r.max_files} | {_mb(r.max_total_bytes)} | {regions} |"


def test_the_doc_table_is_the_definition() -> None:
    s = Settings()
    table = DOC.split(
        "<!-- attachment rules: generated from gateway/model/attachment_rules.py -->"
    )[1]
    shown = [line for line in table.strip().splitlines()[2:] if line.startswith("| `")]
    expected = rules(chat_rule(s.chat_attachment_types, s.chat_attachment_max_bytes))
    assert shown == [row(r) for r in expected.values()]


def test_every_channel_with_attachments_has_a_rule_and_only_those() -> None:
    s = Settings()
    defined = rules(chat_rule(s.chat_attachment_types, s.chat_attachment_max_bytes))
    assert set(defined) == {c.name for c in CHANNELS.values() if c.attachments}
