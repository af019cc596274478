//! A GitHub account's repositories: the list (from the installation's cached listing, never one
//! GitHub call per repository), target validation (no writes), and setup (instance, target and
//! initial sync in one transaction). Org admins only: the list spends the App's GitHub quota and
//! shows which repositories the org can read.
//!
//! "Belongs to the installation" is checked against the installation's own repository list, not
//! with `GET /repos/{owner}/{name}`: an installation token can read any public repository, so a
//! successful read proves nothing about the installation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trove_core::page::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use trove_core::{AppError, ConnectorAccountId};
use trove_sources::{GitHubApp, GitHubError, Repository};
use trove_store::connectors::accounts::Account;
use trove_store::connectors::instances::{GithubRepository, ValidInstance};
use trove_store::connectors::model::{Instance, SyncEvent};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{configured, github_error};
use crate::auth::OrgCtx;
use crate::envelope::List;
use crate::error::{ApiResult, AppJson, AppQuery};
use crate::routes::connectors::{JobRef, create_with_initial_sync};
use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_repositories))
        .routes(routes!(validate_target))
        .routes(routes!(setup_repository))
}

/// `/v1/orgs/{org}/connector-accounts/{account}/…`.
#[derive(Debug, Deserialize)]
pub struct GitHubAccountPath {
    /// The account id.
    pub account: String,
}

/// Paging and filter of the repository list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RepositoryListParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// A case-insensitive substring of `owner/name`.
    pub q: Option<String>,
}

/// A repository of the installation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryView {
    /// GitHub's repository id (stable across renames and transfers).
    pub id: u64,
    /// `owner/name`.
    pub full_name: String,
    /// The default branch.
    pub default_branch: String,
    /// Private (or internal).
    pub private: bool,
    /// Archived (read-only).
    pub archived: bool,
    /// Whether a branch of it is already connected in this org.
    pub connected: bool,
}

/// Which repository, and which branch of it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetRequest {
    /// `owner/name`, as listed.
    pub repository: String,
    /// The branch (default: the repository's default branch).
    #[serde(default)]
    pub branch: Option<String>,
}

/// A repository branch the installation can read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidTarget {
    /// The repository.
    pub repository: RepositoryView,
    /// The branch.
    pub branch: String,
    /// The commit at its tip now.
    pub head_sha: String,
    /// The repository's default branch.
    pub default_branch: String,
}

/// Connect a repository branch of the installation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetupRequest {
    /// `owner/name`, as listed.
    pub repository: String,
    /// The branch (default: the repository's default branch).
    #[serde(default)]
    pub branch: Option<String>,
    /// A name unique in the org (default: the repository's name, with `@branch` for a branch
    /// other than `main` or `master`).
    #[serde(default)]
    pub name: Option<String>,
    /// Import plugins that appear later, and on the first sync every plugin found (default
    /// `false`: the first sync discovers, and an editor selects plugins with `discovery/apply`).
    #[serde(default)]
    pub auto_import: Option<bool>,
}

/// A connected repository branch, with the initial sync it queued.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SetupResult {
    /// Always `true`.
    pub ok: bool,
    /// The instance with its target.
    pub item: Instance,
    /// The initial sync (status `queued`).
    pub sync_event: SyncEvent,
    /// The job that runs it.
    pub job: JobRef,
}

/// The installation's repositories (admin), sorted by full name and keyset-paged. Read from the
/// installation's ETag-cached listing: an unchanged listing costs GitHub `304`s.
#[utoipa::path(get, path = "/v1/orgs/{org}/connector-accounts/{account}/repositories", tag = "connectors",
    params(("org" = String, Path, description = "Org slug or id"), ("account" = String, Path, description = "GitHub account id (`cac_…`)"), RepositoryListParams),
    responses((status = 200, body = List<RepositoryView>)))]
async fn list_repositories(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<GitHubAccountPath>,
    AppQuery(params): AppQuery<RepositoryListParams>,
) -> ApiResult<Json<List<RepositoryView>>> {
    ctx.require_admin("list a GitHub installation's repositories")?;
    let app = configured(&state)?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            AppError::invalid("limit", format!("must be between 1 and {MAX_LIMIT}")).into(),
        );
    }
    // The cursor is the last row's sort key (its lowercase full name): rows after it follow.
    let after = params
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(str::to_lowercase);
    let (_, installation) = github_account(&state, &ctx, &path.account).await?;
    let repositories = app
        .installation_repositories(installation)
        .await
        .map_err(github_error)?;
    let connected = state
        .store
        .connected_github_repositories(ctx.org_id())
        .await?;
    let needle = params.q.as_deref().map(str::to_lowercase);
    let mut rows: Vec<(String, Repository)> = repositories
        .into_iter()
        .map(|r| (r.full_name.to_lowercase(), r))
        .filter(|(key, _)| needle.as_deref().is_none_or(|n| key.contains(n)))
        .filter(|(key, _)| after.as_deref().is_none_or(|a| key.as_str() > a))
        .collect();
    // GitHub names are unique regardless of case, so the lowercase name is a total order.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.truncate(limit as usize + 1);
    let page = Page::from_overfetch(rows, limit, |(key, _)| key.clone());
    Ok(Json(List {
        items: page
            .items
            .into_iter()
            .map(|(_, r)| view(r, &connected))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Checks a repository branch (admin): the repository is one the installation was granted, the
/// branch (default: the repository's default) exists, and where its head is. Writes nothing.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-accounts/{account}/validate-target", tag = "connectors",
    request_body = TargetRequest,
    params(("org" = String, Path, description = "Org slug or id"), ("account" = String, Path, description = "GitHub account id (`cac_…`)")),
    responses((status = 200, body = ValidTarget)))]
async fn validate_target(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<GitHubAccountPath>,
    AppJson(req): AppJson<TargetRequest>,
) -> ApiResult<Json<ValidTarget>> {
    ctx.require_admin("connect repositories")?;
    let app = configured(&state)?;
    let (_, installation) = github_account(&state, &ctx, &path.account).await?;
    let target =
        resolve_target(&state, &ctx, app, installation, &req.repository, req.branch).await?;
    Ok(Json(target))
}

/// Connects a repository branch of the installation (admin): validated like `validate-target`,
/// then the instance, its target (repository id and full name) and the queued initial sync are
/// created in one transaction (201). A branch the org already follows is a 409
/// `repository_already_connected`; the account must be an active GitHub account.
#[utoipa::path(post, path = "/v1/orgs/{org}/connector-accounts/{account}/setup", tag = "connectors",
    request_body = SetupRequest,
    params(("org" = String, Path, description = "Org slug or id"), ("account" = String, Path, description = "GitHub account id (`cac_…`)")),
    responses((status = 201, body = SetupResult)))]
