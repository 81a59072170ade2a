"""A revoked agent session is revoked on every node (issue 11, item 6): the admin acts on
one node, the agent's console socket is on the other. The socket closes with 4001 there
and the old token is refused there, over HTTP and for a new socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devkit import services
from tests.cluster.conftest import Cluster
from tests.cluster.test_faults import two_nodes
from tests.gateway.client import AgentClient, Socket

BOUND = 60.0  # seconds: a loaded 2-core machine running two nodes, Redis and PostgreSQL

Revoke = Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]


async def _deactivate(http: httpx.AsyncClient, agent_id: str) -> httpx.Response:
    return await http.patch(f"/api/admin/agents/{agent_id}", json={"active": False})


async def _new_password(http: httpx.AsyncClient, agent_id: str) -> httpx.Response:
    return await http.patch(f"/api/admin/agents/{agent_id}", json={"password": "a-new-secret-1"})


async def _log_out_everywhere(http: httpx.AsyncClient, agent_id: str) -> httpx.Response:
    return await http.post(f"/api/admin/agents/{agent_id}/logout")


async def _new_socket_code(cluster: Cluster, node: services.GatewayProcess, token: str) -> int:
    """The close code a new console socket with this token gets on this node."""
    ws = await connect(node.ws_url + "/ws/agent", origin=cluster.public)  # type: ignore[arg-type]
    sock = Socket(ws)
    try:
        await sock.send({"type": "hello", "v": 1, "token": token})
        frame = await sock.recv(timeout=BOUND)
        raise AssertionError(f"a revoked token was answered: {frame['type']}")
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006
    finally:
        await ws.close()


async def test_revocation_on_one_node_closes_the_socket_and_refuses_the_token_on_the_other(
    cluster: Cluster,
) -> None:
    a, b = two_nodes(cluster)
    admin = cluster.agent(a, "admin@demo.test", "demo-admin")
    await admin.login()
    revocations: list[tuple[str, Revoke]] = [
        ("deactivated", _deactivate),
        ("new_password", _new_password),
        ("logged_out", _log_out_everywhere),
    ]
    async with httpx.AsyncClient(
        base_url=a.base_url,
        headers={"Authorization": f"Bearer {admin.token}"},
        timeout=BOUND,
    ) as on_a:
        agents: list[AgentClient] = []
        for name, _ in revocations:
            r = await on_a.post(
                "/api/admin/agents",
                json={
                    "id": f"ag_{name}",
                    "email": f"{name}@demo.test",
                    "name": name,
                    "queue_ids": ["q_support"],
                    "password": "pw-revocation",
                },
            )
            assert r.status_code == 201, r.text
            agent = cluster.agent(b, f"{name}@demo.test", "pw-revocation")
            await agent.login()  # on B, a token B issued
            await agent.connect()  # a console socket on B
            agents.append(agent)

        bystander = cluster.agent(b)  # the demo agent: nobody revokes them
        await bystander.login()

        for agent, (name, revoke) in zip(agents, revocations, strict=True):
            assert agent.sock
            r = await revoke(on_a, f"ag_{name}")
            assert r.status_code in (200, 204), (name, r.text)
            assert await agent.sock.expect_close(BOUND) == 4001, name
            async with httpx.AsyncClient(timeout=BOUND) as http:
                me = await http.get(
                    b.base_url + "/api/me", headers={"Authorization": f"Bearer {agent.token}"}
                )
            assert me.status_code == 401, (name, me.text)
            assert await _new_socket_code(cluster, b, agent.token) == 4001, name

        async with httpx.AsyncClient(timeout=BOUND) as http:
            me = await http.get(
                b.base_url + "/api/me", headers={"Authorization": f"Bearer {bystander.token}"}
            )
        assert me.status_code == 200, me.text  # only the revoked sessions ended
