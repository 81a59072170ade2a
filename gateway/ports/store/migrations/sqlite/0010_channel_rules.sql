-- The messaging channels' rules (docs/channels/sms.md) and the admins' notices
-- (docs/admin-api.md, "Notices"). An opt-out blocks a contact's address on a channel
-- for every touchpoint of that channel (SMS: STOP ... START).
CREATE TABLE opt_outs (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
CREATE TABLE admin_notices (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    touchpoint_id TEXT NOT NULL DEFAULT '',
    conversation_id TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX admin_notices_created ON admin_notices (created_at, id);
