"""HTTP handlers of the agent's workspace (contact card, templates, notes, history) and
of reports; templates' administration. Who may do what is the access policy's
(gateway/services/access.py); these handlers decode, call, answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from starlette.responses import Response

from gateway.auth import new_id
from gateway.errors import Conflict, InvalidInput, NotFound
from gateway.model.records import Agent, Template
from gateway.ports.store.base import HistoryFilter
from gateway.services import history as hist
from gateway.services import templates as tpl
from gateway.services.contact_card import ContactDetails
from gateway.services.reports import GroupBy, Report, to_csv
from gateway.web.admin.config import visible_name
from gateway.web.admin.http import Ctx, convert, json_response

Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Text = Annotated[str, msgspec.Meta(max_length=200)]
MAX_REPORT_DAYS = 366


class MergeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    contact_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SearchQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    q: Text = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class HistorySearchQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    q: Text = ""
    contact_id: Text = ""
    # UTC days, both included
    since: Day | None = None
    until: Day | None = None
    touchpoint_id: Text = ""
    queue_id: Text = ""
    agent_id: Text = ""
    channel: Text = ""
    before: Text = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class TranscriptQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # read from the contact card of this (open) conversation
    via: Text = ""


class ExportQuery(TranscriptQuery, kw_only=True, forbid_unknown_fields=True):
    format: Literal["json", "csv", "text"] = "json"


class ReportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    since: Day
    until: Day
    group_by: GroupBy = "day"


class TemplateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    collection: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    content: dict[Annotated[str, msgspec.Meta(max_length=32)], str]
    id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_\-]{1,64}$")] | None = None


def _caller(ctx: Ctx) -> Agent:
    assert ctx.caller is not None  # every row here needs a login
    return ctx.caller


def _day(value: str, field: str) -> float:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise InvalidInput([(field, "a date as YYYY-MM-DD")]) from None


def _span(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    start = _day(since, "since") if since else None
    end = _day(until, "until") + 86400.0 if until else None
    if start is not None and end is not None and end <= start:
        raise InvalidInput([("until", "on or after since")])
    return start, end


async def roster(ctx: Ctx) -> Response:
    return json_response(ctx.web.agents.roster())


# -- contact card ----------------------------------------------------------------------
async def get_card(ctx: Ctx) -> Response:
    return json_response(await ctx.web.workspace.cards.card(_caller(ctx), ctx.param()))


async def save_contact(ctx: Ctx) -> Response:
    details = convert(ctx.raw, ContactDetails)
    return json_response(await ctx.web.workspace.cards.save(_caller(ctx), ctx.param(), details))


async def merge_contact(ctx: Ctx) -> Response:
    body = convert(ctx.raw, MergeIn)
    card = await ctx.web.workspace.cards.merge(_caller(ctx), ctx.param(), body.contact_id)
    return json_response(card)


async def search_contacts(ctx: Ctx) -> Response:
    query: SearchQuery = ctx.query
    return json_response(await ctx.web.workspace.cards.search(query.q, query.limit))


# -- templates and notes of a conversation -----------------------------------------------
async def conversation_templates(ctx: Ctx) -> Response:
    query: SearchQuery = ctx.query
    agent = _caller(ctx)
    conv = await ctx.web.workspace.cards.readable(agent, ctx.param())
    contact = await ctx.store.get_contact(conv.contact_id)
    found = tpl.for_conversation(await ctx.store.list_templates(), conv, contact, agent, query.q)
    return json_response(found[: query.limit])


async def conversation_notes(ctx: Ctx) -> Response:
    agent = _caller(ctx)
    conv = await ctx.web.workspace.cards.readable(agent, ctx.param())
    return json_response(await ctx.web.workspace.notes.list(agent, conv))


# -- history ---------------------------------------------------------------------------
async def search_history(ctx: Ctx) -> Response:
    q: HistorySearchQuery = ctx.query
    since, until = _span(q.since, q.until)
    query = HistoryFilter(
        text=q.q,
        contact_id=q.contact_id,
        since=since,
        until=until,
        touchpoint_id=q.touchpoint_id,
        queue_id=q.queue_id,
        agent_id=q.agent_id,
        channel=q.channel,
        before=hist.parse_cursor(q.before) if q.before else None,
        limit=q.limit,
    )
    return json_response(await ctx.web.workspace.history.search(_caller(ctx), query))


async def _transcript(ctx: Ctx, via: str) -> hist.Transcript:
    ws = ctx.web.workspace
    agent = _caller(ctx)
    if via:
        conv = await ws.cards.earlier_readable(agent, ctx.param(), via)
    else:
        conv = await ws.history.conversation(agent, ctx.param())
    return await ws.history.transcript(conv)


async def get_transcript(ctx: Ctx) -> Response:
    return json_response(await _transcript(ctx, ctx.query.via))


async def export_transcript(ctx: Ctx) -> Response:
    query: ExportQuery = ctx.query
    body, media = hist.export(await _transcript(ctx, query.via), query.format)
    safe = re.sub(r"[^A-Za-z0-9_\-]", "_", ctx.param())
    ext = {"json": "json", "csv": "csv", "text": "txt"}[query.format]
    return Response(
        body,
        media_type=media,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="conversation-{safe}.{ext}"',
        },
    )


# -- reports ---------------------------------------------------------------------------
async def _report(ctx: Ctx) -> tuple[ReportQuery, Report]:
    q: ReportQuery = ctx.query
    since, until = _span(q.since, q.until)
    assert since is not None and until is not None
    if until - since > timedelta(days=MAX_REPORT_DAYS).total_seconds():
        raise InvalidInput([("until", f"a report spans at most {MAX_REPORT_DAYS} days")])
    return q, await ctx.web.workspace.reports.report(since, until, q.group_by)


async def get_report(ctx: Ctx) -> Response:
    _, report = await _report(ctx)
    return json_response(report)


async def report_csv(ctx: Ctx) -> Response:
    q, report = await _report(ctx)
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="report-{q.group_by}-{q.since}'
            f'-{q.until}.csv"',
        },
    )


# -- templates' administration -------------------------------------------------------------
def _template(body: TemplateIn, template_id: str, created_at: float) -> Template:
    errors: list[tuple[str, str]] = []
    collection = visible_name(body.collection, "collection", errors)
    name = visible_name(body.name, "name", errors)
    if errors:
        raise InvalidInput(errors)
    t = Template(
        id=template_id,
        collection=collection,
        name=name,
        content=dict(body.content),
        created_at=created_at,
    )
    tpl.check(t)
    return t


async def list_templates(ctx: Ctx) -> Response:
    return json_response(await ctx.store.list_templates())


async def create_template(ctx: Ctx) -> Response:
    body = convert(ctx.raw, TemplateIn)
    t = _template(body, body.id or new_id("tm"), ctx.now())
    if body.id is not None and await _exists(ctx, body.id):  # the answer before any work
        raise Conflict(f"template {body.id!r} exists", field="id")
    await ctx.store.create_template(t)  # of two creates of one id at once, one is 409
    return json_response(t, status=201)


async def _exists(ctx: Ctx, template_id: str) -> bool:
    try:
        await ctx.store.get_template(template_id)
    except NotFound:
        return False
    return True


async def get_template(ctx: Ctx) -> Response:
    return json_response(await ctx.store.get_template(ctx.param()))


async def put_template(ctx: Ctx) -> Response:
    old = await ctx.store.get_template(ctx.param())
    body = convert(ctx.raw, TemplateIn)
    if body.id is not None and body.id != old.id:
        raise InvalidInput([("id", "the id cannot change")])
    t = _template(body, old.id, old.created_at)
    await ctx.store.update_template(t)
    return json_response(t)


async def delete_template(ctx: Ctx) -> Response:
    await ctx.store.delete_template(ctx.param())
    return Response(status_code=204)
