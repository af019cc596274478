//! Reading a connected repository from the API: resolving a default branch when an instance is
//! created, and the head listing behind `discovery/tree` and mapping previews. Content is never read
//! here — only the listing — and every call goes through the bounded `RepositorySource`.

use trove_core::{AppError, AppResult, ConnectorAccountId, OrgId};
use trove_sources::{Credentials, GitHubRepo, Reference, RepoSnapshot, SourceError, Target};

use crate::state::AppState;

/// Turns a source failure into an API error (messages never hold credentials).
pub(crate) fn source_error(e: SourceError) -> AppError {
    match e {
        SourceError::NotFound(m) => AppError::conflict(
            "repository_not_found",
            format!("the repository or branch was not found: {m}"),
        ),
        SourceError::Auth(m) => AppError::conflict(
            "repository_access_denied",
            format!("the repository refused the credentials: {m}"),
        ),
        other => AppError::Unavailable(format!("the repository could not be read: {other}")),
    }
}

/// A source target for `url` at `reference`, with the account's credential when there is one.
/// A GitHub repository (`github_repository`, the target's `owner/name`) is read through the App
/// installation of its account instead.
pub(crate) async fn source_target(
    state: &AppState,
    org: OrgId,
    account: Option<ConnectorAccountId>,
    url: &str,
    reference: Reference,
    github_repository: Option<&str>,
) -> AppResult<Target> {
    let mut target = Target::new(url, reference);
    if let (Some(full_name), Some(account)) = (github_repository, account) {
        let installation_id = state
            .store
            .account(org, account)
            .await?
            .remote_id
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| AppError::internal("a GitHub account without an installation id"))?;
        return Ok(target.with_github(GitHubRepo {
            installation_id,
            full_name: full_name.to_string(),
        }));
    }
    if let Some(account) = account
        && let Some(creds) = state.store.account_credentials(org, account).await?
    {
        target = target.with_credentials(Credentials {
            username: creds.username.clone(),
            secret: creds.token.to_string(),
        });
    }
    Ok(target)
}

/// The branch `refs/heads/<name>` names, if it is a branch ref.
pub(crate) fn branch_of(ref_name: Option<&str>) -> Option<String> {
    ref_name
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_string)
}

/// Resolves a target's head and lists it.
pub(crate) async fn head_snapshot(state: &AppState, target: &Target) -> AppResult<RepoSnapshot> {
    let head = state.sources.head(target).await.map_err(source_error)?;
    state
        .sources
        .snapshot(target, &head.sha)
        .await
        .map_err(source_error)
}
