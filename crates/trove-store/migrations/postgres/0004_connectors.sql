-- Connectors: where content comes from (accounts, instances, targets, mappings), what was imported
-- from where (selections, bindings, tombstones) and each reconciliation (sync events).

-- A GitHub App installation (bound to at most one org) or a credential for a plain git host.
CREATE TABLE connector_accounts (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('git', 'github')),
    name          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'disconnected')),
    -- The GitHub installation id; unique across all orgs so one installation feeds one org only.
    remote_id     TEXT,
    -- Encrypted credential (username/token for git hosts); never returned by the API.
    credentials   BYTEA,
    metadata      TEXT NOT NULL,
    created_by    UUID,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX connector_accounts_org_idx ON connector_accounts (org_id, id);
CREATE UNIQUE INDEX connector_accounts_remote_key ON connector_accounts (kind, remote_id) WHERE remote_id IS NOT NULL;

-- One connected repository branch and how it is imported.
CREATE TABLE connector_instances (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id     UUID REFERENCES connector_accounts (id) ON DELETE SET NULL,
    type           TEXT NOT NULL CHECK (type IN ('git', 'github')),
    name           TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'error')),
    status_reason  TEXT,
    auto_import    BOOLEAN NOT NULL,
    -- Free-form settings, merged (never replaced) on update.
    config         TEXT NOT NULL,
    created_by     UUID,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX connector_instances_name_key ON connector_instances (org_id, name);

CREATE TABLE connector_targets (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    instance_id         UUID NOT NULL REFERENCES connector_instances (id) ON DELETE CASCADE,
    url                 TEXT NOT NULL,
    repository_id       TEXT,
    repository_name     TEXT,
    branch              TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'branch_missing', 'error')),
    -- The last head seen by a check, and the last head whose reconciliation completed.
    head_sha            TEXT,
    synced_sha          TEXT,
    synced_at           BIGINT,
    -- One reconciliation at a time per target: a lease taken by the running reconcile.
    lock_holder         TEXT,
    lock_until          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX connector_targets_instance_idx ON connector_targets (instance_id);
CREATE INDEX connector_targets_repository_idx ON connector_targets (repository_id, branch);

-- Discovery of a target at one commit, cached (names, paths and counts only — never bodies).
CREATE TABLE connector_discoveries (
    target_id   UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    sha         TEXT NOT NULL,
    org_id      UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    result      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (target_id, sha)
);

-- Which discovered plugins (by stable key) are imported. A key seen for the first time is selected
-- only when the instance auto-imports; a deselected key stays deselected.
CREATE TABLE connector_selections (
    instance_id  UUID NOT NULL REFERENCES connector_instances (id) ON DELETE CASCADE,
    plugin_key   TEXT NOT NULL,
    org_id       UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    selected     BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (instance_id, plugin_key)
);

-- A path selector in the target, the object type it yields, and the plugin its objects join.
CREATE TABLE connector_mappings (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    instance_id  UUID NOT NULL REFERENCES connector_instances (id) ON DELETE CASCADE,
    target_id    UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    selector     TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    plugin_id    UUID REFERENCES plugins (id) ON DELETE SET NULL,
    plugin_key   TEXT,
    origin       TEXT NOT NULL CHECK (origin IN ('discovery', 'manual')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX connector_mappings_instance_idx ON connector_mappings (instance_id);

-- Which repository path produced which live config object. Closed (never deleted) when the path goes.
CREATE TABLE source_bindings (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    instance_id   UUID NOT NULL REFERENCES connector_instances (id) ON DELETE CASCADE,
    target_id     UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    object_id     UUID NOT NULL REFERENCES config_objects (id) ON DELETE CASCADE,
    plugin_key    TEXT NOT NULL,
    path          TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    sha           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    closed_at     BIGINT
);
CREATE UNIQUE INDEX source_bindings_live_key ON source_bindings (target_id, plugin_key, path) WHERE closed_at IS NULL;
CREATE INDEX source_bindings_object_idx ON source_bindings (object_id);

-- A path that disappeared: the object it produced was marked deleted. A path that comes back gets a
-- new identity, never this one.
CREATE TABLE source_tombstones (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    target_id   UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    object_id   UUID NOT NULL REFERENCES config_objects (id) ON DELETE CASCADE,
    plugin_key  TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX source_tombstones_target_idx ON source_tombstones (target_id, id);

-- One reconciliation of one target at one head.
CREATE TABLE sync_events (
    id               UUID PRIMARY KEY,
    org_id           UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    instance_id      UUID NOT NULL REFERENCES connector_instances (id) ON DELETE CASCADE,
    target_id        UUID NOT NULL REFERENCES connector_targets (id) ON DELETE CASCADE,
    trigger          TEXT NOT NULL CHECK (trigger IN ('push', 'manual', 'initial', 'periodic', 'installation')),
    delivery_id      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'partial', 'failed', 'ignored')),
    requested_sha    TEXT,
    head_sha         TEXT,
    created_count    INTEGER NOT NULL,
    updated_count    INTEGER NOT NULL,
    deleted_count    INTEGER NOT NULL,
    unchanged_count  INTEGER NOT NULL,
    skipped_count    INTEGER NOT NULL,
    errors           TEXT NOT NULL,
    message          TEXT,
    job_id           UUID,
    attempts         INTEGER NOT NULL,
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX sync_events_instance_idx ON sync_events (instance_id, id);
CREATE INDEX sync_events_org_idx ON sync_events (org_id, id);
