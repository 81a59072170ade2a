-- The agent's workspace and the supervisor's view (docs/store.md, "Migrations"):
-- confirmed contacts, the page a chat started on, the status an agent chose, templates,
-- conversation notes, and indexes for the history search and reports.

-- Contacts with an email or phone predate the rule that only a signed identity or an
-- agent confirms a contact; they keep matching as before.
ALTER TABLE contacts ADD COLUMN saved boolean NOT NULL DEFAULT false;
UPDATE contacts SET saved = true WHERE email <> '' OR phone <> '';

ALTER TABLE conversations ADD COLUMN page text NOT NULL DEFAULT '';
CREATE INDEX conversations_created ON conversations (created_at, id);
CREATE INDEX conversations_owner ON conversations (owner_agent_id, created_at, id);

-- The status each agent last chose, so "away" survives a restart.
CREATE TABLE agent_status (
    agent_id   text COLLATE "C" PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    status     text NOT NULL CHECK (status IN ('available', 'away')),
    changed_at double precision NOT NULL
);

CREATE TABLE templates (
    id         text COLLATE "C" PRIMARY KEY,
    collection text NOT NULL,
    name       text NOT NULL,
    -- channel name (or "default") -> text
    content    jsonb NOT NULL,
    created_at double precision NOT NULL
);
CREATE INDEX templates_collection ON templates (collection, name, id);

CREATE TABLE conversation_notes (
    id              text COLLATE "C" PRIMARY KEY,
    conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id        text NOT NULL,
    body            text NOT NULL,
    created_at      double precision NOT NULL
);
CREATE INDEX conversation_notes_conversation ON conversation_notes (conversation_id, created_at, id);
