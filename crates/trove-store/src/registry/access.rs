//! Who may see or change a registry resource.
//!
//! Roles are `viewer < editor < manager`, held through live grants to a member, to a team the member is
//! in, or to the whole org; the effective role is the strongest. Org owners and admins are managers of
//! everything. Viewing (never editing) inherits downward through *active* resources only: access to an
//! active marketplace lets one view its plugins, and view access to an active plugin lets one view its
//! objects. Lists filter with the SQL built here, in the page query itself, so a page costs one query
//! whatever the caller's grants.

use serde::{Deserialize, Serialize};
use trove_core::time::now_ms;
use trove_core::{
    AppError, AppResult, GrantId, MembershipId, OrgId, ResourceRole, TeamId, Timestamp,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::{Sql, Tx, sql};
use crate::{Actor, Store};

/// The kinds of resources that carry grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A config object.
    ConfigObject,
    /// A plugin.
    Plugin,
    /// A marketplace.
    Marketplace,
    /// A connector instance.
    ConnectorInstance,
}

impl ResourceKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigObject => "config_object",
            Self::Plugin => "plugin",
            Self::Marketplace => "marketplace",
            Self::ConnectorInstance => "connector_instance",
        }
    }

    /// The table holding the resources.
    fn table(self) -> &'static str {
        match self {
            Self::ConfigObject => "config_objects",
            Self::Plugin => "plugins",
            Self::Marketplace => "marketplaces",
            Self::ConnectorInstance => "connector_instances",
        }
    }

    /// The resource's name in error messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::ConfigObject => "config object",
            Self::Plugin => "plugin",
            Self::Marketplace => "marketplace",
            Self::ConnectorInstance => "connector instance",
        }
    }
}

/// The caller inside an org, as far as resource access is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Principal {
    /// The org.
    pub org_id: OrgId,
    /// The caller's membership.
    pub membership_id: MembershipId,
    /// Owners and admins: implicit manager on everything.
    pub is_admin: bool,
}

fn rank(role: ResourceRole) -> i32 {
    match role {
        ResourceRole::Viewer => 1,
        ResourceRole::Editor => 2,
        ResourceRole::Manager => 3,
    }
}

fn role_of_rank(rank: i32) -> Option<ResourceRole> {
    match rank {
        1 => Some(ResourceRole::Viewer),
        2 => Some(ResourceRole::Editor),
        3 => Some(ResourceRole::Manager),
        _ => None,
    }
}

/// `EXISTS (…)`: the principal holds a live grant of at least `min` on the resource whose id is the SQL
/// expression `resource`.
pub fn holds_grant(
    q: &mut Sql,
    p: &Principal,
    kind: ResourceKind,
    resource: &str,
    min: ResourceRole,
) -> String {
    let m = q.push_arg(p.membership_id.uuid());
    format!(
        "EXISTS (SELECT 1 FROM access_grants g WHERE g.resource_id = {resource} AND g.resource_type = '{kind}' \
         AND g.removed_at IS NULL AND g.role_rank >= {min} AND (g.grantee_type = 'org' OR g.membership_id = {m} \
         OR g.team_id IN (SELECT tm.team_id FROM team_members tm WHERE tm.membership_id = {m})))",
        kind = kind.as_str(),
        min = rank(min),
    )
}

/// A condition true when the principal may view the marketplace `resource`.
pub fn can_view_marketplace(q: &mut Sql, p: &Principal, resource: &str) -> String {
    if p.is_admin {
        return "TRUE".into();
    }
    holds_grant(
        q,
        p,
        ResourceKind::Marketplace,
        resource,
        ResourceRole::Viewer,
    )
}

/// A condition true when the principal may view the plugin `resource`: a grant on it, or on an active
/// marketplace that lists it.
pub fn can_view_plugin(q: &mut Sql, p: &Principal, resource: &str) -> String {
    if p.is_admin {
        return "TRUE".into();
    }
    let direct = holds_grant(q, p, ResourceKind::Plugin, resource, ResourceRole::Viewer);
    let via_marketplace = holds_grant(
        q,
        p,
        ResourceKind::Marketplace,
        "vmk.id",
        ResourceRole::Viewer,
    );
    format!(
        "({direct} OR EXISTS (SELECT 1 FROM marketplace_plugins vmp JOIN marketplaces vmk ON vmk.id = vmp.marketplace_id \
         WHERE vmp.plugin_id = {resource} AND vmp.removed_at IS NULL AND vmk.status = 'active' AND {via_marketplace}))"
    )
}

