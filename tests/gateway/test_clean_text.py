"""What a message body keeps (gateway/model/text.py): printable ASCII as it is, without
the regex; everything else through it, control and bidi formatting characters removed."""

from __future__ import annotations

from gateway.model.text import clean_text


def test_printable_ascii_is_kept_as_the_same_string() -> None:
    body = "Hello, where is my order #1234? (asap) ~ thanks!"
    assert clean_text(body) is body


def test_control_and_bidi_characters_are_removed_and_line_breaks_kept() -> None:
    assert clean_text("a\x00b\x1bc\x7fd") == "abcd"
    assert clean_text("line 1\nline 2\tend\r") == "line 1\nline 2\tend"
    assert clean_text("\u202egnp.exe") == "gnp.exe"
    assert clean_text("caf\u00e9 \u2066x\u2069 \u200e") == "caf\u00e9 x \u200e"
    assert clean_text("\x85\x9f") == ""
