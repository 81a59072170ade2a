"""Admin handlers for configuration: queues, agents, disposition sets and the global
settings (touchpoints are in touchpoints.py), and the helpers they share. Every change
is validated completely, written to the store, then ``ctx.changed()`` reloads it into
every node's directory and the router."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import msgspec
from starlette.responses import Response

import routing as r
from gateway.auth import new_id
from gateway.errors import Conflict, InUse, InvalidInput, NotFound
from gateway.model.records import OPEN_STATES, Agent, DispositionSet, GlobalSettings, Queue
from gateway.model.text import clean_name
from gateway.ports.store.base import LAST_ADMIN
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.admin.schemas import (
    AgentCreate,
    AgentIn,
    AgentOut,
    ChannelWeights,
    DispositionSetCreate,
    DispositionSetIn,
    DispositionSetOut,
    QueueCreate,
    QueueIn,
    QueueOut,
    SettingsIn,
    SettingsOut,
    Sounds,
)
from routing.model import Role

# -- shared ------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, null removes, rest replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def read_only(raw: dict[str, Any], current: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Drop read-only fields that repeat the current value (so a GET body can be PUT
    back); refuse ones that try to change it."""
    out = dict(raw)
    errors = []
    for name in names:
        if name in out and out.pop(name) != current.get(name):
            hint = {
                "id": "the id is immutable",
                "active": "use the activate / deactivate actions",
                "channel": "a touchpoint's channel cannot change: make a new touchpoint",
            }.get(name, "this field is read-only")
            errors.append((name, hint))
    if errors:
        raise InvalidInput(errors)
    return out


async def new_or_given_id(given: str | None, prefix: str, exists: Any) -> str:
    """A new id, or the given one when it is free now: the answer before any work. The
    create itself inserts without replacing (``Store.create_*``), so of two creates of
    one id at the same moment the second is a 409 too."""
    if given is None:
        return new_id(prefix)
    try:
        await exists(given)
    except NotFound:
        return given
    raise Conflict(f"the id {given!r} is taken", field="id")


NO_VISIBLE = "a name needs a visible character"


def visible_name(value: str, field: str, errors: list[tuple[str, str]]) -> str:
    """``value`` as a name is stored and shown (gateway/model/text.py: one line, without
    control or bidi formatting characters); one with nothing visible left (blank, or
    only such characters) is an error on ``field``."""
    name = clean_name(value)
    if not name:
        errors.append((field, NO_VISIBLE))
    return name


def checked_name(value: str, field: str = "name") -> str:
    """:func:`visible_name`, refused at once (422) when nothing visible is left."""
    errors: list[tuple[str, str]] = []
    name = visible_name(value, field, errors)
    if errors:
        raise InvalidInput(errors)
    return name


# Roles by what they may do: a change down ends the agent's sessions (``_save_agent``).
ROLE_RANK: dict[Role, int] = {"agent": 0, "supervisor": 1, "admin": 2}


def missing_ids(ids: Iterable[str], known: set[str]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if i not in known]


def flow_queue_ids(flow: r.FlowConfig | None) -> list[tuple[str, list[str]]]:
    if flow is None:
        return []
    found = [
        (f"flow.rules[{i}].then.queue_ids", list(rule.then.queue_ids))
        for i, rule in enumerate(flow.rules)
    ]
    found.append(("flow.default.queue_ids", list(flow.default.queue_ids)))
    return found


# -- queues ---------------------------------------------------------------------------------


async def list_queues(ctx: Ctx) -> Response:
    qs = await ctx.store.list_queues()
    return json_response([QueueOut(id=q.id, name=q.name) for q in qs])


async def create_queue(ctx: Ctx) -> Response:
    body = convert(ctx.raw, QueueCreate)
    store = ctx.store
    name = checked_name(body.name)
    q = Queue(id=await new_or_given_id(body.id, "q", store.get_queue), name=name)
    await store.create_queue(q)
    await ctx.changed()
    return json_response(QueueOut(id=q.id, name=q.name), 201)


async def get_queue(ctx: Ctx) -> Response:
    q = await ctx.store.get_queue(ctx.param())
    return json_response(QueueOut(id=q.id, name=q.name))


