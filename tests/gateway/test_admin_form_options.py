"""A pre-chat form's choice (kind ``select``) needs at least one option: without one the
widget shows only its empty placeholder, and a required one stops every visitor from
starting a chat. The admin API refuses it on ``form[i].options`` (docs/admin-api.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from devkit.inprocess import InProcessGateway, gateway_fixture
from tests.gateway.conftest import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")

node = gateway_fixture({"GATEWAY_DEMO": "1"}, scope="module")

NO_OPTION = {"field": "form[1].options", "message": "a choice needs at least one option"}


async def _admin(node: InProcessGateway) -> httpx.AsyncClient:
    async with node.http() as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 200, r.text
    return node.http(headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=10)


def _touchpoint(node: InProcessGateway, tp_id: str, plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": tp_id,
        "name": f"Test {tp_id}",
        "domain": f"127.0.0.1:{node.port}",
        "queue_ids": ["q_support"],
        "form": [{"name": "name", "label": "Your name"}, {"name": "plan", "label": "Plan", **plan}],
    }


@pytest.mark.parametrize(
    "plan",
    [
        {"kind": "select", "required": True},
        {"kind": "select", "options": []},
        {"kind": "select", "required": True, "options": ["", "  "]},
    ],
)
async def test_a_choice_without_options_is_refused(
    node: InProcessGateway, plan: dict[str, Any]
) -> None:
    async with await _admin(node) as c:
        r = await c.post("/api/admin/touchpoints", json=_touchpoint(node, "tp_no_opts", plan))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"] == [NO_OPTION]
        # nothing stored
        assert (await c.get("/api/admin/touchpoints/tp_no_opts")).status_code == 404


async def test_an_edit_cannot_empty_a_choice(node: InProcessGateway) -> None:
    async with await _admin(node) as c:
        body = _touchpoint(node, "tp_opts", {"kind": "select", "options": ["Basic", "Pro"]})
        r = await c.post("/api/admin/touchpoints", json=body)
        assert r.status_code == 201, r.text
        before = r.json()
        emptied = [before["form"][0], {**before["form"][1], "options": []}]
        r = await c.patch("/api/admin/touchpoints/tp_opts", json={"form": emptied})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"] == [NO_OPTION]
        after = (await c.get("/api/admin/touchpoints/tp_opts")).json()
        assert after["form"] == before["form"]
        assert after["form"][1]["options"] == ["Basic", "Pro"]
