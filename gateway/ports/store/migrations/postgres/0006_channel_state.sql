-- State the core keeps for channel adapters (docs/channels.md, "State an adapter keeps";
-- the email channel is the first user, docs/channels/email.md).
--
-- A touchpoint's cursor in a stream its provider numbers (email: the IMAP mailbox, its
-- UIDVALIDITY as the epoch and the last UID committed as the position), so a reconnect,
-- a restart or another node resumes exactly where the last one stopped.
CREATE TABLE touchpoint_cursors (
    touchpoint_id text COLLATE "C" NOT NULL REFERENCES touchpoints (id) ON DELETE CASCADE,
    stream        text NOT NULL,
    epoch         text NOT NULL,
    position      bigint NOT NULL,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (touchpoint_id, stream)
);
-- A touchpoint's connection to its provider (connected or lost, and why), apart from
-- whether it is active.
CREATE TABLE touchpoint_connections (
    touchpoint_id text COLLATE "C" PRIMARY KEY REFERENCES touchpoints (id) ON DELETE CASCADE,
    status        text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    since         double precision NOT NULL,
    connected_at  double precision,
    reminded_at   double precision
);
-- A provider's references to messages (email: Message-IDs) on a touchpoint, and the
-- conversation and message each names: threading, and idempotency across conversations.
CREATE TABLE message_refs (
    touchpoint_id   text COLLATE "C" NOT NULL,
    ref             text NOT NULL,
    conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    created_at      double precision NOT NULL,
    PRIMARY KEY (touchpoint_id, ref)
);
CREATE INDEX message_refs_conversation ON message_refs (conversation_id);
-- What a message carries beyond its text body on its channel (email: subject, sanitised
-- HTML, recipients, threading headers), as JSON, by the message's client id.
CREATE TABLE message_content (
    conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    client_msg_id   text NOT NULL,
    content         text NOT NULL,
    created_at      double precision NOT NULL,
    PRIMARY KEY (conversation_id, client_msg_id)
);
