//! Users, organizations and memberships.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, MembershipId, OrgId, OrgRole, UserId};
use uuid::Uuid;

use crate::db::{Tx, sql};
use crate::model::{Org, User};
use crate::{Actor, PageRequest, Store};

const USER_COLUMNS: &str = "id, email, name, status, created_at";
const ORG_COLUMNS: &str = "id, slug, name, created_at, updated_at";
pub(crate) const MEMBER_SELECT: &str = "SELECT m.id, m.user_id, u.email, u.name, m.role, m.created_at \
     FROM org_memberships m JOIN users u ON u.id = m.user_id";

/// A user's membership of one org, as seen when authorising a request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    /// The membership id.
    #[sqlx(try_from = "Uuid")]
    pub id: MembershipId,
    /// The role.
    #[sqlx(try_from = "String")]
    pub role: OrgRole,
}

/// A user row with its password hash, for sign-in only.
#[derive(sqlx::FromRow)]
struct Credentials {
    #[sqlx(try_from = "Uuid")]
    id: UserId,
    password_hash: Option<String>,
    status: String,
}

impl Store {
    /// Creates a user in a transaction. Email must already be normalised.
    pub async fn create_user(
        &self,
        tx: &mut Tx,
        email: &str,
        name: &str,
        password_hash: Option<&str>,
    ) -> AppResult<User> {
        let now = now_ms();
        let status = if password_hash.is_some() {
            "active"
        } else {
            "invited"
        };
        tx.fetch_one(
            sql(format!(
                "INSERT INTO users (id, email, name, password_hash, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
            ))
            .bind(UserId::new().uuid())
            .bind(email)
            .bind(name)
            .bind(password_hash.map(str::to_owned))
            .bind(status)
            .bind(now),
            "user",
        )
        .await
        .map_err(|e| match e {
            AppError::Conflict { .. } => AppError::conflict(
                "already_exists",
                format!("a user with email {email} already exists"),
            ),
            other => other,
        })
    }

