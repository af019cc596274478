//! API tokens and login sessions: random bearer secrets, stored only as SHA-256 digests.

use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, OrgId, SessionId, TokenId, UserId};
use uuid::Uuid;

use crate::db::{Tx, sql};
use crate::model::ApiToken;
use crate::secret::{self, digest};
use crate::{Actor, PageRequest, Store};

const TOKEN_COLUMNS: &str =
    "id, org_id, user_id, name, token_prefix, expires_at, last_used_at, revoked_at, created_at";

/// How long a session lasts without use.
pub const SESSION_IDLE_MS: i64 = 7 * 24 * 3600 * 1000;
/// `last_used_at` / `last_seen_at` are refreshed at most this often, so reads do not become writes.
const TOUCH_EVERY_MS: i64 = 60_000;

/// What an API token authenticates.
#[derive(Debug, Clone, Copy)]
pub struct TokenPrincipal {
    /// The token.
    pub token_id: TokenId,
    /// The user it acts as.
    pub user_id: UserId,
    /// The only org it may act in.
    pub org_id: OrgId,
}

#[derive(sqlx::FromRow)]
struct TokenAuthRow {
    id: Uuid,
    user_id: Uuid,
    org_id: Uuid,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    status: String,
}

impl Store {
    /// Creates a token in a transaction; returns it and its secret (shown once, never stored).
    pub async fn insert_token(
        &self,
        tx: &mut Tx,
        org: OrgId,
        user: UserId,
        name: &str,
        expires_at: Option<i64>,
        actor: Actor,
    ) -> AppResult<(ApiToken, String)> {
        let secret = secret::new_api_token();
        let id = TokenId::new();
        let token: ApiToken = tx
            .fetch_one(
                sql(format!(
                    "INSERT INTO api_tokens (id, org_id, user_id, name, token_hash, token_prefix, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {TOKEN_COLUMNS}"
                ))
                .bind(id.uuid())
                .bind(org.uuid())
                .bind(user.uuid())
                .bind(name)
                .bind(digest(&secret))
                .bind(secret.chars().take(10).collect::<String>())
                .bind(expires_at)
                .bind(now_ms()),
                "token",
            )
            .await?;
        self.audit(
            tx,
            org,
            actor,
            "token.create",
            "token",
            &id.to_string(),
            serde_json::json!({"name": name, "userId": user}),
        )
        .await?;
        Ok((token, secret))
    }

    /// Creates a token for `user` in `org`.
    pub async fn create_token(
        &self,
        org: OrgId,
        user: UserId,
        name: &str,
        expires_at: Option<i64>,
        actor: Actor,
    ) -> AppResult<(ApiToken, String)> {
        if expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(AppError::invalid("expiresAt", "must be in the future"));
        }
        let mut tx = self.db.begin().await?;
        let created = self
            .insert_token(&mut tx, org, user, name, expires_at, actor)
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The caller's tokens in one org, newest last.
    pub async fn tokens_of(
        &self,
        org: OrgId,
        user: UserId,
        page: PageRequest,
    ) -> AppResult<Vec<ApiToken>> {
        let mut q = sql(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE org_id = $1 AND user_id = $2"
        ))
        .bind(org.uuid())
        .bind(user.uuid());
        if let Some(after) = page.after {
            let p = q.push_arg(after);
            q.push(&format!(" AND id > {p}"));
        }
        let p = q.push_arg(page.fetch());
        q.push(&format!(" ORDER BY id LIMIT {p}"));
        self.db.fetch_all(q).await
    }

    /// Revokes a token. Users revoke their own; org admins may revoke any token of the org.
    pub async fn revoke_token(
        &self,
        org: OrgId,
        token: TokenId,
        owner: Option<UserId>,
        actor: Actor,
    ) -> AppResult<ApiToken> {
        let mut tx = self.db.begin().await?;
        let mut q = sql(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND org_id = $3",
        )
        .bind(now_ms())
        .bind(token.uuid())
        .bind(org.uuid());
        if let Some(owner) = owner {
            let p = q.push_arg(owner.uuid());
            q.push(&format!(" AND user_id = {p}"));
        }
        q.push(&format!(" RETURNING {TOKEN_COLUMNS}"));
        let revoked: ApiToken = tx.fetch_one(q, "token").await?;
        self.audit(
            &mut tx,
            org,
            actor,
            "token.revoke",
            "token",
            &token.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Authenticates an API token secret. Expired, revoked and disabled-user tokens fail.
    pub async fn authenticate_token(&self, secret: &str) -> AppResult<Option<TokenPrincipal>> {
        if !secret.starts_with(secret::TOKEN_PREFIX) {
            return Ok(None);
        }
        let row: Option<TokenAuthRow> = self
            .db
            .fetch_optional(
                sql("SELECT t.id, t.user_id, t.org_id, t.expires_at, t.revoked_at, t.last_used_at, u.status \
                     FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1")
                .bind(digest(secret)),
            )
            .await?;
        let now = now_ms();
        let Some(row) = row.filter(|r| {
            r.revoked_at.is_none() && r.expires_at.is_none_or(|t| t > now) && r.status != "disabled"
        }) else {
            return Ok(None);
        };
        if row.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
            self.db
                .execute(
                    sql("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(row.id),
                )
                .await?;
        }
        Ok(Some(TokenPrincipal {
            token_id: row.id.into(),
            user_id: row.user_id.into(),
            org_id: row.org_id.into(),
        }))
    }

    /// Starts a login session; returns its secret for the cookie.
    pub async fn create_session(&self, user: UserId) -> AppResult<String> {
        let secret = secret::random_secret();
        let now = now_ms();
        self.db
            .execute(
                sql("INSERT INTO sessions (id, user_id, token_hash, expires_at, last_seen_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)")
                .bind(SessionId::new().uuid())
                .bind(user.uuid())
                .bind(digest(&secret))
                .bind(now + SESSION_IDLE_MS)
                .bind(now),
            )
            .await?;
        Ok(secret)
    }

    /// Authenticates a session cookie, sliding its expiry.
    pub async fn authenticate_session(
        &self,
        secret: &str,
    ) -> AppResult<Option<(SessionId, UserId)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: Uuid,
            user_id: Uuid,
            expires_at: i64,
            last_seen_at: i64,
            status: String,
        }
        let row: Option<Row> = self
            .db
            .fetch_optional(
                sql("SELECT s.id, s.user_id, s.expires_at, s.last_seen_at, u.status FROM sessions s \
                     JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1")
                .bind(digest(secret)),
            )
            .await?;
        let now = now_ms();
        let Some(row) = row.filter(|r| r.expires_at > now && r.status == "active") else {
            return Ok(None);
        };
        if now - row.last_seen_at > TOUCH_EVERY_MS {
            self.db
                .execute(
                    sql("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
                        .bind(now)
                        .bind(now + SESSION_IDLE_MS)
                        .bind(row.id),
                )
                .await?;
        }
        Ok(Some((row.id.into(), row.user_id.into())))
    }

    /// Ends a session.
    pub async fn delete_session(&self, secret: &str) -> AppResult<()> {
        self.db
            .execute(sql("DELETE FROM sessions WHERE token_hash = $1").bind(digest(secret)))
            .await?;
        Ok(())
    }
}
