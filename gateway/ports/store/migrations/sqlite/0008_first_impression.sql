-- What a first use needs (docs/store.md, "Migrations"): the name contacts see on
-- automatic messages, messages left for later, satisfaction ratings, and the sites
-- refused a touchpoint's chat.

ALTER TABLE touchpoints ADD COLUMN display_name TEXT NOT NULL DEFAULT '';

ALTER TABLE conversations ADD COLUMN left_message INTEGER NOT NULL DEFAULT 0;

CREATE TABLE ratings (
    conversation_id TEXT PRIMARY KEY NOT NULL
        REFERENCES conversations (id) ON DELETE CASCADE,
    touchpoint_id   TEXT NOT NULL,
    contact_id      TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         TEXT NOT NULL,
    created_at      REAL NOT NULL
);
CREATE INDEX ratings_touchpoint ON ratings (touchpoint_id, created_at);
CREATE INDEX ratings_created ON ratings (created_at);

CREATE TABLE embed_refusals (
    touchpoint_id TEXT NOT NULL REFERENCES touchpoints (id) ON DELETE CASCADE,
    origin        TEXT NOT NULL,
    page_url      TEXT NOT NULL,
    code          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    times         INTEGER NOT NULL,
    first_at      REAL NOT NULL,
    last_at       REAL NOT NULL,
    PRIMARY KEY (touchpoint_id, origin)
) WITHOUT ROWID;
