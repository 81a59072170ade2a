-- One live conversation per contact address and touchpoint, across nodes
-- (docs/scaling.md, "Two nodes starting for the same contact"). A node finds the open
-- one before it makes one, one start at a time per address; two nodes starting for the
-- same address in the same few milliseconds could each find none and make one. Live:
-- the contact may still write (records.py LIVE_STATES); a conversation never comes
-- back to one of these states once it leaves them (wrapup, closed). SQLite has one
-- writer and so one node, which never made two; the rule is the same on both stores.
--
-- Live duplicates made before are left as they are (an agent may be answering either):
-- all but the newest, the one the contact writes in (ConversationStart.open_for), are
-- marked, and the index skips them. The mark is never cleared: a marked conversation
-- leaves the live states when it ends, and never comes back to them.
ALTER TABLE conversations ADD COLUMN live_duplicate INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET live_duplicate = 1
    WHERE state IN ('new', 'bot', 'waiting', 'offered', 'assigned') AND EXISTS (
        SELECT 1 FROM conversations o
        WHERE o.touchpoint_id = conversations.touchpoint_id
            AND o.address = conversations.address
            AND o.state IN ('new', 'bot', 'waiting', 'offered', 'assigned')
            AND (o.created_at > conversations.created_at
                OR (o.created_at = conversations.created_at AND o.id > conversations.id))
    );
CREATE UNIQUE INDEX conversations_one_live ON conversations (touchpoint_id, address)
    WHERE state IN ('new', 'bot', 'waiting', 'offered', 'assigned') AND NOT live_duplicate;
