-- Registry: config objects and their immutable versions, plugins, marketplaces, memberships, grants.
-- Soft deletes keep rows with `status` and `deleted_at`; relationships keep one row per relationship
-- with `removed_at`, and the database enforces that at most one of them is live.

CREATE TABLE config_objects (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    type           TEXT NOT NULL CHECK (type IN ('skill', 'agent', 'command', 'hook', 'mcp', 'lsp', 'output_style', 'context', 'custom')),
    source_mode    TEXT NOT NULL CHECK (source_mode IN ('manual', 'connector')),
    status         TEXT NOT NULL CHECK (status IN ('active', 'archived', 'deleted')),
    name           TEXT NOT NULL,
    title          TEXT NOT NULL,
    description    TEXT NOT NULL,
    -- Names, titles, descriptions and paths only, lower-cased: never component bodies.
    search_text    TEXT NOT NULL,
    connector_instance_id UUID,
    created_by     UUID,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);
CREATE INDEX config_objects_org_idx ON config_objects (org_id, id);
CREATE INDEX config_objects_org_type_idx ON config_objects (org_id, type, status, id);

CREATE TABLE config_object_versions (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    object_id       UUID NOT NULL REFERENCES config_objects (id) ON DELETE CASCADE,
    version_number  INTEGER NOT NULL,
    content_hash    TEXT NOT NULL,
    -- Both encrypted envelopes (see trove_store::crypto).
    payload         BYTEA NOT NULL,
    raw_source      BYTEA NOT NULL,
    size_bytes      BIGINT NOT NULL,
    source_revision TEXT,
    created_by      UUID,
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX config_object_versions_number_key ON config_object_versions (object_id, version_number);

CREATE TABLE plugins (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    version      TEXT,
    description  TEXT NOT NULL,
    -- Author, homepage, repository, license, keywords, category, tags as one JSON object.
    metadata     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'archived', 'deleted')),
    source_key   TEXT,
    connector_instance_id UUID,
    created_by   UUID,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX plugins_org_idx ON plugins (org_id, status, id);
CREATE UNIQUE INDEX plugins_source_key ON plugins (org_id, source_key) WHERE source_key IS NOT NULL;

CREATE TABLE plugin_objects (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    plugin_id   UUID NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    object_id   UUID NOT NULL REFERENCES config_objects (id) ON DELETE CASCADE,
    created_by  UUID,
    created_at  BIGINT NOT NULL,
    removed_at  BIGINT
);
CREATE UNIQUE INDEX plugin_objects_live_key ON plugin_objects (plugin_id, object_id) WHERE removed_at IS NULL;
CREATE INDEX plugin_objects_object_idx ON plugin_objects (object_id);

CREATE TABLE marketplaces (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    -- Owner (name, email, url) as JSON.
    owner        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'archived', 'deleted')),
    source_key   TEXT,
    connector_instance_id UUID,
    created_by   UUID,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    deleted_at   BIGINT
);
CREATE INDEX marketplaces_org_idx ON marketplaces (org_id, status, id);
CREATE UNIQUE INDEX marketplaces_source_key ON marketplaces (org_id, source_key) WHERE source_key IS NOT NULL;

CREATE TABLE marketplace_plugins (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    marketplace_id  UUID NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    plugin_id       UUID NOT NULL REFERENCES plugins (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    created_by      UUID,
    created_at      BIGINT NOT NULL,
    removed_at      BIGINT
);
CREATE UNIQUE INDEX marketplace_plugins_live_key ON marketplace_plugins (marketplace_id, plugin_id) WHERE removed_at IS NULL;
CREATE INDEX marketplace_plugins_plugin_idx ON marketplace_plugins (plugin_id);

CREATE TABLE access_grants (
    id             UUID PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    resource_type  TEXT NOT NULL CHECK (resource_type IN ('config_object', 'plugin', 'marketplace', 'connector_instance')),
    resource_id    UUID NOT NULL,
    grantee_type   TEXT NOT NULL CHECK (grantee_type IN ('member', 'team', 'org')),
    membership_id  UUID REFERENCES org_memberships (id) ON DELETE CASCADE,
    team_id        UUID REFERENCES teams (id) ON DELETE CASCADE,
    role           TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    -- 1 viewer, 2 editor, 3 manager: the effective role is the MAX over live grants.
    role_rank      INTEGER NOT NULL CHECK (role_rank BETWEEN 1 AND 3),
    created_by     UUID,
    created_at     BIGINT NOT NULL,
    removed_at     BIGINT,
    CHECK ((grantee_type = 'member' AND membership_id IS NOT NULL AND team_id IS NULL)
        OR (grantee_type = 'team' AND team_id IS NOT NULL AND membership_id IS NULL)
        OR (grantee_type = 'org' AND membership_id IS NULL AND team_id IS NULL))
);
CREATE UNIQUE INDEX access_grants_member_key ON access_grants (resource_id, membership_id) WHERE removed_at IS NULL AND grantee_type = 'member';
CREATE UNIQUE INDEX access_grants_team_key ON access_grants (resource_id, team_id) WHERE removed_at IS NULL AND grantee_type = 'team';
CREATE UNIQUE INDEX access_grants_org_key ON access_grants (resource_id) WHERE removed_at IS NULL AND grantee_type = 'org';
CREATE INDEX access_grants_resource_idx ON access_grants (resource_id, removed_at);
CREATE INDEX access_grants_membership_idx ON access_grants (membership_id);
CREATE INDEX access_grants_team_idx ON access_grants (team_id);
