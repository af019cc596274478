//! Config objects and their immutable versions.
//!
//! An object is a stable identity row (`config_objects`) plus versions (`config_object_versions`);
//! the latest version is the newest row (`created_at`, then id), never a stored pointer. A version's
//! normalized payload and raw source files are stored encrypted, each bound to its row and org; the
//! object carries a plaintext projection of the latest version (name, title, description, and a
//! lower-cased search text of names, titles, descriptions and paths — never bodies).
//!
//! [`validate`] parses and checks input, [`diff`] compares two versions, `read` holds the queries and
//! `write` the changes.

pub mod diff;
mod packed;
mod read;
pub mod validate;
mod write;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trove_core::{
    AppError, AppResult, ConfigObjectId, ConfigVersionId, ConnectorInstanceId, OrgId, PluginId,
    Timestamp,
};
use utoipa::ToSchema;
use uuid::Uuid;

pub use read::ObjectFilter;
pub use validate::{FileEncoding, ObjectInput, Prepared, Problem, SourceFile};
pub use write::{Lifecycle, NewObject, VersionWrite};

use super::{ObjectType, Status};
use crate::Store;
use crate::crypto::Aad;

/// The table of versions, and its two encrypted columns (listed in [`crate::rekey::ENCRYPTED_COLUMNS`]).
pub const VERSIONS_TABLE: &str = "config_object_versions";
/// The encrypted normalized payload (JSON, compressed when that pays: see `packed`).
pub const PAYLOAD_COLUMN: &str = "payload";
/// The encrypted raw source (JSON list of files, compressed when that pays).
pub const RAW_SOURCE_COLUMN: &str = "raw_source";

/// Where an object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceMode {
    /// Created through the API or UI.
    Manual,
    /// Imported by a connector from a repository.
    Connector,
}

impl SourceMode {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Connector => "connector",
        }
    }
}

impl std::str::FromStr for SourceMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(Self::Manual),
            "connector" => Ok(Self::Connector),
            other => Err(format!(
                "unknown source mode `{other}` (expected manual or connector)"
            )),
        }
    }
}

/// A config object as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigObject {
    /// The object's id (`cob_…`).
    pub id: ConfigObjectId,
    /// The kind of component.
    #[serde(rename = "type")]
    pub object_type: ObjectType,
    /// `manual` or `connector`.
    pub source_mode: SourceMode,
    /// `active`, `archived` or `deleted`.
    pub status: Status,
    /// The component's name (skill or agent `name`, command file name, server key).
    pub name: String,
    /// The display title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The connector instance that imported it, if any.
    pub connector_instance_id: Option<ConnectorInstanceId>,
    /// The number of the latest version.
    pub latest_version_number: Option<i64>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (a new version, or a lifecycle change).
    pub updated_at: Timestamp,
    /// When it was deleted (soft delete), if it is.
    pub deleted_at: Option<Timestamp>,
}

/// One version without its content (for version lists).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionSummary {
    /// The version's id (`cov_…`).
    pub id: ConfigVersionId,
    /// The object it belongs to.
    pub object_id: ConfigObjectId,
    /// 1, 2, 3, … in creation order.
    pub version_number: i64,
    /// SHA-256 of the content: a new version is written only when it changes.
    pub content_hash: String,
    /// Total size of the raw source files in bytes.
    pub size_bytes: i64,
    /// The source commit, for versions imported by a connector.
    pub source_revision: Option<String>,
    /// Why it was made, as its author said.
    pub reason: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
}

/// One version with its decrypted content.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectVersion {
    /// The version's id (`cov_…`).
    pub id: ConfigVersionId,
    /// The object it belongs to.
    pub object_id: ConfigObjectId,
    /// 1, 2, 3, … in creation order.
    pub version_number: i64,
    /// SHA-256 of the content.
    pub content_hash: String,
    /// Total size of the raw source files in bytes.
    pub size_bytes: i64,
    /// The source commit, for versions imported by a connector.
    pub source_revision: Option<String>,
    /// Why it was made, as its author said.
    pub reason: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// The normalized payload: parsed frontmatter and file list for Markdown components, the wrapped
    /// configuration (`{hooks}`, `{mcpServers}`, `{lspServers}`) for JSON ones.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The raw source: every file, sorted by path.
    pub files: Vec<SourceFile>,
}

impl ObjectVersion {
    /// The version without its content.
    pub fn summary(&self) -> VersionSummary {
        VersionSummary {
            id: self.id,
            object_id: self.object_id,
            version_number: self.version_number,
            content_hash: self.content_hash.clone(),
            size_bytes: self.size_bytes,
            source_revision: self.source_revision.clone(),
            reason: self.reason.clone(),
            created_at: self.created_at,
        }
    }
}

/// An object with its latest version, as plugins and marketplaces deliver it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedObject {
    /// The object.
    pub object: ConfigObject,
    /// Its latest version, decrypted.
    pub version: ObjectVersion,
}

/// A plugin an object belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPlugin {
    /// The plugin.
    pub plugin_id: PluginId,
    /// The plugin's name.
    pub name: String,
    /// The plugin's status.
    pub status: Status,
    /// When the object was added to it.
    pub added_at: Timestamp,
}

