"""Starting a conversation, from the contact's side or the company's (an agent, the
integration API), and routing it once it has something to answer; finding the contact's
open one. A base of :class:`~gateway.services.conversations.ConversationService`, which
sets the fields declared on :class:`~gateway.services.contact_io.ContactIO`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from gateway.auth import Identity, new_id
from gateway.errors import ActionRefused, Conflict, Forbidden
from gateway.model.channels import ChannelName
from gateway.model.records import LIVE_STATES, Contact, Conversation, ConversationDirection
from gateway.ports.store.base import LiveElsewhere
from gateway.services.contact_io import ContactIO
from gateway.services.router_rebuild import arrival, routed_at_start

# raises RateLimited over the limits; returns what gives back what it counted, if any
GiveBack = Callable[[], Awaitable[None]]
Admit = Callable[[], Awaitable[GiveBack | None]]


class ConversationStart(ContactIO):
    # -- finding the contact's conversation -------------------------------------------
    async def open_for(self, touchpoint_id: str, address: str) -> Conversation | None:
        """The contact's live conversation on this touchpoint, if any (the newest)."""
        convs = await self._store.list_conversations(
            address=address, touchpoint_id=touchpoint_id, states=list(LIVE_STATES)
        )
        return convs[-1] if convs else None

    async def latest_for(self, touchpoint_id: str, address: str) -> Conversation | None:
        convs = await self._store.list_conversations(address=address, touchpoint_id=touchpoint_id)
        return convs[-1] if convs else None

    # -- starting ----------------------------------------------------------------------
    async def start(
        self,
        touchpoint_id: str,
        address: str,
        fields: Mapping[str, str],
        *,
        identity: Identity | None = None,
        admit: Admit | None = None,
        subject: str = "",
        direction: ConversationDirection = "inbound",
        agent_id: str | None = None,
        left_message: bool = False,
        page: str = "",
        one_per_contact: bool = False,
    ) -> tuple[Conversation, Contact]:
        """Start a conversation for the contact at ``address``, or return the open one.
        ``fields`` are validated by the channel (chat: the pre-conversation form);
        ``identity`` is a verified signed identity, the only way to match an existing
        contact by email or phone; ``admit`` raises RateLimited when a new conversation
        is over the limits, and runs only when one is to be created; what it counted is
        given back when none was (it joined the one another node made at the same
        instant, or failed). A start that joins the contact's live conversation names
        a contact that has no name yet with the typed ``name``. ``left_message``: the
        contact leaves a message for later (it will be held in the Inbox). ``page``: the
        page the contact is on, if the channel knows it (shown to the agent, nothing more).

        An inbound conversation is created ``new`` and routed by its first message
        (write or receive): nobody is rung for an empty conversation, and an automatic
        reply comes after the message it answers.

        ``direction="outbound"``: the company's side starts it (an agent, or a third
        party through the integration API), on a touchpoint whose direction allows it,
        at most one open at a time per address (a second is a Conflict); with
        ``one_per_contact`` (the integration API, whose address is an interaction id and
        whose contact is named by ``identity``'s email), at most one open outbound one
        per contact on the touchpoint, whatever its address: a second is a Conflict with
        nothing stored, and two at once on two nodes make one (the store's
        ``create_outbound_conversation``). With ``agent_id`` it is that agent's at once
        (docs/routing.md, "Outbound"). An outbound conversation, or one started for an
        agent, is routed at once."""
        tp = self._dir.touchpoints.get(touchpoint_id)
        if tp is None or not tp.active:
            raise Forbidden("this touchpoint is not active")
        if tp.direction not in (direction, "both"):
            raise Forbidden(f"this touchpoint does not take {direction} conversations")
        existing = await self.open_for(touchpoint_id, address)
        if existing is not None:
            return await self._found(existing, direction, fields, identity)
        per_contact = one_per_contact and direction == "outbound"
        if per_contact:
            # before the contact is looked up for it: a refused start changes no contact
            await self._refuse_open_outbound(tp.id, tp.channel, address, identity)
        if agent_id is not None:
            self._check_can_start(agent_id, tp.channel)
        give_back = await admit() if admit is not None else None
        try:
            contact = await self._contacts.for_conversation(tp.channel, address, fields, identity)
            now = self._clock()
            create = (
                self._store.create_outbound_conversation
                if per_contact
                else self._store.create_conversation
            )
            conv = await create(
                Conversation(
                    id=new_id("cv"),
                    touchpoint_id=tp.id,
                    channel=tp.channel,
                    contact_id=contact.id,
                    address=address,
                    state="new",
                    queue_ids=list(tp.queue_ids),
                    fields=dict(fields),
                    page=page,
                    created_at=now,
                    arrived_at=now,
                    subject=subject,
                    direction=direction,
                    # the agent who starts it, until routing makes it theirs (a rebuild
                    # in between routes it to them as its arrival would have)
                    owner_agent_id=agent_id,
                    left_message=left_message,
                )
            )
        except Exception as exc:
            # No new conversation: what admit counted is not one (a retry counts anew).
            if give_back is not None:
                await give_back()
            if not isinstance(exc, LiveElsewhere):
                raise
            # Another node made it in the same few milliseconds (the store's one-live
            # index): as if this node had found it. Or (per_contact) another start made
            # the contact's outbound one at another address: 409 conversation_open.
            existing = await self.open_for(touchpoint_id, address)
            if existing is None:
                raise  # ended already: 409 conversation_open, a retry starts another
            return await self._found(existing, direction, fields, identity)
        if routed_at_start(conv):
            conv = await self._route_new(conv)
        return conv, contact

    async def _refuse_open_outbound(
        self, touchpoint_id: str, channel: ChannelName, address: str, identity: Identity | None
    ) -> None:
        """Conflict when the contact this start is for has an open outbound conversation
        on the touchpoint: the contact ``for_conversation`` picks for ``identity`` at this
        address (by email, else the address's own), looked up without changing it."""
        contact = None
        if identity is not None and (identity.email or identity.phone):
            contact = await self._contacts.identified(identity.email, identity.phone)
        if contact is None:
            contact = await self._contacts.at(channel, address)
        if contact is None:
            return  # a new contact: nothing of theirs is open
        convs = await self._store.list_conversations(
            contact_id=contact.id, touchpoint_id=touchpoint_id, states=list(LIVE_STATES)
        )
        for conv in convs:
            if conv.direction == "outbound":
                raise Conflict(
                    f"an open outbound conversation with this contact exists: {conv.id}",
                    code="conversation_open",
                )

    async def _found(
        self,
        existing: Conversation,
        direction: ConversationDirection,
        fields: Mapping[str, str],
        identity: Identity | None,
    ) -> tuple[Conversation, Contact]:
        """The contact's live conversation, found instead of making one: theirs to
        write in, or a Conflict for the company's side (one open at a time). The name a
        start typed (it lost the race to the one that made it) names the address's
        contact if it has none; a signed identity names its contact itself."""
        if direction == "outbound":
            raise Conflict(
                f"an open conversation with this contact exists: {existing.id}",
                code="conversation_open",
            )
        contact = await self._store.get_contact(existing.contact_id)
        name = fields.get("name", "")
        if name and not contact.name and identity is None:
            # only the address's own contact: an API interaction id's conversation may
            # be another contact's (interaction_in_use), whose name this is not
            linked = await self._contacts.at(existing.channel, existing.address)
            if linked is not None and linked.id == contact.id:
                contact = await self._contacts.named(contact, name)
        return existing, contact

    async def _route_new(self, conv: Conversation) -> Conversation:
        """Route a conversation that has its first message (or was started by the
        company's side); the conversation after."""
        try:
            await self._shell.apply(arrival(conv))
        except ActionRefused as exc:
            # A rebuild between the first message (or the start) and this arrival (an
            # admin change on any node), or the contact's other tab, routed it already.
            if exc.code != "conversation_exists":
                if routed_at_start(conv):
                    # the agent went offline or filled up meanwhile: nothing was started
                    now = self._clock()
                    await self._store.update_conversation(conv.id, state="closed", closed_at=now)
                raise
        routed = await self._store.get_conversation(conv.id)
        # As routing left it (queued, assigned): the contact's next message is checked on
        # this row, not on the "new" one its first append kept (gateway/services/recent.py),
        # and so is stored in one statement.
        self._recent.put(routed)
        return routed

    async def route(self, conv: Conversation) -> Conversation:
        """The conversation, routed if it was not yet (``new``): its first message, or
        something else for an agent to answer (an escalated transcript), arrived."""
        return await self._route_new(conv) if conv.state == "new" else conv

    def _check_can_start(self, agent_id: str, channel: str) -> None:
        view = self._shell.router.agent(agent_id)
        if view is None or view.status == "offline":
            raise ActionRefused(
                "the agent is offline: an outbound conversation needs them online",
                code="agent_unavailable",
            )
        if self._shell.router.weight(channel) > view.capacity_left:
            raise ActionRefused("the agent has no capacity left for it", code="over_capacity")
