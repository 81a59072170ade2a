"""Faults a security walkthrough of docs/domains.md and docs/security.md found in the chat
touchpoints' domain rules, on the gateway's in-process app: the loader's check stored and
echoed a page's query, fragment and user information; it said yes to pages (a second
``www.``, a trailing dot) that the frame's ``frame-ancestors`` did not name, and to IPv6
touchpoints, whose sources browsers drop; and a refusal for ``localhost`` named a
``www.`` form that ``localhost`` does not have."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from devkit.inprocess import InProcessGateway
from gateway.model.records import FormField, Touchpoint
from gateway.services.refusals import redact_url
from tests.gateway.conftest import ADMIN, InProcessFactory, agent_record, seed

DEFAULT_PORTS = {"http": 80, "https": 443}


async def admin_http(node: InProcessGateway) -> httpx.AsyncClient:
    async with node.http() as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    r.raise_for_status()
    return node.http(headers={"Authorization": f"Bearer {r.json()['token']}"})


async def check(node: InProcessGateway, tp_id: str, page: str, origin: str) -> dict[str, Any]:
    async with node.http() as http:
        r = await http.get(
            "/widget/check", params={"touchpoint": tp_id, "page": page}, headers={"Origin": origin}
        )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def frame_ancestors(node: InProcessGateway, tp_id: str) -> list[str]:
    async with node.http() as http:
        r = await http.get("/widget/frame.html", params={"touchpoint": tp_id})
    csp = r.headers["content-security-policy"]
    directive = next(d.strip() for d in csp.split(";") if d.strip().startswith("frame-ancestors"))
    return directive.split()[1:]


def browser_origin(page: str) -> str:
    """The origin a browser gives ``page``: lowercase host, trailing dot kept, no default port."""
    u = urlsplit(page)
    port = f":{u.port}" if u.port and u.port != DEFAULT_PORTS[u.scheme] else ""
    return f"{u.scheme}://{u.hostname}{port}"


def csp_allows(sources: list[str], origin: str) -> bool:
    """Whether a ``frame-ancestors`` source list admits ``origin``, by CSP 3's host-source
    matching as Chromium does it (checked with Chromium 156 for each case below): names
    compared as written, case-insensitively, a trailing dot included (``shop.test`` does not
    match ``shop.test.``); ``*.`` any subdomain; an http source admits https; a source
    without a port means its scheme's default."""
    o = urlsplit(origin)
    host, port = o.hostname or "", o.port or DEFAULT_PORTS[o.scheme]
    for source in sources:
        if source == "'none'":
            continue
        s = urlsplit(source)
        pattern = s.hostname or ""
        if not (s.scheme == o.scheme or (s.scheme, o.scheme) == ("http", "https")):
            continue
        if pattern.startswith("*."):
            if not host.endswith(pattern[1:]):
                continue
        elif host != pattern:
            continue
        if s.port is None:
            if port != DEFAULT_PORTS[o.scheme]:
                continue
        elif s.port != port:
            continue
        return True
    return False


def chat_touchpoint(tp_id: str, domain: str) -> Touchpoint:
    return Touchpoint(
        id=tp_id,
        name=tp_id,
        channel="chat",
        active=True,
        routing_mode="flow",
        domain=domain,
        queue_ids=["q_support"],
        flow={"default": {"queue_ids": ["q_support"]}},
        form=[FormField(name="name", label="Your name", max_length=80)],
        created_at=time.time(),
    )


def seeding(*touchpoints: Touchpoint) -> Callable[[str, int], None]:
    """Touchpoints written to the store as they are (no validation), with the demo data."""

    def setup(url: str, port: int) -> None:
        seed(
            url, agents=[agent_record("ag_x", "x@test", ["q_support"])], touchpoints=[*touchpoints]
        )

    return setup


# -- 1. nothing of a query, fragment or user information is stored or echoed ---------------