async fn setup_repository(
    State(state): State<AppState>,
    ctx: OrgCtx,
    Path(path): Path<GitHubAccountPath>,
    AppJson(req): AppJson<SetupRequest>,
) -> ApiResult<(StatusCode, Json<SetupResult>)> {
    ctx.require_admin("connect repositories")?;
    let app = configured(&state)?;
    let (account, installation) = github_account(&state, &ctx, &path.account).await?;
    let target =
        resolve_target(&state, &ctx, app, installation, &req.repository, req.branch).await?;
    let repository_id = i64::try_from(target.repository.id)
        .map_err(|_| AppError::invalid("repository", "has an out-of-range id"))?;
    let url = format!("{}/{}.git", app.web_url(), target.repository.full_name);
    let valid = ValidInstance::github(
        account.id,
        GithubRepository {
            repository_id,
            repository_name: target.repository.full_name.clone(),
        },
        &url,
        &target.branch,
        req.name.as_deref(),
        req.auto_import.unwrap_or(false),
    )?;
    let mut tx = state.store.db.begin().await?;
    state
        .store
        .guard_github_repository_in(
            &mut tx,
            ctx.org_id(),
            account.id,
            repository_id,
            &target.branch,
        )
        .await?;
    let (item, sync_event, job) = create_with_initial_sync(&state, &ctx, tx, &valid).await?;
    Ok((
        StatusCode::CREATED,
        Json(SetupResult {
            ok: true,
            item,
            sync_event,
            job: JobRef { id: job },
        }),
    ))
}

/// The org's active `github` account named by `text`, and its installation id.
async fn github_account(
    state: &AppState,
    ctx: &OrgCtx,
    text: &str,
) -> Result<(Account, u64), AppError> {
    let id: ConnectorAccountId = text
        .parse()
        .map_err(|_| AppError::not_found("connector account"))?;
    let account = state.store.account(ctx.org_id(), id).await?;
    if account.kind != "github" {
        return Err(AppError::conflict(
            "github_account_required",
            "this is a git credential account; repositories are listed for GitHub App accounts",
        ));
    }
    if account.status != "active" {
        return Err(AppError::conflict(
            "connector_account_inactive",
            format!(
                "this GitHub account is {}; reinstall or unsuspend the App on GitHub first",
                account.status
            ),
        ));
    }
    let installation = account
        .remote_id
        .as_deref()
        .and_then(|r| r.parse::<u64>().ok())
        .ok_or_else(|| AppError::internal("a GitHub account without an installation id"))?;
    Ok((account, installation))
}

/// The repository (one of the installation's) and branch a request names, with the branch head.
async fn resolve_target(
    state: &AppState,
    ctx: &OrgCtx,
    app: &GitHubApp,
    installation: u64,
    repository: &str,
    branch: Option<String>,
) -> Result<ValidTarget, AppError> {
    let wanted = repository.trim();
    if let Some(b) = &branch {
        trove_store::connectors::instances::validate_branch(b)?;
    }
    let repositories = app
        .installation_repositories(installation)
        .await
        .map_err(github_error)?;
    let repo = repositories
        .into_iter()
        .find(|r| r.full_name.eq_ignore_ascii_case(wanted))
        .ok_or_else(|| {
            AppError::invalid(
                "repository",
                format!(
                    "`{wanted}` is not a repository of this installation; grant the App access to \
                     it on GitHub, or pick one from the repository list"
                ),
            )
        })?;
    let branch = branch.unwrap_or_else(|| repo.default_branch.clone());
    let head_sha = match app
        .branch_head(installation, &repo.full_name, &branch)
        .await
    {
        Ok(sha) => sha,
        Err(GitHubError::NotFound(_)) => {
            return Err(AppError::invalid(
                "branch",
                format!("`{}` has no branch `{branch}`", repo.full_name),
            ));
        }
        Err(e) => return Err(github_error(e)),
    };
    let connected = state
        .store
        .connected_github_repositories(ctx.org_id())
        .await?;
    Ok(ValidTarget {
        default_branch: repo.default_branch.clone(),
        repository: view(repo, &connected),
        branch,
        head_sha,
    })
}

fn view(r: Repository, connected: &std::collections::HashSet<i64>) -> RepositoryView {
    RepositoryView {
        connected: i64::try_from(r.id).is_ok_and(|id| connected.contains(&id)),
        id: r.id,
        full_name: r.full_name,
        default_branch: r.default_branch,
        private: r.private,
        archived: r.archived,
    }
}
