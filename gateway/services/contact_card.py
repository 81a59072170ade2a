"""The contact card beside a conversation (FAQ 24, 26, 41): the contact, their channel
addresses, what the form said, the page they were on, and their earlier conversations.

From the card the conversation's agent saves the contact (the details they checked) or
merges it into an existing saved contact. A form never saves a contact by itself: what
a visitor typed may be someone else's email (gateway/services/contacts.py).
"""

from __future__ import annotations

import msgspec
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from gateway.errors import InvalidInput, NotFound
from gateway.model.records import Agent, Contact, ContactAddress, Conversation
from gateway.ports.store.base import HistoryFilter, Store
from gateway.services.access import AccessPolicy
from gateway.services.contacts import ContactService
from gateway.services.directory import Directory

EARLIER = 50  # earlier conversations listed on a card


class EarlierConversation(msgspec.Struct, kw_only=True):
    conversation_id: str
    channel: str
    touchpoint_name: str
    state: str
    created_at: float
    ended_at: float | None = None
    agent_name: str = ""
    # the bot's name, while a bot holds it (state "bot")
    bot_name: str = ""
    disposition: str = ""


class Card(msgspec.Struct, kw_only=True):
    conversation_id: str
    channel: str
    # the contact's address on the conversation's channel
    address: str
    touchpoint_name: str
    page: str
    # what the pre-conversation form said (unconfirmed)
    fields: dict[str, str]
    # those of them the embedding page set (hidden fields: GatewayChat.setFields), not
    # the contact: the page's word
    page_fields: list[str]
    contact: Contact
    addresses: list[ContactAddress]
    earlier: list[EarlierConversation]
    # whether this agent may save or merge the contact
    editable: bool


class ContactDetails(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str = msgspec.field(default="")
    email: str = ""
    phone: str = ""


def clean_details(details: ContactDetails) -> ContactDetails:
    """Trimmed, the email normalised (syntax only), the phone in E.164; InvalidInput
    with each problem otherwise."""
    problems: list[tuple[str, str]] = []
    name = details.name.strip()
    email = details.email.strip()
    phone = details.phone.strip()
    if len(name) > 200:
        problems.append(("name", "at most 200 characters"))
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems.append(("email", str(exc)))
    if phone:
        try:
            number = phonenumbers.parse(phone, None)
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(0, "invalid")
            phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            problems.append(("phone", "enter a valid number with its country code, e.g. +44…"))
    if not (name or email or phone):
        problems.append(("name", "give at least a name, an email or a phone"))
    if problems:
        raise InvalidInput(problems)
    return ContactDetails(name=name, email=email, phone=phone)


class ContactCards:
    def __init__(
        self, store: Store, directory: Directory, contacts: ContactService, access: AccessPolicy
    ) -> None:
        self._store = store
        self._dir = directory
        self._contacts = contacts
        self._access = access

    async def readable(self, agent: Agent, conversation_id: str) -> Conversation:
        """The conversation if this agent may read it; NotFound / Forbidden otherwise."""
        try:
            conv = await self._store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        self._access.check_sees(agent, conv)
        self._access.check_reads(agent, conv)
        return conv

    async def card(self, agent: Agent, conversation_id: str) -> Card:
        conv = await self.readable(agent, conversation_id)
        return await self._card(agent, conv)

    async def _card(self, agent: Agent, conv: Conversation) -> Card:
        contact = await self._store.get_contact(conv.contact_id)
        others = await self._store.search_conversations(
            HistoryFilter(
                contact_id=contact.id,
                states=("new", "bot", "waiting", "offered", "assigned", "wrapup", "closed"),
                limit=EARLIER + 1,
            )
        )
        earlier = [
            EarlierConversation(
                conversation_id=c.id,
                channel=c.channel,
                touchpoint_name=self._dir.touchpoint_name(c.touchpoint_id),
                state=c.state,
                created_at=c.created_at,
                ended_at=c.ended_at,
                agent_name=self._dir.agent_name(c.owner_agent_id) if c.owner_agent_id else "",
                bot_name=self._dir.touchpoint_name(c.bot_id)
                if c.state == "bot" and c.bot_id
                else "",
                disposition=c.disposition,
            )
            for c in others
            if c.id != conv.id
        ][:EARLIER]
        return Card(
            conversation_id=conv.id,
            channel=conv.channel,
            address=conv.address,
            touchpoint_name=self._dir.touchpoint_name(conv.touchpoint_id),
            page=conv.page,
            fields=dict(conv.fields),
            page_fields=sorted(set(conv.fields) & self._hidden(conv.touchpoint_id)),
            contact=contact,
            addresses=await self._store.contact_addresses(contact.id),
            earlier=earlier,
            editable=self._access.edits_contact(agent, conv),
        )

    def _hidden(self, touchpoint_id: str) -> set[str]:
        """The touchpoint's form fields the page fills (kind hidden)."""
        tp = self._dir.touchpoints.get(touchpoint_id)
        return {f.name for f in tp.form if f.kind == "hidden"} if tp else set()

    async def save(self, agent: Agent, conversation_id: str, details: ContactDetails) -> Card:
        conv = await self.readable(agent, conversation_id)
        self._access.check_edits_contact(agent, conv)
        clean = clean_details(details)
        await self._contacts.save(
            conv.contact_id, name=clean.name, email=clean.email, phone=clean.phone
        )
        return await self._card(agent, conv)

    async def merge(self, agent: Agent, conversation_id: str, into_id: str) -> Card:
        conv = await self.readable(agent, conversation_id)
        self._access.check_edits_contact(agent, conv)
        try:
            into = await self._store.get_contact(into_id)
        except NotFound:
            raise NotFound("no such contact") from None
        if not into.saved:
            raise InvalidInput([("contact_id", "merge into a saved contact")])
        if into.id != conv.contact_id:
            await self._contacts.merge(conv.contact_id, into.id)
        return await self._card(agent, await self._store.get_conversation(conv.id))

    async def search(self, text: str, limit: int = 20) -> list[Contact]:
        """Saved contacts to merge into (every agent may look them up)."""
        return await self._store.search_contacts(text, limit)

    async def earlier_readable(self, agent: Agent, conversation_id: str, via: str) -> Conversation:
        """A conversation read from the card of ``via``: this agent reads ``via``, and
        both belong to the same contact (FAQ 26)."""
        current = await self.readable(agent, via)
        try:
            other = await self._store.get_conversation(conversation_id)
        except NotFound:
            raise NotFound("no such conversation") from None
        if not self._access.reads_via(agent, other, current):
            raise NotFound("no such conversation")
        return other
