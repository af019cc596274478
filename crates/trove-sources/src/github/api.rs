//! The REST calls of the App client.

use super::app::GitHubApp;
use super::error::GitHubError;
use super::model::{AppInfo, GitHubUser, Installation, Repository, UserToken};

fn not_yet() -> GitHubError {
    GitHubError::Config("not yet".into())
}

impl GitHubApp {
    /// The App itself (`GET /app` with the app JWT), cached after the first success.
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        Err(not_yet())
    }

    /// Where to send a user to install the App: `{web}/apps/{slug}/installations/new?state=…`.
    pub async fn install_url(&self, state: &str) -> Result<String, GitHubError> {
        let _ = state;
        Err(not_yet())
    }

    /// One installation of the App (`GET /app/installations/{id}` with the app JWT).
    pub async fn installation(&self, id: u64) -> Result<Installation, GitHubError> {
        let _ = id;
        Err(not_yet())
    }

    /// Exchanges an OAuth code from a redirect for a user-to-server token.
    pub async fn exchange_code(&self, code: &str) -> Result<UserToken, GitHubError> {
        let _ = code;
        Err(not_yet())
    }

    /// The user a user-to-server token belongs to (`GET /user`).
    pub async fn user(&self, token: &UserToken) -> Result<GitHubUser, GitHubError> {
        let _ = token;
        Err(not_yet())
    }

    /// Ids of every installation of this App the token's user can access
    /// (`GET /user/installations`, every page).
    pub async fn user_installation_ids(&self, token: &UserToken) -> Result<Vec<u64>, GitHubError> {
        let _ = token;
        Err(not_yet())
    }

    /// An installation access token, minted once and reused until five minutes before it
    /// expires; concurrent callers share one mint.
    pub async fn installation_token(&self, installation: u64) -> Result<String, GitHubError> {
        let _ = installation;
        Err(not_yet())
    }

    /// Every repository the installation can read (`GET /installation/repositories`, every
    /// page, ETag-cached).
    pub async fn installation_repositories(
        &self,
        installation: u64,
    ) -> Result<Vec<Repository>, GitHubError> {
        let _ = installation;
        Err(not_yet())
    }

    /// One repository (`GET /repos/{owner}/{repo}`) as the installation sees it.
    pub async fn repository(
        &self,
        installation: u64,
        full_name: &str,
    ) -> Result<Repository, GitHubError> {
        let _ = (installation, full_name);
        Err(not_yet())
    }

    /// The commit SHA at the tip of `branch` (one conditional request; a `304` when unchanged).
    /// A missing branch or repository is [`GitHubError::NotFound`].
    pub async fn branch_head(
        &self,
        installation: u64,
        full_name: &str,
        branch: &str,
    ) -> Result<String, GitHubError> {
        let _ = (installation, full_name, branch);
        Err(not_yet())
    }
}
