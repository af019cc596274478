//! What the GitHub App install flow keeps on the server: signed, single-use install states, and the
//! guard that keeps one repository branch from being connected twice in an org.
//!
//! An install state is `v1.<payload>.<mac>` (base64url): the payload names the org, the user, a
//! random nonce and the expiry (10 minutes); the MAC is HMAC-SHA256 under a key of its own — 32
//! random bytes generated on first use and kept in `settings`, sealed with the store's key ring,
//! never shared with any other secret. The nonce is also stored, and completing an installation
//! consumes it in one conditional UPDATE, so a state works once even when two completions race.
//!
//! The state key is not part of key rotation (the `settings` table has no org or row id to bind):
//! when it can no longer be opened — its encryption key was retired — a new one replaces it, which
//! only invalidates states issued in the last 10 minutes.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use trove_core::time::now_ms;
use trove_core::{AppError, AppResult, ConnectorAccountId, OrgId, UserId};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::Store;
use crate::crypto::Aad;
use crate::db::{Tx, sql};

/// How long an install state is accepted after `install/start`.
pub const INSTALL_STATE_TTL_MS: i64 = 10 * 60_000;

/// The setting holding the sealed state key.
const STATE_KEY_SETTING: &str = "github.install_state_key";
/// Longest token accepted; real ones are about 200 characters.
const MAX_TOKEN_LEN: usize = 1024;
/// Used and expired states are kept this long after they expire, then pruned.
const PRUNE_AFTER_MS: i64 = 24 * 3_600_000;
const TOKEN_VERSION: &str = "v1";

/// A verified install state: who started the installation, for which org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallState {
    /// The org the installation will be bound to.
    pub org_id: OrgId,
    /// The user who started it; only they may complete it.
    pub user_id: UserId,
    /// The single-use nonce.
    pub nonce: String,
    /// When the state stops being accepted (epoch ms).
    pub expires_at: i64,
}

/// A newly issued state token.
#[derive(Debug, Clone)]
pub struct IssuedInstallState {
    /// The token to put in the App's install URL (`state=`).
    pub token: String,
    /// When it expires (epoch ms).
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    org: Uuid,
    usr: Uuid,
    nonce: String,
    exp: i64,
}

fn invalid_state() -> AppError {
    AppError::invalid(
        "state",
        "the install state is not one this server issued; start the installation again from Trove",
    )
}

fn expired_state() -> AppError {
    AppError::invalid(
        "state",
        "the install state has expired or was already used (a state works once, for 10 minutes); start the installation again from Trove",
    )
}

fn state_key_aad() -> Aad<'static> {
    Aad {
        table: "settings",
        column: STATE_KEY_SETTING,
        row: Uuid::nil(),
        org: Uuid::nil(),
    }
}

fn mac_of(key: &[u8], payload: &str) -> AppResult<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(AppError::internal)?;
    mac.update(TOKEN_VERSION.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    Ok(mac)
}

impl Store {
    /// Issues a state for `user` installing the App for `org`: stores its nonce and returns the
    /// signed token, valid for [`INSTALL_STATE_TTL_MS`]. States long expired are pruned here.
    pub async fn issue_install_state(
        &self,
        org: OrgId,
        user: UserId,
    ) -> AppResult<IssuedInstallState> {
        let key = self.install_state_key().await?;
        let now = now_ms();
        let expires_at = now + INSTALL_STATE_TTL_MS;
        let mut nonce = [0u8; 16];
        rand::rng().fill(&mut nonce[..]);
        let payload = Payload {
            org: org.uuid(),
            usr: user.uuid(),
            nonce: B64URL.encode(nonce),
            exp: expires_at,
        };
        let encoded = B64URL.encode(serde_json::to_vec(&payload)?);
        let mac = mac_of(&key, &encoded)?.finalize().into_bytes();
        let token = format!("{TOKEN_VERSION}.{encoded}.{}", B64URL.encode(mac));
        let mut tx = self.db.begin().await?;
        tx.execute(
            sql("DELETE FROM github_install_states WHERE expires_at < $1")
                .bind(now - PRUNE_AFTER_MS),
        )
        .await?;
        tx.execute(
            sql("INSERT INTO github_install_states (nonce, org_id, user_id, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)")
            .bind(payload.nonce.as_str())
            .bind(org.uuid())
            .bind(user.uuid())
            .bind(expires_at)
            .bind(now),
        )
        .await?;
        tx.commit().await?;
        Ok(IssuedInstallState { token, expires_at })
    }