async def _edit_queue(ctx: Ctx, *, patch: bool) -> Response:
    store = ctx.store
    current = await store.get_queue(ctx.param())
    raw = read_only(ctx.raw, {"id": current.id}, ("id",))
    if patch:
        raw = merge_patch({"name": current.name}, raw)
    body = convert(raw, QueueIn)
    q = Queue(id=current.id, name=checked_name(body.name))
    await store.update_queue(q)
    await ctx.changed()
    return json_response(QueueOut(id=q.id, name=q.name))


async def put_queue(ctx: Ctx) -> Response:
    return await _edit_queue(ctx, patch=False)


async def patch_queue(ctx: Ctx) -> Response:
    return await _edit_queue(ctx, patch=True)


async def delete_queue(ctx: Ctx) -> Response:
    store = ctx.store
    q = await store.get_queue(ctx.param())
    tps = []
    for tp in await store.list_touchpoints():
        flow = msgspec.convert(tp.flow, r.FlowConfig) if tp.flow else None
        if q.id in tp.queue_ids or any(q.id in ids for _, ids in flow_queue_ids(flow)):
            tps.append(tp.id)
    agents = [a.id for a in await store.list_agents() if q.id in a.queue_ids]
    if tps or agents:
        raise InUse(
            "the queue is still used: remove it from these touchpoints and agents first",
            {"touchpoints": tps, "agents": agents},
        )
    await store.delete_queue(q.id)
    await ctx.changed()
    return Response(status_code=204)


# -- agents ---------------------------------------------------------------------------------


def agent_out(a: Agent) -> AgentOut:
    return AgentOut(
        id=a.id,
        email=a.email,
        name=a.name,
        role=a.role,
        queue_ids=list(a.queue_ids),
        active=a.active,
        has_password=bool(a.password_hash),
    )


async def _build_agent(ctx: Ctx, body: AgentIn, agent_id: str, existing: Agent | None) -> Agent:
    store = ctx.store
    errors: list[tuple[str, str]] = []
    name = visible_name(body.name, "name", errors)
    queues = {q.id for q in await store.list_queues()}
    if missing := missing_ids(body.queue_ids, queues):
        errors.append(("queue_ids", f"unknown queue id(s): {', '.join(missing)}"))
    caller = ctx.caller
    if caller is not None and caller.id == agent_id:
        if body.role != "admin":
            errors.append(("role", "you cannot take away your own admin role"))
        if not body.active:
            errors.append(("active", "you cannot deactivate your own account"))
    if errors:
        raise InvalidInput(errors)
    try:
        other = await store.get_agent_by_email(body.email)
    except NotFound:
        other = None
    if other is not None and other.id != agent_id:
        raise Conflict("this email belongs to another agent", field="email")
    password_hash = existing.password_hash if existing else ""
    if body.password is not None:
        password_hash = await ctx.web.agents.passwords.hash(body.password)
    return Agent(
        id=agent_id,
        email=body.email.strip(),
        name=name,
        role=body.role,
        queue_ids=list(dict.fromkeys(body.queue_ids)),
        password_hash=password_hash,
        active=body.active,
    )


async def _save_agent(ctx: Ctx, agent: Agent, before: Agent | None = None) -> None:
    store = ctx.store
    try:
        await (store.create_agent(agent) if before is None else store.update_agent(agent))
    except Conflict as exc:
        if exc.field == "id":  # a create of the same id won meanwhile
            raise
        if exc.code == LAST_ADMIN:
            field = "active" if agent.role == "admin" else "role"
            raise Conflict(exc.message, code=LAST_ADMIN, field=field) from None
        # a concurrent write took the email
        raise Conflict("this email belongs to another agent", field="email") from None
    if before is not None and (
        before.password_hash != agent.password_hash
        or before.active != agent.active
        or ROLE_RANK[agent.role] < ROLE_RANK[before.role]
    ):
        # A new password or a change of active ends every login session: a stolen token
        # dies with the old password, and reactivation does not revive old tokens. So does
        # a lesser role: a supervisor demoted while monitoring kept receiving the chats it
        # watched on the socket it had (its subscriptions are made once, at monitor). A
        # greater role keeps them: what it adds is checked at each request.
        await ctx.web.agents.revoke_all(agent.id)
    if agent.password_hash and (before is None or before.password_hash != agent.password_hash):
        # A password an admin sets lets its owner in at once: the failed logins that
        # locked the account (on every node: they are counted in Redis there) are gone.
        await ctx.web.limits.clear_login_failures(agent.email)
    await ctx.changed()  # every node reloads, and closes revoked sessions' sockets


