-- Plug-ins, one row each; names are unique per instance (APIG.3326).
CREATE TABLE plugins (
    seq           BIGSERIAL,
    id            TEXT    NOT NULL PRIMARY KEY,
    instance_id   TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    plugin_type   TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    content       TEXT    NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    roma_app_id   TEXT,
    roma_app_name TEXT,
    create_time   BIGINT  NOT NULL,
    update_time   BIGINT  NOT NULL,
    CONSTRAINT plugins_name_key UNIQUE (instance_id, name)
);
CREATE INDEX plugins_by_instance ON plugins (instance_id, create_time);

-- A single counter bumped by every write: the change feed of every node.
CREATE TABLE config_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);
