"""Requests at the edges of the admin and integration APIs, over real HTTP against one
gateway: a number JSON can write but no float holds, lists long enough to make a
quadratic check hold the event loop, and an interaction id that names another
contact's open conversation. Each is a clear 4xx in the documented error shape, in
bounded time, with nothing stored."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit import services
from tests.integration.conftest import Node, admin_client, integration
from tests.integration.receiver import Receiver


@pytest.fixture(scope="module")
def gw() -> Iterator[Node]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-edges-"))
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db",
        "GATEWAY_DEMO": "1",
        "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
    }
    node = Node(services.start_gateway(env), env, env["GATEWAY_DATABASE_URL"])
    yield node
    node.proc.stop()


def invalid(r: httpx.Response) -> list[dict[str, str]]:
    """The fields of a 422 in the documented shape (docs/admin-api.md, "validation")."""
    assert r.status_code == 422, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == "invalid" and error["message"], r.text
    fields: list[dict[str, str]] = error["fields"]
    assert fields and all(set(f) == {"field", "message"} for f in fields), r.text
    return fields


JSON = {"Content-Type": "application/json"}


async def test_a_number_out_of_range_is_a_422_on_either_api(gw: Node, receiver: Receiver) -> None:
    """`1e400` is valid JSON that no float holds: msgspec refuses it while decoding, as a
    ValidationError the admin API's and the integration API's body readers let through
    (a 500 with a traceback, and the connection dropped)."""
    async with await admin_client(gw) as admin:
        key = await integration(admin, "tp_edges_num", receiver.url)
        queues = (await admin.get("/api/admin/queues")).json()
        for method, path, body in [
            ("POST", "/api/admin/queues", b'{"name": "Big", "x": 1e400}'),
            ("PATCH", "/api/admin/settings", b'{"idle_close_after": 1e400}'),
            ("PUT", "/api/admin/agents/ag_demo", b'{"name": -1e400}'),
            ("POST", "/api/admin/webhooks", b'{"name": "w", "events": [1e999]}'),
            # a row a channel adds (channels/api/admin.py), read by the same reader
            ("POST", "/api/admin/touchpoints/tp_edges_num/api-keys", b'{"name": 1e400}'),
        ]:
            r = await admin.request(method, path, content=body, headers=JSON)
            assert "out of range" in invalid(r)[0]["message"], (path, r.text)
        # the same connection goes on, and nothing was written
        assert (await admin.get("/api/admin/queues")).json() == queues
        assert (await admin.get("/api/admin/settings")).json()["idle_close_after"] == 900

    base = f"{gw.base_url}/api/integrations/tp_edges_num/conversations"
    auth = {"Authorization": f"Bearer {key}", **JSON}
    async with httpx.AsyncClient(headers=auth, timeout=30) as api:
        start = b'{"contact": {"email": "num@example.com"}, "fields": {"n": 1e400}}'
        invalid(await api.post(base, content=start))
        r = await api.post(base, json={"contact": {"email": "num@example.com"}, "message": "hi"})
        assert r.status_code == 201, r.text
        conv = r.json()["id"]
        for path in ("messages", "escalate", "transfer"):
            invalid(await api.post(f"{base}/{conv}/{path}", content=b'{"queue_id": 1e400}'))
        r = await api.get(f"{base}/{conv}/messages")
        assert [m["body"] for m in r.json()["items"]] == ["hi"]


async def test_long_lists_are_checked_without_holding_the_gateway(gw: Node) -> None:
    """The duplicate checks of a disposition set's dispositions and a touchpoint's form
    fields were quadratic: 100,000 dispositions in a body under the 1 MiB limit held the
    event loop (every socket and request of the node) for over two minutes."""
    async with await admin_client(gw) as admin:
        admin.timeout = httpx.Timeout(25)
        r = await admin.post(
            "/api/admin/disposition-sets", json={"name": "Many", "dispositions": ["x"] * 100_000}
        )
        assert invalid(r) == [{"field": "dispositions", "message": "duplicate disposition(s): x"}]
        form = [{"name": "f", "label": "F"}] * 40_000
        r = await admin.post(
            "/api/admin/touchpoints", json={"name": "Form", "domain": "form.example", "form": form}
        )
        assert {"field": "form", "message": "duplicate field name(s): f"} in invalid(r)
        names = [t["name"] for t in (await admin.get("/api/admin/touchpoints")).json()]
        assert "Form" not in names
        sets = [d["name"] for d in (await admin.get("/api/admin/disposition-sets")).json()]
        assert "Many" not in sets


async def test_an_interaction_id_of_another_contact_is_refused(
    gw: Node, receiver: Receiver
) -> None:
    """An interaction id names one open conversation: the same id with another contact
    used to hand back the first contact's conversation and store the second contact's
    message in it, as the first contact's."""
    async with await admin_client(gw) as admin:
        key = await integration(admin, "tp_edges_iid", receiver.url)
    base = f"{gw.base_url}/api/integrations/tp_edges_iid/conversations"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        lin = {"email": "lin@example.com", "name": "Lin"}
        r = await api.post(
            base, json={"contact": lin, "interaction_id": "chat-1", "message": "Lin's words"}
        )
        assert r.status_code == 201, r.text
        conv = r.json()["id"]
        bob = {
            "contact": {"email": "bob@example.com", "name": "Bob"},
            "interaction_id": "chat-1",
            "message": "Bob's words",
            "transcript": [{"sender": "contact", "text": "Bob's earlier words"}],
        }
        r = await api.post(base, json=bob, headers={"Idempotency-Key": "bob-1"})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "interaction_in_use" and error["message"]
        assert error["fields"][0]["field"] == "interaction_id"
        # the refusal is the answer to its Idempotency-Key
        again = await api.post(base, json=bob, headers={"Idempotency-Key": "bob-1"})
        assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (409, "true")
        # nothing of Bob's in Lin's conversation, and no conversation of his
        r = await api.get(f"{base}/{conv}/messages")
        assert [(m["sender_name"], m["body"]) for m in r.json()["items"]] == [
            ("Lin", "Lin's words")
        ]
        assert [c.id for c in gw.conversations("tp_edges_iid")] == [conv]
        # Lin starting it again still gets her open conversation back, with her message
        r = await api.post(base, json={"contact": lin, "interaction_id": "chat-1", "message": "+"})
        assert (r.status_code, r.json()["id"], r.json()["last_seq"]) == (201, conv, 2)
        # once it is closed, the interaction id is free for anyone
        r = await api.post(f"{base}/{conv}/close")
        assert r.json()["state"] == "closed", r.text
        r = await api.post(base, json={k: v for k, v in bob.items() if k != "transcript"})
        assert r.status_code == 201, r.text
        assert r.json()["id"] != conv and r.json()["contact"]["email"] == "bob@example.com"