/// The columns of an object row (alias `o`), with the latest version number.
pub(crate) const OBJECT_COLUMNS: &str = "o.id, o.type, o.source_mode, o.status, o.name, o.title, o.description, \
     o.connector_instance_id, o.created_at, o.updated_at, o.deleted_at, \
     (SELECT CAST(MAX(lv.version_number) AS BIGINT) FROM config_object_versions lv WHERE lv.object_id = o.id) AS latest_version_number";

#[derive(sqlx::FromRow)]
pub(crate) struct ObjectRow {
    id: Uuid,
    #[sqlx(rename = "type")]
    object_type: String,
    source_mode: String,
    status: String,
    name: String,
    title: String,
    description: String,
    connector_instance_id: Option<Uuid>,
    created_at: i64,
    updated_at: i64,
    deleted_at: Option<i64>,
    latest_version_number: Option<i64>,
}

impl TryFrom<ObjectRow> for ConfigObject {
    type Error = AppError;
    fn try_from(r: ObjectRow) -> AppResult<Self> {
        Ok(ConfigObject {
            id: r.id.into(),
            object_type: r.object_type.parse().map_err(AppError::internal)?,
            source_mode: r.source_mode.parse().map_err(AppError::internal)?,
            status: r.status.parse().map_err(AppError::internal)?,
            name: r.name,
            title: r.title,
            description: r.description,
            connector_instance_id: r.connector_instance_id.map(Into::into),
            latest_version_number: r.latest_version_number,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            deleted_at: r.deleted_at.map(Timestamp),
        })
    }
}

/// The columns of a version row (alias `v`), without the encrypted content.
pub(crate) const SUMMARY_COLUMNS: &str = "v.id, v.object_id, CAST(v.version_number AS BIGINT) AS version_number, \
     v.content_hash, v.size_bytes, v.source_revision, v.reason, v.created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct SummaryRow {
    id: Uuid,
    object_id: Uuid,
    version_number: i64,
    content_hash: String,
    size_bytes: i64,
    source_revision: Option<String>,
    reason: Option<String>,
    created_at: i64,
}

impl From<SummaryRow> for VersionSummary {
    fn from(r: SummaryRow) -> Self {
        VersionSummary {
            id: r.id.into(),
            object_id: r.object_id.into(),
            version_number: r.version_number,
            content_hash: r.content_hash,
            size_bytes: r.size_bytes,
            source_revision: r.source_revision,
            reason: r.reason,
            created_at: Timestamp(r.created_at),
        }
    }
}

/// A version row with its sealed content.
#[derive(sqlx::FromRow)]
pub(crate) struct SealedVersionRow {
    #[sqlx(flatten)]
    summary: SummaryRow,
    org_id: Uuid,
    payload: Vec<u8>,
    raw_source: Vec<u8>,
}

/// The columns of [`SealedVersionRow`].
pub(crate) const VERSION_COLUMNS: &str = "v.id, v.object_id, CAST(v.version_number AS BIGINT) AS version_number, \
     v.content_hash, v.size_bytes, v.source_revision, v.reason, v.created_at, v.org_id, v.payload, v.raw_source";

fn aad(column: &'static str, row: Uuid, org: Uuid) -> Aad<'static> {
    Aad {
        table: VERSIONS_TABLE,
        column,
        row,
        org,
    }
}

impl Store {
    /// Encrypts a version's payload and files for storage.
    pub(crate) fn seal_version(
        &self,
        org: OrgId,
        version: ConfigVersionId,
        payload: &Value,
        files: &[SourceFile],
    ) -> AppResult<(Vec<u8>, Vec<u8>)> {
        let keys = self.keys();
        let payload = keys.encrypt(
            &packed::pack(serde_json::to_vec(payload)?),
            aad(PAYLOAD_COLUMN, version.uuid(), org.uuid()),
        )?;
        let raw = keys.encrypt(
            &packed::pack(serde_json::to_vec(files)?),
            aad(RAW_SOURCE_COLUMN, version.uuid(), org.uuid()),
        )?;
        Ok((payload, raw))
    }

    /// Decrypts a stored version.
    pub(crate) fn open_version(&self, row: SealedVersionRow) -> AppResult<ObjectVersion> {
        let keys = self.keys();
        let id = row.summary.id;
        let payload = keys.decrypt(&row.payload, aad(PAYLOAD_COLUMN, id, row.org_id))?;
        let raw = keys.decrypt(&row.raw_source, aad(RAW_SOURCE_COLUMN, id, row.org_id))?;
        let summary = VersionSummary::from(row.summary);
        Ok(ObjectVersion {
            id: summary.id,
            object_id: summary.object_id,
            version_number: summary.version_number,
            content_hash: summary.content_hash,
            size_bytes: summary.size_bytes,
            source_revision: summary.source_revision,
            reason: summary.reason,
            created_at: summary.created_at,
            payload: serde_json::from_slice(&packed::unpack(&payload)?)?,
            files: serde_json::from_slice(&packed::unpack(&raw)?)?,
        })
    }
}
