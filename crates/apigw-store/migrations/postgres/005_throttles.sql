-- Classic request throttling policies, names unique per instance (APIG.3204); their bindings
-- to APIs per environment, one policy per API and environment; their excluded configurations
-- (one per app or user and policy, APIG.3308). A deleted policy takes its bindings and
-- excluded configurations with it (the delete page names no "in use" refusal); a binding goes
-- with its API, and with the API's publication in that environment (deleted by `unpublish`
-- in the same transaction).
CREATE TABLE throttles (
    seq                     BIGSERIAL,
    id                      TEXT    NOT NULL PRIMARY KEY,
    instance_id             TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    api_call_limits         BIGINT  NOT NULL,
    user_call_limits        BIGINT,
    app_call_limits         BIGINT,
    ip_call_limits          BIGINT,
    time_interval           BIGINT  NOT NULL,
    time_unit               TEXT    NOT NULL,
    kind                    BIGINT  NOT NULL,
    enable_adaptive_control TEXT    NOT NULL,
    remark                  TEXT    NOT NULL,
    create_time             BIGINT  NOT NULL,
    CONSTRAINT throttles_name_key UNIQUE (instance_id, name)
);
CREATE TABLE throttle_bindings (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    throttle_id TEXT    NOT NULL REFERENCES throttles (id) ON DELETE CASCADE,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    create_time BIGINT  NOT NULL,
    CONSTRAINT throttle_bindings_env_id_key UNIQUE (api_id, env_id)
);
CREATE INDEX throttle_bindings_by_throttle ON throttle_bindings (throttle_id);
CREATE TABLE throttle_specials (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    throttle_id TEXT    NOT NULL REFERENCES throttles (id) ON DELETE CASCADE,
    object_type TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    call_limits BIGINT  NOT NULL,
    create_time BIGINT  NOT NULL,
    CONSTRAINT throttle_specials_object_id_key UNIQUE (throttle_id, object_id)
);