SECRETS = ("email=", "a@b", "q=1", "#f", "ann:", "hunter2")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ann:hunter2@cred.test/p?q=1#f", "https://cred.test/p"),
        # what browsers read as https://cred.test/p too: any run of / and \ after the
        # scheme (these kept the password: a review of the first mend)
        ("https:/ann:hunter2@cred.test/p", "https:/cred.test/p"),
        ("https:///ann:hunter2@cred.test/p", "https:///cred.test/p"),
        ("https:\\ann:hunter2@cred.test/p", "https:\\cred.test/p"),
        # the authority ends at a backslash: what follows is the path, kept
        ("https://bs.test\\@x/?q=1#f", "https://bs.test\\@x/"),
        ("https://sp ace.test/?email=a@b", "https://sp ace.test/"),
    ],
)
def test_a_quoted_page_keeps_no_query_fragment_or_user_information(url: str, shown: str) -> None:
    assert redact_url(url) == shown


async def test_the_check_keeps_no_query_fragment_or_user_information(
    inprocess_factory: InProcessFactory,
) -> None:
    """An unreadable page URL was quoted whole in the refusal's reason (stored for the admin
    and answered to the page), and a page's user information was stored with it."""
    node = await inprocess_factory()
    pages = {  # one origin each: a refusal is written once a minute per origin
        "https://one.test": "https://sp ace.test/?email=a@b",
        "https://two.test": "https://bs.test\\@x/?q=1#f",
        "https://three.test": "https://ann:hunter2@cred.test/p",
    }
    for origin, page in pages.items():
        body = await check(node, "tp_demo_127", page, origin)
        assert body["ok"] is False and body["code"] == "domain_mismatch", body
        assert not [s for s in SECRETS if s in body["message"]], body["message"]

    async with await admin_http(node) as admin:
        rows = (await admin.get("/api/admin/touchpoints/tp_demo_127/refusals")).json()
    by_origin = {row["origin"]: row for row in rows}
    for origin in pages:
        row = by_origin[origin]
        stored = row["page_url"] + " " + row["reason"]
        assert not [s for s in SECRETS if s in stored], row
    one, two, three = (by_origin[o] for o in pages)
    assert one["page_url"] == "https://sp ace.test/"
    assert one["reason"].startswith(
        "page URL 'https://sp ace.test/' (shown without its query, fragment and user "
        "information) cannot be used: it contains whitespace"
    )
    assert two["page_url"] == "https://bs.test\\@x/"
    assert "cannot be used: it contains a backslash" in two["reason"]
    assert three["page_url"] == "https://cred.test/p"
    assert three["reason"].startswith("host cred.test is not 127.0.0.1")

    # the bootstrap, refused for the same page, keeps no more of it
    async with node.http() as http:
        r = await http.post(
            "/widget/bootstrap",
            json={"touchpoint_id": "tp_demo_127", "page_url": pages["https://three.test"]},
            headers={"Origin": "https://four.test"},
        )
    assert r.status_code == 403, r.text
    async with await admin_http(node) as admin:
        rows = (await admin.get("/api/admin/touchpoints/tp_demo_127/refusals")).json()
    [four] = [row for row in rows if row["origin"] == "https://four.test"]
    assert four["page_url"] == "https://cred.test/p", four

    # a page that matches: the visitor's token keeps its origin, without the password
    here = f"http://127.0.0.1:{node.port}"
    async with node.http() as http:
        r = await http.post(
            "/widget/bootstrap",
            json={"touchpoint_id": "tp_demo_127", "page_url": f"http://ann:hunter2@{here[7:]}/"},
            headers={"Origin": here},
        )
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    assert claims["page"] == here, claims


# -- 2. what the check accepts is what frame-ancestors allows ----------------------------


