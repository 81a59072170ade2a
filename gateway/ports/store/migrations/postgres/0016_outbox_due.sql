-- The outbox's due index as migration 0007 makes it now: 0007 was edited after it was
-- first released (only the first pending event of a (target, conversation) has a due
-- time, so the index leaves the waiting backlog out). A database migrated in between
-- kept the index over every pending row; this makes every database's the same.
DROP INDEX IF EXISTS outbox_due;
CREATE INDEX outbox_due ON outbox (due) WHERE state = 'pending' AND due IS NOT NULL;
