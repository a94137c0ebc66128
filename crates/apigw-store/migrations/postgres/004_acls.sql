-- Access control policies, names unique per instance (APIG.3206), and their bindings to APIs
-- per environment: one policy of each kind (IP, ACCOUNT) per API and environment. A bound
-- policy cannot be deleted (APIG.3447); a binding goes with its API, and with the API's
-- publication in that environment (deleted by `unpublish` in the same transaction).
CREATE TABLE acls (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    acl_type    TEXT    NOT NULL,
    entity_type TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    update_time BIGINT  NOT NULL,
    CONSTRAINT acls_name_key UNIQUE (instance_id, name)
);
CREATE TABLE acl_bindings (
    seq         BIGSERIAL,
    id          TEXT    NOT NULL PRIMARY KEY,
    instance_id TEXT    NOT NULL,
    acl_id      TEXT    NOT NULL REFERENCES acls (id) ON DELETE RESTRICT,
    api_id      TEXT    NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    env_id      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    create_time BIGINT  NOT NULL,
    CONSTRAINT acl_bindings_kind_key UNIQUE (api_id, env_id, kind)
);
CREATE INDEX acl_bindings_by_acl ON acl_bindings (acl_id);
