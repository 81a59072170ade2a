"""The admin REST API, against the app in-process (devkit.inprocess): what the services
answer, without a process to start.

Most tests share one gateway per module (each works on its own ids); the tests that
change what others rely on (the demo agent's queues, the global settings) start their own.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from devkit.inprocess import InProcessGateway, gateway_fixture
from gateway.app import create_app
from gateway.settings import load_settings
from gateway.web.admin.routes import ENDPOINTS
from gateway.web.openapi import Endpoint
from routing.flow import bucket
from tests.gateway.client import Visitor
from tests.gateway.conftest import ADMIN, AGENT, demo_agent
from tests.integration.test_docs import curl

pytestmark = pytest.mark.asyncio(loop_scope="module")  # the module's gateway's event loop

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = ("sue@test.test", "supervisor-pw")

node = gateway_fixture({"GATEWAY_DEMO": "1"}, scope="module")


async def login(node: InProcessGateway, email: str, password: str) -> str:
    async with node.http() as http:
        r = await http.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def client(node: InProcessGateway, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return node.http(headers=headers, timeout=10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tokens(node: InProcessGateway) -> dict[str, str]:
    admin = await login(node, *ADMIN)
    async with client(node, admin) as c:
        r = await c.post(
            "/api/admin/agents",
            json={
                "id": "ag_sue",
                "email": SUPERVISOR[0],
                "name": "Sue",
                "role": "supervisor",
                "password": SUPERVISOR[1],
            },
        )
        assert r.status_code == 201, r.text
    return {
        "admin": admin,
        "agent": await login(node, *AGENT),
        "supervisor": await login(node, *SUPERVISOR),
    }


@pytest_asyncio.fixture(loop_scope="module")
async def own_node() -> AsyncIterator[InProcessGateway]:
    """A gateway of its own, for a test that changes what the others rely on."""
    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gw:
        yield gw


@pytest_asyncio.fixture(loop_scope="module")
async def admin(node: InProcessGateway, tokens: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with client(node, tokens["admin"]) as c:
        yield c


def chat_touchpoint(node: InProcessGateway, tp_id: str, **extra: Any) -> dict[str, Any]:
    """A chat touchpoint for the test gateway's own pages, routed to the demo queue."""
    return {
        "id": tp_id,
        "name": f"Test {tp_id}",
        "domain": f"127.0.0.1:{node.port}",
        "flow": {"default": {"queue_ids": ["q_support"]}},
        "form": [{"name": "name", "label": "Your name"}],
        **extra,
    }


def visitor(node: InProcessGateway, tp_id: str) -> Visitor:
    origin = f"http://127.0.0.1:{node.port}"
    return Visitor(node, tp_id, origin + "/shop/page", origin=origin)


async def bootstrap_status(node: InProcessGateway, tp_id: str) -> tuple[int, dict[str, Any]]:
    origin = f"http://127.0.0.1:{node.port}"
    async with node.http() as http:
        r = await http.post(
            "/widget/bootstrap",
            json={"touchpoint_id": tp_id, "page_url": origin + "/shop/page"},
            headers={"Origin": origin},
        )
    return r.status_code, r.json()


def fields_of(r: httpx.Response) -> list[str]:
    return [f["field"] for f in r.json()["error"]["fields"]]


# -- the OpenAPI document ------------------------------------------------------------------


def mounted_operations() -> set[tuple[str, str]]:
    """(path, method) of every route the real application mounts under /api, plus the
    widget's bootstrap and upload: built in-process from gateway.app.create_app (not
    started)."""
    settings = load_settings(
        {
            "GATEWAY_DATABASE_URL": "sqlite:///:memory:",
            "GATEWAY_SECRET_KEY": "x" * 40,
        }
    )
    app = create_app(settings)
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path == "/api":
            for sub in route.routes:
                assert isinstance(sub, Route)
                out.update(("/api" + sub.path, m) for m in sub.methods or () if m != "HEAD")
        elif isinstance(route, Route) and route.path in (
            "/widget/bootstrap",
            "/widget/attachments",
            "/widget/check",
        ):
            out.update((route.path, m) for m in route.methods or () if m != "HEAD")
    return out


