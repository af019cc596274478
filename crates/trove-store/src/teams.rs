//! Teams: named groups of an org's members.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, MembershipId, OrgId, TeamId};

use crate::db::{Tx, sql};
use crate::model::{Member, Team};
use crate::{Actor, PageRequest, Store};

const TEAM_SELECT: &str = "SELECT t.id, t.name, t.created_at, t.updated_at, \
     (SELECT COUNT(*) FROM team_members tm WHERE tm.team_id = t.id) AS member_count FROM teams t";

fn name_taken(e: AppError, name: &str) -> AppError {
    match e {
        AppError::Conflict { .. } => AppError::conflict(
            "already_exists",
            format!("a team named `{name}` already exists in this organization"),
        ),
        other => other,
    }
}

impl Store {
    /// Lists an org's teams by id.
    pub async fn teams(&self, org: OrgId, page: PageRequest) -> AppResult<Vec<Team>> {
        let mut q = sql(format!("{TEAM_SELECT} WHERE t.org_id = $1")).bind(org.uuid());
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND t.id > {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY t.id LIMIT {p}"));
        self.db.fetch_all(q).await
    }

    /// Loads one team of an org.
    pub async fn team(&self, org: OrgId, id: TeamId) -> AppResult<Team> {
        self.db
            .fetch_one(
                sql(format!("{TEAM_SELECT} WHERE t.org_id = $1 AND t.id = $2"))
                    .bind(org.uuid())
                    .bind(id.uuid()),
                "team",
            )
            .await
    }

    async fn team_in_tx(&self, tx: &mut Tx, id: TeamId) -> AppResult<Team> {
        tx.fetch_one(
            sql(format!("{TEAM_SELECT} WHERE t.id = $1")).bind(id.uuid()),
            "team",
        )
        .await
    }

    /// Creates a team.
    pub async fn create_team(&self, org: OrgId, name: &str, actor: Actor) -> AppResult<Team> {
        let id = TeamId::new();
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("INSERT INTO teams (id, org_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(id.uuid())
                .bind(org.uuid())
                .bind(name)
                .bind(now_ms()),
        )
        .await
        .map_err(|e| name_taken(e, name))?;
        self.audit(
            &mut tx,
            org,
            actor,
            "team.create",
            "team",
            &id.to_string(),
            serde_json::json!({"name": name}),
        )
        .await?;
        let team = self.team_in_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Renames a team.
    pub async fn rename_team(
        &self,
        org: OrgId,
        id: TeamId,
        name: &str,
        actor: Actor,
    ) -> AppResult<Team> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("UPDATE teams SET name = $1, updated_at = $2 WHERE id = $3 AND org_id = $4")
                    .bind(name)
                    .bind(now_ms())
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await
            .map_err(|e| name_taken(e, name))?;
        if changed == 0 {
            return Err(AppError::not_found("team"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "team.rename",
            "team",
            &id.to_string(),
            serde_json::json!({"name": name}),
        )
        .await?;
        let team = self.team_in_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Deletes a team (its memberships go with it).
    pub async fn delete_team(&self, org: OrgId, id: TeamId, actor: Actor) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("DELETE FROM teams WHERE id = $1 AND org_id = $2")
                    .bind(id.uuid())
                    .bind(org.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("team"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "team.delete",
            "team",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await
    }

    /// Lists a team's members by membership id.
    pub async fn team_members(
        &self,
        org: OrgId,
        team: TeamId,
        page: PageRequest,
    ) -> AppResult<Vec<Member>> {
        self.team(org, team).await?;
        let mut q = sql(
            "SELECT m.id, m.user_id, u.email, u.name, m.role, m.created_at FROM team_members tm \
             JOIN org_memberships m ON m.id = tm.membership_id JOIN users u ON u.id = m.user_id \
             WHERE tm.team_id = $1",
        )
        .bind(team.uuid());
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND m.id > {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY m.id LIMIT {p}"));
        self.db.fetch_all(q).await
    }

    /// Adds a member of the org to a team (idempotent).
    pub async fn add_team_member(
        &self,
        org: OrgId,
        team: TeamId,
        member: MembershipId,
        actor: Actor,
    ) -> AppResult<Member> {
        self.team(org, team).await?;
        let found = self.member(org, member).await.map_err(|e| match e {
            AppError::NotFound { .. } => AppError::invalid(
                "orgMembershipId",
                "no member of this organization has this id",
            ),
            other => other,
        })?;
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql(
                "INSERT INTO team_members (team_id, membership_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, membership_id) DO NOTHING",
            )
            .bind(team.uuid())
            .bind(member.uuid())
            .bind(now_ms()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "team.member.add",
            "team",
            &team.to_string(),
            serde_json::json!({"orgMembershipId": member}),
        )
        .await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Removes a member from a team.
    pub async fn remove_team_member(
        &self,
        org: OrgId,
        team: TeamId,
        member: MembershipId,
        actor: Actor,
    ) -> AppResult<()> {
        self.team(org, team).await?;
        let mut tx = self.db.begin().await?;
        let changed = tx
            .execute(
                sql("DELETE FROM team_members WHERE team_id = $1 AND membership_id = $2")
                    .bind(team.uuid())
                    .bind(member.uuid()),
            )
            .await?;
        if changed == 0 {
            return Err(AppError::not_found("team member"));
        }
        self.audit(
            &mut tx,
            org,
            actor,
            "team.member.remove",
            "team",
            &team.to_string(),
            serde_json::json!({"orgMembershipId": member}),
        )
        .await?;
        tx.commit().await
    }
}
