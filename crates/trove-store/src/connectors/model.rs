//! Connector rows as the API shows them.

use serde::{Deserialize, Serialize};
use trove_core::{
    ConnectorAccountId, ConnectorInstanceId, ConnectorTargetId, JobId, MappingId, PluginId,
    SyncEventId, Timestamp,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::OptionalTime;

/// What started a reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A GitHub push webhook.
    Push,
    /// Someone asked (API `sync`, `trove sync`, retry).
    Manual,
    /// The first sync after connecting.
    Initial,
    /// The periodic backstop found a new head.
    Periodic,
    /// A GitHub installation event.
    Installation,
}

impl Trigger {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Manual => "manual",
            Self::Initial => "initial",
            Self::Periodic => "periodic",
            Self::Installation => "installation",
        }
    }
}

/// Where a sync event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is reconciling.
    Running,
    /// Done; the registry matches the head.
    Completed,
    /// Done, but the listing was incomplete or some files failed: nothing was tombstoned.
    Partial,
    /// Failed (the error is in `message`); may be retried.
    Failed,
    /// Nothing to do (a stale SHA, an unchanged head, a disabled instance).
    Ignored,
}

impl SyncStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
        }
    }

    /// Whether the event is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl TryFrom<String> for SyncStatus {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Ok(match value.as_str() {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "partial" => Self::Partial,
            "failed" => Self::Failed,
            "ignored" => Self::Ignored,
            other => return Err(format!("unknown sync status `{other}`")),
        })
    }
}

/// What a reconciliation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncCounts {
    /// New objects (new identities).
    pub created: i32,
    /// Objects that got a new version.
    pub updated: i32,
    /// Objects tombstoned because their path is gone.
    pub deleted: i32,
    /// Objects whose content hash did not change.
    pub unchanged: i32,
    /// Components not imported (unselected plugins, invalid files).
    pub skipped: i32,
}

/// A file that could not be imported; the rest of the sync went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileError {
    /// The repository path.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

/// One reconciliation of one target.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncEvent {
    /// The event's id.
    pub id: SyncEventId,
    /// The connector instance.
    pub instance_id: ConnectorInstanceId,
    /// The target.
    pub target_id: ConnectorTargetId,
    /// What started it.
    pub trigger: Trigger,
    /// The GitHub delivery, for webhook-triggered syncs.
    pub delivery_id: Option<String>,
    /// Where it stands.
    pub status: SyncStatus,
    /// The commit the trigger named (a push's `after`), if any.
    pub requested_sha: Option<String>,
    /// The commit that was reconciled.
    pub source_revision_ref: Option<String>,
    /// What changed.
    pub counts: SyncCounts,
    /// Files that failed.
    pub errors: Vec<FileError>,
    /// A summary or the failure.
    pub message: Option<String>,
    /// The job that runs it.
    pub job_id: Option<JobId>,
    /// Runs so far.
    pub attempts: i32,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When a worker started it.
    pub started_at: OptionalTime,
    /// When it ended.
    pub finished_at: OptionalTime,
}

/// The columns of `sync_events`, in the order [`SyncEventRow`] reads them.
pub const SYNC_EVENT_COLUMNS: &str = "id, instance_id, target_id, trigger, delivery_id, status, requested_sha, head_sha, \
     created_count, updated_count, deleted_count, unchanged_count, skipped_count, errors, message, job_id, attempts, \
     created_at, started_at, finished_at";

/// A `sync_events` row.
#[derive(Debug, sqlx::FromRow)]
pub struct SyncEventRow {
    pub(crate) id: Uuid,
    pub(crate) instance_id: Uuid,
    pub(crate) target_id: Uuid,
    pub(crate) trigger: String,
    pub(crate) delivery_id: Option<String>,
    pub(crate) status: String,
    pub(crate) requested_sha: Option<String>,
    pub(crate) head_sha: Option<String>,
    pub(crate) created_count: i32,
    pub(crate) updated_count: i32,
    pub(crate) deleted_count: i32,
    pub(crate) unchanged_count: i32,
    pub(crate) skipped_count: i32,
    pub(crate) errors: String,
    pub(crate) message: Option<String>,
    pub(crate) job_id: Option<Uuid>,
    pub(crate) attempts: i32,
    pub(crate) created_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
}

