"""The agents' HTTP API: log in, log out (here or everywhere), who am I.

Errors are raised as the gateway's exceptions and answered by the one handler of
gateway/web/errors.py (401 for any failure to authenticate)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import AgentClaims
from gateway.errors import AuthError, InvalidInput
from gateway.model.records import Agent
from gateway.web.bodies import read_json
from gateway.web.context import web_of


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


async def authenticate(request: Request) -> tuple[AgentClaims, Agent]:
    """The agent behind ``Authorization: Bearer <token>``, or AuthError."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("send Authorization: Bearer <token>")
    return await web_of(request).agents.authenticate(token.strip())


def agent_json(agent: Agent) -> dict[str, object]:
    return {
        "id": agent.id,
        "email": agent.email,
        "name": agent.name,
        "role": agent.role,
        "queue_ids": list(agent.queue_ids),
    }


async def login(request: Request) -> Response:
    """Rate limited per client address and per account (gateway/web/limits.py) before the
    password is checked; the check itself runs off the event loop (gateway/auth.py)."""
    web = web_of(request)
    try:
        body = read_json(await request.body(), LoginRequest)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("", str(exc))], code="invalid_request") from None
    await web.limits.admit_login(web.limits.ip(request), body.email)
    try:
        token, claims, agent = await web.agents.login(body.email, body.password)
    except AuthError:
        await web.limits.login_failed(body.email)
        raise
    return JSONResponse(
        {"token": token, "expires_at": claims.exp, "agent": agent_json(agent)},
        headers={"Cache-Control": "no-store"},
    )


async def logout(request: Request) -> Response:
    claims, _ = await authenticate(request)
    await web_of(request).agents.logout(claims.sid)
    web_of(request).agent_sockets.end_session(claims.sid)
    return Response(status_code=204)


async def logout_everywhere(request: Request) -> Response:
    """End every login session of the caller, on every device and node."""
    claims, agent = await authenticate(request)
    web = web_of(request)
    await web.agents.revoke_all(agent.id)
    web.agent_sockets.end_session(claims.sid)
    await web.reload()  # every node closes the sockets of the sessions it holds
    return Response(status_code=204)


async def me(request: Request) -> Response:
    _, agent = await authenticate(request)
    return JSONResponse(agent_json(agent))


def api_routes() -> list[Route]:
    return [
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout/everywhere", logout_everywhere, methods=["POST"]),
        Route("/me", me, methods=["GET"]),
    ]
