-- Initial schema (PostgreSQL). See docs/store.md.
-- Ids are opaque keys: COLLATE "C" makes their order bytewise, as in SQLite.
-- Lists and dicts of the records are jsonb; times are UNIX seconds (double precision).

CREATE TABLE touchpoints (
    id                 text COLLATE "C" PRIMARY KEY,
    name               text NOT NULL,
    channel            text NOT NULL,
    active             boolean NOT NULL,
    direction          text NOT NULL,
    routing_mode       text NOT NULL,
    domain             text NOT NULL,
    queue_ids          jsonb NOT NULL,
    dedicated_agent_id text,
    flow               jsonb NOT NULL,
    widget             jsonb NOT NULL,
    form               jsonb NOT NULL,
    identity_secret    text NOT NULL,
    require_identity   boolean NOT NULL,
    preview_roles      jsonb NOT NULL,
    created_at         double precision NOT NULL
);

CREATE TABLE queues (
    id   text COLLATE "C" PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE agents (
    id            text COLLATE "C" PRIMARY KEY,
    email         text NOT NULL,
    -- the email lower-cased by the gateway (Python str.lower), for case-insensitive lookup
    email_key     text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL,
    queue_ids     jsonb NOT NULL,
    password_hash text NOT NULL,
    active        boolean NOT NULL
);
CREATE UNIQUE INDEX agents_email_key ON agents (email_key) WHERE email_key <> '';

CREATE TABLE disposition_sets (
    id           text COLLATE "C" PRIMARY KEY,
    name         text NOT NULL,
    dispositions jsonb NOT NULL
);

-- One row (id = 1) holding GlobalSettings as a document; absent until first saved.
CREATE TABLE settings (
    id   integer PRIMARY KEY CHECK (id = 1),
    data jsonb NOT NULL
);

CREATE TABLE agent_sessions (
    id         text COLLATE "C" PRIMARY KEY,
    agent_id   text COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    revoked    boolean NOT NULL DEFAULT false
);
CREATE INDEX agent_sessions_agent ON agent_sessions (agent_id);

-- "Visitor #N": never reused, even after the contact is deleted.
CREATE SEQUENCE contact_number_seq;
CREATE TABLE contacts (
    id         text COLLATE "C" PRIMARY KEY,
    number     bigint NOT NULL UNIQUE DEFAULT nextval('contact_number_seq'),
    name       text NOT NULL,
    email      text NOT NULL,
    email_key  text NOT NULL,
    phone      text NOT NULL,
    created_at double precision NOT NULL
);
ALTER SEQUENCE contact_number_seq OWNED BY contacts.number;
CREATE INDEX contacts_email_key ON contacts (email_key);
CREATE INDEX contacts_phone ON contacts (phone);

CREATE TABLE conversations (
    id               text COLLATE "C" PRIMARY KEY,
    -- no foreign key: a deleted touchpoint stays in its conversations as history
    touchpoint_id    text COLLATE "C" NOT NULL,
    channel          text NOT NULL,
    contact_id       text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    visitor_id       text COLLATE "C" NOT NULL,
    state            text NOT NULL,
    queue_ids        jsonb NOT NULL,
    priority         integer NOT NULL,
    owner_agent_id   text,
    weight           integer NOT NULL,
    acceptance       text NOT NULL DEFAULT 'manual',
    dedicated        boolean NOT NULL,
    fields           jsonb NOT NULL,
    created_at       double precision NOT NULL,
    arrived_at       double precision NOT NULL,
    ended_at         double precision,
    closed_at        double precision,
    notes            text NOT NULL,
    disposition      text NOT NULL,
    last_seq         bigint NOT NULL DEFAULT 0,
    visitor_unread   integer NOT NULL DEFAULT 0,
    agent_unread     integer NOT NULL DEFAULT 0,
    -- read markers: the highest seq each side has read (never moves backwards)
    visitor_read_seq bigint NOT NULL DEFAULT 0,
    agent_read_seq   bigint NOT NULL DEFAULT 0
);
CREATE INDEX conversations_state ON conversations (state, created_at, id);
CREATE INDEX conversations_contact ON conversations (contact_id, created_at, id);
CREATE INDEX conversations_visitor ON conversations (visitor_id, created_at, id);
CREATE INDEX conversations_touchpoint ON conversations (touchpoint_id, created_at, id);

CREATE TABLE messages (
    conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    sender          text NOT NULL CHECK (sender IN ('visitor', 'agent', 'system')),
    sender_id       text NOT NULL,
    client_msg_id   text NOT NULL,
    body            text NOT NULL,
    created_at      double precision NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('text', 'event')),
    PRIMARY KEY (conversation_id, seq)
);
-- Idempotency: a retry of the same client message id stores nothing.
-- An empty client_msg_id opts out (e.g. system events).
CREATE UNIQUE INDEX messages_client_msg
    ON messages (conversation_id, sender, sender_id, client_msg_id)
    WHERE client_msg_id <> '';
