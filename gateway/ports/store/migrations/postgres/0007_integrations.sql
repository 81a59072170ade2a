-- The integration API, bots and automations (docs/integration-api.md, docs/store.md):
-- conversations may be with a bot first, carry a subject and a direction; integration
-- touchpoints have API keys (stored as SHA-256 digests); every POST of the API may be
-- replayed by its Idempotency-Key; a bot's transcript travels with an escalation;
-- automations (webhook subscriptions) and the outbox of events to deliver, written in
-- the same transaction as the change they announce.

ALTER TABLE conversations ADD COLUMN bot_id text NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN bot_until double precision;
ALTER TABLE conversations ADD COLUMN subject text NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN direction text NOT NULL DEFAULT 'inbound';

CREATE TABLE api_keys (
    id            text COLLATE "C" PRIMARY KEY,
    touchpoint_id text COLLATE "C" NOT NULL REFERENCES touchpoints (id) ON DELETE CASCADE,
    name          text NOT NULL,
    -- SHA-256 of the whole key, hex: what a request's key is looked up by
    digest        text NOT NULL UNIQUE,
    -- the key's first characters, to tell keys apart in lists
    prefix        text NOT NULL,
    created_at    double precision NOT NULL,
    revoked_at    double precision
);
CREATE INDEX api_keys_touchpoint ON api_keys (touchpoint_id, created_at);

CREATE TABLE idempotency_keys (
    scope       text NOT NULL,
    key         text NOT NULL,
    -- what the first request was (method, path, body digest): another one with the
    -- same key is refused
    fingerprint text NOT NULL,
    -- 0 while the first request runs; then its HTTP status and body
    status      integer NOT NULL DEFAULT 0,
    body        text NOT NULL DEFAULT '',
    created_at  double precision NOT NULL,
    expires_at  double precision NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE transcripts (
    conversation_id text COLLATE "C" PRIMARY KEY
        REFERENCES conversations (id) ON DELETE CASCADE,
    lines           text NOT NULL,
    updated_at      double precision NOT NULL
);

CREATE TABLE webhooks (
    id             text COLLATE "C" PRIMARY KEY,
    name           text NOT NULL,
    url            text NOT NULL,
    secret         text NOT NULL,
    events         jsonb NOT NULL,
    channels       jsonb NOT NULL,
    touchpoint_ids jsonb NOT NULL,
    queue_ids      jsonb NOT NULL,
    active         boolean NOT NULL,
    created_at     double precision NOT NULL
);

CREATE TABLE outbox (
    -- the order events were written in (per target and conversation, the delivery order)
    n               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL,
    -- a webhook id, or "bot:<touchpoint id>"
    target          text NOT NULL,
    type            text NOT NULL,
    conversation_id text COLLATE "C" NOT NULL,
    payload         text NOT NULL,
    created_at      double precision NOT NULL,
    -- pending (a job), sent, or dead (gave up; replayable); only the first pending
    -- event of a (target, conversation) has a "due" time: the next one gets it when
    -- that one leaves pending, so that claiming never scans a blocked backlog
    state           text NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    due             double precision,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    double precision,
    UNIQUE (event_id, target)
);
CREATE INDEX outbox_due ON outbox (due) WHERE state = 'pending' AND due IS NOT NULL;
CREATE INDEX outbox_order ON outbox (target, conversation_id, n) WHERE state = 'pending';
CREATE INDEX outbox_target ON outbox (target, n);
CREATE INDEX outbox_sent ON outbox (delivered_at) WHERE state = 'sent';

CREATE INDEX messages_failed ON messages (conversation_id, seq) WHERE delivery = 'failed';
