"""The in-process harness: the real app's lifespan around the test, HTTP and WebSockets
over ASGI, and the URLs the app believes in."""

from __future__ import annotations

import asyncio
import json

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from devkit.inprocess import InProcessGateway, gateway_fixture
from gateway.errors import ConfigError

inprocess = gateway_fixture({"GATEWAY_DEMO": "1"})


async def test_start_serves_and_stop_shuts_down_and_cleans_up() -> None:
    gw = InProcessGateway({"GATEWAY_DEMO": "1"})
    data_dir = anyio.Path(gw.data_dir)
    assert gw.database_url == f"sqlite:///{data_dir}/gateway.db"
    assert not gw.alive()
    async with gw:
        assert gw.alive()
        async with gw.http() as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert await (data_dir / "gateway.db").exists()
    assert not gw.alive()
    assert not await data_dir.exists()
    with pytest.raises(RuntimeError):
        gw.http()


async def test_the_urls_are_the_ones_the_app_believes_in(inprocess: InProcessGateway) -> None:
    assert inprocess.base_url == f"http://127.0.0.1:{inprocess.port}"
    assert inprocess.settings.port == inprocess.port
    async with inprocess.http() as http:
        login = await http.post(
            "/api/login", json={"email": "admin@demo.test", "password": "demo-admin"}
        )
        token = login.json()["token"]
        tp = await http.get(
            "/api/admin/touchpoints/tp_demo_127", headers={"Authorization": f"Bearer {token}"}
        )
        # The demo touchpoint's domain is built from GATEWAY_PORT: the harness's port.
        assert tp.json()["domain"] == f"127.0.0.1:{inprocess.port}"
        boot = await http.post(
            "/widget/bootstrap",
            json={"touchpoint_id": "tp_demo_127", "page_url": inprocess.base_url + "/demo"},
            headers={"Origin": inprocess.base_url},
        )
    assert boot.status_code == 200, boot.text


async def test_the_origin_is_set_per_connection_and_close_codes_come_through(
    inprocess: InProcessGateway,
) -> None:
    foreign = await inprocess.websocket("/ws/agent", origin="http://evil.test")
    with pytest.raises(ConnectionClosed) as closed:
        await foreign.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    with pytest.raises(ConnectionClosed):
        await foreign.send("{}")  # closed stays closed
    with pytest.raises(ConnectionClosed):
        await foreign.recv()

    async with inprocess.http() as http:
        r = await http.post(
            "/api/login", json={"email": "agent@demo.test", "password": "demo-agent"}
        )
    own = await inprocess.websocket("/ws/agent", origin=inprocess.base_url)
    await own.send(json.dumps({"type": "hello", "v": 1, "token": r.json()["token"]}))
    assert json.loads(await own.recv())["type"] == "snapshot"
    await own.send(b"\x00binary")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await own.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003  # unsupported data
    # the reason too: the endpoint's own close, which may come first, carries it
    assert closed.value.rcvd.reason == "binary frames are not part of the protocol"
    assert inprocess.alive()


async def test_a_cancelled_recv_loses_no_frame(inprocess: InProcessGateway) -> None:
    async with inprocess.http() as http:
        r = await http.post(
            "/api/login", json={"email": "agent@demo.test", "password": "demo-agent"}
        )
    ws = await inprocess.websocket("/ws/agent", origin=inprocess.base_url)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.05)  # nothing sent yet
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": r.json()["token"]}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"
    await ws.close()
    with pytest.raises(ConnectionClosed):
        await ws.recv()


async def test_sockets_left_open_are_closed_before_the_shutdown() -> None:
    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gw:
        left = await gw.websocket("/ws/visitor", origin=gw.base_url)
    with pytest.raises(ConnectionClosed):
        await left.recv()


def test_a_bad_setting_fails_when_the_harness_is_made() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_PORT"):
        InProcessGateway({"GATEWAY_PORT": "not-a-port"})
