"""Contacts: who is behind a channel address, and their display names.

A contact record is made the first time an address writes, anonymous ("Visitor #N",
or the name the form gave): what a form says about email and phone stays on the
conversation (``fields``) for the agent to check. A contact is *saved* (confirmed) only
by a signed identity (the chat widget's "chat user identification", docs/security.md),
which matches an existing contact by email or phone, or by an agent from the contact
card (gateway/services/contact_card.py), who saves it or merges it into an existing
one. A new address the provider vouches for (an SMS sender's number, a WhatsApp
number, an email's sender: ``_proven_by``) joins the one saved contact with that phone
or email (FAQ 24: a known contact's name on the conversation); a form's values never
match anyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.auth import Identity, new_id
from gateway.errors import Conflict, ContactExists, NotFound
from gateway.model.channels import CHANNELS, ChannelName
from gateway.model.records import Contact
from gateway.ports.store.base import Store

NAME_CACHE = 10_000  # contacts whose display name is kept in memory


def _proven_by(channel: ChannelName, address: str) -> tuple[str, str]:
    """What a channel address says of the contact: (email, phone), either may be ""."""
    kind = CHANNELS[channel].address
    if kind in ("e164", "phone"):
        return "", address
    if kind == "whatsapp_id":
        return "", f"+{address}"
    if kind == "email" and "@" in address:
        return address, ""
    return "", ""


def _exists(found: Contact, what: str) -> ContactExists:
    return ContactExists(
        f"{found.display_name} already has this {what}: merge into that contact", found.id
    )


class ContactService:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._names: dict[str, str] = {}

    async def get(self, contact_id: str) -> Contact:
        return await self._store.get_contact(contact_id)

    async def at(self, channel: ChannelName, address: str) -> Contact | None:
        """The contact reached at this address, if any."""
        return await self._store.find_contact_by_address(channel, address)

    async def name(self, contact_id: str) -> str:
        """A contact's display name, cached: read on every message, changed rarely (this
        node forgets it when it changes a contact; another node's change shows once the
        entry is evicted)."""
        name = self._names.get(contact_id)
        if name is None:
            name = (await self._store.get_contact(contact_id)).display_name
            if len(self._names) >= NAME_CACHE:
                self._names.pop(next(iter(self._names)))
            self._names[contact_id] = name
        return name

    async def opted_out(self, channel: ChannelName, address: str) -> bool:
        """Whether the address asked to receive nothing more on this channel."""
        return await self._store.is_opted_out(channel, address)

    async def set_opted_out(self, channel: ChannelName, address: str, opted_out: bool) -> bool:
        """Block or unblock the address on every touchpoint of the channel; True when
        this changed something."""
        return await self._store.set_opt_out(channel, address, opted_out, now=self._clock())

    def forget(self, contact_id: str) -> None:
        self._names.pop(contact_id, None)

    async def for_conversation(
        self,
        channel: ChannelName,
        address: str,
        fields: Mapping[str, str],
        identity: Identity | None = None,
    ) -> Contact:
        """The contact a new conversation from this address belongs to, created or
        updated from what the channel knows (``fields``: name, email, phone) and from a
        signed identity, which may match an existing contact by email or phone; without
        one, a new address joins the saved contact with its own phone or email
        (``_saved_at``), never by the form's ``fields``."""
        if identity is not None and (identity.email or identity.phone):
            try:
                return await self._for_identity(channel, address, fields, identity)
            except Conflict:
                # A contact with this email was saved at the same instant (the store's
                # unique index): it is this visitor's now.
                return await self._for_identity(channel, address, fields, identity)
        contact = await self.at(channel, address)
        if contact is None:
            # Never email or phone from a form: the agent confirms them (contact card).
            # The address itself is the provider's word (an SMS sender, a WhatsApp id,
            # an email's sender), so it is the contact's phone or email from the start,
            # and names the saved contact who has it, if only one does.
            email, phone = _proven_by(channel, address)
            made = await self._saved_at(channel, address, email, phone) or await self._create(
                channel, address, name=fields.get("name", ""), email=email, phone=phone
            )
            # Another node linked the address a moment before (the store rolled this
            # contact back and gave theirs): the name typed here names it if it has none.
            return await self.named(made, fields.get("name", ""))
        # What the contact typed (or the provider's profile name) names them, unless the
        # contact is saved: then the name is the agents' record (the card, a signed
        # identity), not what the next email's From or a form says. An email or phone
        # typed in a form stays in the conversation's fields until an agent confirms it.
        if fields.get("name") and fields["name"] != contact.name and not contact.saved:
            return await self._update(contact.id, name=fields["name"])
        return contact

    async def named(self, contact: Contact, name: str) -> Contact:
        """The contact, given ``name`` if it has none yet: what a start typed that lost
        the race for a new address to another node's. A name it has is kept (the
        first start's, or an agent's)."""
        if name and not contact.name:  # as read: the store decides again as it writes
            self.forget(contact.id)
            return await self._store.update_contact(contact.id, name=name, unnamed_only=True)
        return contact

    async def _saved_at(
        self, channel: ChannelName, address: str, email: str, phone: str
    ) -> Contact | None:
        """The one saved contact with this email or phone (the new address's own), the
        address linked to it now; None when none has it, or several (a phone may be
        saved on two contacts: which one writes is the agent's call), or it went since.
        Linked only while the address is free: another node that made or linked a
        contact for it a moment before wins, and its contact is returned (two first
        messages end on one contact, as ``_create`` settles it)."""
        if not (email or phone):
            return None
        found = await self._store.saved_contacts_with(email=email, phone=phone, limit=2)
        if len(found) != 1:
            return None
        try:
            holder = await self._store.link_free_address(
                channel, address, found[0].id, now=self._clock()
            )
        except NotFound:
            return None  # merged or deleted meanwhile: a new contact, as before
        return found[0] if holder is None else holder

    async def _for_identity(
        self,
        channel: ChannelName,
        address: str,
        fields: Mapping[str, str],
        identity: Identity,
    ) -> Contact:
        """A signed identity's contact: the saved one with its email or phone, else the
        oldest with either (saved now), else this address's (saved with them), else a
        new saved one. Conflict when a save of the same email commits first."""
        contact = await self.at(channel, address)
        matched = await self.identified(identity.email, identity.phone)
        if matched is not None:
            if (identity.name and identity.name != matched.name) or not matched.saved:
                matched = await self._update(matched.id, name=identity.name or None, saved=True)
            if contact is None or contact.id != matched.id:
                await self._store.link_address(channel, address, matched.id, now=self._clock())
            return matched
        if contact is not None:
            return await self._update(
                contact.id,
                name=identity.name or fields.get("name") or None,
                email=identity.email or None,
                phone=identity.phone or None,
                saved=True,
            )
        return await self._create(
            channel,
            address,
            name=identity.name or fields.get("name", ""),
            email=identity.email,
            phone=identity.phone,
            saved=True,
        )

    async def identified(self, email: str, phone: str) -> Contact | None:
        """The contact a signed identity names: a saved one with its email or phone,
        else the oldest contact with either (an email or SMS sender's, unsaved). Never
        an unsaved one while a saved one has the same email or phone: that would make a
        second saved contact of it."""
        return await self._store.find_contact(
            email=email, phone=phone, saved=True
        ) or await self._store.find_contact(email=email, phone=phone)

    async def _create(
        self,
        channel: ChannelName,
        address: str,
        *,
        name: str,
        email: str = "",
        phone: str = "",
        saved: bool = False,
    ) -> Contact:
        return await self._store.create_contact(
            new_id("ct"),
            name=name,
            email=email,
            phone=phone,
            now=self._clock(),
            address=(channel, address),
            saved=saved,
        )

    async def _update(
        self,
        contact_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        saved: bool | None = None,
    ) -> Contact:
        self.forget(contact_id)
        return await self._store.update_contact(
            contact_id, name=name, email=email, phone=phone, saved=saved
        )

    async def save(self, contact_id: str, *, name: str, email: str, phone: str) -> Contact:
        """An agent confirmed these details: the contact is saved. Conflict when another
        saved contact has this email or phone (merge into it instead)."""
        for what, found in (
            ("email", await self._saved_with(contact_id, email=email) if email else None),
            ("phone", await self._saved_with(contact_id, phone=phone) if phone else None),
        ):
            if found is not None:
                raise _exists(found, what)
        try:
            return await self._update(contact_id, name=name, email=email, phone=phone, saved=True)
        except Conflict:
            # Another agent saved this email in the meantime: the store's unique index
            # turned this one away. The same answer as when that save came first.
            found = await self._saved_with(contact_id, email=email) if email else None
            if found is None:
                raise
            raise _exists(found, "email") from None

    async def _saved_with(
        self, contact_id: str, *, email: str = "", phone: str = ""
    ) -> Contact | None:
        """Another saved contact with this email (any case) or phone. Not the oldest
        contact with it: that one may be unsaved (an SMS or an email sender's, made with
        their address) while a saved one has it too."""
        found = await self._store.find_contact(email=email, phone=phone, saved=True)
        return found if found is not None and found.id != contact_id else None

    async def merge(self, source_id: str, into_id: str) -> Contact:
        """The source contact is the same person as ``into_id``: one contact remains."""
        self.forget(source_id)
        self.forget(into_id)
        return await self._store.merge_contacts(source_id, into_id)