async def test_a_touchpoints_channel_cannot_change(gw: Node, receiver: Receiver) -> None:
    """An integration touchpoint with an API key and an open conversation used to become
    a chat touchpoint on a PATCH: its conversation stranded (the integration API answers
    404 for it), its keys dormant until it was switched back."""
    async with await admin_client(gw) as admin:
        key = await integration(admin, "tp_edges_ch", receiver.url)
        base = f"{gw.base_url}/api/integrations/tp_edges_ch/conversations"
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(headers=auth, timeout=30) as api:
            r = await api.post(base, json={"contact": {"email": "ch@example.com"}, "message": "hi"})
            assert r.status_code == 201, r.text
            conv = r.json()["id"]
        url = "/api/admin/touchpoints/tp_edges_ch"
        before = (await admin.get(url)).json()
        r = await admin.patch(
            url, json={"channel": "chat", "domain": "ch.example", "settings": None}
        )
        assert invalid(r) == [
            {"field": "channel", "message": "a touchpoint's channel cannot change: make a new "
             "touchpoint"}
        ]  # fmt: skip
        r = await admin.put(url, json={**before, "channel": "sms"})
        assert [f["field"] for f in invalid(r)] == ["channel"]
        assert (await admin.get(url)).json() == before
        # sent back unchanged, or left out of a PUT, it stays what it is
        r = await admin.put(url, json={**before, "name": "Renamed"})
        assert r.status_code == 200 and r.json()["channel"] == "api", r.text
        doc = {k: v for k, v in before.items() if k != "channel"}
        r = await admin.put(url, json={**doc, "name": "Renamed again"})
        assert r.status_code == 200, r.text
        assert (r.json()["channel"], r.json()["name"]) == ("api", "Renamed again")
        assert r.json()["settings"]["signing_secret_set"] is True
    async with httpx.AsyncClient(headers=auth, timeout=30) as api:
        r = await api.get(f"{base}/{conv}")
        assert r.status_code == 200 and r.json()["state"] != "closed", r.text