/// A condition true when the principal may view the config object `resource`: a grant on it, or view
/// access to an active plugin that contains it.
pub fn can_view_object(q: &mut Sql, p: &Principal, resource: &str) -> String {
    if p.is_admin {
        return "TRUE".into();
    }
    let direct = holds_grant(
        q,
        p,
        ResourceKind::ConfigObject,
        resource,
        ResourceRole::Viewer,
    );
    let plugin = can_view_plugin(q, p, "vpl.id");
    format!(
        "({direct} OR EXISTS (SELECT 1 FROM plugin_objects vpo JOIN plugins vpl ON vpl.id = vpo.plugin_id \
         WHERE vpo.object_id = {resource} AND vpo.removed_at IS NULL AND vpl.status = 'active' AND {plugin}))"
    )
}

/// A condition for "may view" of any kind.
pub fn can_view(q: &mut Sql, p: &Principal, kind: ResourceKind, resource: &str) -> String {
    match kind {
        ResourceKind::ConfigObject => can_view_object(q, p, resource),
        ResourceKind::Plugin => can_view_plugin(q, p, resource),
        ResourceKind::Marketplace => can_view_marketplace(q, p, resource),
        ResourceKind::ConnectorInstance => {
            if p.is_admin {
                "TRUE".into()
            } else {
                holds_grant(q, p, kind, resource, ResourceRole::Viewer)
            }
        }
    }
}

/// A grant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// `member`, `team` or `org`.
    pub grantee_type: String,
    /// The member, for member grants.
    pub org_membership_id: Option<MembershipId>,
    /// The team, for team grants.
    pub team_id: Option<TeamId>,
    /// Whether it is granted to the whole org.
    pub org_wide: bool,
    /// The role granted.
    pub role: ResourceRole,
    /// When it was granted.
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: Uuid,
    grantee_type: String,
    membership_id: Option<Uuid>,
    team_id: Option<Uuid>,
    role: String,
    created_at: i64,
}

impl TryFrom<GrantRow> for Grant {
    type Error = AppError;
    fn try_from(r: GrantRow) -> Result<Self, AppError> {
        Ok(Grant {
            id: r.id.into(),
            org_wide: r.grantee_type == "org",
            grantee_type: r.grantee_type,
            org_membership_id: r.membership_id.map(Into::into),
            team_id: r.team_id.map(Into::into),
            role: r.role.parse().map_err(AppError::internal)?,
            created_at: Timestamp(r.created_at),
        })
    }
}

/// Who a new grant is for: exactly one of the three.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGrant {
    /// A member (`mem_…`).
    pub org_membership_id: Option<MembershipId>,
    /// A team (`team_…`).
    pub team_id: Option<TeamId>,
    /// The whole org (only org owners and admins may grant this).
    pub org_wide: Option<bool>,
    /// The role.
    pub role: ResourceRole,
}

const GRANT_COLUMNS: &str = "id, grantee_type, membership_id, team_id, role, created_at";

impl Store {
    /// Whether a resource of `kind` with this id exists in the org (any status).
    pub async fn resource_exists(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: Uuid,
    ) -> AppResult<bool> {
        let found: Option<i32> = self
            .db
            .scalar(
                sql(format!(
                    "SELECT 1 FROM {} WHERE id = $1 AND org_id = $2",
                    kind.table()
                ))
                .bind(id)
                .bind(org.uuid()),
            )
            .await?;
        Ok(found.is_some())
    }

