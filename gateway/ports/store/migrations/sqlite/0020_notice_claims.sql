-- The admin notices' once-per-quiet-time rule, for the whole cluster: one row per
-- notice (kind, touchpoint, message, by digest) with when it was last given. A node
-- gives a notice only if its upsert takes the row (give_notice); a claim taken removes
-- those older than the quiet time, so the table holds about an hour's notices.
CREATE TABLE notice_claims (
    key TEXT PRIMARY KEY,
    claimed_at REAL NOT NULL
);
CREATE INDEX notice_claims_claimed ON notice_claims (claimed_at);
