-- A CHECK constraint is compiled again for every statement that writes the table: its
-- expression is read back from its text form, simplified and compiled before the first
-- row, and a message alone is a statement alone. The two on messages (sender, kind)
-- took about a tenth of the backend's CPU per appended message (docs/store.md,
-- "PostgreSQL's work per message"). The store refuses any other value before it writes
-- (unread_increments, the first step of every append, the only writer of these
-- columns; a contract test), so they checked again what cannot fail. Dropping a
-- constraint reads no row.
ALTER TABLE messages
    DROP CONSTRAINT messages_sender_check,
    DROP CONSTRAINT messages_kind_check;
