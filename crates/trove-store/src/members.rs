//! Members of an organization: listing, adding by email, changing roles and removing, with the
//! rule that an organization always keeps at least one owner.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, MembershipId, OrgId, OrgRole};
use uuid::Uuid;

use crate::accounts::{MEMBER_SELECT, Membership};
use crate::db::{Tx, sql};
use crate::model::Member;
use crate::{Actor, PageRequest, Store};

impl Store {
    /// Lists an org's members by membership id.
    pub async fn members(&self, org: OrgId, page: PageRequest) -> AppResult<Vec<Member>> {
        let mut q = sql(format!("{MEMBER_SELECT} WHERE m.org_id = $1")).bind(org.uuid());
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND m.id > {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY m.id LIMIT {p}"));
        self.db.fetch_all(q).await
    }

    /// Loads one member of an org.
    pub async fn member(&self, org: OrgId, id: MembershipId) -> AppResult<Member> {
        self.db
            .fetch_one(
                sql(format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND m.id = $2"))
                    .bind(org.uuid())
                    .bind(id.uuid()),
                "member",
            )
            .await
    }

    /// Adds a user to an org by email, creating an invited account when the email is new.
    pub async fn add_member(
        &self,
        org: OrgId,
        email: &str,
        name: Option<&str>,
        role: OrgRole,
        actor: Actor,
    ) -> AppResult<Member> {
        let mut tx = self.db.begin().await?;
        let user = match self.user_by_email(&mut tx, email).await? {
            Some(user) => user,
            None => {
                let default_name = email.split('@').next().unwrap_or(email);
                self.create_user(&mut tx, email, name.unwrap_or(default_name), None)
                    .await?
            }
        };
        let id = self.insert_membership(&mut tx, org, user.id, role).await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "member.add",
            "member",
            &id.to_string(),
            serde_json::json!({"email": email, "role": role}),
        )
        .await?;
        let member = tx
            .fetch_one(
                sql(format!("{MEMBER_SELECT} WHERE m.id = $1")).bind(id.uuid()),
                "member",
            )
            .await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Locks the org's owner rows (PostgreSQL) and counts them. Used before demoting or removing an
    /// owner, so two concurrent requests cannot both remove "one of two" owners.
    async fn lock_owner_count(&self, tx: &mut Tx, org: OrgId) -> AppResult<usize> {
        let lock = tx.backend().for_update();
        let owners: Vec<(Uuid,)> = tx
            .fetch_all(
                sql(format!(
                    "SELECT id FROM org_memberships WHERE org_id = $1 AND role = 'owner'{lock}"
                ))
                .bind(org.uuid()),
            )
            .await?;
        Ok(owners.len())
    }

    /// Changes a member's role. The last owner cannot be demoted.
    pub async fn change_role(
        &self,
        org: OrgId,
        id: MembershipId,
        role: OrgRole,
        actor: Actor,
    ) -> AppResult<Member> {
        let mut tx = self.db.begin().await?;
        let owners = self.lock_owner_count(&mut tx, org).await?;
        let current: Membership = tx
            .fetch_one(
                sql("SELECT id, role FROM org_memberships WHERE org_id = $1 AND id = $2")
                    .bind(org.uuid())
                    .bind(id.uuid()),
                "member",
            )
            .await?;
        if current.role == OrgRole::Owner && role != OrgRole::Owner && owners <= 1 {
            return Err(AppError::conflict(
                "last_owner",
                "this is the organization's last owner; make another member owner first",
            ));
        }
        tx.execute(
            sql("UPDATE org_memberships SET role = $1, updated_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now_ms())
                .bind(id.uuid()),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "member.role",
            "member",
            &id.to_string(),
            serde_json::json!({"from": current.role, "to": role}),
        )
        .await?;
        let member = tx
            .fetch_one(
                sql(format!("{MEMBER_SELECT} WHERE m.id = $1")).bind(id.uuid()),
                "member",
            )
            .await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Removes a member (and their team memberships and tokens for this org). The last owner cannot be
    /// removed.
    pub async fn remove_member(&self, org: OrgId, id: MembershipId, actor: Actor) -> AppResult<()> {
        let mut tx = self.db.begin().await?;
        let owners = self.lock_owner_count(&mut tx, org).await?;
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(try_from = "String")]
            role: OrgRole,
            user_id: Uuid,
        }
        let current: Row = tx
            .fetch_one(
                sql("SELECT role, user_id FROM org_memberships WHERE org_id = $1 AND id = $2")
                    .bind(org.uuid())
                    .bind(id.uuid()),
                "member",
            )
            .await?;
        if current.role == OrgRole::Owner && owners <= 1 {
            return Err(AppError::conflict(
                "last_owner",
                "this is the organization's last owner; make another member owner first",
            ));
        }
        tx.execute(sql("DELETE FROM org_memberships WHERE id = $1").bind(id.uuid()))
            .await?;
        // A removed member's tokens for this org stop working at once.
        tx.execute(
            sql("UPDATE api_tokens SET revoked_at = $1 WHERE org_id = $2 AND user_id = $3 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(org.uuid())
                .bind(current.user_id),
        )
        .await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "member.remove",
            "member",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await
    }
}
