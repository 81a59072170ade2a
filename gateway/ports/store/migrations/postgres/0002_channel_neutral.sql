-- Channel-neutral conversations (docs/store.md, "Migrations"): a conversation runs on
-- the contact's channel address (the visitor id for chat), contacts are found by
-- (channel, address), the contact side is "contact" rather than "visitor", outbound
-- messages carry a delivery state, touchpoints carry their channel's settings.

ALTER TABLE touchpoints ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';

ALTER TABLE conversations RENAME COLUMN visitor_id TO address;
ALTER TABLE conversations RENAME COLUMN visitor_unread TO contact_unread;
ALTER TABLE conversations RENAME COLUMN visitor_read_seq TO contact_read_seq;
DROP INDEX conversations_visitor;
CREATE INDEX conversations_address ON conversations (touchpoint_id, address, created_at, id);

CREATE TABLE contact_addresses (
    channel    text NOT NULL,
    address    text COLLATE "C" NOT NULL,
    contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    created_at double precision NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE INDEX contact_addresses_contact ON contact_addresses (contact_id);
-- Chat contacts were keyed "ct_<visitor id>"; the visitor id becomes their address.
INSERT INTO contact_addresses (channel, address, contact_id, created_at)
    SELECT 'chat', substr(id, 4), id, created_at FROM contacts WHERE id LIKE 'ct\_%'
    ON CONFLICT DO NOTHING;
INSERT INTO contact_addresses (channel, address, contact_id, created_at)
    SELECT DISTINCT ON (channel, address) channel, address, contact_id, created_at
    FROM conversations ORDER BY channel, address, created_at
    ON CONFLICT DO NOTHING;

ALTER TABLE messages DROP CONSTRAINT messages_sender_check;
UPDATE messages SET sender = 'contact' WHERE sender = 'visitor';
ALTER TABLE messages ADD CONSTRAINT messages_sender_check
    CHECK (sender IN ('contact', 'agent', 'system'));
ALTER TABLE messages ADD COLUMN delivery text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_error text NOT NULL DEFAULT '';
