-- API groups; each instance has a built-in DEFAULT group.
CREATE TABLE groups (
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    is_default    INTEGER NOT NULL DEFAULT 0,
    roma_app_id   TEXT,
    register_time INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    UNIQUE (instance_id, name)
);

-- Environments; RELEASE (id DEFAULT_ENVIRONMENT_RELEASE_ID) is built in.
CREATE TABLE envs (
    id          TEXT    NOT NULL,
    instance_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    remark      TEXT    NOT NULL DEFAULT '',
    create_time INTEGER NOT NULL,
    PRIMARY KEY (instance_id, id),
    UNIQUE (instance_id, name)
);

-- APIs: indexed fields plus the canonical JSON definition.
CREATE TABLE apis (
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    group_id      TEXT    NOT NULL REFERENCES groups (id),
    name          TEXT    NOT NULL,
    route_key     TEXT    NOT NULL,
    def           TEXT    NOT NULL,
    register_time INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    UNIQUE (group_id, name),
    UNIQUE (group_id, route_key)
);
CREATE INDEX apis_by_instance ON apis (instance_id, register_time);

-- The APIs published in each environment (offline removes the row).
CREATE TABLE publications (
    publish_id   TEXT    NOT NULL PRIMARY KEY,
    instance_id  TEXT    NOT NULL,
    api_id       TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id       TEXT    NOT NULL,
    remark       TEXT    NOT NULL DEFAULT '',
    publish_time INTEGER NOT NULL,
    UNIQUE (api_id, env_id)
);

-- Apps (APP authentication).
CREATE TABLE apps (
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    app_key       TEXT    NOT NULL,
    app_secret    TEXT    NOT NULL,
    register_time INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    UNIQUE (instance_id, name),
    UNIQUE (instance_id, app_key)
);

-- Apps authorised to call APIs in environments.
CREATE TABLE app_auths (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    app_id      TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    auth_time   INTEGER NOT NULL,
    UNIQUE (app_id, api_id, env_id)
);

-- Plug-ins bound to APIs: one per type per API per environment. A bound plug-in cannot be
-- deleted (APIG.3462); deleting an API removes its bindings.
CREATE TABLE bindings (
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    plugin_id     TEXT    NOT NULL REFERENCES plugins (id) ON DELETE RESTRICT,
    plugin_type   TEXT    NOT NULL,
    api_id        TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id        TEXT    NOT NULL,
    attached_time INTEGER NOT NULL,
    UNIQUE (api_id, env_id, plugin_type)
);
CREATE INDEX bindings_by_plugin ON bindings (plugin_id);
