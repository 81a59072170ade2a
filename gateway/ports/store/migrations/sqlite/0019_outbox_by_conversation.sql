-- A conversation's webhook and bot events, found by the conversation: deleting a
-- conversation's history (the right to be forgotten, the history retention) deletes
-- its events too, whose payloads hold its messages' text. The outbox holds a week of
-- events by default (GATEWAY_OUTBOX_RETENTION) and dead ones until they are replayed.
CREATE INDEX outbox_conversation ON outbox (conversation_id);
