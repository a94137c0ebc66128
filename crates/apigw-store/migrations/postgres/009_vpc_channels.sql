-- Load balance channels: one row each, the whole channel (members, member groups, health
-- check) in `def` as JSON, so that every change to a channel is one row written in one
-- transaction. Names are unique per instance (APIG.3208); at most 30 per instance (checked in
-- the insert's transaction).
CREATE TABLE vpc_channels (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    def         TEXT    NOT NULL,
    create_time BIGINT  NOT NULL,
    CONSTRAINT vpc_channels_name_key UNIQUE (instance_id, name)
);
