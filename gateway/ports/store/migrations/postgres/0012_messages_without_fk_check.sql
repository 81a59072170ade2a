-- A message's conversation is checked by the append itself: its INSERT takes the
-- conversation id from the conversation row the same statement has just updated (and
-- row-locked until commit), so a message for an unknown conversation inserts nothing.
-- The foreign key checked it again for every message (its trigger queues an event and
-- runs a SELECT ... FOR KEY SHARE per row inserted, docs/store.md). It gives way
-- to a trigger that keeps what the key did for deletions: a deleted conversation takes
-- its messages with it (delete_contact, and contacts' ON DELETE CASCADE). No statement
-- changes a conversation's id.
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;

CREATE FUNCTION conversation_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages WHERE conversation_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER conversations_delete_messages AFTER DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_deleted();
