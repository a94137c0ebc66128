-- SSL certificates of a project (`global`, instance_id 'common') or of one instance: the PEM
-- chain, the private key sealed at rest, an optional trusted root CA for mutual TLS. Their
-- X.509 fields are parsed from cert_content when answered, not stored.
CREATE TABLE certificates (
    id              TEXT    NOT NULL PRIMARY KEY,
    project_id      TEXT    NOT NULL,
    instance_id     TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    cert_type       TEXT    NOT NULL,
    cert_content    TEXT    NOT NULL,
    private_key     TEXT    NOT NULL,
    trusted_root_ca TEXT,
    create_time     INTEGER NOT NULL,
    update_time     INTEGER NOT NULL
);
-- Domain names bound to groups: unique per instance (APIG.3305), at most five per group
-- (checked in the insert's transaction), one certificate each. A domain goes with its group;
-- a certificate cannot go while a domain holds it (RESTRICT, checked first by the store).
CREATE TABLE domains (
    id              TEXT    NOT NULL PRIMARY KEY,
    instance_id     TEXT    NOT NULL,
    group_id        TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    url_domain      TEXT    NOT NULL,
    min_ssl_version TEXT    NOT NULL,
    is_http_redirect_to_https INTEGER NOT NULL,
    verified_client_certificate_enabled INTEGER NOT NULL,
    ssl_id          TEXT    REFERENCES certificates (id) ON DELETE RESTRICT,
    create_time     INTEGER NOT NULL,
    UNIQUE (instance_id, url_domain)
);
CREATE INDEX domains_by_group ON domains (group_id);
CREATE INDEX domains_by_certificate ON domains (ssl_id);
