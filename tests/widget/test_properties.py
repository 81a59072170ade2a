"""Property tests: no substring matching, canonical forms are fixed points, nothing raises."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from channels.chat.domain import InvalidDomain, match_origin, match_page, parse_domain

# Letters and digits only, so every generated label is a valid IDNA 2008 label.
LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
GLUE = st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=6)
# Include "www" often: it is the one prefix label that must be ignored.
SUBLABELS = st.lists(st.one_of(st.just("www"), LABEL), max_size=3)
SUFFIX = st.one_of(st.just(""), GLUE.map(lambda g: g), LABEL.map(lambda lab: "." + lab))


def _site(label: str) -> str:
    return f"{label}x.com"  # the trailing letter keeps the name from ending in a number


@given(
    label=LABEL, subs=SUBLABELS, glue=GLUE, suffix=SUFFIX, scheme=st.sampled_from(["http", "https"])
)
def test_exact_rule_never_matches_by_substring(
    label: str, subs: list[str], glue: str, suffix: str, scheme: str
) -> None:
    site = _site(label)
    host = ".".join([*subs, glue + site]) + suffix
    assume(not host.rsplit(".", 1)[-1].isdigit())
    result = match_page(parse_domain(site), f"{scheme}://{host}/")
    # Only the site itself, behind at most one www. label, may match.
    expected = glue == "" and suffix == "" and subs in ([], ["www"])
    assert result.matched is expected, (host, result.reason)


@given(label=LABEL, subs=SUBLABELS, glue=GLUE, suffix=SUFFIX)
def test_wildcard_rule_matches_exactly_the_site_and_its_subdomains(
    label: str, subs: list[str], glue: str, suffix: str
) -> None:
    site = _site(label)
    host = ".".join([*subs, glue + site]) + suffix
    assume(not host.rsplit(".", 1)[-1].isdigit())
    result = match_page(parse_domain(f"*.{site}"), f"https://{host}/")
    expected = glue == "" and suffix == ""
    assert result.matched is expected, (host, result.reason)
    if not expected:
        assert f"neither {site} nor a subdomain of it" in result.reason


@given(
    scheme=st.sampled_from(["", "http://", "https://", "HTTPS://"]),
    wildcard=st.booleans(),
    subs=SUBLABELS,
    label=LABEL,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    case=st.booleans(),
)
def test_canonical_form_is_a_fixed_point(
    scheme: str, wildcard: bool, subs: list[str], label: str, port: int | None, case: bool
) -> None:
    host = ".".join([*subs, _site(label)])
    text = f"{scheme}{'*.' if wildcard else ''}{host}{'' if port is None else f':{port}'}"
    try:
        rule = parse_domain(text.upper() if case else text)
    except InvalidDomain as exc:
        assert wildcard and "www." in str(exc)  # the only refusal here: *.www.example.com
        return
    assert parse_domain(str(rule)) == rule
    assert str(parse_domain(str(rule))) == str(rule)


@given(label=LABEL, subs=SUBLABELS, data=st.data())
def test_hosts_compare_case_insensitively(label: str, subs: list[str], data: st.DataObject) -> None:
    host = ".".join([*subs, _site(label)])
    flips = data.draw(st.lists(st.booleans(), min_size=len(host), max_size=len(host)))
    mixed = "".join(c.upper() if f else c for c, f in zip(host, flips, strict=True))
    rule = parse_domain(f"*.{_site(label)}")
    assert match_page(rule, f"https://{mixed}/").matched
    assert match_origin(rule, f"HTTPS://{mixed}").matched


@given(st.text())
def test_arbitrary_input_never_raises(text: str) -> None:
    rule = parse_domain("example.com")
    assert isinstance(match_page(rule, text).reason, str)
    assert isinstance(match_origin(rule, text).reason, str)
    assert isinstance(match_page(rule, "https://" + text).reason, str)
    with contextlib.suppress(InvalidDomain):  # the only exception allowed
        parse_domain(text)


@pytest.mark.parametrize("junk", ["https://[", "https://]", "https://a:b:c/", "http://[::1]]/"])
def test_malformed_authorities_are_refusals(junk: str) -> None:
    result = match_page(parse_domain("example.com"), junk)
    assert not result.matched
    assert "cannot be used" in result.reason
