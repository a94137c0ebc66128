-- Classic request throttling policies, names unique per instance (APIG.3204); their bindings
-- to APIs per environment, one policy per API and environment; their excluded configurations
-- (one per app or user and policy, APIG.3308). A deleted policy takes its bindings and
-- excluded configurations with it (the delete page names no "in use" refusal); a binding goes
-- with its API, and with the API's publication in that environment (deleted by `unpublish`
-- in the same transaction).
CREATE TABLE throttles (
    id                      TEXT    NOT NULL PRIMARY KEY,
    instance_id             TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    api_call_limits         INTEGER NOT NULL,
    user_call_limits        INTEGER,
    app_call_limits         INTEGER,
    ip_call_limits          INTEGER,
    time_interval           INTEGER NOT NULL,
    time_unit               TEXT    NOT NULL,
    kind                    INTEGER NOT NULL,
    enable_adaptive_control TEXT    NOT NULL,
    remark                  TEXT    NOT NULL,
    create_time             INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE TABLE throttle_bindings (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    throttle_id TEXT    NOT NULL REFERENCES throttles (id) ON DELETE CASCADE,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (api_id, env_id)
);
CREATE INDEX throttle_bindings_by_throttle ON throttle_bindings (throttle_id);
CREATE TABLE throttle_specials (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    throttle_id TEXT    NOT NULL REFERENCES throttles (id) ON DELETE CASCADE,
    object_type TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    call_limits INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (throttle_id, object_id)
);
