-- Attachments (docs/attachments.md, docs/store.md "Migrations"): the files of a
-- conversation, each uploaded first (seq 0) and then attached to the message that
-- carries it; messages keep what they say of their files; blob keys waiting to be
-- deleted from the blob store (after a contact's deletion, an orphan's expiry, or an
-- upload that never completed).

CREATE TABLE attachments (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    uploader        TEXT NOT NULL CHECK (uploader IN ('contact', 'agent', 'system')),
    uploader_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    blob_key        TEXT NOT NULL,
    thumb_key       TEXT NOT NULL DEFAULT '',
    width           INTEGER NOT NULL DEFAULT 0,
    height          INTEGER NOT NULL DEFAULT 0,
    -- the seq of the message carrying it; 0 until attached
    seq             INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL
);
CREATE INDEX attachments_conversation ON attachments (conversation_id, seq);
CREATE INDEX attachments_unattached ON attachments (created_at) WHERE seq = 0;

CREATE TABLE blob_deletions (
    blob_key TEXT PRIMARY KEY NOT NULL,
    due_at   REAL NOT NULL
);
CREATE INDEX blob_deletions_due ON blob_deletions (due_at);

-- [{id, name, content_type, size, width, height, thumbnail}, ...] as JSON
ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