impl SyncEventRow {
    /// The API shape.
    pub fn into_event(self) -> SyncEvent {
        let trigger = match self.trigger.as_str() {
            "push" => Trigger::Push,
            "initial" => Trigger::Initial,
            "periodic" => Trigger::Periodic,
            "installation" => Trigger::Installation,
            _ => Trigger::Manual,
        };
        SyncEvent {
            id: self.id.into(),
            instance_id: self.instance_id.into(),
            target_id: self.target_id.into(),
            trigger,
            delivery_id: self.delivery_id,
            status: SyncStatus::try_from(self.status).unwrap_or(SyncStatus::Failed),
            requested_sha: self.requested_sha,
            source_revision_ref: self.head_sha,
            counts: SyncCounts {
                created: self.created_count,
                updated: self.updated_count,
                deleted: self.deleted_count,
                unchanged: self.unchanged_count,
                skipped: self.skipped_count,
            },
            errors: serde_json::from_str(&self.errors).unwrap_or_default(),
            message: self.message,
            job_id: self.job_id.map(Into::into),
            attempts: self.attempts,
            created_at: Timestamp(self.created_at),
            started_at: self.started_at.into(),
            finished_at: self.finished_at.into(),
        }
    }
}

/// A connected repository branch.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The target's id.
    #[sqlx(try_from = "Uuid")]
    pub id: ConnectorTargetId,
    /// Its instance.
    #[sqlx(try_from = "Uuid")]
    pub instance_id: ConnectorInstanceId,
    /// The repository URL (credentials never stored in it).
    pub url: String,
    /// The GitHub repository id, for GitHub targets.
    pub repository_id: Option<String>,
    /// `owner/name`, for GitHub targets.
    pub repository_name: Option<String>,
    /// The branch followed.
    pub branch: String,
    /// `active`, `branch_missing` or `error`.
    pub status: String,
    /// The last head seen.
    pub head_sha: Option<String>,
    /// The last head whose reconciliation completed.
    pub synced_sha: Option<String>,
    /// When that was.
    #[sqlx(try_from = "Option<i64>")]
    pub synced_at: OptionalTime,
    /// When the target was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// The columns of `connector_targets` that [`Target`] reads.
pub const TARGET_COLUMNS: &str = "id, instance_id, url, repository_id, repository_name, branch, status, head_sha, synced_sha, synced_at, created_at";

/// A connector instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The instance's id.
    pub id: ConnectorInstanceId,
    /// The account it uses, if any.
    pub account_id: Option<ConnectorAccountId>,
    /// `git` or `github`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name, unique in the org.
    pub name: String,
    /// `active`, `disabled` or `error`.
    pub status: String,
    /// Why it is in `error` (e.g. `repo_access_removed`, `branch_missing`).
    pub status_reason: Option<String>,
    /// Whether plugins that appear later are imported.
    pub auto_import: bool,
    /// Settings.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// Its targets.
    pub targets: Vec<Target>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A path selector and what it yields.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    /// The mapping's id.
    pub id: MappingId,
    /// The target it reads.
    pub target_id: ConnectorTargetId,
    /// A glob over repository paths, e.g. `plugins/review/skills/**`.
    pub selector: String,
    /// The object type its files become.
    pub object_type: String,
    /// The plugin its objects join.
    pub plugin_id: Option<PluginId>,
    /// The discovered plugin it was generated for.
    pub plugin_key: Option<String>,
    /// `discovery` (generated on apply) or `manual`.
    pub origin: String,
    /// When it was created.
    pub created_at: Timestamp,
}
