"""A conversation as its contact saw it, written out for an email: every message of the
visitor, the agents and the system's automatic messages, with who wrote it and when
(UTC), as plain text and as escaped HTML. Events (joined, left, ended) and the agents'
internal notes are not part of it: the contact's own view of the conversation (its
``backlog``) never carries notes, and notices are only for agents."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from gateway import protocol as p


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _who(item: p.MessageOut, visitor: str, site: str) -> str:
    if item.sender == "visitor":
        return item.sender_name or visitor
    if item.sender == "system":
        return item.sender_name or site
    return item.sender_name or "Agent"


def render(
    items: Sequence[p.MessageOut | p.EventOut], *, site: str, visitor: str = "You"
) -> tuple[str, str]:
    """(text, html) of the transcript of ``items``."""
    messages = [m for m in items if isinstance(m, p.MessageOut)]
    head = f"Your chat with {site}"
    lines = [head, "=" * len(head), ""]
    rows = []
    for m in messages:
        who = _who(m, visitor, site)
        files = [a.name for a in m.attachments]
        body = m.body + ("".join(f"\n[file: {n}]" for n in files) if files else "")
        lines += [f"{who}, {stamp(m.at)}:", *[f"  {line}" for line in body.splitlines()], ""]
        paragraphs = "<br>".join(html.escape(line) for line in m.body.splitlines())
        attached = "".join(f"<br><em>[file: {html.escape(n)}]</em>" for n in files)
        rows.append(
            f'<p><strong>{html.escape(who)}</strong> <span style="color:#666">'
            f"{html.escape(stamp(m.at))}</span><br>{paragraphs}{attached}</p>"
        )
    if not messages:
        lines.append("(no messages)")
        rows.append("<p>(no messages)</p>")
    return "\n".join(lines).rstrip() + "\n", f"<h1>{html.escape(head)}</h1>" + "".join(rows)
