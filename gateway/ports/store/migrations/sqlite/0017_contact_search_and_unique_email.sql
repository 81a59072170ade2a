-- Contacts found whatever the case and accents, and one saved contact per email
-- (docs/console.md, "Contacts and search").

-- Name and email folded by the store in Python (search_fold: case-folded, accents
-- stripped), which SQL cannot do: NULL until the store fills them. Every write fills
-- them; the rows written before this migration are filled by each node as it starts
-- (Store.fold_contacts), found by the index below.
ALTER TABLE contacts ADD COLUMN name_fold TEXT;
ALTER TABLE contacts ADD COLUMN email_fold TEXT;
CREATE INDEX contacts_unfolded ON contacts (number)
    WHERE name_fold IS NULL OR email_fold IS NULL;

-- One saved contact per email (email_key, lower-cased), also when two agents save at
-- the same instant. Saved duplicates made before are left as they are, never merged
-- or unsaved here (which contact is the right one is for an agent to say): the younger
-- ones are marked, and the index skips them until their email or saved state is
-- written again (the store then clears the mark), when a duplicate is refused like
-- any other.
ALTER TABLE contacts ADD COLUMN email_duplicate INTEGER NOT NULL DEFAULT 0;
UPDATE contacts SET email_duplicate = 1
    WHERE saved AND email_key <> '' AND EXISTS (
        SELECT 1 FROM contacts o
        WHERE o.saved AND o.email_key = contacts.email_key AND o.number < contacts.number
    );
CREATE UNIQUE INDEX contacts_saved_email ON contacts (email_key)
    WHERE saved AND email_key <> '' AND NOT email_duplicate;
