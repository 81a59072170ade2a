"""Admin handlers for touchpoints: create, edit, duplicate, activate / deactivate, delete,
and "why does this page (not) match". Validation reports every bad field at once and
uses the router's own rules (a scratch router is asked to take the touchpoint)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.responses import Response

import routing as r
from gateway.errors import InUse, InvalidInput
from gateway.model.channels import CHANNELS, ROUTING_MODES
from gateway.model.records import OPEN_STATES, Touchpoint
from gateway.model.text import clean_name
from gateway.web.admin.config import (
    NO_VISIBLE,
    checked_name,
    duplicates,
    flow_queue_ids,
    merge_patch,
    missing_ids,
    new_or_given_id,
    read_only,
)
from gateway.web.admin.http import Ctx, convert, json_response
from gateway.web.admin.schemas import (
    ChannelOut,
    DuplicateIn,
    TouchpointCreate,
    TouchpointIn,
    TouchpointOut,
)

# -- touchpoints -----------------------------------------------------------------------


def touchpoint_out(tp: Touchpoint, secrets: tuple[str, ...] = ()) -> TouchpointOut:
    """The touchpoint as the API shows it: the channel's secret settings (``secrets``)
    never, only whether each is set (``<name>_set``)."""
    return TouchpointOut(
        id=tp.id,
        name=tp.name,
        channel=tp.channel,
        active=tp.active,
        direction=tp.direction,
        routing_mode=tp.routing_mode,
        domain=tp.domain,
        queue_ids=list(tp.queue_ids),
        dedicated_agent_id=tp.dedicated_agent_id,
        flow=msgspec.convert(tp.flow, r.FlowConfig) if tp.flow else None,
        widget=dict(tp.widget),
        form=list(tp.form),
        identity_secret_set=bool(tp.identity_secret),
        require_identity=tp.require_identity,
        preview_roles=list(tp.preview_roles),
        settings=redact(tp.settings, secrets),
        created_at=tp.created_at,
        display_name=tp.display_name,
    )


def redact(settings: dict[str, Any], secrets: tuple[str, ...]) -> dict[str, Any]:
    out = {k: v for k, v in settings.items() if k not in secrets}
    for key in secrets:
        out[f"{key}_set"] = bool(settings.get(key))
    return out


def _secrets(ctx: Ctx, channel: str) -> tuple[str, ...]:
    return ctx.web.touchpoint_secrets.get(channel, ())


def _out(ctx: Ctx, tp: Touchpoint) -> TouchpointOut:
    return touchpoint_out(tp, _secrets(ctx, tp.channel))


def _with_secrets(
    settings: dict[str, Any], secrets: tuple[str, ...], existing: Touchpoint | None
) -> dict[str, Any]:
    """The settings an edit sends, with the secrets it leaves out kept as stored (the
    API never shows them, so a read-modify-write must not erase them); ``<name>_set``
    is read-only and dropped."""
    out = {k: v for k, v in settings.items() if k not in {f"{s}_set" for s in secrets}}
    for key in secrets:
        if out.get(key) is None:
            out.pop(key, None)
            if existing is not None and existing.settings.get(key):
                out[key] = existing.settings[key]
    return out


def _touchpoint_input(tp: Touchpoint, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The stored touchpoint as a TouchpointIn document (the base a PATCH merges into)."""
    out: dict[str, Any] = msgspec.to_builtins(touchpoint_out(tp, secrets))
    for name in ("id", "active", "created_at", "identity_secret_set"):
        out.pop(name)
    return {k: v for k, v in out.items() if v is not None}


MAX_WIDGET_BYTES = 32 * 1024
MAX_WIDGET_TEXT = 1000  # characters of one text (the longest default is under 100)
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
# A font-family list of plain or quoted names: nothing that ends the CSS declaration
# (; } ) or calls a function (url(), var()) in the widget's style.
_FAMILY = r"""(?:[\w\- .]+|\s*"[\w\- .]+"\s*|\s*'[\w\- .]+'\s*)"""
_FONT = re.compile(rf"{_FAMILY}(?:,{_FAMILY})*")
_FONT_HINT = 'a CSS font-family list of names, e.g. Georgia, "Times New Roman", serif'
_LANG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")
_TEXT_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")
_NO_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f\"'<>\\]")


