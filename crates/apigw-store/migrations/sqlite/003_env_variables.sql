-- Environment variables: per group and environment, names unique there (APIG.3303). They go
-- with their group.
CREATE TABLE env_variables (
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    group_id    TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (group_id, env_id, name)
);
CREATE INDEX env_variables_by_instance ON env_variables (instance_id, create_time);
