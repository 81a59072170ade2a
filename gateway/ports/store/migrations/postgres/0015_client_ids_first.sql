-- The idempotency index keyed by the client's message id first (the same four columns,
-- the same uniqueness). Keyed by conversation first, each message's entry went to a
-- leaf of its own conversation, so a batch of messages to different conversations
-- wrote a page of this index per message. Clients send time-ordered ids (the widget's
-- and the console's are UUIDv7, docs/protocol.md): keyed by them first, a batch's
-- entries share the index's last pages (docs/store.md, "The idempotency index").
DROP INDEX messages_client_msg;
CREATE UNIQUE INDEX messages_client_msg
    ON messages (client_msg_id, conversation_id, sender, sender_id)
    WHERE client_msg_id <> '';
