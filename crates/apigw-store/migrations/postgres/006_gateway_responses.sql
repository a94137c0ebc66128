-- Gateway responses: named response sets of an API group, names unique in the group
-- (APIG.3216), one of them the group's default (created on first use, never deleted or
-- renamed). `responses` holds the customised error types as JSON. They go with their group.
CREATE TABLE gateway_responses (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    group_id    TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    is_default  BIGINT  NOT NULL,
    responses   TEXT    NOT NULL,
    create_time BIGINT  NOT NULL,
    update_time BIGINT  NOT NULL,
    CONSTRAINT gateway_responses_name_key UNIQUE (group_id, name)
);
CREATE INDEX gateway_responses_by_instance ON gateway_responses (instance_id, create_time);
