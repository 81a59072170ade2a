"""The store interface: the operations the gateway needs on its records
(gateway/model/records.py).

The store is the log (ARCHITECTURE.md, principle 3): a message gets its
per-conversation sequence number and is committed before the sender is acknowledged.
Two implementations live beside this file, ``sqlite.py`` (sqlite3, the embedded
default) and ``postgres.py`` (asyncpg); ``tests/store/`` runs one contract suite
against both. Implementations translate driver errors into ``StoreError`` /
``StoreUnavailable`` and unknown ids into ``NotFound``; no operation leaves half-written
state (each is one transaction).

Times are UNIX seconds as floats, passed in by the caller (the store reads no clock of
its own for anything that matters to behaviour).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeAlias

from gateway.errors import Conflict
from gateway.model.channel_state import Connection, ConnectionStatus, Content, Cursor, MessageRef
from gateway.model.channels import ChannelName
from gateway.model.integrations import Announcement
from gateway.model.records import (
    AdminNotice,
    Agent,
    AgentChosenStatus,
    AgentSession,
    Attachment,
    Contact,
    ContactAddress,
    Conversation,
    ConversationNote,
    ConversationState,
    DeliveryState,
    DispositionSet,
    EmbedRefusal,
    GlobalSettings,
    Message,
    MessageKind,
    Queue,
    Rating,
    RefusalCode,
    Sender,
    Side,
    Template,
    Touchpoint,
)
from gateway.ports.store.integrations_base import IntegrationStore
from gateway.ports.store.queries import HistoryFilter, ReportFact

__all__ = ["Appended", "HistoryFilter", "MessageAnnouncer", "ReportFact", "Store"]

# What a message is announced as (``message.created`` to whom), decided by the store in
# the transaction that announces it, on the conversation as that transaction leaves it.
MessageAnnouncer: TypeAlias = Callable[[Conversation, Message], Sequence[Announcement]]


class DeliveryJob(NamedTuple):
    """An outbound message claimed for delivery (``claim_deliveries``)."""

    conversation: Conversation
    message: Message
    # attempts so far, this one included
    attempts: int


# The code of the Conflict a change or deletion of an agent raises when it would leave
# no active admin (put_agent, delete_agent).
LAST_ADMIN = "last_admin"


class Stale(Conflict):
    """The conversation changed (state, owner, bot or queues) since the
    caller read it: an ``append(expect=...)`` stored nothing; read it again and decide
    again."""

    code = "conversation_changed"


class LiveElsewhere(Conflict):
    """``create_conversation`` stored nothing: the contact's address already has a live
    conversation on the touchpoint (the store's one-live index: another node made it at
    the same moment). Find it and carry on with it."""

    code = "conversation_open"


# What ``append(expect=...)`` compares: the fields a message's path decides on before it
# is stored (who may write, whether it is routed, who is told). Messages change none.
GUARDED = ("state", "owner_agent_id", "bot_id", "queue_ids")


def unchanged(expect: Conversation, now: Conversation) -> bool:
    return all(getattr(expect, f) == getattr(now, f) for f in GUARDED)


class Appended(NamedTuple):
    """What ``Store.append`` returns."""

    message: Message
    created: bool
    conversation: Conversation


class Store(IntegrationStore):
    """Everything the gateway keeps. One transaction per call.

    ``announce``: the operations that change a conversation (``update_conversation``,
    ``append``) write these events to the outbox in the same transaction as the change
    (nothing announced that did not happen, nothing that happened unannounced); an
    append that stores nothing (a retry) announces nothing.

    A message written while its conversation is ``new`` is announced when the
    conversation leaves ``new`` (after its ``conversation.started``), not when written;
    which of the two it is, the store decides under the conversation's row lock, so
    each message is announced exactly once whatever the order in which an append and
    the change that routes the conversation commit (on any number of nodes)."""

    # -- lifecycle ---------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the database answers; never raises."""

    # -- configuration -------------------------------------------------------------
    @abc.abstractmethod
    async def put_touchpoint(self, tp: Touchpoint) -> None:
        """Insert or replace by id."""

    @abc.abstractmethod
    async def update_touchpoint(self, tp: Touchpoint) -> None:
        """Replace the row of that id only: NotFound when there is none, also when a
        delete commits first; never inserts. So are the other ``update_*`` (what the
        admin API's edits use: an edit racing a delete does not bring the row back)."""

    @abc.abstractmethod
    async def create_touchpoint(self, tp: Touchpoint) -> None:
        """Insert only: Conflict (field ``id``) when the id is taken, also by a create
        committing at the same moment. So are the other ``create_*``."""

    @abc.abstractmethod
    async def get_touchpoint(self, touchpoint_id: str) -> Touchpoint:
        """Raise NotFound when absent."""

    @abc.abstractmethod
    async def list_touchpoints(self) -> list[Touchpoint]: ...

    @abc.abstractmethod
    async def delete_touchpoint(self, touchpoint_id: str) -> None:
        """Raise NotFound when absent. Conversations keep their touchpoint id as history."""

    @abc.abstractmethod
    async def put_queue(self, queue: Queue) -> None: ...

    @abc.abstractmethod
    async def update_queue(self, queue: Queue) -> None: ...

    @abc.abstractmethod
    async def create_queue(self, queue: Queue) -> None: ...

    @abc.abstractmethod
    async def get_queue(self, queue_id: str) -> Queue: ...

    @abc.abstractmethod
    async def list_queues(self) -> list[Queue]: ...

    @abc.abstractmethod
    async def delete_queue(self, queue_id: str) -> None: ...

    @abc.abstractmethod
    async def put_agent(self, agent: Agent) -> None:
        """Insert or replace by id; raise Conflict when the email belongs to another agent,
        and Conflict ``last_admin`` when it would take the last active admin's role or
        activity away (checked and written in one transaction, the admins locked)."""

    @abc.abstractmethod
    async def update_agent(self, agent: Agent) -> None:
        """:meth:`put_agent` that only replaces: NotFound when the agent is gone."""

    @abc.abstractmethod
    async def create_agent(self, agent: Agent) -> None:
        """Insert only: Conflict (field ``id``) when the id is taken, Conflict when the
        email belongs to another agent."""

    @abc.abstractmethod
    async def get_agent(self, agent_id: str) -> Agent: ...

    @abc.abstractmethod
    async def get_agent_by_email(self, email: str) -> Agent:
        """Case-insensitive on the email; raise NotFound when absent."""

    @abc.abstractmethod
    async def list_agents(self) -> list[Agent]: ...

    @abc.abstractmethod
    async def delete_agent(self, agent_id: str) -> None:
        """NotFound when absent; Conflict ``last_admin`` for the last active admin."""

    @abc.abstractmethod
    async def put_disposition_set(self, ds: DispositionSet) -> None: ...

    @abc.abstractmethod
    async def update_disposition_set(self, ds: DispositionSet) -> None: ...

    @abc.abstractmethod
    async def create_disposition_set(self, ds: DispositionSet) -> None: ...

    @abc.abstractmethod
    async def get_disposition_set(self, ds_id: str) -> DispositionSet: ...

    @abc.abstractmethod
    async def list_disposition_sets(self) -> list[DispositionSet]: ...

    @abc.abstractmethod
    async def delete_disposition_set(self, ds_id: str) -> None: ...

    # -- sites refused a touchpoint's chat ------------------------------------------
    @abc.abstractmethod
    async def record_refusal(
        self,
        touchpoint_id: str,
        origin: str,
        *,
        page_url: str,
        code: RefusalCode,
        reason: str,
        now: float,
        keep: int = 20,
    ) -> None:
        """Count one refusal of ``origin`` for the touchpoint (the row per origin keeps
        the last page, code and reason, how many times, first and last time), keeping
        only the ``keep`` origins refused most recently. NotFound for an unknown
        touchpoint. Deleting the touchpoint deletes its rows."""

    @abc.abstractmethod
    async def list_refusals(self, touchpoint_id: str) -> list[EmbedRefusal]:
        """The touchpoint's refused origins, most recent first."""

    @abc.abstractmethod
    async def get_settings(self) -> GlobalSettings:
        """The global settings; the defaults until someone saves them."""

    @abc.abstractmethod
    async def put_settings(self, settings: GlobalSettings) -> None: ...

    # -- agent sessions ------------------------------------------------------------
    @abc.abstractmethod
    async def create_session(self, session: AgentSession) -> None:
        """Conflict if the id exists, NotFound for an unknown agent. Deleting an agent
        deletes its sessions."""

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> AgentSession: ...

    @abc.abstractmethod
    async def revoke_session(self, session_id: str) -> None:
        """Idempotent; raise NotFound for an unknown id."""

    @abc.abstractmethod
    async def revoke_agent_sessions(self, agent_id: str) -> list[str]:
        """Revoke every session of the agent not revoked yet; the ids revoked now."""

    # -- contacts ------------------------------------------------------------------
    @abc.abstractmethod
    async def create_contact(
        self,
        contact_id: str,
        *,
        name: str = "",
        email: str = "",
        phone: str = "",
        now: float,
        address: tuple[ChannelName, str] | None = None,
        saved: bool = False,
    ) -> Contact:
        """Create with the next contact number (1, 2, 3, ... per store): "Visitor #N".
        With ``address`` (channel, address), link it to the new contact in the same
        transaction, but only while it is free: when another contact holds it (another
        node created one for the same new address a moment before), the new contact
        is rolled back and that contact is returned instead (its id, not
        ``contact_id``; PostgreSQL may skip a contact number then)."""

    @abc.abstractmethod
    async def get_contact(self, contact_id: str) -> Contact: ...

    @abc.abstractmethod
    async def find_contact(
        self, *, email: str = "", phone: str = "", saved: bool = False
    ) -> Contact | None:
        """The contact with this email (case-insensitive) or phone, if any (an email
        match first, then the oldest); with ``saved``, only a saved one."""

    @abc.abstractmethod
    async def find_contact_by_address(self, channel: ChannelName, address: str) -> Contact | None:
        """The contact reached at this address on this channel, if any."""

    @abc.abstractmethod
    async def link_address(
        self, channel: ChannelName, address: str, contact_id: str, *, now: float
    ) -> None:
        """From now on this address on this channel reaches this contact (an address
        linked to another contact before moves over). NotFound for an unknown contact."""

    @abc.abstractmethod
    async def link_free_address(
        self, channel: ChannelName, address: str, contact_id: str, *, now: float
    ) -> Contact | None:
        """Link this address to this existing contact only while no contact holds it:
        None when it is linked now, else the contact that holds it (another node linked
        or created one for the same new address a moment before; never moved over, as
        ``link_address`` would, which splits the history). NotFound for an unknown
        contact."""

    @abc.abstractmethod
    async def saved_contacts_with(
        self, *, email: str = "", phone: str = "", limit: int = 2
    ) -> list[Contact]:
        """The saved contacts with this email (case-insensitive) or phone, oldest first,
        at most ``limit``: more than one tells that the email or phone names no one
        contact (phones are not unique; emails saved twice before migration 0017)."""

    @abc.abstractmethod
    async def contact_addresses(self, contact_id: str) -> list[ContactAddress]:
        """The addresses a contact is reached at, oldest first."""

    @abc.abstractmethod
    async def update_contact(
        self,
        contact_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        saved: bool | None = None,
        unnamed_only: bool = False,
    ) -> Contact:
        """The contact with these fields changed; ``unnamed_only``: only if it has no
        name yet (the database decides: a name given meanwhile, by an agent say, is
        kept), else the contact as it is."""

    @abc.abstractmethod
    async def delete_contact(self, contact_id: str) -> int:
        """Delete the contact, its conversations, their messages and attachments (right
        to be forgotten); the attachments' blob keys are queued for deletion, due at
        once (``due_blob_deletions``). Return the number of conversations deleted.
        NotFound if unknown."""

    @abc.abstractmethod
    async def purge_closed_conversations(self, closed_before: float, limit: int) -> int:
        """Delete at most ``limit`` conversations closed before ``closed_before`` (the
        oldest first), in one transaction, as ``delete_contact`` deletes a contact's
        (their messages, attachments, notes and the rest; the blob keys queued, due at
        once); never an open one, and not their contacts. Return how many went. Safe to
        run on several nodes at once: PostgreSQL skips the rows another transaction is
        purging, so each conversation is deleted once (history retention,
        gateway/services/retention.py)."""

    @abc.abstractmethod
    async def export_contact(self, contact_id: str) -> dict[str, Any]:
        """{"contact": {...}, "conversations": [{..., "messages": [...],
        "attachments": [...]}, ...]} as JSON-able builtins, conversations by creation
        time, messages by seq, attachments (the attached ones) by seq then id."""

    # -- conversations -------------------------------------------------------------
    @abc.abstractmethod
    async def create_conversation(self, conv: Conversation) -> Conversation:
        """Insert; raise Conflict if the id exists, LiveElsewhere if the conversation
        is live and its address already has a live one on the touchpoint (one live
        conversation per touchpoint and address, also across nodes: migration 0018),
        NotFound if the contact does not. last_seq and the unread counts are the store's: they start at 0 whatever is
        passed, and the returned record says so."""

    @abc.abstractmethod
    async def create_outbound_conversation(self, conv: Conversation) -> Conversation:
        """``create_conversation``, and LiveElsewhere also when the conversation's
        contact has a live outbound one on the touchpoint, at any address (the
        integration API's one open outbound conversation per contact). One such start
        per contact and touchpoint at a time, also across nodes (PostgreSQL: the check
        after the insert, under a lock of the pair until commit; SQLite: one node), so
        two at once make one."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation: ...

    @abc.abstractmethod
    async def update_conversation(
        self,
        conversation_id: str,
        *,
        announce: Sequence[Announcement] = (),
        announce_written: MessageAnnouncer | None = None,
        **changes: Any,
    ) -> Conversation:
        """Change the fields named in CONVERSATION_MUTABLE (others: ValueError) and
        return the new record; NotFound if unknown.

        ``announce_written``: when this change takes the conversation out of ``new``
        (read under its row lock), every message written so far is announced as it says
        (on the conversation as the change leaves it), after ``announce``, in the same
        transaction: the messages no append announced (see ``append_message``)."""

    @abc.abstractmethod
    async def list_conversations(
        self,
        *,
        states: list[ConversationState] | None = None,
        contact_id: str | None = None,
        address: str | None = None,
        touchpoint_id: str | None = None,
    ) -> list[Conversation]:
        """Filtered (all filters AND-ed, None = any), ordered by created_at then id."""

    @abc.abstractmethod
    async def idle_conversations(
        self, *, channels: list[ChannelName], before: float, limit: int = 100
    ) -> list[Conversation]:
        """Conversations of these channels that someone is waiting on to write (state
        ``new`` or ``assigned``, not held) whose last message, or creation when they
        have none, is older than ``before``; oldest first, at most ``limit``."""

    # -- ratings -------------------------------------------------------------------
    @abc.abstractmethod
    async def put_rating(self, rating: Rating) -> None:
        """Insert; Conflict when the conversation has one already, NotFound when the
        conversation does not exist. Deleting the conversation deletes it."""

    @abc.abstractmethod
    async def get_rating(self, conversation_id: str) -> Rating:
        """NotFound when the conversation has none."""

    @abc.abstractmethod
    async def list_ratings(
        self,
        *,
        touchpoint_id: str | None = None,
        since: float = 0.0,
        limit: int = 100,
        after: tuple[float, str] | None = None,
    ) -> list[Rating]:
        """Newest first (then by conversation id); created at or after ``since``; of one
        touchpoint if given; those after ``after`` (a rating's created_at and
        conversation id) in this order when given: the next page."""

    @abc.abstractmethod
    async def rating_scores(self, conversation_ids: list[str]) -> dict[str, int]:
        """The score of each rated conversation among these (the reports' satisfaction)."""

    # -- messages ------------------------------------------------------------------
    @abc.abstractmethod
    async def append_message(
        self,
        conversation_id: str,
        *,
        sender: Sender,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: MessageKind = "text",
        attachments: Sequence[str] = (),
        delivery: DeliveryState = "",
        announce: MessageAnnouncer | None = None,
    ) -> tuple[Message, bool]:
        """Store a message with the conversation's next seq, in one transaction that also
        bumps the other side's unread count (a contact's message bumps agent_unread,
        agent and system text bumps contact_unread; events bump nothing) and last_seq.

        ``attachments`` are ids of uploads to attach, in order: each must be of this
        conversation, uploaded by this sender (``uploader``, ``uploader_id``) and not
        attached yet, else NotFound and nothing is stored. They get the message's seq,
        and the message keeps their ``AttachmentRef`` s.

        Idempotent on (conversation_id, sender, sender_id, client_msg_id): a retry returns
        the message stored the first time and False, storing nothing. Returns (message,
        True) when new. NotFound for an unknown conversation. An empty client_msg_id
        opts out of idempotency (every such call stores a new message).

        ``delivery="pending"`` makes the message an outbound delivery job, due now (see
        claim_deliveries).

        ``announce(conversation, message)``: the message's events, written in the same
        transaction, on the conversation as the append leaves it (its row locked) --
        unless that conversation is still ``new``: then nothing, and the change that
        routes it announces the message (``update_conversation``'s
        ``announce_written``)."""

    async def append(
        self,
        conversation_id: str,
        *,
        sender: Sender,
        sender_id: str,
        client_msg_id: str,
        body: str,
        now: float,
        kind: MessageKind = "text",
        attachments: Sequence[str] = (),
        delivery: DeliveryState = "",
        announce: MessageAnnouncer | None = None,
        expect: Conversation | None = None,
    ) -> Appended:
        """``append_message``, and the conversation as it is right after (its owner,
        state and unread counts, which the message path needs next). Stores that can
        read it back in the same statement override this to save a round trip.

        ``expect``: the conversation as the caller last knew it (perhaps not read for
        this message). The message is stored only if the conversation's ``GUARDED``
        fields are still as in ``expect``, atomically with the insert; else ``Stale``
        and nothing is stored. A retry of a stored message is answered first, whatever
        ``expect`` says. (This default checks before appending, not atomically; both
        stores override it.)"""
        if expect is not None and not unchanged(
            expect, await self.get_conversation(conversation_id)
        ):
            raise Stale(f"conversation {conversation_id!r} changed")
        message, created = await self.append_message(
            conversation_id,
            sender=sender,
            sender_id=sender_id,
            client_msg_id=client_msg_id,
            body=body,
            now=now,
            kind=kind,
            attachments=attachments,
            delivery=delivery,
            announce=announce,
        )
        return Appended(message, created, await self.get_conversation(conversation_id))

    @abc.abstractmethod
    async def messages(
        self,
        conversation_id: str,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Ascending by seq. With before_seq, the *last* `limit` messages before it (for
        paging back through history), still returned in ascending order."""

    @abc.abstractmethod
    async def message_by_client_id(
        self, conversation_id: str, sender: Sender, sender_id: str, client_msg_id: str
    ) -> Message | None:
        """The message this sender stored under this client message id, if any."""

    @abc.abstractmethod
    async def set_delivery(
        self,
        conversation_id: str,
        seq: int,
        state: DeliveryState,
        error: str = "",
        *,
        provider_id: str = "",
    ) -> tuple[Message, bool]:
        """Record what became of an outbound message (and the provider's id for it,
        when given): the message, and whether its state moved. A state never moves
        backwards (read after delivered after sent; failed and read are final): a late
        or repeated report changes nothing, and of reports arriving together (on any
        nodes) one moves it. Leaving "pending" ends the delivery job. NotFound for an
        unknown message."""

    @abc.abstractmethod
    async def claim_deliveries(self, now: float, lease: float, limit: int) -> list[DeliveryJob]:
        """In one transaction, claim up to ``limit`` pending outbound messages that are
        due (``delivery_due <= now``), the earliest pending one of each conversation only
        (so a conversation's messages go out in order): each becomes due again at
        ``now + lease`` (if the claimer dies, another takes it over then) and counts one
        more attempt. Oldest due first."""

    @abc.abstractmethod
    async def retry_delivery(
        self, conversation_id: str, seq: int, due: float, error: str, *, counted: bool = True
    ) -> None:
        """A pending message's delivery failed for now: due again at ``due``.
        ``counted=False``: the attempt was not made (the channel is down), so it does not
        count towards the limit."""

    @abc.abstractmethod
    async def message_by_provider_id(self, provider_id: str) -> Message | None:
        """The outbound message the provider knows by this id, if any."""

    @abc.abstractmethod
    async def mark_read(self, conversation_id: str, side: Side, seq: int) -> Conversation:
        """The side has read up to seq: its unread count becomes the number of the other
        side's text messages with a greater seq (0 when seq >= last_seq)."""

    # -- the agent's workspace -------------------------------------------------------
    @abc.abstractmethod
    async def agent_statuses(self) -> dict[str, AgentChosenStatus]:
        """The status each agent last chose (agents who never chose are absent)."""

    @abc.abstractmethod
    async def set_agent_status(self, agent_id: str, status: AgentChosenStatus, now: float) -> None:
        """NotFound for an unknown agent."""

    @abc.abstractmethod
    async def merge_contacts(self, source_id: str, into_id: str) -> Contact:
        """Move the source contact's addresses and conversations to ``into_id`` and delete
        the source, in one transaction; return the contact merged into. NotFound when
        either is unknown; ValueError when they are the same."""

    @abc.abstractmethod
    async def search_contacts(self, text: str, limit: int = 20) -> list[Contact]:
        """Saved contacts whose name, email or phone contains ``text``, by number: name
        and email with case and accents folded (``search_fold``), a contact not folded
        yet by the database's ``lower()``."""

    @abc.abstractmethod
    async def fold_contacts(self) -> int:
        """Fill the folded name and email of the contacts written without them (before
        migration 0017, or by an older node during an upgrade), in Python as every write
        does, a short transaction per batch; the number filled. A contact changed
        meanwhile is left to that change, which folded it."""

    @abc.abstractmethod
    async def search_conversations(self, query: HistoryFilter) -> list[Conversation]:
        """Newest first (created_at, id descending), at most ``query.limit``."""

    @abc.abstractmethod
    async def report_facts(self, since: float, until: float) -> list[ReportFact]:
        """Conversations created in [since, until), oldest first."""

    @abc.abstractmethod
    async def put_template(self, template: Template) -> None: ...

    @abc.abstractmethod
    async def update_template(self, template: Template) -> None: ...

    @abc.abstractmethod
    async def create_template(self, template: Template) -> None:
        """Insert only: Conflict (field ``id``) when the id is taken."""

    @abc.abstractmethod
    async def get_template(self, template_id: str) -> Template: ...

    @abc.abstractmethod
    async def list_templates(self) -> list[Template]:
        """By collection, then name."""

    @abc.abstractmethod
    async def delete_template(self, template_id: str) -> None: ...

    @abc.abstractmethod
    async def add_note(self, note: ConversationNote) -> None:
        """NotFound for an unknown conversation, Conflict for a used id."""

    @abc.abstractmethod
    async def notes(self, conversation_id: str) -> list[ConversationNote]:
        """Oldest first; NotFound for an unknown conversation."""

    # -- attachments ---------------------------------------------------------------
    @abc.abstractmethod
    async def create_attachment(self, attachment: Attachment) -> None:
        """Record an upload (its seq is 0 whatever is passed: not attached yet), and in
        the same transaction take its blob keys off the deletion queue (an upload
        queues them first, so that a crash before this leaves nothing behind).
        Conflict for a duplicate id, NotFound for an unknown conversation."""

    @abc.abstractmethod
    async def get_attachment(self, attachment_id: str) -> Attachment:
        """NotFound when absent."""

    @abc.abstractmethod
    async def get_attachments(self, attachment_ids: Sequence[str]) -> list[Attachment]:
        """Those that exist, in the order asked."""

    @abc.abstractmethod
    async def unsent_uploads(
        self, conversation_id: str, uploader: Sender, uploader_id: str
    ) -> tuple[int, int]:
        """How many of this uploader's files in the conversation are not attached to a
        message yet, and their bytes."""

    @abc.abstractmethod
    async def queue_blob_deletions(self, blob_keys: Sequence[str], due_at: float) -> None:
        """These blob keys are to be deleted from the blob store from ``due_at`` on (a
        key already queued takes the new time)."""

    @abc.abstractmethod
    async def due_blob_deletions(self, now: float, limit: int = 100) -> list[str]:
        """Up to ``limit`` queued keys due at ``now``, the longest due first."""

    @abc.abstractmethod
    async def forget_blob_deletions(self, blob_keys: Sequence[str]) -> None:
        """These keys were deleted from the blob store: off the queue."""

    @abc.abstractmethod
    async def expire_unattached(self, created_before: float) -> int:
        """Delete the uploads never attached to a message and created before the time,
        and queue their blob keys for deletion, due at once; how many."""

    # -- channel state (gateway/model/channel_state.py) ------------------------------
    @abc.abstractmethod
    async def get_cursor(self, touchpoint_id: str, stream: str) -> Cursor | None: ...

    @abc.abstractmethod
    async def put_cursor(
        self, touchpoint_id: str, stream: str, epoch: str, position: int, *, now: float
    ) -> Cursor:
        """Move the cursor to ``position``. Within the same epoch it never moves back (a
        late writer changes nothing); a new epoch starts over at ``position``. NotFound
        for an unknown touchpoint. Returns the cursor as stored."""

    @abc.abstractmethod
    async def set_connection(
        self, touchpoint_id: str, status: ConnectionStatus, reason: str = "", *, now: float
    ) -> tuple[Connection | None, Connection]:
        """Record the touchpoint's connection status; (before, after). ``since`` changes
        only with the status; ``connected_at`` is set when it becomes connected. NotFound
        for an unknown touchpoint."""

    @abc.abstractmethod
    async def get_connection(self, touchpoint_id: str) -> Connection | None: ...

    @abc.abstractmethod
    async def list_connections(self) -> list[Connection]: ...

    @abc.abstractmethod
    async def mark_reminded(self, touchpoint_id: str, *, now: float) -> None: ...

    @abc.abstractmethod
    async def put_ref(
        self, touchpoint_id: str, ref: str, conversation_id: str, seq: int, *, now: float
    ) -> MessageRef:
        """Record that ``ref`` names this message; the first record of a ref stands (a
        repeat returns it unchanged). NotFound for an unknown conversation."""

    @abc.abstractmethod
    async def find_ref(self, touchpoint_id: str, refs: list[str]) -> MessageRef | None:
        """The newest record among these refs on the touchpoint, if any."""

    @abc.abstractmethod
    async def put_content(
        self, conversation_id: str, client_msg_id: str, content: Content, *, now: float
    ) -> None:
        """Store (or replace) a message's channel content, by its client id. NotFound for
        an unknown conversation."""

    @abc.abstractmethod
    async def get_content(self, conversation_id: str, client_msg_id: str) -> Content | None: ...

    @abc.abstractmethod
    async def list_content(self, conversation_id: str) -> dict[str, Content]:
        """Every message content of the conversation, by client id."""

    # -- channel rules and admin notices ---------------------------------------------
    @abc.abstractmethod
    async def last_contact_message_at(self, conversation_id: str) -> float | None:
        """When the contact last wrote in this conversation (a session window opens
        then), or None if they never did."""

    @abc.abstractmethod
    async def set_opt_out(
        self, channel: ChannelName, address: str, opted_out: bool, *, now: float
    ) -> bool:
        """Block (``opted_out``) or unblock an address on a channel, for every touchpoint
        of the channel; True when this changed something."""

    @abc.abstractmethod
    async def is_opted_out(self, channel: ChannelName, address: str) -> bool: ...

    @abc.abstractmethod
    async def add_notice(self, notice: AdminNotice) -> None:
        """Keep an admin notice (Conflict if the id exists)."""

    @abc.abstractmethod
    async def give_notice(self, notice: AdminNotice, key: str, *, quiet: float) -> float | None:
        """Keep ``notice`` unless one of the same ``key`` (a short text: the notices pass
        a digest of what makes two the same) was given less than ``quiet`` seconds
        before its ``created_at``, by any node: None when kept, else the time of the one
        that stands. One transaction claims the key and keeps the notice, so of the nodes
        that give it at once exactly one keeps it, and a claim is never taken without its
        notice (Conflict if the id exists: nothing claimed). One claim row per key; a
        claim taken removes those older than ``quiet``."""

    @abc.abstractmethod
    async def list_notices(
        self, *, limit: int = 50, after: tuple[float, str] | None = None
    ) -> list[AdminNotice]:
        """The newest notices first (by created_at, then id), those after ``after`` (a
        notice's created_at and id) in this order when given: the next page."""
