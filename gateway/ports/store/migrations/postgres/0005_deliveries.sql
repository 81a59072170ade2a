-- Outbound delivery (docs/channels.md, "Delivery"): a message to a contact on a channel
-- that delivers through a provider is stored "pending" and carries its own delivery
-- job: when it is next due (a claim's expiry while a node sends it) and how many
-- attempts it took; the provider's id for it maps status callbacks back.
ALTER TABLE messages ADD COLUMN provider_id text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivery_due double precision;
CREATE INDEX messages_delivery_due ON messages (delivery_due) WHERE delivery = 'pending';
CREATE INDEX messages_provider ON messages (provider_id) WHERE provider_id <> '';