async def logout_agent(ctx: Ctx) -> Response:
    """End every login session of an agent (their sockets close on every node)."""
    agent = await ctx.store.get_agent(ctx.param())
    await ctx.web.agents.revoke_all(agent.id)
    await ctx.changed()
    return Response(status_code=204)


async def list_agents(ctx: Ctx) -> Response:
    return json_response([agent_out(a) for a in await ctx.store.list_agents()])


async def create_agent(ctx: Ctx) -> Response:
    body = convert(ctx.raw, AgentCreate)
    agent_id = await new_or_given_id(body.id, "ag", ctx.store.get_agent)
    agent = await _build_agent(ctx, body, agent_id, None)
    await _save_agent(ctx, agent)
    return json_response(agent_out(agent), 201)


async def get_agent(ctx: Ctx) -> Response:
    return json_response(agent_out(await ctx.store.get_agent(ctx.param())))


async def _edit_agent(ctx: Ctx, *, patch: bool) -> Response:
    current = await ctx.store.get_agent(ctx.param())
    out = msgspec.to_builtins(agent_out(current))
    raw = read_only(ctx.raw, out, ("id", "has_password"))
    if patch:
        base = {k: v for k, v in out.items() if k not in ("id", "has_password")}
        raw = merge_patch(base, raw)
    body = convert(raw, AgentIn)
    agent = await _build_agent(ctx, body, current.id, current)
    await _save_agent(ctx, agent, current)
    return json_response(agent_out(agent))


async def put_agent(ctx: Ctx) -> Response:
    return await _edit_agent(ctx, patch=False)


async def patch_agent(ctx: Ctx) -> Response:
    return await _edit_agent(ctx, patch=True)


async def delete_agent(ctx: Ctx) -> Response:
    store = ctx.store
    agent = await store.get_agent(ctx.param())
    if ctx.caller is not None and ctx.caller.id == agent.id:
        raise InUse("you cannot delete your own account", {})
    owned = [
        c.id
        for c in await store.list_conversations(states=list(OPEN_STATES))
        if c.owner_agent_id == agent.id
    ]
    dedicated = [
        tp.id for tp in await store.list_touchpoints() if tp.dedicated_agent_id == agent.id
    ]
    if owned or dedicated:
        raise InUse(
            "the agent still holds conversations or is a touchpoint's dedicated agent "
            "(deactivate instead, or reassign first)",
            {"conversations": owned, "touchpoints": dedicated},
        )
    await store.delete_agent(agent.id)  # 409 last_admin for the last active admin
    await ctx.changed()
    return Response(status_code=204)


# -- disposition sets -------------------------------------------------------------------------


def ds_out(ds: DispositionSet) -> DispositionSetOut:
    return DispositionSetOut(id=ds.id, name=ds.name, dispositions=list(ds.dispositions))


def duplicates(items: Iterable[str]) -> list[str]:
    """The values that occur more than once, sorted; linear (a list of 100,000 items in
    a body under the size limit must not hold the event loop for minutes)."""
    return sorted(value for value, n in Counter(items).items() if n > 1)


def _checked_set(ds_id: str, body: DispositionSetIn) -> DispositionSet:
    """The set as stored: its name and dispositions cleaned as names are, each visible,
    none twice."""
    errors: list[tuple[str, str]] = []
    name = visible_name(body.name, "name", errors)
    items = [visible_name(d, f"dispositions[{i}]", errors) for i, d in enumerate(body.dispositions)]
    if dupes := duplicates(items):
        errors.append(("dispositions", f"duplicate disposition(s): {', '.join(dupes)}"))
    if errors:
        raise InvalidInput(errors)
    return DispositionSet(id=ds_id, name=name, dispositions=items)


async def list_disposition_sets(ctx: Ctx) -> Response:
    return json_response([ds_out(d) for d in await ctx.store.list_disposition_sets()])