async def test_openapi_document_validates_and_lists_every_mounted_api_route(
    node: InProcessGateway,
) -> None:
    async with node.http() as http:
        r = await http.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    documented = {(path, m.upper()) for path, ops in doc["paths"].items() for m in ops}
    mounted = mounted_operations()
    assert ("/api/login", "POST") in mounted and ("/api/admin/queues", "POST") in mounted
    assert mounted == documented
    # Error responses are described with their schema; admin operations need the bearer.
    put = doc["paths"]["/api/admin/touchpoints/{id}"]["put"]
    assert {"401", "403", "404", "409", "422"} <= set(put["responses"])
    assert put["security"] == [{"bearer": []}]
    e422 = doc["components"]["responses"]["E422"]["content"]["application/json"]["schema"]
    assert e422 == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "fields" in doc["components"]["schemas"]["ErrorDetail"]["properties"]
    body = doc["components"]["schemas"]["SettingsIn"]["properties"]
    assert body["channel_weights"]["$ref"].endswith("/ChannelWeights")
    weights = doc["components"]["schemas"]["ChannelWeights"]["properties"]
    assert weights["chat"]["minimum"] == 1 and weights["chat"]["maximum"] == 100
    assert "voice" not in weights
    assert "password" not in doc["components"]["schemas"]["AgentOut"]["properties"]
    params = doc["paths"]["/api/admin/conversations/{id}/messages"]["get"]["parameters"]
    assert {p["name"] for p in params} == {"id", "before_seq", "limit"}


# -- who may call ------------------------------------------------------------------------------

PROTECTED = [ep for ep in ENDPOINTS if ep.access != "public"]