    /// Finds a user by normalised email.
    pub async fn user_by_email(&self, tx: &mut Tx, email: &str) -> AppResult<Option<User>> {
        tx.fetch_optional(
            sql(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")).bind(email),
        )
        .await
    }

    /// Finds a user by normalised email, outside a transaction.
    pub async fn user_with_email(&self, email: &str) -> AppResult<User> {
        self.db
            .fetch_one(
                sql(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")).bind(email),
                "user",
            )
            .await
    }

    /// Loads a user.
    pub async fn user(&self, id: UserId) -> AppResult<User> {
        self.db
            .fetch_one(
                sql(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")).bind(id.uuid()),
                "user",
            )
            .await
    }

    /// Checks an email and password; returns the user when they match an active account. The password
    /// is verified even for unknown emails, so timing does not tell which accounts exist.
    pub async fn check_password(&self, email: &str, password: &str) -> AppResult<Option<UserId>> {
        let row: Option<Credentials> = self
            .db
            .fetch_optional(
                sql("SELECT id, password_hash, status FROM users WHERE email = $1").bind(email),
            )
            .await?;
        let password = password.to_owned();
        let (hash, found) = match &row {
            Some(Credentials {
                password_hash: Some(hash),
                status,
                ..
            }) if status == "active" => (hash.clone(), true),
            _ => (dummy_hash()?, false),
        };
        let matches =
            tokio::task::spawn_blocking(move || crate::secret::verify_password(&password, &hash))
                .await
                .map_err(AppError::internal)?;
        Ok(row.filter(|_| found && matches).map(|r| r.id))
    }

    /// Sets a user's password (and activates an invited account).
    pub async fn set_password(&self, user: UserId, password_hash: &str) -> AppResult<()> {
        self.db
            .execute(
                sql("UPDATE users SET password_hash = $1, status = 'active', updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(now_ms())
                    .bind(user.uuid()),
            )
            .await?;
        Ok(())
    }

    /// Creates an org in a transaction, with `owner` as its first owner.
    pub async fn create_org(
        &self,
        tx: &mut Tx,
        slug: &str,
        name: &str,
        owner: UserId,
        actor: Actor,
    ) -> AppResult<Org> {
        let now = now_ms();
        let org: Org = tx
            .fetch_one(
                sql(format!(
                    "INSERT INTO orgs (id, slug, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     RETURNING {ORG_COLUMNS}"
                ))
                .bind(OrgId::new().uuid())
                .bind(slug)
                .bind(name)
                .bind(now),
                "organization",
            )
            .await
            .map_err(|e| match e {
                AppError::Conflict { .. } => AppError::conflict(
                    "already_exists",
                    format!("an organization with slug `{slug}` already exists; choose another slug"),
                ),
                other => other,
            })?;
        self.insert_membership(tx, org.id, owner, OrgRole::Owner)
            .await?;
        self.audit(
            tx,
            org.id,
            actor,
            "org.create",
            "org",
            &org.id.to_string(),
            serde_json::json!({"slug": slug, "name": name}),
        )
        .await?;
        Ok(org)
    }

    pub(crate) async fn insert_membership(
        &self,
        tx: &mut Tx,
        org: OrgId,
        user: UserId,
        role: OrgRole,
    ) -> AppResult<MembershipId> {
        let id = MembershipId::new();
        let now = now_ms();
        tx.execute(
            sql(
                "INSERT INTO org_memberships (id, org_id, user_id, role, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(user.uuid())
            .bind(role.as_str())
            .bind(now),
        )
        .await
        .map_err(|e| match e {
            AppError::Conflict { .. } => AppError::conflict(
                "already_member",
                "this user is already a member of the organization",
            ),
            other => other,
        })?;
        Ok(id)
    }

    /// Resolves an org reference (slug or `org_…` id) for a user: the org and the user's membership, or
    /// `None` when the org does not exist or the user is not a member (the API shows both as 404).
    pub async fn org_for_user(
        &self,
        reference: &str,
        user: UserId,
    ) -> AppResult<Option<(Org, Membership)>> {
        let (column, value): (&str, sea_query::Value) = match reference.parse::<OrgId>() {
            Ok(id) => ("o.id", id.uuid().into()),
            Err(_) => ("o.slug", reference.into()),
        };
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            org: Org,
            #[sqlx(try_from = "Uuid")]
            membership_id: MembershipId,
            #[sqlx(try_from = "String")]
            role: OrgRole,
        }
        let row: Option<Row> = self
            .db
            .fetch_optional(
                sql(format!(
                    "SELECT o.id, o.slug, o.name, o.created_at, o.updated_at, m.id AS membership_id, m.role \
                     FROM orgs o JOIN org_memberships m ON m.org_id = o.id \
                     WHERE {column} = $1 AND m.user_id = $2"
                ))
                .bind(value)
                .bind(user.uuid()),
            )
            .await?;
        Ok(row.map(|r| {
            (
                r.org,
                Membership {
                    id: r.membership_id,
                    role: r.role,
                },
            )
        }))
    }

    /// The orgs a user belongs to, by id.
    pub async fn orgs_of_user(
        &self,
        user: UserId,
        only: Option<OrgId>,
        page: PageRequest,
    ) -> AppResult<Vec<Org>> {
        let mut q = sql(
            "SELECT o.id, o.slug, o.name, o.created_at, o.updated_at FROM orgs o \
             JOIN org_memberships m ON m.org_id = o.id WHERE m.user_id = $1",
        )
        .bind(user.uuid());
        if let Some(org) = only {
            let p = q.push_arg(org.uuid());
            q.push(&format!(" AND o.id = {p}"));
        }
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND o.id > {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY o.id LIMIT {p}"));
        self.db.fetch_all(q).await
    }

    /// Changes an org's name or slug.
    pub async fn update_org(
        &self,
        org: OrgId,
        slug: Option<&str>,
        name: Option<&str>,
        actor: Actor,
    ) -> AppResult<Org> {
        let mut tx = self.db.begin().await?;
        let updated: Org = tx
            .fetch_one(
                sql(format!(
                    "UPDATE orgs SET slug = COALESCE($1, slug), name = COALESCE($2, name), updated_at = $3 \
                     WHERE id = $4 RETURNING {ORG_COLUMNS}"
                ))
                .bind(slug.map(str::to_owned))
                .bind(name.map(str::to_owned))
                .bind(now_ms())
                .bind(org.uuid()),
                "organization",
            )
            .await
            .map_err(|e| match e {
                AppError::Conflict { .. } => AppError::conflict(
                    "already_exists",
                    "an organization with this slug already exists; choose another slug",
                ),
                other => other,
            })?;
        self.audit(
            &mut tx,
            org,
            actor,
            "org.update",
            "org",
            &org.to_string(),
            serde_json::json!({"slug": slug, "name": name}),
        )
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Creates an org and its first owner (with a password when given) and an API token for the owner,
    /// in one transaction. Used by `trove admin bootstrap` and the first start of `trove serve`.
    pub async fn bootstrap(
        &self,
        slug: &str,
        email: &str,
        password: Option<&str>,
    ) -> AppResult<(Org, User, String)> {
        let hash = match password {
            Some(p) => {
                let p = p.to_owned();
                Some(
                    tokio::task::spawn_blocking(move || crate::secret::hash_password(&p))
                        .await
                        .map_err(AppError::internal)??,
                )
            }
            None => None,
        };
        let mut tx = self.db.begin().await?;
        let user = match self.user_by_email(&mut tx, email).await? {
            Some(user) => user,
            None => {
                let name = email.split('@').next().unwrap_or(email);
                self.create_user(&mut tx, email, name, hash.as_deref())
                    .await?
            }
        };
        let actor = Actor {
            user_id: Some(user.id),
            token_id: None,
        };
        let org = self.create_org(&mut tx, slug, slug, user.id, actor).await?;
        let (_, secret) = self
            .insert_token(&mut tx, org.id, user.id, "bootstrap", None, actor)
            .await?;
        tx.commit().await?;
        Ok((org, user, secret))
    }

    /// Whether any org exists yet (the first start of `trove serve` bootstraps when none does).
    pub async fn has_orgs(&self) -> AppResult<bool> {
        let n: Option<i64> = self.db.scalar(sql("SELECT COUNT(*) FROM orgs")).await?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// Finds an org by slug (for the CLI, which acts as the operator and needs no membership).
    pub async fn org_by_slug(&self, slug: &str) -> AppResult<Org> {
        self.db
            .fetch_one(
                sql(format!("SELECT {ORG_COLUMNS} FROM orgs WHERE slug = $1")).bind(slug),
                "organization",
            )
            .await
    }
}

/// An Argon2id hash of a random string, verified against when an email is unknown so that sign-in takes
/// the same time either way.
fn dummy_hash() -> AppResult<String> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let hash = crate::secret::hash_password(&crate::secret::random_secret())?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}
