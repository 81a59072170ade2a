-- The messaging channels' rules (docs/channels/sms.md) and the admins' notices
-- (docs/admin-api.md, "Notices"). An opt-out blocks a contact's address on a channel
-- for every touchpoint of that channel (SMS: STOP ... START).
CREATE TABLE opt_outs (
    channel text COLLATE "C" NOT NULL,
    address text COLLATE "C" NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE TABLE admin_notices (
    id text COLLATE "C" PRIMARY KEY,
    kind text NOT NULL,
    message text NOT NULL,
    touchpoint_id text NOT NULL DEFAULT '',
    conversation_id text NOT NULL DEFAULT '',
    created_at double precision NOT NULL
);
CREATE INDEX admin_notices_created ON admin_notices (created_at, id);
