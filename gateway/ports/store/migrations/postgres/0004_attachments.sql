-- Attachments (docs/attachments.md, docs/store.md "Migrations"): the files of a
-- conversation, each uploaded first (seq 0) and then attached to the message that
-- carries it; messages keep what they say of their files; blob keys waiting to be
-- deleted from the blob store (after a contact's deletion, an orphan's expiry, or an
-- upload that never completed).

CREATE TABLE attachments (
    id              text COLLATE "C" PRIMARY KEY,
    conversation_id text COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    uploader        text NOT NULL CHECK (uploader IN ('contact', 'agent', 'system')),
    uploader_id     text NOT NULL,
    name            text NOT NULL,
    content_type    text NOT NULL,
    size            bigint NOT NULL,
    sha256          text NOT NULL,
    blob_key        text COLLATE "C" NOT NULL,
    thumb_key       text COLLATE "C" NOT NULL DEFAULT '',
    width           integer NOT NULL DEFAULT 0,
    height          integer NOT NULL DEFAULT 0,
    seq             bigint NOT NULL DEFAULT 0,
    created_at      double precision NOT NULL
);
CREATE INDEX attachments_conversation ON attachments (conversation_id, seq);
CREATE INDEX attachments_unattached ON attachments (created_at) WHERE seq = 0;

CREATE TABLE blob_deletions (
    blob_key text COLLATE "C" PRIMARY KEY,
    due_at   double precision NOT NULL
);
CREATE INDEX blob_deletions_due ON blob_deletions (due_at);

ALTER TABLE messages ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