async def test_a_notices_cursor_must_be_a_time(gw: Node) -> None:
    """`before=nan` was taken: SQLite finds nothing before NaN (an empty page, as if
    there were no notices), PostgreSQL finds everything."""
    async with await admin_client(gw) as admin:
        for value in ("nan", "-inf", "-1"):
            r = await admin.get("/api/admin/notices", params={"before": value})
            assert [f["field"] for f in invalid(r)] == ["before"], value
        r = await admin.get("/api/admin/notices", params={"before": "1e12", "limit": 5})
        assert r.status_code == 200 and isinstance(r.json(), list), r.text


async def test_what_the_checks_refuse_leaves_its_idempotency_key_free(
    gw: Node, receiver: Receiver
) -> None:
    """docs/integration-api.md, "idempotency": a request refused before it runs keeps
    nothing; a refusal of the request itself is its kept answer."""
    async with await admin_client(gw) as admin:
        key = await integration(admin, "tp_edges_idem", receiver.url)
    base = f"{gw.base_url}/api/integrations/tp_edges_idem/conversations"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        r = await api.post(base, json={"contact": {"email": "idem@example.com"}, "message": "a"})
        conv = r.json()["id"]
        url = f"{base}/{conv}/messages"
        # a body of the wrong shape: refused by the checks, the key stays free
        r = await api.post(url, json={"text": 5}, headers={"Idempotency-Key": "k-1"})
        assert [f["field"] for f in invalid(r)] == ["text"]
        r = await api.post(url, json={"text": "fixed"}, headers={"Idempotency-Key": "k-1"})
        assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.text
        r = await api.post(url, json={"text": "fixed"}, headers={"Idempotency-Key": "k-1"})
        assert (r.status_code, r.headers.get("Idempotent-Replayed")) == (201, "true")
        # a refusal of the request itself is the answer to its key
        r = await api.post(url, json={"text": ""}, headers={"Idempotency-Key": "k-2"})
        assert [f["field"] for f in invalid(r)] == ["text"]
        r = await api.post(url, json={"text": "now"}, headers={"Idempotency-Key": "k-2"})
        assert (r.status_code, r.json()["error"]["code"]) == (422, "idempotency_key_reused")
        r = await api.get(url)
        assert [m["body"] for m in r.json()["items"]] == ["a", "fixed"]


