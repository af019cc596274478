//! Rows of the platform tables, in the shape the API shows them (camelCase JSON, prefixed ids, RFC 3339
//! times). They decode from either engine's rows.

use serde::Serialize;
use trove_core::{AuditId, MembershipId, OrgId, OrgRole, TeamId, Timestamp, TokenId, UserId};
use utoipa::ToSchema;
use uuid::Uuid;

/// A user account.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    #[sqlx(try_from = "Uuid")]
    pub id: UserId,
    /// The sign-in email, lower-cased.
    pub email: String,
    /// The display name.
    pub name: String,
    /// `active`, `invited` (added by an admin, has no password yet) or `disabled`.
    pub status: String,
    /// When the account was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// An organization.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    /// The org's id.
    #[sqlx(try_from = "Uuid")]
    pub id: OrgId,
    /// The URL name, unique: lower-case letters, digits and dashes.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// When it was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    /// When it last changed.
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// A member of an organization: the membership and the user behind it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The membership id (`mem_…`), used by team and grant endpoints.
    #[sqlx(try_from = "Uuid")]
    pub id: MembershipId,
    /// The user's id.
    #[sqlx(try_from = "Uuid")]
    pub user_id: UserId,
    /// The user's email.
    pub email: String,
    /// The user's name.
    pub name: String,
    /// The org role.
    #[sqlx(try_from = "String")]
    pub role: OrgRole,
    /// When the user joined the org.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// A team.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// The team's id.
    #[sqlx(try_from = "Uuid")]
    pub id: TeamId,
    /// The name, unique in the org.
    pub name: String,
    /// How many members it has.
    pub member_count: i64,
    /// When it was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    /// When it last changed.
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// An API token (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The token's id.
    #[sqlx(try_from = "Uuid")]
    pub id: TokenId,
    /// The org it is bound to.
    #[sqlx(try_from = "Uuid")]
    pub org_id: OrgId,
    /// The user it acts as.
    #[sqlx(try_from = "Uuid")]
    pub user_id: UserId,
    /// A label chosen by its creator.
    pub name: String,
    /// The first characters of the secret, to recognise it.
    #[sqlx(rename = "token_prefix")]
    pub prefix: String,
    /// When it stops working, if ever.
    #[sqlx(try_from = "Option<i64>")]
    pub expires_at: OptionalTime,
    /// When it was last used (updated at most once a minute).
    #[sqlx(try_from = "Option<i64>")]
    pub last_used_at: OptionalTime,
    /// When it was revoked, if it was.
    #[sqlx(try_from = "Option<i64>")]
    pub revoked_at: OptionalTime,
    /// When it was created.
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// An optional time (`null` in JSON when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[schema(value_type = Option<Timestamp>)]
pub struct OptionalTime(pub Option<Timestamp>);

impl From<Option<i64>> for OptionalTime {
    fn from(value: Option<i64>) -> Self {
        Self(value.map(Timestamp))
    }
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The entry's id.
    pub id: AuditId,
    /// The user who acted, if a user did.
    pub actor_user_id: Option<UserId>,
    /// The API token used, if one was.
    pub actor_token_id: Option<TokenId>,
    /// What was done, e.g. `member.add`.
    pub action: String,
    /// The kind of resource, e.g. `member`.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// Details of the change (decrypted).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// When it happened.
    pub created_at: Timestamp,
}
