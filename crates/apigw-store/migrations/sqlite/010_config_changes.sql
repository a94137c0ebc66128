-- What each committed write changed, by the version it took (the last few thousand): the data
-- plane applies a run of changes that touch only some APIs' routes (or only the apps) to its
-- snapshot instead of rebuilding it. `scope` is `*` (anything may have changed), `apps`,
-- or `apis` followed by the ids of the APIs whose routes the write touched.
CREATE TABLE config_changes (
    version INTEGER NOT NULL PRIMARY KEY,
    scope   TEXT    NOT NULL
);
-- A route's inputs are read by API: the other binding tables lead with api_id already.
CREATE INDEX app_auths_by_api ON app_auths (api_id);