    /// The principal's effective role on a resource: manager for admins, else the strongest live grant,
    /// else viewer when viewing is inherited, else `None`.
    pub async fn role_on(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: Uuid,
    ) -> AppResult<Option<ResourceRole>> {
        if p.is_admin {
            return Ok(Some(ResourceRole::Manager));
        }
        let mut q = sql("");
        let m = q.push_arg(p.membership_id.uuid());
        let r = q.push_arg(id);
        q.push(&format!(
            "SELECT MAX(g.role_rank) FROM access_grants g WHERE g.resource_id = {r} AND g.resource_type = '{}' \
             AND g.removed_at IS NULL AND (g.grantee_type = 'org' OR g.membership_id = {m} \
             OR g.team_id IN (SELECT tm.team_id FROM team_members tm WHERE tm.membership_id = {m}))",
            kind.as_str()
        ));
        let direct: Option<i32> = self.db.scalar(q).await?.flatten();
        if let Some(role) = direct.and_then(role_of_rank) {
            return Ok(Some(role));
        }
        if matches!(kind, ResourceKind::ConfigObject | ResourceKind::Plugin) {
            let mut q = sql("");
            let r = q.push_arg(id);
            let cond = can_view(&mut q, p, kind, &r);
            q.push(&format!("SELECT 1 WHERE {cond}"));
            let inherited: Option<i32> = self.db.scalar(q).await?;
            if inherited.is_some() {
                return Ok(Some(ResourceRole::Viewer));
            }
        }
        Ok(None)
    }

    /// Checks that the resource exists in the org (else 404) and that the principal holds at least `min`
    /// on it (else 403 `missing_resource_access`). Returns the effective role.
    pub async fn require_role(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: Uuid,
        min: ResourceRole,
    ) -> AppResult<ResourceRole> {
        if !self.resource_exists(p.org_id, kind, id).await? {
            return Err(AppError::NotFound {
                resource: kind.noun(),
            });
        }
        match self.role_on(p, kind, id).await? {
            Some(role) if role >= min => Ok(role),
            _ => Err(AppError::missing_resource_access(format!(
                "this needs the {min} role on the {}; ask one of its managers or an org admin for access",
                kind.noun()
            ))),
        }
    }

    /// Lists the live grants on a resource.
    pub async fn grants(&self, org: OrgId, kind: ResourceKind, id: Uuid) -> AppResult<Vec<Grant>> {
        let rows: Vec<GrantRow> = self
            .db
            .fetch_all(
                sql(format!(
                    "SELECT {GRANT_COLUMNS} FROM access_grants WHERE org_id = $1 AND resource_type = $2 \
                     AND resource_id = $3 AND removed_at IS NULL ORDER BY id"
                ))
                .bind(org.uuid())
                .bind(kind.as_str())
                .bind(id),
            )
            .await?;
        rows.into_iter().map(Grant::try_from).collect()
    }

