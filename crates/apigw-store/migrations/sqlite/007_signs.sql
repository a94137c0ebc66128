-- Signature keys, names unique per instance (APIG.3207), the secret sealed at rest; their
-- bindings to APIs per environment, one key per API and environment. A deleted key takes its
-- bindings with it (the delete page names no "in use" refusal); a binding goes with its API,
-- and with the API's publication in that environment (deleted by `unpublish` in the same
-- transaction).
CREATE TABLE signs (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    sign_type   TEXT    NOT NULL,
    sign_key    TEXT    NOT NULL,
    sign_secret TEXT    NOT NULL,
    sign_algorithm TEXT,
    create_time INTEGER NOT NULL,
    update_time INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);
CREATE TABLE sign_bindings (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    sign_id     TEXT    NOT NULL REFERENCES signs (id) ON DELETE CASCADE,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (api_id, env_id)
);
CREATE INDEX sign_bindings_by_sign ON sign_bindings (sign_id);
