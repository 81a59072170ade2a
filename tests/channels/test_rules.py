"""The messaging channels' rules as pure functions: SMS keywords, segments, MMS
eligibility, WhatsApp's blocked countries, session windows."""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms.keywords import KEYWORDS, keyword
from channels.sms.mms import e164, mms_refusal
from channels.sms.segments import GSM7_BASIC, GSM7_EXTENSION, count
from channels.whatsapp.countries import blocked_country
from gateway.model.channels import channel, window_closes_at

OPT_OUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
OPT_IN = ["START", "YES", "UNSTOP"]
around = st.text(alphabet=string.whitespace + string.punctuation + "¡¿«»…", max_size=6)


def test_the_keyword_table_is_the_references() -> None:
    assert sorted(w for w, k in KEYWORDS.items() if k == "opt_out") == sorted(OPT_OUT)
    assert sorted(w for w, k in KEYWORDS.items() if k == "opt_in") == sorted(OPT_IN)
    assert [w for w, k in KEYWORDS.items() if k == "help"] == ["HELP"]


@given(
    st.sampled_from([*OPT_OUT, *OPT_IN, "HELP"]),
    st.lists(st.booleans(), min_size=11, max_size=11),
    around,
    around,
)
def test_a_keyword_is_found_whatever_its_case_and_surroundings(
    word: str, upper: list[bool], before: str, after: str
) -> None:
    cased = "".join(c.upper() if u else c.lower() for c, u in zip(word, upper, strict=False))
    assert keyword(before + cased + after) == KEYWORDS[word]


@given(st.sampled_from([*OPT_OUT, *OPT_IN, "HELP"]), st.text(min_size=1, max_size=20))
def test_a_keyword_with_another_word_is_an_ordinary_message(word: str, other: str) -> None:
    other = other.strip(string.whitespace + string.punctuation)
    if not other or not any(c.isalnum() for c in other):
        return
    assert keyword(f"{word} {other}") is None
    assert keyword(f"{other} {word}") is None


@pytest.mark.parametrize(
    "body",
    [
        "STOP PLEASE",
        "PLEASE CANCEL",
        "S T O P",
        "STOPP",
        "sto",
        "",
        "!!!",
        "\uff53\uff54\uff4f\uff50",
        "STOP2",
    ],
)
def test_not_keywords(body: str) -> None:
    assert keyword(body) is None


gsm_text = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=600)


@given(gsm_text)
def test_gsm7_segments(text: str) -> None:
    c = count(text)
    septets = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    assert (c.encoding, c.units) == ("GSM-7", septets)
    if septets == 0:
        assert c.segments == 0
    elif septets <= 160:
        assert c.segments == 1
    else:
        # 153 per part; an escape pair never split, so at most one more part than that
        assert math.ceil(septets / 153) <= c.segments <= math.ceil(septets / 152)


@given(
    st.text(min_size=1, max_size=300).filter(
        lambda t: any(ch not in GSM7_BASIC and ch not in GSM7_EXTENSION for ch in t)
    )
)
def test_any_other_character_makes_it_ucs2(text: str) -> None:
    c = count(text)
    units = len(text.encode("utf-16-le")) // 2
    assert (c.encoding, c.units) == ("UCS-2", units)
    if units <= 70:
        assert c.segments == 1
    else:
        assert math.ceil(units / 67) <= c.segments <= math.ceil(units / 66)


@given(gsm_text, gsm_text)
def test_more_text_never_takes_fewer_segments(a: str, b: str) -> None:
    assert count(a + b).segments >= count(a).segments


def test_segment_boundaries() -> None:
    assert count("a" * 160).segments == 1
    assert count("a" * 161).segments == 2
    assert count("a" * 306).segments == 2
    assert count("a" * 307).segments == 3
    assert count("€" * 80).segments == 1  # 160 septets
    assert count("a" * 152 + "€").segments == 1  # 154 septets ≤ 160
    assert count("a" * 159 + "€").segments == 2  # 161: the pair goes to the next part
    assert count("é" * 160).encoding == "GSM-7"
    assert count("ç" * 70).encoding == "UCS-2"  # only the capital Ç is GSM-7
    assert count("ç" * 70).segments == 1 and count("ç" * 71).segments == 2
    assert count("😀" * 35).segments == 1  # 70 units
    assert count("😀" * 36).segments == 2


def test_mms_needs_us_ca_or_au_numbers_on_both_sides() -> None:
    assert mms_refusal("+14155550100", "+16135550123") == ""  # US, CA
    assert mms_refusal("+61491570156", "+14155550100") == ""  # AU, US
    assert "the contact's number is from GB" in mms_refusal("+14155550100", "+447400123456")
    assert "this touchpoint's number is from GB" in mms_refusal("+447400123456", "+14155550100")
    assert "not a valid phone number" in mms_refusal("+14155550100", "12")
    assert e164("+1 (415) 555-0100") == "+14155550100" and e164("555") is None


@pytest.mark.parametrize(
    ("wa_id", "country"),
    [
        ("5352123456", "Cuba"),
        ("989121234567", "Iran"),
        ("850191234567", "North Korea"),
        ("963944567890", "Syria"),
        ("79781234567", "Crimea"),
        ("+79781234567", "Crimea"),
        ("79161234567", None),
        ("447911123456", None),
        ("15551234567", None),
        ("9611234567", None),
    ],
)
def test_blocked_countries(wa_id: str, country: str | None) -> None:
    assert blocked_country(wa_id) == country


def test_session_windows() -> None:
    assert window_closes_at(channel("whatsapp"), 1000.0) == 1000.0 + 24 * 3600
    assert window_closes_at(channel("messenger"), 1000.0) == 1000.0 + 7 * 24 * 3600
    assert window_closes_at(channel("whatsapp"), None) == 0.0
    assert window_closes_at(channel("sms"), 1000.0) is None


def test_a_meta_api_base_that_is_not_a_url_is_a_problem_not_an_exception() -> None:
    """urlsplit raises on an unclosed IPv6 bracket: the admin API answered 500."""
    from channels.meta.settings import check
    from gateway.model.records import Touchpoint

    for base in ("http://[::1", "https://graph.example:99999"):
        tp = Touchpoint(
            id="tp_wa",
            name="WA",
            channel="whatsapp",
            settings={"phone_number_id": "123", "access_token": "t", "app_secret": "s",
                      "verify_token": "v", "api_base": base},
        )  # fmt: skip
        _, problems = check(tp, "phone_number_id", "access_token", (), [], "number")
        assert ("settings.api_base", "an http(s) URL, e.g. https://graph.facebook.com") in problems