async def create_disposition_set(ctx: Ctx) -> Response:
    body = convert(ctx.raw, DispositionSetCreate)
    ds = _checked_set("", body)  # every field checked before the id is looked up
    store = ctx.store
    ds_id = await new_or_given_id(body.id, "ds", store.get_disposition_set)
    ds = msgspec.structs.replace(ds, id=ds_id)
    await store.create_disposition_set(ds)
    await ctx.changed()
    return json_response(ds_out(ds), 201)


async def get_disposition_set(ctx: Ctx) -> Response:
    return json_response(ds_out(await ctx.store.get_disposition_set(ctx.param())))


async def _edit_disposition_set(ctx: Ctx, *, patch: bool) -> Response:
    store = ctx.store
    current = await store.get_disposition_set(ctx.param())
    raw = read_only(ctx.raw, {"id": current.id}, ("id",))
    if patch:
        raw = merge_patch({"name": current.name, "dispositions": current.dispositions}, raw)
    ds = _checked_set(current.id, convert(raw, DispositionSetIn))
    await store.update_disposition_set(ds)
    await ctx.changed()
    return json_response(ds_out(ds))


async def put_disposition_set(ctx: Ctx) -> Response:
    return await _edit_disposition_set(ctx, patch=False)


async def patch_disposition_set(ctx: Ctx) -> Response:
    return await _edit_disposition_set(ctx, patch=True)


async def delete_disposition_set(ctx: Ctx) -> Response:
    store = ctx.store
    ds = await store.get_disposition_set(ctx.param())
    if (await store.get_settings()).disposition_set_id == ds.id:
        raise InUse(
            "the global settings use this disposition set: choose another one first",
            {"settings": ["disposition_set_id"]},
        )
    await store.delete_disposition_set(ds.id)
    await ctx.changed()
    return Response(status_code=204)


# -- global settings ---------------------------------------------------------------------------


def settings_out(s: GlobalSettings) -> SettingsOut:
    weights = {k: v for k, v in s.channel_weights.items() if k in ChannelWeights.__struct_fields__}
    sounds = {k: v for k, v in s.sounds.items() if k in Sounds.__struct_fields__}
    return SettingsOut(
        channel_weights=msgspec.convert(weights, ChannelWeights),
        voice_weight=r.VOICE_WEIGHT,
        sounds=msgspec.convert(sounds, Sounds),
        priority_display=s.priority_display,
        disposition_set_id=s.disposition_set_id,
        idle_close_after=s.idle_close_after,
    )


async def get_settings(ctx: Ctx) -> Response:
    return json_response(settings_out(await ctx.store.get_settings()))


async def _edit_settings(ctx: Ctx, *, patch: bool) -> Response:
    store = ctx.store
    raw = dict(ctx.raw)
    weights = raw.get("channel_weights")
    if isinstance(weights, dict) and "voice" in weights:
        raise InvalidInput(
            [
                (
                    "channel_weights.voice",
                    f"voice is fixed at {r.VOICE_WEIGHT} points; it cannot be set",
                )
            ]
        )
    current = msgspec.to_builtins(settings_out(await store.get_settings()))
    raw = read_only(raw, current, ("voice_weight",))
    if patch:
        current.pop("voice_weight")
        raw = merge_patch(current, raw)
    body = convert(raw, SettingsIn)
    if body.disposition_set_id is not None:
        try:
            await store.get_disposition_set(body.disposition_set_id)
        except NotFound:
            raise InvalidInput(
                [("disposition_set_id", f"unknown disposition set {body.disposition_set_id}")]
            ) from None
    channel_weights = msgspec.to_builtins(body.channel_weights)
    try:  # the router's own check of every weight
        r.RouterConfig(channel_weights=channel_weights).validated()
    except r.RoutingError as exc:
        raise InvalidInput([("channel_weights", exc.message)]) from None
    new = GlobalSettings(
        channel_weights=channel_weights,
        sounds=msgspec.to_builtins(body.sounds),
        priority_display=body.priority_display,
        disposition_set_id=body.disposition_set_id,
        idle_close_after=body.idle_close_after,
    )
    await store.put_settings(new)
    await ctx.changed()
    return json_response(settings_out(new))


async def put_settings(ctx: Ctx) -> Response:
    return await _edit_settings(ctx, patch=False)


async def patch_settings(ctx: Ctx) -> Response:
    return await _edit_settings(ctx, patch=True)
