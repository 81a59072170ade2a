"""Signed visitor identity: only what the site signed with the touchpoint's secret is
believed, compared in constant time; a touchpoint can require it."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from channels.chat.identity import sign
from devkit.services import GatewayProcess
from tests.gateway.client import Socket, Visitor
from tests.security.conftest import (
    SECRET_OPTIONAL,
    SECRET_REQUIRED,
    agent,
    bootstrap,
    visitor,
)

ADMIN = ("admin@demo.test", "demo-admin")


def _body(node: GatewayProcess, tp: str, identity: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"touchpoint_id": tp, "page_url": f"http://127.0.0.1:{node.port}/x"}
    if identity is not None:
        body["identity"] = identity
    return {**body, **extra}


def _jwt(secret: str, **claims: Any) -> str:
    return jwt.encode({"exp": time.time() + 300, **claims}, secret, algorithm="HS256")


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


GOOD_EMAIL = {"email": "ann@example.com", "signature": sign(SECRET_OPTIONAL, "ann@example.com")}


@pytest.mark.parametrize(
    ("identity", "status", "code"),
    [
        # tampered: the signature of another identifier
        (
            {"email": "eve@example.com", "signature": sign(SECRET_OPTIONAL, "ann@example.com")},
            403,
            "identity_invalid",
        ),
        # signed with another touchpoint's secret
        (
            {"email": "ann@example.com", "signature": sign(SECRET_REQUIRED, "ann@example.com")},
            403,
            "identity_invalid",
        ),
        # one hex digit changed
        (
            {
                "email": "ann@example.com",
                "signature": sign(SECRET_OPTIONAL, "ann@example.com")[:-1]
                + ("0" if sign(SECRET_OPTIONAL, "ann@example.com")[-1] != "0" else "1"),
            },
            403,
            "identity_invalid",
        ),
        # unsigned, empty, non-ASCII and over-long signatures
        ({"email": "ann@example.com"}, 403, "identity_invalid"),
        ({"email": "ann@example.com", "signature": ""}, 403, "identity_invalid"),
        ({"email": "ann@example.com", "signature": "é" * 64}, 403, "identity_invalid"),
        ({"email": "ann@example.com", "signature": "a" * 129}, 422, "invalid_request"),
        # a signed value that is not an email is not believed either
        (
            {"email": "not-an-email", "signature": sign(SECRET_OPTIONAL, "not-an-email")},
            403,
            "identity_invalid",
        ),
        (
            {"phone": "12345", "signature": sign(SECRET_OPTIONAL, "12345")},
            403,
            "identity_invalid",
        ),
        # two identifiers under one signature, unknown fields, wrong types
        (
            {
                "email": "ann@example.com",
                "phone": "+442079460958",
                "signature": sign(SECRET_OPTIONAL, "ann@example.com"),
            },
            422,
            "invalid_request",
        ),
        ({**GOOD_EMAIL, "admin": True}, 422, "invalid_request"),
        ({"email": ["ann@example.com"], "signature": "x"}, 422, "invalid_request"),
        ("ann@example.com", 422, "invalid_request"),
        # JWTs: wrong key, expired, no exp, alg none, another algorithm, garbage, no id
        (
            {"jwt": _jwt("another-secret-entirely-0000000000000000", email="a@example.com")},
            403,
            "identity_invalid",
        ),
        (
            {"jwt": _jwt(SECRET_OPTIONAL, email="a@example.com", exp=time.time() - 10)},
            403,
            "identity_invalid",
        ),
        (
            {"jwt": jwt.encode({"email": "a@example.com"}, SECRET_OPTIONAL, algorithm="HS256")},
            403,
            "identity_invalid",
        ),
        (
            {
                "jwt": jwt.encode(
                    {"email": "a@example.com", "exp": time.time() + 60}, None, algorithm="none"
                )
            },
            403,
            "identity_invalid",
        ),
        (
            {
                "jwt": jwt.encode(
                    {"email": "a@example.com", "exp": time.time() + 60},
                    SECRET_OPTIONAL + "-0123456789012345678901234567890123",
                    algorithm="HS512",
                )
            },
            403,
            "identity_invalid",
        ),
        ({"jwt": "a.b.c"}, 403, "identity_invalid"),
        ({"jwt": _jwt(SECRET_OPTIONAL, name="No Id")}, 403, "identity_invalid"),
        ({"jwt": _jwt(SECRET_OPTIONAL, email=["a@example.com"])}, 403, "identity_invalid"),
        # a JWT with unsigned fields beside it
        (
            {"jwt": _jwt(SECRET_OPTIONAL, email="a@example.com"), "email": "eve@example.com"},
            422,
            "invalid_request",
        ),
    ],
)
async def test_tampered_or_unsigned_identity_is_refused(
    node: GatewayProcess, identity: Any, status: int, code: str
) -> None:
    r = await bootstrap(node, _body(node, "tp_signed", identity))
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert node.alive()


async def test_identity_on_a_touchpoint_without_a_secret_is_refused(node: GatewayProcess) -> None:
    # The widget then drops the identity and goes on anonymously (docs/widget.md).
    r = await bootstrap(node, _body(node, "tp_demo_127", GOOD_EMAIL))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "identity_unsupported"
    assert "identity" in r.json()["error"]["message"]


async def test_a_require_identity_touchpoint_refuses_anonymous_visitors(
    node: GatewayProcess,
) -> None:
    r = await bootstrap(node, _body(node, "tp_signed_required"))
    assert (r.status_code, r.json()["error"]["code"]) == (403, "identity_required")
    # Nor does a token of the same visitor without identity open its socket: an
    # anonymous token minted for another touchpoint fails on the binding, and one for
    # this touchpoint cannot be had. A signed one works.
    signed = {"phone": "+44 20 7946 0958", "signature": sign(SECRET_REQUIRED, "+44 20 7946 0958")}
    r = await bootstrap(node, _body(node, "tp_signed_required", signed))
    assert r.status_code == 200, r.text
    claims = _claims(r.json()["token"])
    assert claims["ph"] == "+442079460958"  # normalised to E.164
    assert "em" not in claims


async def test_an_anonymous_token_for_a_require_identity_touchpoint_closes_4003(
    node: GatewayProcess,
) -> None:
    # A token that names the touchpoint but no identity (say, minted before the admin
    # required identity) is refused at the socket too.
    token = jwt.encode(
        {
            "typ": "visitor",
            "tp": "tp_signed_required",
            "org": node.base_url,
            "page": node.base_url,
            "vid": "vi_anon",
            "exp": time.time() + 60,
            "iat": time.time(),
            "first": time.time(),
        },
        "test-secret-key-0123456789abcdef-0123456789",
        algorithm="HS256",
    )
    sock = Socket(await connect(node.ws_url + "/ws/visitor", origin=node.base_url))  # type: ignore[arg-type]
    await sock.send({"type": "hello", "v": 1, "token": token})
    assert await sock.expect_close() == 4003


async def _admin_get(node: GatewayProcess, path: str) -> dict[str, Any]:
    admin = agent(node, *ADMIN)
    await admin.login()
    async with httpx.AsyncClient() as http:
        r = await http.get(node.base_url + path, headers={"Authorization": f"Bearer {admin.token}"})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def _identified(node: GatewayProcess, identity: dict[str, Any] | None) -> Visitor:
    v = visitor(node, "tp_signed")
    async with httpx.AsyncClient() as http:
        r = await http.post(
            node.base_url + "/widget/bootstrap",
            json=_body(node, "tp_signed", identity),
            headers={"Origin": v.origin},
        )
    r.raise_for_status()
    v.token, v.visitor_id = r.json()["token"], r.json()["visitor_id"]
    await v.connect()
    return v


async def test_a_signed_identity_matches_one_contact_across_visitors(node: GatewayProcess) -> None:
    email = "grace@example.com"
    first = await _identified(node, {"email": email, "signature": sign(SECRET_OPTIONAL, email)})
    conv1 = await first.start()
    second = await _identified(
        node, {"jwt": _jwt(SECRET_OPTIONAL, email="Grace@Example.com", name="Grace H.")}
    )
    conv2 = await second.start()
    assert first.visitor_id != second.visitor_id
    c1 = await _admin_get(node, f"/api/admin/conversations/{conv1}")
    c2 = await _admin_get(node, f"/api/admin/conversations/{conv2}")
    assert c1["contact_id"] == c2["contact_id"]
    contact = await _admin_get(node, f"/api/admin/contacts/{c1['contact_id']}")
    assert contact["email"] == email and contact["name"] == "Grace H."
    # The renewed token over the socket still carries the verified identity.
    assert _claims(second.token)["em"].lower() == email


async def test_an_unsigned_form_email_never_matches_an_existing_contact(
    node: GatewayProcess,
) -> None:
    email = "hank@example.com"
    signed = await _identified(node, {"email": email, "signature": sign(SECRET_OPTIONAL, email)})
    conv1 = await signed.start()
    # An attacker types the victim's email into the pre-conversation form.
    eve = await _identified(node, None)
    conv2 = await eve.start(name="Hank", email=email)
    c1 = await _admin_get(node, f"/api/admin/conversations/{conv1}")
    c2 = await _admin_get(node, f"/api/admin/conversations/{conv2}")
    assert c1["contact_id"] != c2["contact_id"]


async def test_another_signed_in_person_never_inherits_the_visitor_id(
    node: GatewayProcess,
) -> None:
    """A shared browser: Ann chats, then Bob signs in on the same site. Bob's bootstrap
    presents Ann's stored token; he must get a visitor id (and so conversations) of his
    own."""
    ann = await _identified(
        node, {"email": "ann@example.com", "signature": sign(SECRET_OPTIONAL, "ann@example.com")}
    )
    await ann.start()
    await ann.say("Ann's private question")
    bob_identity = {
        "email": "bob@example.com",
        "signature": sign(SECRET_OPTIONAL, "bob@example.com"),
    }
    r = await bootstrap(node, _body(node, "tp_signed", bob_identity, visitor_token=ann.token))
    assert r.status_code == 200
    assert r.json()["visitor_id"] != ann.visitor_id
    # Ann herself on another page keeps hers (same identity, or none yet).
    r = await bootstrap(
        node,
        _body(
            node,
            "tp_signed",
            {"email": "ann@example.com", "signature": sign(SECRET_OPTIONAL, "ann@example.com")},
            visitor_token=ann.token,
        ),
    )
    assert r.json()["visitor_id"] == ann.visitor_id
    r = await bootstrap(node, _body(node, "tp_signed", visitor_token=ann.token))
    assert r.json()["visitor_id"] == ann.visitor_id
    assert "em" not in _claims(r.json()["token"])  # identity only from a signature
    # ... and the id stays bound to Ann: a later Bob still cannot take it over.
    r2 = await bootstrap(
        node, _body(node, "tp_signed", bob_identity, visitor_token=r.json()["token"])
    )
    assert r2.json()["visitor_id"] != ann.visitor_id
