-- Every message updates its conversation's row (last_seq, the unread counts). Room left
-- on each page lets PostgreSQL write the new version beside the old one (a HOT update),
-- which writes none of the conversation's seven indexes: none of them holds a column a
-- message changes. With full pages, an update that finds no room moves the row and adds
-- an entry to every index. Pages already written keep their fill until rewritten
-- (VACUUM FULL or pg_repack, when convenient); new ones leave the room from now on.
ALTER TABLE conversations SET (fillfactor = 70);
