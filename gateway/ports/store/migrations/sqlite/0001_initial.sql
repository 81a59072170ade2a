-- Initial schema (SQLite). See docs/store.md.
-- Lists and dicts of the records are JSON text; booleans are 0/1; times are UNIX
-- seconds (REAL).

CREATE TABLE touchpoints (
    id                 TEXT PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    channel            TEXT NOT NULL,
    active             INTEGER NOT NULL,
    direction          TEXT NOT NULL,
    routing_mode       TEXT NOT NULL,
    domain             TEXT NOT NULL,
    queue_ids          TEXT NOT NULL,
    dedicated_agent_id TEXT,
    flow               TEXT NOT NULL,
    widget             TEXT NOT NULL,
    form               TEXT NOT NULL,
    identity_secret    TEXT NOT NULL,
    require_identity   INTEGER NOT NULL,
    preview_roles      TEXT NOT NULL,
    created_at         REAL NOT NULL
);

CREATE TABLE queues (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    -- the email lower-cased by the gateway (Python str.lower), for case-insensitive lookup
    email_key     TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    queue_ids     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL
);
CREATE UNIQUE INDEX agents_email_key ON agents (email_key) WHERE email_key <> '';

CREATE TABLE disposition_sets (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    dispositions TEXT NOT NULL
);

-- One row (id = 1) holding GlobalSettings as a JSON document; absent until first saved.
CREATE TABLE settings (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    data TEXT NOT NULL
);

CREATE TABLE agent_sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);

-- Named counters; contact_number gives "Visitor #N" and is never reused.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('contact_number', 0);

CREATE TABLE contacts (
    id         TEXT PRIMARY KEY NOT NULL,
    number     INTEGER NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL,
    phone      TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX contacts_email_key ON contacts (email_key);
CREATE INDEX contacts_phone ON contacts (phone);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY NOT NULL,
    -- no foreign key: a deleted touchpoint stays in its conversations as history
    touchpoint_id    TEXT NOT NULL,
    channel          TEXT NOT NULL,
    contact_id       TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    visitor_id       TEXT NOT NULL,
    state            TEXT NOT NULL,
    queue_ids        TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    owner_agent_id   TEXT,
    weight           INTEGER NOT NULL,
    acceptance       TEXT NOT NULL DEFAULT 'manual',
    dedicated        INTEGER NOT NULL,
    fields           TEXT NOT NULL,
    created_at       REAL NOT NULL,
    arrived_at       REAL NOT NULL,
    ended_at         REAL,
    closed_at        REAL,
    notes            TEXT NOT NULL,
    disposition      TEXT NOT NULL,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    visitor_unread   INTEGER NOT NULL DEFAULT 0,
    agent_unread     INTEGER NOT NULL DEFAULT 0,
    -- read markers: the highest seq each side has read (never moves backwards)
    visitor_read_seq INTEGER NOT NULL DEFAULT 0,
    agent_read_seq   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_state ON conversations (state, created_at, id);
CREATE INDEX conversations_contact ON conversations (contact_id, created_at, id);
CREATE INDEX conversations_visitor ON conversations (visitor_id, created_at, id);
CREATE INDEX conversations_touchpoint ON conversations (touchpoint_id, created_at, id);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    sender          TEXT NOT NULL CHECK (sender IN ('visitor', 'agent', 'system')),
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      REAL NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'event')),
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
-- Idempotency: a retry of the same client message id stores nothing.
-- An empty client_msg_id opts out (e.g. system events).
CREATE UNIQUE INDEX messages_client_msg
    ON messages (conversation_id, sender, sender_id, client_msg_id)
    WHERE client_msg_id <> '';