def widget_problems(widget: dict[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a chat widget configuration (docs/widget.md, "Customising"),
    each problem on its key (``widget.color``, ``widget.texts.title``)."""
    if len(msgspec.json.encode(widget)) > MAX_WIDGET_BYTES:
        # It is sent with every bootstrap: keep it the size of a configuration.
        return [("widget", f"at most {MAX_WIDGET_BYTES} bytes of JSON")]
    errors: list[tuple[str, str]] = []

    def text(field: str, value: Any) -> None:
        if not isinstance(value, str):
            errors.append((field, "a string"))
        elif len(value) > MAX_WIDGET_TEXT:
            errors.append((field, f"at most {MAX_WIDGET_TEXT} characters"))

    for key, value in widget.items():
        field = f"widget.{key}"
        if key in ("color", "text_color"):
            if not (isinstance(value, str) and _COLOUR.fullmatch(value)):
                errors.append((field, "a colour as #rgb or #rrggbb, e.g. #1d4ed8"))
        elif key == "font":
            if not (isinstance(value, str) and len(value) <= 200 and _FONT.fullmatch(value)):
                errors.append((field, _FONT_HINT))
        elif key == "launcher_icon":
            if not (
                isinstance(value, str)
                and (
                    value.startswith("data:image/")
                    or (value.startswith("https://") and not _NO_URL_CHARS.search(value))
                )
            ):
                errors.append((field, "an https:// URL or a data:image/ URL"))
        elif key == "lang":
            if not (isinstance(value, str) and len(value) <= 35 and _LANG.fullmatch(value)):
                errors.append((field, "a language tag, e.g. en or pt-BR"))
        elif key == "dir":
            if value not in ("ltr", "rtl"):
                errors.append((field, "ltr or rtl"))
        elif key == "title":
            text(field, value)
        elif key == "texts":
            if not isinstance(value, dict):
                errors.append((field, "an object of texts by key"))
                continue
            for name, t in value.items():
                if not _TEXT_KEY.fullmatch(name):
                    errors.append((f"{field}.{name}"[:200], "a text key: letters, digits, '_'"))
                else:
                    text(f"{field}.{name}", t)
        else:
            known = "title, color, text_color, font, launcher_icon, lang, dir, texts"
            errors.append((field[:200], f"unknown key; the widget's keys are {known}"))
    return errors


async def build_touchpoint(
    ctx: Ctx, body: TouchpointIn, tp_id: str, existing: Touchpoint | None, now: float
) -> Touchpoint:
    """Validate ``body`` completely (every bad field reported) and make the record."""
    secret = (
        (existing.identity_secret if existing else "")
        if body.identity_secret is None
        else body.identity_secret
    )
    tp = Touchpoint(
        id=tp_id,
        name=clean_name(body.name),
        channel=body.channel,
        active=existing.active if existing else False,
        direction=body.direction,
        routing_mode=body.routing_mode,
        domain=body.domain.strip(),
        queue_ids=list(dict.fromkeys(body.queue_ids)),
        dedicated_agent_id=body.dedicated_agent_id,
        flow=msgspec.to_builtins(body.flow) if body.flow is not None else {},
        widget=body.widget,
        form=body.form,
        identity_secret=secret,
        require_identity=body.require_identity,
        preview_roles=list(dict.fromkeys(body.preview_roles)),
        settings=_with_secrets(body.settings, _secrets(ctx, body.channel), existing),
        created_at=existing.created_at if existing else now,
        display_name=clean_name(body.display_name),
    )
    # The channel's own rules first (chat: the domain), from its adapter.
    check = ctx.web.touchpoint_checks.get(body.channel, no_channel_settings)
    tp, errors = check(tp)
    if not tp.name:
        errors.append(("name", NO_VISIBLE))

    errors += widget_problems(body.widget)
    queues = {q.id for q in await ctx.store.list_queues()}
    if missing := missing_ids(body.queue_ids, queues):
        errors.append(("queue_ids", f"unknown queue id(s): {', '.join(missing)}"))
    for where, ids in flow_queue_ids(body.flow):
        if missing := missing_ids(ids, queues):
            errors.append((where, f"unknown queue id(s): {', '.join(missing)}"))
    if body.flow is not None and body.routing_mode != "flow":
        errors.append(("flow", "a flow is used only by the flow routing mode; remove it"))

    agent_ids = {a.id for a in await ctx.store.list_agents()}
    if body.routing_mode == "dedicated":
        if not body.dedicated_agent_id:
            errors.append(("dedicated_agent_id", "dedicated-agent routing names its agent"))
        elif body.dedicated_agent_id not in agent_ids:
            errors.append(("dedicated_agent_id", f"unknown agent id {body.dedicated_agent_id}"))
    elif body.dedicated_agent_id is not None:
        errors.append(("dedicated_agent_id", "only for the dedicated routing mode"))

    # The router's own rules (mode per channel, flow calendars and hours), by asking a
    # scratch router to take the touchpoint; the agent is checked above.
    try:
        r.Router(r.RouterConfig(channel_modes=ROUTING_MODES)).handle(
            r.TouchpointUpserted(
                touchpoint_id=tp_id,
                channel=body.channel,
                routing_mode=body.routing_mode,
                queue_ids=list(body.queue_ids),
                dedicated_agent_id=body.dedicated_agent_id or "(checked above)",
                flow=body.flow if body.routing_mode == "flow" else None,
            ),
            now,
        )
    except r.RoutingError as exc:
        errors.append(("flow" if exc.code == "invalid_flow" else "routing_mode", exc.message))

    if dupes := duplicates(f.name for f in body.form):
        errors.append(("form", f"duplicate field name(s): {', '.join(dupes)}"))
    for i, f in enumerate(body.form):
        if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", f.name):
            errors.append((f"form[{i}].name", "letters, digits, '_' or '-'; 1..64 characters"))
        if f.kind == "hidden":
            # The page fills it, or not (docs/widget.md, setFields): the visitor cannot.
            if f.required:
                errors.append((f"form[{i}].required", f"hidden field {f.name} is never required"))
            if f.options:
                errors.append((f"form[{i}].options", f"hidden field {f.name} has no options"))
        elif f.kind == "select" and not any(o.strip() for o in f.options):
            # The widget would show only its empty placeholder: nobody could pick, and a
            # required one would stop every visitor from starting a chat.
            errors.append((f"form[{i}].options", "a choice needs at least one option"))
    if body.require_identity and not secret:
        errors.append(("require_identity", "requiring a signed identity needs an identity_secret"))
    if errors:
        raise InvalidInput(errors)
    return tp


def no_channel_settings(tp: Touchpoint) -> tuple[Touchpoint, list[tuple[str, str]]]:
    """The check of a channel no adapter of this node carries: no channel settings."""
    errors = []
    if tp.domain:
        errors.append(("domain", f"{tp.channel} touchpoints have no domain"))
    if tp.settings:
        errors.append(("settings", f"this gateway has no {tp.channel} adapter to configure"))
    return tp, errors


async def list_channels(ctx: Ctx) -> Response:
    """The channels whose adapters this gateway registered, in their order (the admin
    section asks a new touchpoint's channel from these; each adapter checks its own
    settings on create)."""
    specs = [(CHANNELS[name], secrets) for name, secrets in ctx.web.touchpoint_secrets.items()]
    return json_response(
        [
            ChannelOut(
                channel=c.name,
                label=c.label,
                secret_settings=list(s),
                routing_modes=list(c.routing_modes),
            )
            for c, s in specs
        ]
    )


async def list_touchpoints(ctx: Ctx) -> Response:
    tps = await ctx.store.list_touchpoints()
    return json_response([_out(ctx, tp) for tp in tps])


async def create_touchpoint(ctx: Ctx) -> Response:
    body = convert(ctx.raw, TouchpointCreate)
    store = ctx.store
    tp_id = await new_or_given_id(body.id, "tp", store.get_touchpoint)
    tp = await build_touchpoint(ctx, body, tp_id, None, ctx.now())
    await store.create_touchpoint(tp)  # 409 if a create of the id won meanwhile
    await ctx.changed()
    return json_response(_out(ctx, tp), 201)


async def get_touchpoint(ctx: Ctx) -> Response:
    return json_response(_out(ctx, await ctx.store.get_touchpoint(ctx.param())))


async def _edit_touchpoint(ctx: Ctx, *, patch: bool) -> Response:
    store = ctx.store
    current = await store.get_touchpoint(ctx.param())
    out = msgspec.to_builtins(_out(ctx, current))
    raw = read_only(ctx.raw, out, ("id", "active", "created_at", "identity_secret_set", "channel"))
    # The channel is the touchpoint's for life: its conversations, API keys and secret
    # settings are the channel's. A PUT that leaves it out keeps it.
    raw["channel"] = current.channel
    if patch:
        raw = merge_patch(_touchpoint_input(current, _secrets(ctx, current.channel)), raw)
    body = convert(raw, TouchpointIn)
    tp = await build_touchpoint(ctx, body, current.id, current, ctx.now())
    await store.update_touchpoint(tp)
    await ctx.changed()
    return json_response(_out(ctx, tp))


async def put_touchpoint(ctx: Ctx) -> Response:
    return await _edit_touchpoint(ctx, patch=False)


async def patch_touchpoint(ctx: Ctx) -> Response:
    return await _edit_touchpoint(ctx, patch=True)


async def delete_touchpoint(ctx: Ctx) -> Response:
    store = ctx.store
    tp = await store.get_touchpoint(ctx.param())
    live = await store.list_conversations(touchpoint_id=tp.id, states=list(OPEN_STATES))
    if live:
        raise InUse(
            "the touchpoint has open conversations: deactivate it and let them end first",
            {"conversations": [c.id for c in live]},
        )
    await store.delete_touchpoint(tp.id)
    await ctx.changed()
    return Response(status_code=204)


async def duplicate_touchpoint(ctx: Ctx) -> Response:
    body = convert(ctx.raw, DuplicateIn)
    store = ctx.store
    source = await store.get_touchpoint(ctx.param())
    tp_id = await new_or_given_id(body.id, "tp", store.get_touchpoint)
    copy = msgspec.structs.replace(
        source,
        id=tp_id,
        name=checked_name(body.name) if body.name else f"{source.name} (copy)"[:200],
        active=False,
        created_at=ctx.now(),
    )
    await store.create_touchpoint(copy)
    await ctx.changed()
    return json_response(_out(ctx, copy), 201)


async def _set_active(ctx: Ctx, active: bool) -> Response:
    store = ctx.store
    tp = await store.get_touchpoint(ctx.param())
    if active:
        # What is stored was validated when written; re-check it in case the rules
        # changed since (or the record was written by hand).
        await build_touchpoint(
            ctx,
            convert(_touchpoint_input(tp, _secrets(ctx, tp.channel)), TouchpointIn),
            tp.id,
            tp,
            ctx.now(),
        )
    if tp.active != active:
        tp = msgspec.structs.replace(tp, active=active)
        await store.update_touchpoint(tp)
        await ctx.changed()
    return json_response(_out(ctx, tp))


async def activate_touchpoint(ctx: Ctx) -> Response:
    return await _set_active(ctx, True)


async def deactivate_touchpoint(ctx: Ctx) -> Response:
    return await _set_active(ctx, False)
