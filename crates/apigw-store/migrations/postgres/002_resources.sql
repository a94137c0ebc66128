CREATE TABLE groups (
    seq           BIGSERIAL,
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    is_default    BIGINT  NOT NULL DEFAULT 0,
    roma_app_id   TEXT,
    register_time BIGINT  NOT NULL,
    update_time   BIGINT  NOT NULL,
    CONSTRAINT groups_name_key UNIQUE (instance_id, name)
);
-- At most one built-in group per instance, even with several nodes starting at once.
CREATE UNIQUE INDEX groups_one_default ON groups (instance_id) WHERE is_default = 1;

CREATE TABLE envs (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL,
    instance_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    remark      TEXT    NOT NULL DEFAULT '',
    create_time BIGINT  NOT NULL,
    PRIMARY KEY (instance_id, id),
    CONSTRAINT envs_name_key UNIQUE (instance_id, name)
);

CREATE TABLE apis (
    seq           BIGSERIAL,
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    group_id      TEXT    NOT NULL REFERENCES groups (id),
    name          TEXT    NOT NULL,
    route_key     TEXT    NOT NULL,
    def           TEXT    NOT NULL,
    register_time BIGINT  NOT NULL,
    update_time   BIGINT  NOT NULL,
    CONSTRAINT apis_name_key UNIQUE (group_id, name),
    CONSTRAINT apis_route_key UNIQUE (group_id, route_key)
);
CREATE INDEX apis_by_instance ON apis (instance_id, register_time);

CREATE TABLE publications (
    publish_id   TEXT    NOT NULL PRIMARY KEY,
    instance_id  TEXT    NOT NULL,
    api_id       TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id       TEXT    NOT NULL,
    remark       TEXT    NOT NULL DEFAULT '',
    publish_time BIGINT  NOT NULL,
    UNIQUE (api_id, env_id)
);

CREATE TABLE apps (
    seq           BIGSERIAL,
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    app_key       TEXT    NOT NULL,
    app_secret    TEXT    NOT NULL,
    register_time BIGINT  NOT NULL,
    update_time   BIGINT  NOT NULL,
    CONSTRAINT apps_name_key UNIQUE (instance_id, name),
    CONSTRAINT apps_app_key_key UNIQUE (instance_id, app_key)
);

CREATE TABLE app_auths (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    app_id      TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    auth_time   BIGINT  NOT NULL,
    UNIQUE (app_id, api_id, env_id)
);

CREATE TABLE bindings (
    seq           BIGSERIAL,
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    plugin_id     TEXT    NOT NULL REFERENCES plugins (id) ON DELETE RESTRICT,
    plugin_type   TEXT    NOT NULL,
    api_id        TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id        TEXT    NOT NULL,
    attached_time BIGINT  NOT NULL,
    UNIQUE (api_id, env_id, plugin_type)
);
CREATE INDEX bindings_by_plugin ON bindings (plugin_id);
