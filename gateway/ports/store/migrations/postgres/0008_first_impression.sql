-- What a first use needs (docs/store.md, "Migrations"): the name contacts see on
-- automatic messages, messages left for later, satisfaction ratings, and the sites
-- refused a touchpoint's chat.

ALTER TABLE touchpoints ADD COLUMN display_name text NOT NULL DEFAULT '';

ALTER TABLE conversations ADD COLUMN left_message boolean NOT NULL DEFAULT false;

CREATE TABLE ratings (
    conversation_id text COLLATE "C" PRIMARY KEY
        REFERENCES conversations (id) ON DELETE CASCADE,
    touchpoint_id   text COLLATE "C" NOT NULL,
    contact_id      text COLLATE "C" NOT NULL,
    agent_id        text COLLATE "C" NOT NULL,
    score           integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         text NOT NULL,
    created_at      double precision NOT NULL
);
CREATE INDEX ratings_touchpoint ON ratings (touchpoint_id, created_at);
CREATE INDEX ratings_created ON ratings (created_at);

CREATE TABLE embed_refusals (
    touchpoint_id text COLLATE "C" NOT NULL REFERENCES touchpoints (id) ON DELETE CASCADE,
    origin        text COLLATE "C" NOT NULL,
    page_url      text NOT NULL,
    code          text NOT NULL,
    reason        text NOT NULL,
    times         integer NOT NULL,
    first_at      double precision NOT NULL,
    last_at       double precision NOT NULL,
    PRIMARY KEY (touchpoint_id, origin)
);
