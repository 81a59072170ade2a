"""The agents' HTTP API: log in, log out, who am I."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import AgentClaims
from gateway.errors import AuthError, GatewayError
from gateway.ports.store.base import Agent
from gateway.services.engine import Engine


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str


def error_response(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


async def authenticate(request: Request) -> tuple[AgentClaims, Agent]:
    """The agent behind ``Authorization: Bearer <token>``, or AuthError."""
    engine: Engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("send Authorization: Bearer <token>")
    claims = engine.tokens.verify_agent(token.strip())
    await engine.check_agent_session(claims)
    return claims, engine.agent(claims.sub)


def agent_json(agent: Agent) -> dict[str, object]:
    return {
        "id": agent.id,
        "email": agent.email,
        "name": agent.name,
        "role": agent.role,
        "queue_ids": list(agent.queue_ids),
    }


async def login(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    try:
        body = msgspec.json.decode(await request.body(), type=LoginRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return error_response(422, "invalid_request", str(exc))
    try:
        token, claims, agent = await engine.login(body.email, body.password)
    except AuthError as exc:
        return error_response(401, exc.code, exc.message)
    return JSONResponse(
        {"token": token, "expires_at": claims.exp, "agent": agent_json(agent)},
        headers={"Cache-Control": "no-store"},
    )


async def logout(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    try:
        claims, _ = await authenticate(request)
        await engine.logout(claims.sid)
    except GatewayError as exc:
        return error_response(401, exc.code, exc.message)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    try:
        _, agent = await authenticate(request)
    except GatewayError as exc:
        return error_response(401, exc.code, exc.message)
    return JSONResponse(agent_json(agent))


def api_routes() -> list[Route]:
    return [
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/me", me, methods=["GET"]),
    ]
