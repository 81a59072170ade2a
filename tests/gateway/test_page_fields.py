"""Hidden form fields: filled by the embedding page (GatewayChat.setFields, docs/widget.md
"Information from the page"), checked like any field, refused by the admin API when
``required`` or with ``options``, and read by flow rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio

from channels.chat.forms import FieldError, validate_fields
from devkit.inprocess import InProcessGateway, gateway_fixture
from gateway.model.records import FormField
from tests.gateway.client import Visitor
from tests.gateway.conftest import ADMIN

TP = "/api/admin/touchpoints"

node = gateway_fixture({"GATEWAY_DEMO": "1"}, scope="module")

FORM = [
    FormField(name="name", label="Your name", max_length=80),
    # as the admin API stores it: converted from JSON, so the kind is checked
    msgspec.convert(
        {"name": "plan", "label": "Plan", "kind": "hidden", "max_length": 10}, FormField
    ),
]


# -- the checks of a visitor's fields ---------------------------------------------------


def test_a_hidden_field_is_a_form_kind() -> None:
    assert FORM[1].kind == "hidden" and FORM[1].required is False


def test_a_hidden_value_is_cleaned_to_one_line() -> None:
    assert validate_fields(FORM, {"name": "Ada", "plan": "  gold\nplus \u202e"}) == {
        "name": "Ada",
        "plan": "gold plus",
    }


def test_a_hidden_value_the_page_did_not_set_is_absent() -> None:
    assert validate_fields(FORM, {"name": "Ada"}) == {"name": "Ada"}
    assert validate_fields(FORM, {"plan": "   "}) == {}


def test_a_hidden_value_is_at_most_its_max_length() -> None:
    with pytest.raises(FieldError) as info:
        validate_fields(FORM, {"plan": "platinum-plus"})
    assert info.value.field == "plan"


def test_an_unknown_name_is_still_refused() -> None:
    with pytest.raises(FieldError) as info:
        validate_fields(FORM, {"plan": "gold", "session": "s-1"})
    assert info.value.field == "session"


def test_a_stored_hidden_field_marked_required_never_refuses_a_visitor() -> None:
    # The admin API refuses such a field; one stored otherwise must not shut the chat
    # to every visitor of a page that did not set it.
    form = [msgspec.structs.replace(FORM[1], required=True)]
    assert validate_fields(form, {}) == {}


# -- the admin API ---------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def admin(node: InProcessGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with node.http() as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    async with node.http(headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
        yield c


def touchpoint(node: InProcessGateway, tp_id: str, form: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": tp_id,
        "name": f"Test {tp_id}",
        "domain": f"127.0.0.1:{node.port}",
        "flow": {
            "rules": [
                {"name": "gold", "when": {"fields": {"plan": ["gold"]}}, "then": {"priority": 5}}
            ],
            "default": {"queue_ids": ["q_support"], "priority": 1},
        },
        "form": form,
    }


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"required": True}, "form[1].required"), ({"options": ["gold"]}, "form[1].options")],
)
async def test_the_admin_api_refuses_a_required_or_select_hidden_field(
    admin: httpx.AsyncClient, node: InProcessGateway, extra: dict[str, Any], field: str
) -> None:
    form = [{"name": "name", "label": "Your name"}, {"name": "plan", "label": "Plan"}]
    form[1] |= {"kind": "hidden", **extra}
    r = await admin.post(TP, json=touchpoint(node, "tp_bad_hidden", form))
    assert r.status_code == 422, r.text
    fields = r.json()["error"]["fields"]
    assert [f["field"] for f in fields] == [field]
    assert "plan" in fields[0]["message"]
    assert (await admin.get(f"{TP}/tp_bad_hidden")).status_code == 404


async def test_a_rule_on_a_hidden_field_routes_the_conversation(
    admin: httpx.AsyncClient, node: InProcessGateway
) -> None:
    form = [
        {"name": "name", "label": "Your name"},
        {"name": "plan", "label": "Plan", "kind": "hidden", "max_length": 20},
    ]
    r = await admin.post(TP, json=touchpoint(node, "tp_hidden", form))
    assert r.status_code == 201, r.text
    assert r.json()["form"][1]["kind"] == "hidden"
    # PATCH with the hidden field made required: refused, naming it
    r = await admin.patch(
        f"{TP}/tp_hidden", json={"form": [form[0], {**form[1], "required": True}]}
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "form[1].required"
    assert (await admin.post(f"{TP}/tp_hidden/activate")).status_code == 200

    origin = f"http://127.0.0.1:{node.port}"
    priorities = {}
    for plan in ("gold", "silver", None):
        guest = Visitor(node, "tp_hidden", origin + "/shop", origin=origin)
        boot = await guest.bootstrap()
        # the widget learns the form, hidden field included, to know what the page may set
        assert boot["config"]["form"][1]["kind"] == "hidden"
        await guest.connect()
        cid = await guest.start("Hello", name="Ada", **({"plan": plan} if plan else {}))
        conv = (await admin.get(f"/api/admin/conversations/{cid}")).json()
        priorities[plan] = conv["priority"]
        assert conv["fields"] == ({"name": "Ada", "plan": plan} if plan else {"name": "Ada"})
        assert guest.sock
        await guest.sock.close()
    assert priorities == {"gold": 5, "silver": 1, None: 1}
