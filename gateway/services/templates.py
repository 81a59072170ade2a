"""Templates (FAQ 11): pre-written replies in collections ("Sales", "Support"), with
content per channel and variables filled from the contact and the agent.

Admins manage them through the admin API; an agent gets them rendered for one
conversation: the text for its channel (or the default text), its variables replaced.
"""

from __future__ import annotations

import re

import msgspec

from gateway.errors import InvalidInput
from gateway.model.channels import CHANNELS
from gateway.model.records import Agent, Contact, Conversation, Template
from gateway.settings import MAX_MESSAGE_CHARS

DEFAULT = "default"
VARIABLES: dict[str, str] = {
    "contact.name": "the contact's name (or Visitor #N)",
    "contact.first_name": "the first word of the contact's name",
    "contact.email": "the contact's email",
    "contact.phone": "the contact's phone",
    "agent.name": "the agent's name",
    "agent.first_name": "the first word of the agent's name",
    "agent.email": "the agent's email",
}
_VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
MAX_TEXT = MAX_MESSAGE_CHARS


class RenderedTemplate(msgspec.Struct, kw_only=True):
    id: str
    collection: str
    name: str
    text: str


def check(template: Template) -> None:
    """InvalidInput for each problem: unknown channels or variables, empty or long text."""
    problems: list[tuple[str, str]] = []
    if not template.name.strip():
        problems.append(("name", "a template needs a name"))
    if not template.collection.strip():
        problems.append(("collection", "a template belongs to a collection"))
    if not template.content:
        problems.append(("content", f"give a text for {DEFAULT!r} or for a channel"))
    for key, text in template.content.items():
        where = f"content.{key}"
        if key != DEFAULT and key not in CHANNELS:
            problems.append((where, f"not a channel: one of {DEFAULT}, {', '.join(CHANNELS)}"))
        if not text.strip():
            problems.append((where, "empty text"))
        if len(text) > MAX_TEXT:
            problems.append((where, f"at most {MAX_TEXT} characters"))
        for name in _VARIABLE.findall(text):
            if name not in VARIABLES:
                problems.append((where, f"unknown variable {{{{{name}}}}}: {', '.join(VARIABLES)}"))
    if problems:
        raise InvalidInput(problems)


def _first(name: str) -> str:
    return name.split()[0] if name.split() else ""


def render(text: str, contact: Contact, agent: Agent) -> str:
    values = {
        "contact.name": contact.display_name,
        "contact.first_name": _first(contact.name) or contact.display_name,
        "contact.email": contact.email,
        "contact.phone": contact.phone,
        "agent.name": agent.name,
        "agent.first_name": _first(agent.name),
        "agent.email": agent.email,
    }
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def for_conversation(
    templates: list[Template], conv: Conversation, contact: Contact, agent: Agent, query: str = ""
) -> list[RenderedTemplate]:
    """The templates that have a text for this conversation's channel, rendered, those
    matching ``query`` (in collection, name or text) only."""
    q = query.strip().lower()
    out = []
    for t in templates:
        text = t.content.get(conv.channel) or t.content.get(DEFAULT)
        if not text:
            continue
        rendered = render(text, contact, agent)
        if q and not any(q in s.lower() for s in (t.collection, t.name, rendered)):
            continue
        out.append(RenderedTemplate(id=t.id, collection=t.collection, name=t.name, text=rendered))
    return out
