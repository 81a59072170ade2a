-- The integration API, bots and automations (docs/integration-api.md, docs/store.md):
-- conversations may be with a bot first, carry a subject and a direction; integration
-- touchpoints have API keys (stored as SHA-256 digests); every POST of the API may be
-- replayed by its Idempotency-Key; a bot's transcript travels with an escalation;
-- automations (webhook subscriptions) and the outbox of events to deliver, written in
-- the same transaction as the change they announce.

ALTER TABLE conversations ADD COLUMN bot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN bot_until REAL;
ALTER TABLE conversations ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN direction TEXT NOT NULL DEFAULT 'inbound';

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    touchpoint_id TEXT NOT NULL REFERENCES touchpoints (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- SHA-256 of the whole key, hex: what a request's key is looked up by
    digest        TEXT NOT NULL UNIQUE,
    -- the key's first characters, to tell keys apart in lists
    prefix        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    revoked_at    REAL
);
CREATE INDEX api_keys_touchpoint ON api_keys (touchpoint_id, created_at);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    -- what the first request was (method, path, body digest): another one with the
    -- same key is refused
    fingerprint TEXT NOT NULL,
    -- 0 while the first request runs; then its HTTP status and body
    status      INTEGER NOT NULL DEFAULT 0,
    body        TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE transcripts (
    conversation_id TEXT PRIMARY KEY NOT NULL
        REFERENCES conversations (id) ON DELETE CASCADE,
    lines           TEXT NOT NULL,
    updated_at      REAL NOT NULL
);

CREATE TABLE webhooks (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    url            TEXT NOT NULL,
    secret         TEXT NOT NULL,
    events         TEXT NOT NULL,
    channels       TEXT NOT NULL,
    touchpoint_ids TEXT NOT NULL,
    queue_ids      TEXT NOT NULL,
    active         INTEGER NOT NULL,
    created_at     REAL NOT NULL
);

CREATE TABLE outbox (
    -- the order events were written in (per target and conversation, the delivery order)
    n               INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL,
    -- a webhook id, or "bot:<touchpoint id>"
    target          TEXT NOT NULL,
    type            TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      REAL NOT NULL,
    -- pending (a job), sent, or dead (gave up; replayable); only the first pending
    -- event of a (target, conversation) has a "due" time: the next one gets it when
    -- that one leaves pending, so that claiming never scans a blocked backlog
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due             REAL,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    REAL,
    UNIQUE (event_id, target)
);
CREATE INDEX outbox_due ON outbox (due) WHERE state = 'pending' AND due IS NOT NULL;
CREATE INDEX outbox_order ON outbox (target, conversation_id, n) WHERE state = 'pending';
CREATE INDEX outbox_target ON outbox (target, n);
CREATE INDEX outbox_sent ON outbox (delivered_at) WHERE state = 'sent';

CREATE INDEX messages_failed ON messages (conversation_id, seq) WHERE delivery = 'failed';