@pytest.mark.parametrize("ep", PROTECTED, ids=lambda ep: f"{ep.method} {ep.path}")
async def test_every_protected_route_refuses_the_wrong_callers(
    node: InProcessGateway, tokens: dict[str, str], ep: Endpoint
) -> None:
    url = ep.path.replace("{id}", "no_such_id")
    body: dict[str, Any] | None = {} if ep.method in ("POST", "PUT", "PATCH") else None
    async with node.http() as http:
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic " + tokens["admin"]},
        ):
            r = await http.request(ep.method, url, json=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.json()["error"]["code"] in ("unauthenticated", "token_invalid")
        if ep.access == "agent":
            return  # /api/me, /api/logout: any logged-in agent
        as_agent = await http.request(
            ep.method, url, json=body, headers={"Authorization": f"Bearer {tokens['agent']}"}
        )
        assert as_agent.status_code == 403 and as_agent.json()["error"]["code"] == "forbidden"
        as_supervisor = await http.request(
            ep.method, url, json=body, headers={"Authorization": f"Bearer {tokens['supervisor']}"}
        )
    if ep.access == "admin":
        assert as_supervisor.status_code == 403
    else:  # supervisors may read history, ratings and reports: past the role check to
        # the lookup (404), the list (200), or a report's check (422: it needs its days)
        reports = ep.path.startswith("/api/reports")
        expected = 404 if "{id}" in ep.path else (422 if reports else 200)
        assert as_supervisor.status_code == expected, as_supervisor.text


async def test_a_logged_out_token_is_refused(node: InProcessGateway) -> None:
    token = await login(node, *ADMIN)
    async with client(node, token) as c:
        assert (await c.get("/api/admin/queues")).status_code == 200
        assert (await c.post("/api/logout")).status_code == 204
        assert (await c.get("/api/admin/queues")).status_code == 401


# -- CRUD --------------------------------------------------------------------------------------


async def test_queue_crud(admin: httpx.AsyncClient) -> None:
    r = await admin.post("/api/admin/queues", json={"name": "Billing"})
    assert r.status_code == 201
    qid = r.json()["id"]
    assert qid.startswith("q_") and r.json()["name"] == "Billing"
    assert (await admin.get(f"/api/admin/queues/{qid}")).json() == {"id": qid, "name": "Billing"}
    assert {"id": qid, "name": "Billing"} in (await admin.get("/api/admin/queues")).json()
    r = await admin.put(f"/api/admin/queues/{qid}", json={"id": qid, "name": "Invoices"})
    assert r.status_code == 200 and r.json()["name"] == "Invoices"
    r = await admin.patch(f"/api/admin/queues/{qid}", json={"name": "Invoicing"})
    assert r.json() == {"id": qid, "name": "Invoicing"}
    r = await admin.put(f"/api/admin/queues/{qid}", json={"id": "q_other", "name": "X"})
    assert r.status_code == 422 and fields_of(r) == ["id"]
    assert (
        await admin.post("/api/admin/queues", json={"id": qid, "name": "again"})
    ).status_code == 409
    assert (await admin.delete(f"/api/admin/queues/{qid}")).status_code == 204
    assert (await admin.get(f"/api/admin/queues/{qid}")).status_code == 404
    assert (await admin.delete(f"/api/admin/queues/{qid}")).status_code == 404


async def test_a_queue_in_use_cannot_be_deleted(
    admin: httpx.AsyncClient, node: InProcessGateway
) -> None:
    assert (
        await admin.post("/api/admin/queues", json={"id": "q_used", "name": "Used"})
    ).status_code == 201
    flow = {"default": {"queue_ids": ["q_support"]}, "rules": [{"then": {"queue_ids": ["q_used"]}}]}
    r = await admin.post(
        "/api/admin/touchpoints", json=chat_touchpoint(node, "tp_uses_q", flow=flow)
    )
    assert r.status_code == 201, r.text
    r = await admin.post(
        "/api/admin/agents",
        json={"id": "ag_uses_q", "email": "uses@q.test", "name": "U", "queue_ids": ["q_used"]},
    )
    assert r.status_code == 201
    r = await admin.delete("/api/admin/queues/q_used")
    assert r.status_code == 409
    assert r.json()["error"]["used_by"] == {"touchpoints": ["tp_uses_q"], "agents": ["ag_uses_q"]}
    assert (await admin.delete("/api/admin/touchpoints/tp_uses_q")).status_code == 204
    assert (
        await admin.patch("/api/admin/agents/ag_uses_q", json={"queue_ids": []})
    ).status_code == 200
    assert (await admin.delete("/api/admin/queues/q_used")).status_code == 204


async def test_disposition_set_crud_and_in_use(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/api/admin/disposition-sets", json={"name": "Sales", "dispositions": ["Won"]}
    )
    assert r.status_code == 201
    ds = r.json()["id"]
    r = await admin.patch(
        f"/api/admin/disposition-sets/{ds}", json={"dispositions": ["Won", "Lost"]}
    )
    assert r.json() == {"id": ds, "name": "Sales", "dispositions": ["Won", "Lost"]}
    r = await admin.put(
        f"/api/admin/disposition-sets/{ds}", json={"name": "S", "dispositions": ["a", "a"]}
    )
    assert r.status_code == 422 and fields_of(r) == ["dispositions"]
    assert (await admin.get(f"/api/admin/disposition-sets/{ds}")).json()["name"] == "Sales"
    assert (await admin.delete("/api/admin/disposition-sets/ds_default")).status_code == 409
    assert (await admin.delete(f"/api/admin/disposition-sets/{ds}")).status_code == 204
    assert (await admin.get(f"/api/admin/disposition-sets/{ds}")).status_code == 404


async def test_touchpoint_crud(admin: httpx.AsyncClient, node: InProcessGateway) -> None:
    body = chat_touchpoint(node, "", domain="HTTPS://WWW.Example.COM.", identity_secret="s3cret")
    del body["id"]
    r = await admin.post("/api/admin/touchpoints", json=body)
    assert r.status_code == 201, r.text
    tp = r.json()
    tid = tp["id"]
    assert tid.startswith("tp_") and tp["active"] is False
    assert tp["domain"] == "https://example.com"  # canonical
    assert tp["identity_secret_set"] is True and "identity_secret" not in tp
    assert tp["flow"]["default"]["queue_ids"] == ["q_support"]
    assert (await admin.get(f"/api/admin/touchpoints/{tid}")).json() == tp
    assert tid in [t["id"] for t in (await admin.get("/api/admin/touchpoints")).json()]

    # GET -> edit -> PUT: read-only fields may come back unchanged; the secret is kept.
    edited = {**tp, "name": "Renamed", "direction": "both"}
    r = await admin.put(f"/api/admin/touchpoints/{tid}", json=edited)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renamed" and r.json()["identity_secret_set"] is True
    assert r.json()["created_at"] == tp["created_at"]
    r = await admin.put(f"/api/admin/touchpoints/{tid}", json={**edited, "active": True})
    assert r.status_code == 422 and fields_of(r) == ["active"]
    r = await admin.patch(f"/api/admin/touchpoints/{tid}", json={"id": "tp_new"})
    assert r.status_code == 422 and fields_of(r) == ["id"]

    r = await admin.patch(
        f"/api/admin/touchpoints/{tid}",
        json={"widget": {"title": "Hi"}, "identity_secret": "", "require_identity": False},
    )
    assert r.status_code == 200
    assert r.json()["widget"] == {"title": "Hi"} and r.json()["identity_secret_set"] is False
    assert r.json()["name"] == "Renamed"  # the patch kept the rest

    # A non-chat touchpoint: simplified routing over an existing queue, no domain.
    r = await admin.post(
        "/api/admin/touchpoints",
        json={
            "name": "Support line",
            "channel": "sms",
            "routing_mode": "simplified",
            "queue_ids": ["q_support"],
            "settings": {**SMS, "number": "+1 (415) 555-0177"},
        },
    )
    assert r.status_code == 201 and r.json()["domain"] == ""
    # normalised, and the secret is never read back
    assert r.json()["settings"]["number"] == "+14155550177"
    assert "auth_token" not in r.json()["settings"]
    assert r.json()["settings"]["auth_token_set"] is True
    sms = r.json()["id"]
    r = await admin.patch(
        f"/api/admin/touchpoints/{sms}",
        json={"routing_mode": "dedicated", "dedicated_agent_id": "ag_demo"},
    )
    assert r.status_code == 200 and r.json()["dedicated_agent_id"] == "ag_demo"
    assert r.json()["settings"]["auth_token_set"] is True  # the patch kept it
    # a second touchpoint cannot take the same number
    r = await admin.post(
        "/api/admin/touchpoints",
        json={"name": "Twin", "channel": "sms", "routing_mode": "simplified", "settings": SMS},
    )
    assert r.status_code == 422 and fields_of(r) == ["settings.number"]
    assert (await admin.delete("/api/admin/agents/ag_demo")).status_code == 409  # dedicated to it

    for t in (tid, sms):
        assert (await admin.delete(f"/api/admin/touchpoints/{t}")).status_code == 204
        assert (await admin.get(f"/api/admin/touchpoints/{t}")).status_code == 404


async def test_agent_crud_password_is_write_only_and_hashed(
    admin: httpx.AsyncClient, node: InProcessGateway
) -> None:
    r = await admin.post(
        "/api/admin/agents",
        json={
            "email": "Kim@Test.test",
            "name": "Kim",
            "queue_ids": ["q_support"],
            "password": "first-password",
        },
    )
    assert r.status_code == 201, r.text
    kim = r.json()
    assert kim["id"].startswith("ag_") and kim["has_password"] is True and kim["role"] == "agent"
    assert not {"password", "password_hash"} & set(kim)
    assert "first-password" not in (await admin.get("/api/admin/agents")).text
    token = await login(node, "kim@test.test", "first-password")  # stored hashed, verified by login

    r = await admin.patch(
        f"/api/admin/agents/{kim['id']}", json={"name": "Kim L.", "role": "supervisor"}
    )
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    await login(node, "kim@test.test", "first-password")  # the password was kept
    async with client(node, token) as kc:
        assert (await kc.get("/api/me")).status_code == 200  # and so was the session
    r = await admin.put(
        f"/api/admin/agents/{kim['id']}",
        json={"email": "kim@test.test", "name": "Kim", "password": "second-password"},
    )
    assert r.status_code == 200 and r.json()["queue_ids"] == []  # PUT replaces
    async with node.http() as http:
        bad = await http.post(
            "/api/login", json={"email": "kim@test.test", "password": "first-password"}
        )
    assert bad.status_code == 401
    async with client(node, token) as kc:
        assert (await kc.get("/api/me")).status_code == 401  # a new password ends the old sessions
    token = await login(node, "kim@test.test", "second-password")

    # Deactivated: the token stops working; deleted: gone.
    async with client(node, token) as kc:
        assert (await kc.get("/api/me")).status_code == 200
        assert (
            await admin.patch(f"/api/admin/agents/{kim['id']}", json={"active": False})
        ).status_code == 200
        assert (await kc.get("/api/me")).status_code == 401
    assert (await admin.delete(f"/api/admin/agents/{kim['id']}")).status_code == 204
    assert (await admin.get(f"/api/admin/agents/{kim['id']}")).status_code == 404


async def test_duplicate_email_and_id_are_conflicts_naming_the_field(
    admin: httpx.AsyncClient,
) -> None:
    r = await admin.post("/api/admin/agents", json={"email": "AGENT@demo.test", "name": "Dup"})
    assert r.status_code == 409 and fields_of(r) == ["email"]
    r = await admin.patch("/api/admin/agents/ag_sue", json={"email": "agent@demo.test"})
    assert r.status_code == 409 and fields_of(r) == ["email"]
    r = await admin.post(
        "/api/admin/agents", json={"id": "ag_demo", "email": "new@x.test", "name": "N"}
    )
    assert r.status_code == 409 and fields_of(r) == ["id"]
    assert (await admin.get("/api/admin/agents/ag_sue")).json()["email"] == SUPERVISOR[0]


async def test_an_admin_cannot_lock_themselves_out(admin: httpx.AsyncClient) -> None:
    r = await admin.patch("/api/admin/agents/ag_admin", json={"role": "agent", "active": False})
    assert r.status_code == 422 and sorted(fields_of(r)) == ["active", "role"]
    assert (await admin.delete("/api/admin/agents/ag_admin")).status_code == 409
    assert (await admin.get("/api/admin/agents/ag_admin")).json()["role"] == "admin"


# -- validation ----------------------------------------------------------------------------------

TP = "/api/admin/touchpoints"
SETTINGS = "/api/admin/settings"
# an SMS touchpoint's provider settings (docs/channels/sms.md)
SMS = {"number": "+14155550177", "account_sid": "AC" + "0" * 32, "auth_token": "tok"}
CHAT = {"name": "Shop", "domain": "example.com"}
INVALID = [
    ("domain with a path", "POST", TP, {"name": "Shop", "domain": "example.com/shop"}, ["domain"]),
    ("chat without a domain", "POST", TP, {"name": "Shop"}, ["domain"]),
    (
        "sms api_base that is not a URL",
        "POST",
        TP,
        {"name": "S", "channel": "sms", "settings": {**SMS, "api_base": "http://[::1"}},
        ["settings.api_base"],
    ),
    (
        "sms api_base with a bad port",
        "POST",
        TP,
        {"name": "S", "channel": "sms", "settings": {**SMS, "api_base": "https://h:99999"}},
        ["settings.api_base"],
    ),
    (
        "domain on sms",
        "POST",
        TP,
        {
            "name": "S",
            "channel": "sms",
            "routing_mode": "simplified",
            "domain": "a.com",
            "settings": SMS,
        },
        ["domain"],
    ),
    (
        "bad flow time zone",
        "POST",
        TP,
        {**CHAT, "flow": {"calendar": {"timezone": "Mars/Olympus"}}},
        ["flow"],
    ),
    (
        "bad flow hours",
        "POST",
        TP,
        {**CHAT, "flow": {"calendar": {"timezone": "UTC", "hours": {"mon": ["18:00-09:00"]}}}},
        ["flow"],
    ),
    (
        "bad flow shape",
        "POST",
        TP,
        {**CHAT, "flow": {"rules": [{"then": {"priority": "high"}}]}},
        ["flow.rules[0].then.priority"],
    ),
    ("flow unknown field", "POST", TP, {**CHAT, "flow": {"rulez": []}}, ["flow.rulez"]),
    (
        "bad flow share",
        "POST",
        TP,
        {**CHAT, "flow": {"rules": [{"when": {"share": [60, 40]}, "then": {"priority": 1}}]}},
        ["flow"],
    ),
    ("simplified on chat", "POST", TP, {**CHAT, "routing_mode": "simplified"}, ["routing_mode"]),
    (
        "dedicated on chat",
        "POST",
        TP,
        {**CHAT, "routing_mode": "dedicated", "dedicated_agent_id": "ag_demo"},
        ["routing_mode"],
    ),
    (
        "dedicated without agent",
        "POST",
        TP,
        {"name": "S", "channel": "sms", "routing_mode": "dedicated", "settings": SMS},
        ["dedicated_agent_id"],
    ),
    (
        "dedicated unknown agent",
        "POST",
        TP,
        {
            "name": "S",
            "channel": "sms",
            "routing_mode": "dedicated",
            "dedicated_agent_id": "ag_nobody",
            "settings": SMS,
        },
        ["dedicated_agent_id"],
    ),
    ("unknown queue id", "POST", TP, {**CHAT, "queue_ids": ["q_support", "q_nope"]}, ["queue_ids"]),
    (
        "unknown flow queue id",
        "POST",
        TP,
        {**CHAT, "flow": {"default": {"queue_ids": ["q_nope"]}}},
        ["flow.default.queue_ids"],
    ),
    ("unknown channel", "POST", TP, {**CHAT, "channel": "fax"}, ["channel"]),
    ("empty name", "POST", TP, {**CHAT, "name": ""}, ["name"]),
    ("bad id", "POST", TP, {**CHAT, "id": "has space"}, ["id"]),
    ("unknown field", "POST", TP, {**CHAT, "colour": "red"}, ["colour"]),
    (
        "several at once",
        "POST",
        TP,
        {"name": "S", "domain": "a.com/x", "routing_mode": "simplified", "queue_ids": ["q_nope"]},
        ["domain", "queue_ids", "routing_mode"],
    ),
    (
        "identity required without secret",
        "POST",
        TP,
        {**CHAT, "require_identity": True},
        ["require_identity"],
    ),
    ("weight 0", "PUT", SETTINGS, {"channel_weights": {"chat": 0}}, ["channel_weights.chat"]),
    ("weight 101", "PATCH", SETTINGS, {"channel_weights": {"sms": 101}}, ["channel_weights.sms"]),
    (
        "voice weight",
        "PATCH",
        SETTINGS,
        {"channel_weights": {"voice": 51}},
        ["channel_weights.voice"],
    ),
    (
        "unknown channel weight",
        "PATCH",
        SETTINGS,
        {"channel_weights": {"fax": 5}},
        ["channel_weights.fax"],
    ),
    ("unknown sound event", "PATCH", SETTINGS, {"sounds": {"hangup": "beep"}}, ["sounds.hangup"]),
    ("bad priority display", "PUT", SETTINGS, {"priority_display": "stars"}, ["priority_display"]),
    (
        "unknown disposition set",
        "PATCH",
        SETTINGS,
        {"disposition_set_id": "ds_nope"},
        ["disposition_set_id"],
    ),
    ("voice_weight read-only", "PATCH", SETTINGS, {"voice_weight": 40}, ["voice_weight"]),
    (
        "agent unknown queue",
        "POST",
        "/api/admin/agents",
        {"email": "a@b.test", "name": "A", "queue_ids": ["q_nope"]},
        ["queue_ids"],
    ),
    (
        "agent bad email",
        "POST",
        "/api/admin/agents",
        {"email": "not-an-email", "name": "A"},
        ["email"],
    ),
    (
        "agent short password",
        "POST",
        "/api/admin/agents",
        {"email": "a@b.test", "name": "A", "password": "short"},
        ["password"],
    ),
    (
        "agent bad role",
        "POST",
        "/api/admin/agents",
        {"email": "a@b.test", "name": "A", "role": "boss"},
        ["role"],
    ),
    ("queue without name", "POST", "/api/admin/queues", {}, ["name"]),
    ("not an object", "POST", "/api/admin/queues", [1], [""]),
    ("history limit 0", "GET", "/api/admin/conversations/x/messages?limit=0", None, ["limit"]),
    (
        "history limit text",
        "GET",
        "/api/admin/conversations/x/messages?limit=many",
        None,
        ["limit"],
    ),
    (
        "history before_seq 0",
        "GET",
        "/api/admin/conversations/x/messages?before_seq=0",
        None,
        ["before_seq"],
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
async def test_invalid_input_is_422_with_field_level_messages(
    admin: httpx.AsyncClient, method: str, path: str, body: Any, expected: list[str]
) -> None:
    before = (
        (await admin.get(TP)).json(),
        (await admin.get(SETTINGS)).json(),
        (await admin.get("/api/admin/agents")).json(),
    )
    r = await admin.request(method, path, json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert sorted(fields_of(r)) == sorted(expected)
    assert all(f["message"] for f in error["fields"])
    after = (
        (await admin.get(TP)).json(),
        (await admin.get(SETTINGS)).json(),
        (await admin.get("/api/admin/agents")).json(),
    )
    assert after == before  # nothing was stored


async def test_the_domain_error_explains_the_path(admin: httpx.AsyncClient) -> None:
    r = await admin.post(TP, json={"name": "Shop", "domain": "example.com/shop"})
    message = r.json()["error"]["fields"][0]["message"]
    assert "/shop" in message and "subdirectories are not supported" in message


async def test_a_non_json_body_is_422(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/api/admin/queues", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]["fields"][0]["message"]


# -- touchpoints in action -------------------------------------------------------------------------


async def test_activate_deactivate_duplicate_govern_the_widget_bootstrap(
    admin: httpx.AsyncClient, node: InProcessGateway
) -> None:
    r = await admin.post(TP, json=chat_touchpoint(node, "tp_live"))
    assert r.status_code == 201 and r.json()["active"] is False
    status, body = await bootstrap_status(node, "tp_live")
    assert status == 403 and body["error"]["code"] == "touchpoint_unavailable"

    r = await admin.post("/api/admin/touchpoints/tp_live/activate")
    assert r.status_code == 200 and r.json()["active"] is True
    status, body = await bootstrap_status(node, "tp_live")
    assert status == 200 and body["config"]["touchpoint_id"] == "tp_live" and body["token"]

    r = await admin.get(
        "/api/admin/touchpoints/tp_live/match", params={"page_url": "http://evil.test/"}
    )
    assert r.status_code == 200 and r.json()["matched"] is False and r.json()["reason"]
    r = await admin.get(
        "/api/admin/touchpoints/tp_live/match",
        params={"page_url": f"http://127.0.0.1:{node.port}/any/page"},
    )
    assert r.json()["matched"] is True

    r = await admin.post("/api/admin/touchpoints/tp_live/duplicate", json={})
    assert r.status_code == 201
    copy = r.json()
    assert copy["id"] != "tp_live" and copy["id"].startswith("tp_")
    assert copy["active"] is False and copy["name"] == "Test tp_live (copy)"
    assert copy["domain"] == f"127.0.0.1:{node.port}" and copy["flow"] is not None
    assert (await bootstrap_status(node, copy["id"]))[0] == 403
    r = await admin.post("/api/admin/touchpoints/tp_live/duplicate", json={"id": copy["id"]})
    assert r.status_code == 409

    r = await admin.post("/api/admin/touchpoints/tp_live/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False
    status, body = await bootstrap_status(node, "tp_live")
    assert status == 403 and body["error"]["code"] == "touchpoint_unavailable"
    assert (await admin.post("/api/admin/touchpoints/nope/activate")).status_code == 404


async def test_a_flows_share_splits_conversations_by_their_id(
    admin: httpx.AsyncClient, node: InProcessGateway
) -> None:
    # 40 % of the traffic to a rule (priority 7), the rest to the default (priority 1)
    flow = {
        "rules": [{"name": "trial", "when": {"share": [0, 40]}, "then": {"priority": 7}}],
        "default": {"queue_ids": ["q_support"], "priority": 1},
    }
    r = await admin.post(TP, json=chat_touchpoint(node, "tp_split", flow=flow))
    assert r.status_code == 201, r.text
    assert r.json()["flow"]["rules"][0]["when"]["share"] == [0, 40]  # stored as sent
    assert (await admin.post(f"{TP}/tp_split/activate")).status_code == 200
    priorities: dict[str, int] = {}
    while len(set(priorities.values())) < 2 and len(priorities) < 40:  # both, surely
        guest = visitor(node, "tp_split")
        await guest.bootstrap()
        await guest.connect()
        cid = await guest.start("Hello")
        r = await admin.get(f"/api/admin/conversations/{cid}")
        assert r.status_code == 200, r.text
        priorities[cid] = r.json()["priority"]
        assert guest.sock
        await guest.sock.close()
    assert priorities == {cid: 7 if bucket(cid) < 40 else 1 for cid in priorities}
    assert set(priorities.values()) == {1, 7}


async def test_a_touchpoint_with_open_conversations_cannot_be_deleted(
    node: InProcessGateway, tokens: dict[str, str]
) -> None:
    async with client(node, tokens["admin"]) as admin:
        assert (await admin.post(TP, json=chat_touchpoint(node, "tp_busy"))).status_code == 201
        assert (await admin.post(f"{TP}/tp_busy/activate")).status_code == 200
        v = visitor(node, "tp_busy")
        await v.bootstrap()
        await v.connect()
        cid = await v.start()
        r = await admin.delete(f"{TP}/tp_busy")
        assert r.status_code == 409 and r.json()["error"]["used_by"] == {"conversations": [cid]}
        assert (await admin.get(f"{TP}/tp_busy")).status_code == 200


async def test_agent_queue_and_settings_changes_take_effect_for_new_conversations(
    own_node: InProcessGateway,
) -> None:
    node = own_node
    async with client(node, await login(node, *ADMIN)) as admin:
        assert (
            await admin.post("/api/admin/queues", json={"id": "q_billing", "name": "Billing"})
        ).status_code == 201
        body = chat_touchpoint(node, "tp_billing", flow={"default": {"queue_ids": ["q_billing"]}})
        assert (await admin.post(TP, json=body)).status_code == 201
        assert (await admin.post(f"{TP}/tp_billing/activate")).status_code == 200
        r = await admin.patch("/api/admin/agents/ag_demo", json={"queue_ids": ["q_billing"]})
        assert r.status_code == 200 and r.json()["queue_ids"] == ["q_billing"]
        r = await admin.patch(
            SETTINGS, json={"priority_display": "numbers", "sounds": {"offered": "bell"}}
        )
        # The console plays four sounds: any other name is refused, naming the field.
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"][0]["field"] == "sounds.offered"
        r = await admin.patch(
            SETTINGS, json={"priority_display": "numbers", "sounds": {"offered": "chime"}}
        )
        assert r.status_code == 200

    agent = demo_agent(node)
    await agent.login()
    snap = await agent.connect()
    assert snap["agent"]["queue_ids"] == ["q_billing"]
    assert snap["priority_display"] == "numbers" and snap["sounds"]["offered"] == "chime"
    assert agent.sock

    # First a conversation for the agent's old queue, then one for its new queue.
    old = visitor(node, "tp_demo_127")
    old.page_url = f"http://127.0.0.1:{node.port}/demo"
    await old.bootstrap()
    await old.connect()
    old_cid = await old.start(name="Old queue")
    new = visitor(node, "tp_billing")
    await new.bootstrap()
    await new.connect()
    new_cid = await new.start(name="New queue")

    offer = await agent.sock.expect("offer")
    assert offer["conversation"]["conversation_id"] == new_cid
    assert offer["conversation"]["queue_ids"] == ["q_billing"]
    assert (await agent.sock.expect("sound", event="offered"))["sound"] == "chime"
    # The router handles arrivals in order: an offer of the older one would have come first.
    assert not [
        f for f in agent.sock.seen if f.get("conversation", {}).get("conversation_id") == old_cid
    ]


# -- history ----------------------------------------------------------------------------------------


async def start_chat(
    node: InProcessGateway,
    admin: httpx.AsyncClient,
    tp_id: str,
    name: str,
    bodies: list[str],
) -> tuple[str, str]:
    """A visitor's conversation with these messages: (conversation id, contact id)."""
    if (await admin.get(f"{TP}/{tp_id}")).status_code == 404:
        assert (await admin.post(TP, json=chat_touchpoint(node, tp_id))).status_code == 201
        assert (await admin.post(f"{TP}/{tp_id}/activate")).status_code == 200
    v = visitor(node, tp_id)
    await v.bootstrap()
    await v.connect()
    cid = await v.start(bodies[0], name=name)
    for i, text in enumerate(bodies[1:]):
        assert (await v.say(text))["seq"] == i + 2
    assert v.sock
    await v.sock.close()
    contact_id = (await admin.get(f"/api/admin/conversations/{cid}")).json()["contact_id"]
    return cid, contact_id


async def ended_and_rated(node: InProcessGateway, tp_id: str) -> str:
    """A conversation its visitor ended, then rated 5 "Thank you"."""
    v = visitor(node, tp_id)
    await v.bootstrap()
    await v.connect()
    cid = await v.start("A quick question", name="Rater")
    assert v.sock
    await v.sock.send({"type": "end", "ref": "end"})
    await v.sock.expect("ok", ref="end")
    await v.sock.send(
        {"type": "rate", "conversation_id": cid, "score": 5, "comment": "Thank you", "ref": "r"}
    )
    await v.sock.expect("ok", ref="r")
    await v.sock.close()
    return cid


async def test_history_paging_export_and_deletion(
    node: InProcessGateway, tokens: dict[str, str]
) -> None:
    async with client(node, tokens["admin"]) as admin:
        bodies = [f"message {i}" for i in range(1, 8)]
        cid, contact = await start_chat(node, admin, "tp_history", "Hana", bodies)

        # Paging back from the newest, three at a time.
        pages, before = [], None
        while True:
            params: dict[str, Any] = {"limit": 3}
            if before is not None:
                params["before_seq"] = before
            r = await admin.get(f"/api/admin/conversations/{cid}/messages", params=params)
            assert r.status_code == 200
            page = r.json()
            pages.append([m["seq"] for m in page["items"]])
            if not page["has_more"]:
                assert page["next_before_seq"] is None
                break
            before = page["next_before_seq"]
        assert pages == [[5, 6, 7], [2, 3, 4], [1]]
        whole = (await admin.get(f"/api/admin/conversations/{cid}/messages")).json()
        assert [m["body"] for m in whole["items"]] == bodies and whole["has_more"] is False
        assert whole["items"][0]["sender"] == "contact"

        # Supervisors read history; agents do not.
        async with client(node, tokens["supervisor"]) as sup:
            assert (await sup.get(f"/api/admin/conversations/{cid}/messages")).status_code == 200
            assert (await sup.get(f"/api/admin/contacts/{contact}/export")).status_code == 403
        async with client(node, tokens["agent"]) as ag:
            assert (await ag.get(f"/api/admin/conversations/{cid}/messages")).status_code == 403

        convs = (await admin.get(f"/api/admin/contacts/{contact}/conversations")).json()
        assert [c["id"] for c in convs["items"]] == [cid]
        assert (await admin.get(f"/api/admin/contacts/{contact}")).json()["name"] == "Hana"

        r = await admin.get(f"/api/admin/contacts/{contact}/export")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["content-disposition"].startswith("attachment;")
        export = json.loads(r.content)
        assert export["contact"]["name"] == "Hana"
        assert [m["body"] for m in export["conversations"][0]["messages"]] == bodies

        # The conversation is still open: deletion needs force=true.
        r = await admin.delete(f"/api/admin/contacts/{contact}")
        assert r.status_code == 409 and r.json()["error"]["used_by"] == {"conversations": [cid]}
        r = await admin.delete(f"/api/admin/contacts/{contact}", params={"force": "true"})
        assert r.status_code == 200 and r.json()["deleted_conversations"] == 1
        for path in (
            f"/api/admin/contacts/{contact}",
            f"/api/admin/contacts/{contact}/export",
            f"/api/admin/contacts/{contact}/conversations",
            f"/api/admin/conversations/{cid}",
            f"/api/admin/conversations/{cid}/messages",
        ):
            assert (await admin.get(path)).status_code == 404, path
        assert (await admin.delete(f"/api/admin/contacts/{contact}")).status_code == 404


# -- the documentation's examples ----------------------------------------------------------------

_BLOCK = re.compile(r"```(sh|http)\n(.*?)```", re.S)


def doc_examples() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "admin-api.md").read_text()
    blocks = _BLOCK.findall(text)
    pairs = []
    for (kind, cmd), (next_kind, response) in itertools.pairwise(blocks):
        if kind == "sh":
            assert next_kind == "http", f"no response after {cmd!r}"
            pairs.append((cmd, response))
    return pairs


def subset(expected: Any, actual: Any, where: str = "$") -> None:
    if expected == "...":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing in {actual!r}"
            subset(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r}"
        if expected == ["..."]:
            return
        assert len(expected) == len(actual), f"{where}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            subset(e, a, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


async def test_the_documented_examples_run(node: InProcessGateway, tokens: dict[str, str]) -> None:
    examples = doc_examples()
    assert len(examples) >= 20
    async with client(node, tokens["admin"]) as admin:
        cid, contact = await start_chat(
            node, admin, "tp_docs_site", "Docs Visitor", ["first", "second", "third"]
        )
    rated = await ended_and_rated(node, "tp_docs_site")
    env = {
        "GW": node.base_url,
        "TOKEN": tokens["admin"],
        "AGENT_TOKEN": tokens["agent"],
        "CONVERSATION": cid,
        "CONTACT": contact,
        "RATED": rated,
    }
    for cmd, response in examples:
        head, _, body = response.partition("\n\n")
        status = int(head.split()[1])
        async with node.http() as http:
            r = await curl(http, cmd, env)
        assert r.status_code == status, f"{cmd}\n→ {r.status_code} {r.text}"
        if body.strip():
            subset(json.loads(body), r.json())
