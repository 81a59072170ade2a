"""What a message body keeps (gateway/model/text.py): printable ASCII as it is, without
the regex; everything else through it, control and bidi formatting characters removed."""

from __future__ import annotations

from gateway.model.text import clean_name, clean_text


def test_printable_ascii_is_kept_as_the_same_string() -> None:
    body = "Hello, where is my order #1234? (asap) ~ thanks!"
    assert clean_text(body) is body


def test_control_and_bidi_characters_are_removed_and_line_breaks_kept() -> None:
    assert clean_text("a\x00b\x1bc\x7fd") == "abcd"
    assert clean_text("line 1\nline 2\tend\r") == "line 1\nline 2\tend"
    assert clean_text("\u202egnp.exe") == "gnp.exe"
    assert clean_text("caf\u00e9 \u2066x\u2069 \u200e") == "caf\u00e9 x \u200e"
    assert clean_text("\x85\x9f") == ""


def test_a_name_of_nothing_visible_is_no_name() -> None:
    """Blank in any way, a name is "" (its callers refuse it or leave it out as they do
    an empty one): white space, U+200B and the other format characters (Cf), fillers
    and variation selectors, in any mix."""
    for blank in (
        "",
        " \t\n ",
        "\u200b",
        "\u200b \u200c\u200d\u2060\ufeff\u00ad",
        "\u3000\u2028\u180e",
        "\u3164\u115f\u2800",
        "\ufe0f\U000e0100\u034f",
        "\u202e\u200b\u2066",  # bidi formatting removed first, U+200B left alone
    ):
        assert clean_name(blank) == "", repr(blank)


def test_a_visible_name_keeps_its_joiners_and_marks() -> None:
    for name in (
        "Ann",
        "\U0001f469\u200d\U0001f4bb",  # woman technologist: an emoji ZWJ sequence
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with a ZWNJ
        "\u2764\ufe0f",  # a heart with its emoji variation selector
        "x\u200b",
        "\u200e\u05e9\u05dc\u05d5\u05dd",  # a mark before Hebrew
    ):
        assert clean_name(name) == name, repr(name)
    assert clean_name("  Ann\tLee \u200b ") == "Ann Lee \u200b"