async def test_names_are_cleaned_and_must_keep_a_visible_character(
    gw: Node, receiver: Receiver
) -> None:
    """Names were stored as sent (a queue "   ", a disposition "\\n", a touchpoint's
    display name with U+202E, which contacts see), or cleaned to nothing (an agent's
    "   " stored as "", though the schema asks for one character at least)."""
    async with await admin_client(gw) as admin:
        await integration(admin, "tp_edges_names", receiver.url)
        blank = ["   ", "\u202e\u2066", "\n\t"]
        cases = [
            ("POST", "/api/admin/queues", {"name": "{}"}, "name"),
            ("PATCH", "/api/admin/queues/q_support", {"name": "{}"}, "name"),
            ("POST", "/api/admin/agents", {"email": "blank@example.com", "name": "{}"}, "name"),
            ("PATCH", "/api/admin/agents/ag_demo", {"name": "{}"}, "name"),
            ("POST", "/api/admin/touchpoints", {"name": "{}", "domain": "b.example"}, "name"),
            ("POST", "/api/admin/touchpoints/tp_demo_127/duplicate", {"name": "{}"}, "name"),
            ("POST", "/api/admin/disposition-sets", {"name": "{}"}, "name"),
            ("POST", "/api/admin/disposition-sets", {"name": "D", "dispositions": ["ok", "{}"]},
             "dispositions[1]"),
            ("POST", "/api/admin/webhooks", {"name": "{}", "url": "https://crm.example/h",
             "secret": "s" * 40, "events": ["conversation.ended"]}, "name"),
            ("POST", "/api/admin/templates", {"collection": "{}", "name": "T",
             "content": {"default": "Hi"}}, "collection"),
            ("POST", "/api/admin/touchpoints/tp_edges_names/api-keys", {"name": "{}"}, "name"),
        ]  # fmt: skip
        before = {
            path: (await admin.get(path)).json()
            for path in ("/api/admin/queues", "/api/admin/agents", "/api/admin/touchpoints")
        }
        for method, path, body, field in cases:
            for name in blank:
                sent = {k: _fill(v, name) for k, v in body.items()}
                r = await admin.request(method, path, json=sent)
                assert [f["field"] for f in invalid(r)] == [field], (path, name, r.text)
        for path, listed in before.items():
            assert (await admin.get(path)).json() == listed, path
        keys = (await admin.get("/api/admin/touchpoints/tp_edges_names/api-keys")).json()
        assert len(keys) == 1
        # what is visible is kept, on one line, without what would reorder it
        r = await admin.post("/api/admin/queues", json={"name": " Sales\n(EU)\u202e "})
        assert r.status_code == 201 and r.json()["name"] == "Sales (EU)", r.text
        r = await admin.post(
            "/api/admin/disposition-sets", json={"name": "S", "dispositions": ["Won", " Won\n"]}
        )
        assert invalid(r) == [{"field": "dispositions", "message": "duplicate disposition(s): Won"}]
        r = await admin.patch(
            "/api/admin/touchpoints/tp_edges_names", json={"display_name": "\u202eShop\u202c"}
        )
        assert r.status_code == 200 and r.json()["display_name"] == "Shop", r.text


def _fill(value: object, name: str) -> object:
    if value == "{}":
        return name
    if isinstance(value, list):
        return [_fill(v, name) for v in value]
    return value


async def test_a_webhook_url_that_is_not_one_is_a_422(gw: Node) -> None:
    """urlsplit raises on an unclosed IPv6 bracket and on a port past 65535 (a 500);
    a space or a control character in the URL went to the sender as is."""
    async with await admin_client(gw) as admin:
        for url in (
            "http://[::1/hook",
            "https://crm.example:99999/h",
            "https://crm.example/a b",
            "https://crm.example/h\r\nX-Injected: 1",
        ):
            body = {"name": "w", "url": url, "secret": "s" * 32, "events": ["conversation.started"]}
            fields = invalid(await admin.post("/api/admin/webhooks", json=body))
            assert [f["field"] for f in fields] == ["url"], (url, fields)
        hooks = (await admin.get("/api/admin/webhooks")).json()
        assert not [h for h in hooks if h["name"] == "w"]  # nothing stored


async def test_starts_for_one_contact_at_once_make_one_conversation(
    gw: Node, receiver: Receiver
) -> None:
    """Each start looked for the contact's open conversation, found none and made one:
    six outbound starts at once made five open conversations (a second is documented
    as 409 conversation_open), six inbound ones two."""
    async with await admin_client(gw) as admin:
        key = await integration(admin, "tp_edges_race", receiver.url)
    base = f"{gw.base_url}/api/integrations/tp_edges_race/conversations"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        out = {"contact": {"email": "ola@example.com"}, "direction": "outbound"}
        answers = await asyncio.gather(*(api.post(base, json=out) for _ in range(6)))
        assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409, 409]
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {
            "conversation_open"
        }
        inbound = [
            {"contact": {"email": "ivo@example.com"}, "message": f"hello {i}"} for i in range(6)
        ]
        answers = await asyncio.gather(*(api.post(base, json=b) for b in inbound))
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
        (conv,) = {r.json()["id"] for r in answers}
        r = await api.get(f"{base}/{conv}/messages")
        assert r.status_code == 200, r.text
        bodies = {m["body"] for m in r.json()["items"] if m["sender"] == "contact"}
        assert bodies == {f"hello {i}" for i in range(6)}
