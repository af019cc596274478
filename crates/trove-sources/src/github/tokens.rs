//! Installation access tokens: minted with the app JWT, kept until five minutes before they
//! expire, one mint at a time per installation.
//!
//! Each installation has its own async slot: the first caller that finds it empty or stale mints
//! while holding the slot, and everyone who arrives meanwhile waits on the slot and then reads
//! the new token, so a burst of concurrent requests costs one `POST .../access_tokens`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::app::{GitHubApp, now_unix};
use super::error::GitHubError;
use super::http::{Call, Credential};

/// A token is replaced this long before GitHub says it expires.
const REFRESH_BEFORE_SECS: i64 = 300;

/// One minted token.
struct Minted {
    token: String,
    /// Unix seconds after which it is minted again.
    refresh_at: i64,
}

type Slot = Arc<tokio::sync::Mutex<Option<Minted>>>;

/// The tokens of every installation this client has used.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<u64, Slot>>,
}

impl TokenCache {
    fn slot(&self, installation: u64) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(installation).or_default().clone()
    }
}

/// `POST /app/installations/{id}/access_tokens` answer.
#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

impl GitHubApp {
    /// An installation access token, minted once and reused until five minutes before it
    /// expires; concurrent callers share one mint.
    ///
    /// The token reads the installation's repositories (for example as the password of
    /// `x-access-token` over git https). Never log it.
    pub async fn installation_token(&self, installation: u64) -> Result<String, GitHubError> {
        let slot = self.inner.tokens.slot(installation);
        let mut held = slot.lock().await;
        if let Some(minted) = held.as_ref()
            && now_unix() < minted.refresh_at
        {
            return Ok(minted.token.clone());
        }
        let minted = self.mint(installation).await?;
        let token = minted.token.clone();
        *held = Some(minted);
        Ok(token)
    }

    /// Drops the cached token of `installation` (after GitHub refused it).
    pub(crate) async fn forget_installation_token(&self, installation: u64) {
        *self.inner.tokens.slot(installation).lock().await = None;
    }

    async fn mint(&self, installation: u64) -> Result<Minted, GitHubError> {
        let url = format!(
            "{}/app/installations/{installation}/access_tokens",
            self.api_url()
        );
        let answer = self.send(Call::post(url, Credential::App)).await?;
        let what = format!("installation {installation} token");
        let minted: AccessToken = answer.json(&what)?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(&minted.expires_at)
            .map_err(|_| GitHubError::Invalid(format!("{what}: expires_at is not a timestamp")))?
            .timestamp();
        self.inner.stats.add_token_minted();
        tracing::debug!(installation, expires_at, "minted an installation token");
        Ok(Minted {
            token: minted.token,
            refresh_at: expires_at - REFRESH_BEFORE_SECS,
        })
    }
}