    /// Checks a state token without consuming it: the MAC (constant-time), the expiry, and that
    /// its nonce is stored for the same org and user and still unused. Every failure is a 400 on
    /// `state` that says to start again; none of them echoes the token.
    pub async fn verify_install_state(&self, token: &str) -> AppResult<InstallState> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid_state());
        }
        let mut parts = token.split('.');
        let (Some(TOKEN_VERSION), Some(encoded), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid_state());
        };
        let presented = B64URL.decode(mac).map_err(|_| invalid_state())?;
        let key = self.install_state_key().await?;
        mac_of(&key, encoded)?
            .verify_slice(&presented)
            .map_err(|_| invalid_state())?;
        // Signed by us: what follows can only fail on an expired or used state.
        let payload: Payload = B64URL
            .decode(encoded)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(invalid_state)?;
        let now = now_ms();
        if payload.exp <= now {
            return Err(expired_state());
        }
        let row: Option<(Uuid, Uuid, i64, Option<i64>)> = self
            .db
            .fetch_optional(
                sql("SELECT org_id, user_id, expires_at, used_at FROM github_install_states WHERE nonce = $1")
                    .bind(payload.nonce.as_str()),
            )
            .await?;
        match row {
            Some((org, user, expires_at, None))
                if org == payload.org && user == payload.usr && expires_at > now =>
            {
                Ok(InstallState {
                    org_id: org.into(),
                    user_id: user.into(),
                    nonce: payload.nonce,
                    expires_at,
                })
            }
            // Pruned, used, or (after a key replacement) never stored with these values.
            _ => Err(expired_state()),
        }
    }

    /// Consumes a verified state: one UPDATE that succeeds only while the nonce is unused and
    /// unexpired, so of two concurrent completions exactly one gets past this point.
    pub async fn consume_install_state(&self, state: &InstallState) -> AppResult<()> {
        let now = now_ms();
        let changed = self
            .db
            .execute(
                sql("UPDATE github_install_states SET used_at = $1 \
                     WHERE nonce = $2 AND org_id = $3 AND user_id = $4 AND used_at IS NULL AND expires_at > $1")
                .bind(now)
                .bind(state.nonce.as_str())
                .bind(state.org_id.uuid())
                .bind(state.user_id.uuid()),
            )
            .await?;
        if changed == 1 {
            Ok(())
        } else {
            Err(expired_state())
        }
    }

    /// In the caller's setup transaction: refuses a repository branch the org already follows
    /// (409 `repository_already_connected`). On PostgreSQL it first locks the installation's
    /// account row, so two concurrent setups through one account run one after the other and the
    /// second sees the first's target (SQLite's write lock already serialises them).
    pub async fn guard_github_repository_in(
        &self,
        tx: &mut Tx,
        org: OrgId,
        account: ConnectorAccountId,
        repository_id: i64,
        branch: &str,
    ) -> AppResult<()> {
        let locked: Option<Uuid> = tx
            .scalar(
                sql(format!(
                    "SELECT id FROM connector_accounts WHERE id = $1 AND org_id = $2{}",
                    tx.backend().for_update()
                ))
                .bind(account.uuid())
                .bind(org.uuid()),
            )
            .await?;
        if locked.is_none() {
            return Err(AppError::not_found("connector account"));
        }
        let existing: Option<Uuid> = tx
            .scalar(
                sql("SELECT id FROM connector_targets WHERE org_id = $1 AND repository_id = $2 AND branch = $3")
                    .bind(org.uuid())
                    .bind(repository_id.to_string())
                    .bind(branch),
            )
            .await?;
        match existing {
            Some(_) => Err(AppError::conflict(
                "repository_already_connected",
                format!(
                    "branch `{branch}` of this repository is already connected in this organization"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The GitHub repository ids the org has connected (any branch, any instance status).
    pub async fn connected_github_repositories(&self, org: OrgId) -> AppResult<HashSet<i64>> {
        let rows: Vec<(String,)> = self
            .db
            .fetch_all(
                sql("SELECT DISTINCT repository_id FROM connector_targets \
                     WHERE org_id = $1 AND repository_id IS NOT NULL")
                .bind(org.uuid()),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id,)| id.parse().ok())
            .collect())
    }

    /// The state key: opened from `settings`, created on first use (a concurrent first use on
    /// another replica wins or loses cleanly: the stored value is read back), replaced when it can
    /// no longer be opened.
    async fn install_state_key(&self) -> AppResult<Zeroizing<Vec<u8>>> {
        let stored = self.setting(STATE_KEY_SETTING).await?;
        if let Some(stored) = &stored
            && let Some(key) = self.open_state_key(stored)
        {
            return Ok(key);
        }
        let mut fresh = Zeroizing::new(vec![0u8; 32]);
        rand::rng().fill(&mut fresh[..]);
        let sealed = B64.encode(self.keys().encrypt(&fresh, state_key_aad())?);
        let now = now_ms();
        match &stored {
            None => {
                self.db
                    .execute(
                        sql(
                            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (key) DO NOTHING",
                        )
                        .bind(STATE_KEY_SETTING)
                        .bind(sealed.as_str())
                        .bind(now),
                    )
                    .await?;
            }
            Some(unreadable) => {
                tracing::warn!(
                    "the GitHub install state key cannot be opened with the current encryption keys; replacing it (pending installs must start again)"
                );
                self.db
                    .execute(
                        sql("UPDATE settings SET value = $1, updated_at = $2 WHERE key = $3 AND value = $4")
                            .bind(sealed.as_str())
                            .bind(now)
                            .bind(STATE_KEY_SETTING)
                            .bind(unreadable.as_str()),
                    )
                    .await?;
            }
        }
        let stored = self
            .setting(STATE_KEY_SETTING)
            .await?
            .ok_or_else(|| AppError::internal("the install state key was not stored"))?;
        self.open_state_key(&stored)
            .ok_or_else(|| AppError::internal("the stored install state key cannot be opened"))
    }

    fn open_state_key(&self, stored: &str) -> Option<Zeroizing<Vec<u8>>> {
        let sealed = B64.decode(stored).ok()?;
        let key = Zeroizing::new(self.keys().decrypt(&sealed, state_key_aad()).ok()?);
        (key.len() == 32).then_some(key)
    }
}
