-- What discovery built from each plugin folder of a target, with a fingerprint of everything it was
-- built from (the folder's listing with its blob object ids, the marketplace entry, ...). A later
-- discovery that computes the same fingerprint takes the candidate as it is instead of reading the
-- folder again. Names, paths, descriptions and counts only, never file bodies. `applied` is the
-- fingerprint whose components the plugin's live bindings fully hold (written with them, cleared
-- when a reconcile of the plugin leaves errors): while it equals the current fingerprint, a
-- reconcile needs neither to plan the plugin nor to read its bindings.
CREATE TABLE connector_plugin_discoveries (
    target_id    UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    plugin_key   TEXT NOT NULL,
    org_id       UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    fingerprint  TEXT NOT NULL,
    candidate    TEXT NOT NULL,
    applied      TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (target_id, plugin_key)
);