    /// Grants a role (or changes the role of the grantee's live grant). Checks that the grantee belongs
    /// to the org; the caller checks the caller's own rights.
    pub async fn grant(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: Uuid,
        new: &NewGrant,
        actor: Actor,
    ) -> AppResult<Grant> {
        let mut tx = self.db.begin().await?;
        let grant = self.grant_in(&mut tx, org, kind, id, new, actor).await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// [`Store::grant`] inside a transaction (used when creating a resource, to make its creator a
    /// manager in the same transaction).
    pub async fn grant_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        kind: ResourceKind,
        id: Uuid,
        new: &NewGrant,
        actor: Actor,
    ) -> AppResult<Grant> {
        let (grantee_type, membership, team) = match (
            new.org_membership_id,
            new.team_id,
            new.org_wide.unwrap_or(false),
        ) {
            (Some(m), None, false) => ("member", Some(m), None),
            (None, Some(t), false) => ("team", None, Some(t)),
            (None, None, true) => ("org", None, None),
            _ => {
                return Err(AppError::bad_request(
                    "give exactly one of `orgMembershipId`, `teamId` or `orgWide: true`",
                ));
            }
        };
        if let Some(m) = membership {
            let found: Option<i32> = tx
                .scalar(
                    sql("SELECT 1 FROM org_memberships WHERE id = $1 AND org_id = $2")
                        .bind(m.uuid())
                        .bind(org.uuid()),
                )
                .await?;
            if found.is_none() {
                return Err(AppError::invalid(
                    "orgMembershipId",
                    "no member of this organization has this id",
                ));
            }
        }
        if let Some(t) = team {
            let found: Option<i32> = tx
                .scalar(
                    sql("SELECT 1 FROM teams WHERE id = $1 AND org_id = $2")
                        .bind(t.uuid())
                        .bind(org.uuid()),
                )
                .await?;
            if found.is_none() {
                return Err(AppError::invalid(
                    "teamId",
                    "no team of this organization has this id",
                ));
            }
        }
        // One live grant per grantee: a new role replaces the old one in place.
        let mut find = sql(format!(
            "SELECT {GRANT_COLUMNS} FROM access_grants WHERE resource_id = $1 AND resource_type = $2 \
             AND removed_at IS NULL AND grantee_type = $3"
        ))
        .bind(id)
        .bind(kind.as_str())
        .bind(grantee_type);
        if let Some(m) = membership {
            let p = find.push_arg(m.uuid());
            find.push(&format!(" AND membership_id = {p}"));
        }
        if let Some(t) = team {
            let p = find.push_arg(t.uuid());
            find.push(&format!(" AND team_id = {p}"));
        }
        let existing: Option<GrantRow> = tx.fetch_optional(find).await?;
        let grant_id = match existing {
            Some(row) => {
                tx.execute(
                    sql("UPDATE access_grants SET role = $1, role_rank = $2 WHERE id = $3")
                        .bind(new.role.as_str())
                        .bind(rank(new.role))
                        .bind(row.id),
                )
                .await?;
                row.id
            }
            None => {
                let gid = GrantId::new().uuid();
                tx.execute(
                    sql("INSERT INTO access_grants (id, org_id, resource_type, resource_id, grantee_type, membership_id, team_id, role, role_rank, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                    .bind(gid)
                    .bind(org.uuid())
                    .bind(kind.as_str())
                    .bind(id)
                    .bind(grantee_type)
                    .bind(membership.map(|m| m.uuid()))
                    .bind(team.map(|t| t.uuid()))
                    .bind(new.role.as_str())
                    .bind(rank(new.role))
                    .bind(actor.user_id.map(|u| u.uuid()))
                    .bind(now_ms()),
                )
                .await?;
                gid
            }
        };
        self.audit(
            tx,
            org,
            actor,
            "access.grant",
            kind.as_str(),
            &id.to_string(),
            serde_json::json!({"grantee": grantee_type, "orgMembershipId": membership, "teamId": team, "role": new.role}),
        )
        .await?;
        let row: GrantRow = tx
            .fetch_one(
                sql(format!(
                    "SELECT {GRANT_COLUMNS} FROM access_grants WHERE id = $1"
                ))
                .bind(grant_id),
                "grant",
            )
            .await?;
        Grant::try_from(row)
    }

    /// Makes the creator of a new resource its manager, in the transaction that creates it.
    pub async fn grant_creator_in(
        &self,
        tx: &mut Tx,
        p: &Principal,
        kind: ResourceKind,
        id: Uuid,
        actor: Actor,
    ) -> AppResult<Grant> {
        let creator = NewGrant {
            org_membership_id: Some(p.membership_id),
            team_id: None,
            org_wide: None,
            role: ResourceRole::Manager,
        };
        self.grant_in(tx, p.org_id, kind, id, &creator, actor).await
    }

    /// Revokes a live grant on a resource.
    pub async fn revoke_grant(
        &self,
        org: OrgId,
        kind: ResourceKind,
        id: Uuid,
        grant: GrantId,
        actor: Actor,
    ) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("UPDATE access_grants SET removed_at = $1 WHERE id = $2 AND org_id = $3 AND resource_type = $4 \
                     AND resource_id = $5 AND removed_at IS NULL")
                .bind(now_ms())
                .bind(grant.uuid())
                .bind(org.uuid())
                .bind(kind.as_str())
                .bind(id),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("grant"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "access.revoke",
            kind.as_str(),
            &id.to_string(),
            serde_json::json!({"grantId": grant}),
        )
        .await?;
        tx.commit().await
    }
}