async def test_the_check_says_yes_exactly_where_the_frame_may_be_shown(
    inprocess_factory: InProcessFactory,
) -> None:
    """The check said ok to http://www.www.shop.test:P and http://shop.test.:P, while the
    frame's frame-ancestors named only shop.test and www.shop.test: the browser then
    refused the frame, the error the check exists to prevent."""
    node = await inprocess_factory()
    async with await admin_http(node) as admin:
        for tp_id, domain in (("tp_shop", "shop.test:8123"), ("tp_star", "*.shop.test:8123")):
            body = {
                "id": tp_id,
                "name": tp_id,
                "domain": domain,
                "flow": {"default": {"queue_ids": ["q_support"]}},
                "form": [{"name": "name", "label": "Your name"}],
            }
            assert (await admin.post("/api/admin/touchpoints", json=body)).status_code == 201
            r = await admin.post(f"/api/admin/touchpoints/{tp_id}/activate")
            assert r.status_code == 200, r.text
    expected = {
        # tp_shop: the name and one www., each also with the trailing dot
        ("tp_shop", "http://shop.test:8123/"): True,
        ("tp_shop", "https://www.shop.test:8123/cart"): True,
        ("tp_shop", "http://shop.test.:8123/"): True,
        ("tp_shop", "http://SHOP.Test.:8123/"): True,
        ("tp_shop", "https://www.shop.test.:8123/"): True,
        ("tp_shop", "http://www.www.shop.test:8123/"): False,
        ("tp_shop", "http://www.www.shop.test.:8123/"): False,
        ("tp_shop", "http://a.shop.test:8123/"): False,
        ("tp_shop", "http://shop.test.:8124/"): False,
        # tp_star: the name and every subdomain, www.www. and trailing dots included
        ("tp_star", "http://shop.test.:8123/"): True,
        ("tp_star", "http://www.www.shop.test:8123/"): True,
        ("tp_star", "https://a.b.shop.test.:8123/"): True,
        ("tp_star", "http://shop.test.evil.test:8123/"): False,
    }
    sources = {tp: await frame_ancestors(node, tp) for tp in ("tp_shop", "tp_star")}
    answers = {}
    for tp_id, page in expected:
        origin = browser_origin(page)
        ok = (await check(node, tp_id, page, origin))["ok"]
        answers[tp_id, page] = (ok, csp_allows(sources[tp_id], origin))
    assert answers == {key: (want, want) for key, want in expected.items()}, sources


# -- 3. IPv6 touchpoints --------------------------------------------------------------------


async def test_an_ipv6_chat_domain_is_refused_with_what_to_use_instead(
    inprocess_factory: InProcessFactory,
) -> None:
    """[::1]:8000 was accepted, and the frame sent frame-ancestors http://[::1]:8000
    https://[::1]:8000, which browsers drop (CSP has no IPv6 sources): the chat could
    never be shown, while the check said ok."""
    node = await inprocess_factory(setup=seeding(chat_touchpoint("tp_v6", "[::1]:8000")))
    body = {
        "name": "IPv6",
        "domain": "[::1]:8000",
        "flow": {"default": {"queue_ids": ["q_support"]}},
        "form": [{"name": "name", "label": "Your name"}],
    }
    async with await admin_http(node) as admin:
        saved = await admin.post("/api/admin/touchpoints", json=body)
        again = await admin.post("/api/admin/touchpoints/tp_v6/activate")
    for r in (saved, again):
        assert r.status_code == 422, r.text
        [field] = r.json()["error"]["fields"]
        message = field["message"]
        assert field["field"] == "domain"
        assert "an IPv6 address ([::1]) cannot be a chat domain" in message
        assert "Content-Security-Policy" in message
        assert "use a host name that resolves to it instead (localhost for [::1]" in message
    # One stored earlier: the check says why no page can show it, as the frame's CSP does.
    answer = await check(node, "tp_v6", "http://[::1]:8000/", "http://[::1]:8000")
    assert answer["ok"] is False and answer["code"] == "touchpoint_unavailable"
    assert "cannot be a chat domain" in answer["message"]
    assert await frame_ancestors(node, "tp_v6") == ["'none'"]


# -- 4. localhost is matched exactly, and the reason says so ----------------------------


async def test_a_refusal_for_localhost_does_not_name_a_www_form(
    inprocess_factory: InProcessFactory,
) -> None:
    """The reason said localhost 'matches only itself and www.localhost', while what it
    accepts is 'exactly localhost'."""
    node = await inprocess_factory(setup=seeding(chat_touchpoint("tp_local", "localhost:8000")))
    async with await admin_http(node) as admin:
        for page, why in (
            (
                "http://www.localhost:8000/",
                "host www.localhost is a subdomain of localhost, which matches only itself "
                "(exactly localhost: no www. form, no subdomains)",
            ),
            (
                "http://a.localhost:8000/",
                "host a.localhost is a subdomain of localhost, which matches only itself "
                "(exactly localhost: no www. form, no subdomains)",
            ),
            ("http://evillocalhost:8000/", "host evillocalhost is not localhost"),
        ):
            r = await admin.get("/api/admin/touchpoints/tp_local/match", params={"page_url": page})
            answer = r.json()
            assert answer["matched"] is False
            assert answer["accepts"].startswith("exactly localhost,")
            assert answer["reason"] == why
