"""The transcript's text and HTML (gateway/services/transcripts.py), pure: authors,
times in UTC, files named, HTML escaped, events left out."""

from __future__ import annotations

from gateway import protocol as p
from gateway.services.transcripts import render


def msg(seq: int, sender: str, name: str, body: str, **extra: object) -> p.MessageOut:
    return p.MessageOut(
        conversation_id="cv_1",
        seq=seq,
        sender=sender,  # type: ignore[arg-type]
        sender_name=name,
        body=body,
        at=1_700_000_000.0 + seq * 60,
        **extra,  # type: ignore[arg-type]
    )


def test_every_message_with_its_author_and_time_and_nothing_else() -> None:
    items = [
        msg(1, "visitor", "", "Hi <there>\nsecond line"),
        p.EventOut(conversation_id="cv_1", seq=2, event="agent_joined", at=1.0, agent_name="Ada"),
        msg(3, "system", "", "We answer within a day."),
        msg(
            4,
            "agent",
            "Ada",
            "Here & now",
            attachments=[
                p.AttachmentOut(
                    id="at_1", name="<quote>.pdf", content_type="application/pdf", size=3
                )
            ],
        ),
    ]
    text, html = render(items, site="Shop")
    assert text.splitlines()[:2] == ["Your chat with Shop", "==================="]
    assert "You, 2023-11-14 22:14 UTC:\n  Hi <there>\n  second line" in text
    assert "Shop, 2023-11-14 22:16 UTC:\n  We answer within a day." in text
    assert "Ada, 2023-11-14 22:17 UTC:\n  Here & now\n  [file: <quote>.pdf]" in text
    assert "joined" not in text
    assert "Hi &lt;there&gt;<br>second line" in html and "<there>" not in html
    assert "Here &amp; now" in html and "[file: &lt;quote&gt;.pdf]" in html
    assert "<strong>Ada</strong>" in html


def test_an_empty_conversation_says_so() -> None:
    text, html = render([], site="A <b> site")
    assert "(no messages)" in text and "A &lt;b&gt; site" in html
