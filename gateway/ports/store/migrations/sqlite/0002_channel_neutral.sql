-- Channel-neutral conversations (docs/store.md, "Migrations"): a conversation runs on
-- the contact's channel address (the visitor id for chat), contacts are found by
-- (channel, address), the contact side is "contact" rather than "visitor", outbound
-- messages carry a delivery state, touchpoints carry their channel's settings.

ALTER TABLE touchpoints ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

ALTER TABLE conversations RENAME COLUMN visitor_id TO address;
ALTER TABLE conversations RENAME COLUMN visitor_unread TO contact_unread;
ALTER TABLE conversations RENAME COLUMN visitor_read_seq TO contact_read_seq;
DROP INDEX conversations_visitor;
CREATE INDEX conversations_address ON conversations (touchpoint_id, address, created_at, id);

CREATE TABLE contact_addresses (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
CREATE INDEX contact_addresses_contact ON contact_addresses (contact_id);
-- Chat contacts were keyed "ct_<visitor id>"; the visitor id becomes their address.
INSERT INTO contact_addresses (channel, address, contact_id, created_at)
    SELECT 'chat', substr(id, 4), id, created_at FROM contacts WHERE id LIKE 'ct\_%' ESCAPE '\'
    ON CONFLICT DO NOTHING;
INSERT INTO contact_addresses (channel, address, contact_id, created_at)
    SELECT channel, address, contact_id, min(created_at) FROM conversations
    GROUP BY channel, address
    ON CONFLICT DO NOTHING;

-- The sender CHECK changes: SQLite rebuilds the table to change a constraint.
CREATE TABLE messages_new (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    sender          TEXT NOT NULL CHECK (sender IN ('contact', 'agent', 'system')),
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      REAL NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'event')),
    delivery        TEXT NOT NULL DEFAULT '',
    delivery_error  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
INSERT INTO messages_new
    (conversation_id, seq, sender, sender_id, client_msg_id, body, created_at, kind)
    SELECT conversation_id, seq,
           CASE sender WHEN 'visitor' THEN 'contact' ELSE sender END,
           sender_id, client_msg_id, body, created_at, kind
    FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE UNIQUE INDEX messages_client_msg
    ON messages (conversation_id, sender, sender_id, client_msg_id)
    WHERE client_msg_id <> '';
