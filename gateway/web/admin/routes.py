"""The admin REST API, mounted under ``/api`` (docs/admin-api.md).

:data:`ENDPOINTS` is the single route table: :func:`admin_routes` mounts its rows that
have a handler, and ``GET /api/openapi.json`` describes every row — including the rows
that only describe the agents' login API (gateway/web/login.py), routed beside them —
and the rows the channels add (the chat widget's bootstrap, ...).
tests/gateway/test_admin.py checks that every route the application mounts under
``/api`` is in the document.

Access: configuration (read and write) is for admins; reading history is for
supervisors and admins; export and deletion of a contact's data are for admins. The
console's rows (``/api/console/...``) are for every agent, each answer limited by the
access policy (gateway/services/access.py); reports are for supervisors and admins.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from gateway.model.records import Contact, Conversation, Rating, Template
from gateway.protocol import NoteOut
from gateway.services.agents import RosterEntry
from gateway.services.contact_card import Card, ContactDetails
from gateway.services.history import HistoryPageOut, Transcript
from gateway.services.reports import Report
from gateway.services.templates import RenderedTemplate
from gateway.web import files
from gateway.web.admin import config as cfg
from gateway.web.admin import history as hist
from gateway.web.admin import live
from gateway.web.admin import notices as ntc
from gateway.web.admin import schemas as s
from gateway.web.admin import touchpoints as tps
from gateway.web.admin import webhooks as wh
from gateway.web.admin import workspace as ws
from gateway.web.admin.http import Ctx, json_response, route
from gateway.web.admin.messages import MESSAGE_ENDPOINTS
from gateway.web.openapi import Endpoint, document

Handler = Callable[[Ctx], Awaitable[Response]]


def _crud(
    plural: str,
    noun: str,
    *,
    create: type,
    edit: type,
    out: Any,
    handlers: tuple[Handler, Handler, Handler, Handler, Handler, Handler],
    delete_note: str,
    tag: str = "admin",
) -> list[Endpoint]:
    list_, create_h, get_h, put_h, patch_h, delete_h = handlers
    base = f"/api/admin/{plural}"
    one = f"{base}/{{id}}"
    rows = [
        Endpoint(
            "GET", base, f"List {plural.replace('-', ' ')}", "admin", list_, response=list[out]
        ),
        Endpoint(
            "POST",
            base,
            f"Create a {noun}",
            "admin",
            create_h,
            body=create,
            response=out,
            status=201,
            errors=(409,),
            description="The id is generated unless the body gives a free, valid one. A "
            "taken id is a 409 on the field id, also when two creates of it run at once "
            "(one is made, never replaced by the other).",
        ),
        Endpoint("GET", one, f"Get a {noun}", "admin", get_h, response=out, errors=(404,)),
        Endpoint(
            "PUT",
            one,
            f"Replace a {noun}",
            "admin",
            put_h,
            body=edit,
            response=out,
            errors=(404, 409),
            description="Omitted fields take their defaults. Read-only fields (id, ...) "
            "may be sent back unchanged; changing them is a 422.",
        ),
        Endpoint(
            "PATCH",
            one,
            f"Update some fields of a {noun}",
            "admin",
            patch_h,
            body=edit,
            patch=True,
            response=out,
            errors=(404, 409),
            description="A JSON merge patch (RFC 7396): objects merge, null removes "
            "a field (back to its default), anything else replaces.",
        ),
        Endpoint(
            "DELETE",
            one,
            f"Delete a {noun}",
            "admin",
            delete_h,
            status=204,
            errors=(404, 409),
            description=delete_note,
        ),
    ]
    return [dataclasses.replace(row, tag=tag) for row in rows]


async def openapi_json(ctx: Ctx) -> Response:
    """The document of every row: these, and the ones the channels add."""
    return json_response(_document(tuple(ctx.web.endpoints)))


@functools.cache
def _document(extra: tuple[Endpoint, ...]) -> dict[str, object]:
    return document([*ENDPOINTS, *extra])


# fmt: off
ENDPOINTS: list[Endpoint] = [
    # -- described here, routed by gateway/web/login.py ------------------------------------
    Endpoint("POST", "/api/login", "Log in (agents, supervisors, admins)", "public", tag="agents",
             body=s.LoginRequest, response=s.LoginResponse, errors=(401, 422),
             description="Returns a bearer token for the other endpoints and the agent "
             "socket. Wrong email and wrong password answer alike."),
    Endpoint("POST", "/api/logout", "Log out: revoke this token's session", "agent",
             tag="agents", status=204),
    Endpoint("POST", "/api/logout/everywhere", "Log out everywhere: revoke every session of "
             "this agent", "agent", tag="agents", status=204,
             description="Every token of the caller stops working and every console socket "
             "of theirs closes with 4001, on every node."),
    Endpoint("GET", "/api/me", "Who the token belongs to", "agent", tag="agents",
             response=s.Me),
    files.AGENT_UPLOAD,
    # -- this document ------------------------------------------------------------------
    Endpoint("GET", "/api/openapi.json", "This OpenAPI 3.1 document", "public", openapi_json,
             tag="meta"),
    # -- touchpoints -----------------------------------------------------------------------
    *_crud("touchpoints", "touchpoint", create=s.TouchpointCreate, edit=s.TouchpointIn,
           out=s.TouchpointOut,
           handlers=(tps.list_touchpoints, tps.create_touchpoint, tps.get_touchpoint,
                     tps.put_touchpoint, tps.patch_touchpoint, tps.delete_touchpoint),
           delete_note="409 while it has open conversations (deactivate it first and let "
           "them end). Ended conversations keep its id as history."),
    Endpoint("GET", "/api/admin/channels", "The channels a touchpoint may have here", "admin",
             tps.list_channels, response=list[s.ChannelOut],
             description="The channels whose adapters this gateway registered, each with "
             "the settings it keeps secret (written, never read back: <name>_set)."),
    Endpoint("POST", "/api/admin/touchpoints/{id}/duplicate", "Copy a touchpoint", "admin",
             tps.duplicate_touchpoint, body=s.DuplicateIn, response=s.TouchpointOut,
             status=201, errors=(404, 409),
             description="The copy is inactive, with a new id (or the body's) and the name "
             "'<name> (copy)' (or the body's). The body may be empty."),
    Endpoint("POST", "/api/admin/touchpoints/{id}/activate", "Activate: accept traffic",
             "admin", tps.activate_touchpoint, response=s.TouchpointOut, errors=(404, 422)),
    Endpoint("POST", "/api/admin/touchpoints/{id}/deactivate", "Deactivate: refuse new traffic",
             "admin", tps.deactivate_touchpoint, response=s.TouchpointOut, errors=(404,)),
    # -- queues, agents, disposition sets ---------------------------------------------------
    *_crud("queues", "queue", create=s.QueueCreate, edit=s.QueueIn, out=s.QueueOut,
           handlers=(cfg.list_queues, cfg.create_queue, cfg.get_queue, cfg.put_queue,
                     cfg.patch_queue, cfg.delete_queue),
           delete_note="409 with error.used_by listing the touchpoints (linked or in a "
           "flow) and agents that still use it."),
    *_crud("agents", "agent", create=s.AgentCreate, edit=s.AgentIn, out=s.AgentOut,
           handlers=(cfg.list_agents, cfg.create_agent, cfg.get_agent, cfg.put_agent,
                     cfg.patch_agent, cfg.delete_agent),
           delete_note="409 for yourself, for an agent holding open conversations or "
           "dedicated to a touchpoint (deactivate instead: active=false), and 409 "
           "last_admin for the last active admin. A PUT or PATCH that would leave no "
           "active admin (two admins demoting each other at once) is a 409 last_admin too."),
    Endpoint("POST", "/api/admin/agents/{id}/logout", "Log an agent out everywhere", "admin",
             cfg.logout_agent, status=204, errors=(404,),
             description="Revokes every login session of the agent: their tokens answer "
             "401 and their console sockets close with 4001, on every node. A new password "
             "or a change of `active` does the same by itself."),
    *_crud("disposition-sets", "disposition set", create=s.DispositionSetCreate,
           edit=s.DispositionSetIn, out=s.DispositionSetOut,
           handlers=(cfg.list_disposition_sets, cfg.create_disposition_set,
                     cfg.get_disposition_set, cfg.put_disposition_set,
                     cfg.patch_disposition_set, cfg.delete_disposition_set),
           delete_note="409 while the global settings use it."),
    # -- global settings ---------------------------------------------------------------------
    Endpoint("GET", "/api/admin/settings", "The global settings", "admin", cfg.get_settings,
             response=s.SettingsOut),
    Endpoint("PUT", "/api/admin/settings", "Replace the global settings", "admin",
             cfg.put_settings, body=s.SettingsIn, response=s.SettingsOut,
             description="Omitted fields (and omitted channels and events) take their "
             "defaults. Voice is fixed at 51 points: channel_weights.voice is a 422. Weight "
             "changes apply to conversations assigned from now on."),
    Endpoint("PATCH", "/api/admin/settings", "Update some global settings", "admin",
             cfg.patch_settings, body=s.SettingsIn, patch=True, response=s.SettingsOut,
             description="A JSON merge patch: {\"channel_weights\": {\"sms\": 30}} changes "
             "only the SMS weight."),
    # -- automations -------------------------------------------------------------------------
    *_crud("webhooks", "webhook", create=wh.WebhookCreate, edit=wh.WebhookIn, out=wh.WebhookOut,
           handlers=(wh.list_webhooks, wh.create_webhook, wh.get_webhook, wh.put_webhook,
                     wh.patch_webhook, wh.delete_webhook),
           delete_note="Its undelivered events are not sent any more (they stay listed "
           "until purged).", tag="automations"),
    Endpoint("GET", "/api/admin/webhooks/{id}/events", "A webhook's events", "admin",
             wh.webhook_events, tag="automations", query=wh.EventsQuery,
             response=list[wh.WebhookEvent], errors=(404,),
             description="Newest first: pending (with next_attempt_at), sent, or dead "
             "(dead-lettered after GATEWAY_DELIVERY_MAX_ATTEMPTS tries, with last_error). "
             "At most limit (1..200, default 50); for the next (older) page pass the last "
             "event's cursor as cursor."),
    Endpoint("POST", "/api/admin/webhooks/{id}/events/{event_id}/replay", "Deliver an event "
             "again", "admin", wh.replay_webhook_event, tag="automations",
             response=wh.WebhookEvent, errors=(404, 409),
             description="A dead (or delivered) event is pending again, now, with the same "
             "event id; 409 while it is still pending."),
    # -- notices ---------------------------------------------------------------------------------
    Endpoint("GET", "/api/admin/notices", "Admin notices, newest first", "admin",
             ntc.list_notices, tag="notices", query=s.NoticesQuery, response=list[s.NoticeOut],
             description="What the admins must act on (a provider refused a touchpoint's "
             "number, ...); admins online also get each as a `notice` frame. For the next "
             "page pass the last notice's `cursor` as `cursor`. The older `before` (a "
             "created_at) still answers the notices created before that time, but loses "
             "those of the same instant at a page's end; it cannot be given with cursor."),
    # -- live conversations (gateway/web/admin/live.py) -----------------------------------------
    Endpoint("GET", "/api/admin/live/conversations", "Live conversations", "supervisor",
             live.list_live, tag="live", query=live.LiveQuery, response=live.LivePage,
             description="The ongoing conversations the supervisor's live view shows (with "
             "a bot, waiting, offered: ringing an agent, assigned, in wrap-up), as the "
             "router holds them, oldest arrival first. Filters: state, queue_id (one of its "
             "queues), agent_id (holding it or rung with it), touchpoint_id, channel. At "
             "most limit (1..200, default 50); next_cursor, present when there are more, is "
             "the cursor of the next page. The same role check as the socket's live frame."),
    Endpoint("POST", "/api/admin/conversations/{id}/transfer", "Transfer a conversation",
             "supervisor", live.transfer, tag="live", body=live.TransferIn,
             response=Conversation, errors=(404, 409),
             description="To an agent (to_agent_id) or a queue (to_queue_id): exactly one "
             "(422 otherwise, and for an unknown queue); note, for the receiving agent, is "
             "kept as a note of the conversation. As the console's transfer frame: only an "
             "assigned conversation moves; the router's refusals are a 409 with its code "
             "(not_assigned, unknown_conversation once closed, agent_unavailable for an "
             "offline agent, unknown_agent for a deactivated or unknown one, "
             "over_capacity, invalid_transfer to its own agent, with_bot). The answer is "
             "the conversation after the transfer; the agents' consoles are told as after "
             "a socket transfer, on every node."),
    # -- history ---------------------------------------------------------------------------------
    Endpoint("GET", "/api/admin/conversations/{id}", "A conversation", "supervisor",
             hist.get_conversation, tag="history", response=Conversation, errors=(404,)),
    Endpoint("GET", "/api/admin/conversations/{id}/messages", "A conversation's messages, paged",
             "supervisor", hist.conversation_messages, tag="history", query=s.HistoryQuery,
             response=s.HistoryPage, errors=(404,),
             description="The newest `limit` messages before `before_seq` (all when absent), "
             "ascending by seq. For the previous page pass next_before_seq."),
    Endpoint("GET", "/api/admin/conversations/{id}/rating", "The contact's rating of a "
             "conversation", "supervisor", hist.conversation_rating, tag="history",
             response=Rating, errors=(404,),
             description="404 when the conversation does not exist or was not rated. "
             "Visitors rate a conversation once, after it ended (1 to 5, and a comment)."),
    Endpoint("GET", "/api/admin/ratings", "Satisfaction ratings, newest first", "supervisor",
             hist.list_ratings, tag="history", query=s.RatingsQuery, response=s.RatingsPage,
             description="Of one touchpoint (touchpoint_id), from a time on (since, UNIX "
             "seconds), at most limit (1..500, default 100); count and average are over "
             "the items returned. next_cursor, present when there are more, is the cursor "
             "of the next (older) page."),
    Endpoint("GET", "/api/admin/contacts/{id}", "A contact", "supervisor", hist.get_contact,
             tag="history", response=Contact, errors=(404,)),
    Endpoint("GET", "/api/admin/contacts/{id}/conversations", "A contact's conversations",
             "supervisor", hist.contact_conversations, tag="history",
             response=s.ConversationList, errors=(404,)),
    Endpoint("GET", "/api/admin/contacts/{id}/export", "Export a contact's data as JSON",
             "admin", hist.export_contact, tag="history", response=s.ContactExport,
             errors=(404,), download=True,
             description="The contact, its conversations and all their messages, as a "
             "JSON file download."),
    Endpoint("DELETE", "/api/admin/contacts/{id}", "Delete a contact's data (right to be "
             "forgotten)", "admin", hist.delete_contact, tag="history",
             query=s.DeleteContactQuery, response=s.ContactDeleted, errors=(404, 409),
             description="Deletes the contact, its conversations and their messages. 409 "
             "while it has open conversations, unless force=true (they vanish from the "
             "consoles' routing)."),
    # -- templates (admin) -------------------------------------------------------------------
    Endpoint("GET", "/api/admin/templates", "List templates", "admin", ws.list_templates,
             tag="templates", response=list[Template]),
    Endpoint("POST", "/api/admin/templates", "Create a template", "admin", ws.create_template,
             tag="templates", body=ws.TemplateIn, response=Template, status=201,
             errors=(409,), description="content: the text by channel, \"default\" for "
             "every channel without its own. Variables: {{contact.name}}, "
             "{{contact.first_name}}, {{contact.email}}, {{contact.phone}}, {{agent.name}}, "
             "{{agent.first_name}}, {{agent.email}}; an unknown one is a 422."),
    Endpoint("GET", "/api/admin/templates/{id}", "Get a template", "admin", ws.get_template,
             tag="templates", response=Template, errors=(404,)),
    Endpoint("PUT", "/api/admin/templates/{id}", "Replace a template", "admin",
             ws.put_template, tag="templates", body=ws.TemplateIn, response=Template,
             errors=(404,)),
    Endpoint("DELETE", "/api/admin/templates/{id}", "Delete a template", "admin",
             ws.delete_template, tag="templates", status=204, errors=(404,)),
    # -- the agent's workspace (console) -------------------------------------------------------
    Endpoint("GET", "/api/console/agents", "Agents and their status now", "agent", ws.roster,
             tag="console", response=list[RosterEntry],
             description="For the transfer dialog: every active agent, their status "
             "(available, away, offline) and the capacity points they have left."),
    Endpoint("GET", "/api/console/conversations/{id}/card", "A conversation's contact card",
             "agent", ws.get_card, tag="console", response=Card, errors=(403, 404),
             description="The contact, their addresses, what the form said (unconfirmed), "
             "the page they were on and their earlier conversations. For whoever reads the "
             "conversation."),
    Endpoint("PUT", "/api/console/conversations/{id}/contact", "Save the conversation's contact",
             "agent", ws.save_contact, tag="console", body=ContactDetails, response=Card,
             errors=(403, 404, 409),
             description="The details the agent checked: the contact becomes saved. 409 "
             "contact_exists (with error.contact_id) when another saved contact has this "
             "email or phone: merge into it instead."),
    Endpoint("POST", "/api/console/conversations/{id}/contact/merge",
             "Merge the conversation's contact into a saved contact", "agent",
             ws.merge_contact, tag="console", body=ws.MergeIn, response=Card,
             errors=(403, 404),
             description="The conversation's contact, its addresses and conversations move "
             "to the saved contact, in one transaction; the old contact is deleted."),
    Endpoint("GET", "/api/console/contacts", "Find saved contacts (to merge into)", "agent",
             ws.search_contacts, tag="console", query=ws.SearchQuery, response=list[Contact]),
    Endpoint("GET", "/api/console/conversations/{id}/templates",
             "Templates for a conversation, rendered", "agent", ws.conversation_templates,
             tag="console", query=ws.SearchQuery, response=list[RenderedTemplate],
             errors=(403, 404),
             description="The templates with a text for the conversation's channel, "
             "variables filled in from its contact and the caller; q searches collection, "
             "name and text."),
    Endpoint("GET", "/api/console/conversations/{id}/notes", "A conversation's notes", "agent",
             ws.conversation_notes, tag="console", response=list[NoteOut], errors=(403, 404),
             description="Notes are added over the agent socket (frame note); they never "
             "reach the contact."),
    Endpoint("GET", "/api/console/history", "Search closed conversations", "agent",
             ws.search_history, tag="console", query=ws.HistorySearchQuery,
             response=HistoryPageOut,
             description="Newest first. q matches the contact's name, email or phone (or "
             "the channel address exactly); since/until are UTC days, both included. "
             "Agents find the conversations they had last; supervisors and admins every "
             "one. For the next page pass next_before as before."),
    Endpoint("GET", "/api/console/history/{id}", "A conversation's transcript", "agent",
             ws.get_transcript, tag="console", query=ws.TranscriptQuery, response=Transcript,
             errors=(404,),
             description="Messages (the first 10,000), events, notes and the wrap-up. "
             "With via=<conversation "
             "id>, one of the same contact's conversations read from that conversation's "
             "card."),
    Endpoint("GET", "/api/console/history/{id}/export", "Download a transcript", "agent",
             ws.export_transcript, tag="console", query=ws.ExportQuery, errors=(404,),
             description="format=json (the transcript), csv (one row per message: seq, "
             "time_utc, sender, name, text) or text, as a file download."),
    # -- reports -------------------------------------------------------------------------
    Endpoint("GET", "/api/reports", "Conversations, wait, handle, abandonment, satisfaction",
             "supervisor", ws.get_report, tag="reports", query=ws.ReportQuery, response=Report,
             description="since/until: UTC days, both included, at most 366 days; group_by "
             "day, queue, agent or channel. satisfaction is null while no rating source is "
             "plugged in (satisfaction_available=false)."),
    Endpoint("GET", "/api/reports.csv", "The same report as CSV", "supervisor",
             ws.report_csv, tag="reports", query=ws.ReportQuery,
             description="One row per group and a Total row, as a file download."),
    # -- agents' messages with channel content (gateway/web/admin/messages.py) ------------------
    *MESSAGE_ENDPOINTS,
]
# fmt: on


def admin_routes() -> list[BaseRoute]:
    return [route(ep) for ep in ENDPOINTS if ep.handler is not None]
