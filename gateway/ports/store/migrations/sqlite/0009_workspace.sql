-- The agent's workspace and the supervisor's view (docs/store.md, "Migrations"):
-- confirmed contacts, the page a chat started on, the status an agent chose, templates,
-- conversation notes, and indexes for the history search and reports.

-- Contacts with an email or phone predate the rule that only a signed identity or an
-- agent confirms a contact; they keep matching as before.
ALTER TABLE contacts ADD COLUMN saved INTEGER NOT NULL DEFAULT 0;
UPDATE contacts SET saved = 1 WHERE email <> '' OR phone <> '';

ALTER TABLE conversations ADD COLUMN page TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_created ON conversations (created_at, id);
CREATE INDEX conversations_owner ON conversations (owner_agent_id, created_at, id);

-- The status each agent last chose, so "away" survives a restart.
CREATE TABLE agent_status (
    agent_id   TEXT PRIMARY KEY NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('available', 'away')),
    changed_at REAL NOT NULL
) WITHOUT ROWID;

CREATE TABLE templates (
    id         TEXT PRIMARY KEY NOT NULL,
    collection TEXT NOT NULL,
    name       TEXT NOT NULL,
    -- channel name (or "default") -> text, as JSON
    content    TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX templates_collection ON templates (collection, name, id);

CREATE TABLE conversation_notes (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent_id        TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      REAL NOT NULL
);
CREATE INDEX conversation_notes_conversation ON conversation_notes (conversation_id, created_at, id);
