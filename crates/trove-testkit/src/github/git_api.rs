//! API routes over repository content: commits, branches, refs, trees, blobs and tarballs, read
//! from the real git repositories on disk.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{RepoHandle, open_repo};
use super::auth::Caller;
use super::git::{self, CommitData, Person};
use super::git_write;
use super::http::{gh_error, not_found};
use super::state::{Download, Shared, random_text};

/// GitHub's cap on a recursive tree answer (it also caps the size at 7 MB).
const MAX_TREE_ENTRIES: usize = 100_000;
/// Tarball links expire after five minutes, as GitHub's do for private repositories.
const DOWNLOAD_LIFETIME: TimeDelta = TimeDelta::minutes(5);

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/repos/{owner}/{repo}/commits/{*ref}", get(get_commit))
        .route("/repos/{owner}/{repo}/branches/{*branch}", get(get_branch))
        .route("/repos/{owner}/{repo}/git/ref/{*ref}", get(get_ref))
        .route(
            "/repos/{owner}/{repo}/git/commits/{sha}",
            get(get_git_commit),
        )
        .route("/repos/{owner}/{repo}/git/trees/{sha}", get(get_tree))
        .route("/repos/{owner}/{repo}/git/blobs/{sha}", get(get_blob))
        .route("/repos/{owner}/{repo}/tarball", get(get_default_tarball))
        .route("/repos/{owner}/{repo}/tarball/{*ref}", get(get_tarball))
        .route("/_codeload/{*file}", get(download))
}

type Answer = Result<Response, Response>;
type RepoPath = Path<(String, String)>;

fn accepts(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(media))
}

fn open(
    shared: &Shared,
    caller: Caller,
    (owner, name): &(String, String),
    uri: &Uri,
) -> Result<RepoHandle, Response> {
    open_repo(shared, caller, owner, name, uri)
}

fn person_json(person: &Person) -> Value {
    let date = DateTime::from_timestamp(person.seconds, 0).unwrap_or_default();
    json!({"name": person.name, "email": person.email, "date": super::views::timestamp(date)})
}

fn parents_json(base: &str, repo: &RepoHandle, commit: &CommitData) -> Value {
    commit
        .parents
        .iter()
        .map(|p| {
            json!({
                "sha": p,
                "url": format!("{base}/repos/{}/commits/{p}", repo.full_name),
                "html_url": format!("{base}/{}/commit/{p}", repo.full_name),
            })
        })
        .collect()
}

/// `GET /repos/{o}/{r}/commits/{sha}`'s shape.
fn commit_json(base: &str, repo: &RepoHandle, commit: &CommitData) -> Value {
    let api = format!("{base}/repos/{}", repo.full_name);
    json!({
        "sha": commit.sha,
        "node_id": format!("C_fake{}", commit.sha),
        "url": format!("{api}/commits/{}", commit.sha),
        "html_url": format!("{base}/{}/commit/{}", repo.full_name, commit.sha),
        "comments_url": format!("{api}/commits/{}/comments", commit.sha),
        "commit": {
            "url": format!("{api}/git/commits/{}", commit.sha),
            "author": person_json(&commit.author),
            "committer": person_json(&commit.committer),
            "message": commit.message,
            "tree": {"sha": commit.tree, "url": format!("{api}/git/trees/{}", commit.tree)},
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
        },
        "author": null,
        "committer": null,
        "parents": parents_json(base, repo, commit),
    })
}

async fn get_commit(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let Some(id) = git::resolve_commit(&repo.git, &rev) else {
        // GitHub answers an unknown branch, tag or SHA here with 422, not 404.
        return Err(gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {rev}"),
        ));
    };
    if accepts(&headers, "application/vnd.github.sha") {
        return Ok((
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            id.to_string(),
        )
            .into_response());
    }
    let commit = git::commit(&repo.git, id).ok_or_else(not_found)?;
    Ok(Json(commit_json(&shared.base_url, &repo, &commit)).into_response())
}

async fn get_branch(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, branch)): Path<(String, String, String)>,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let id = git::branch_head(&repo.git, &branch)
        .ok_or_else(|| gh_error(StatusCode::NOT_FOUND, "Branch not found"))?;
    let commit = git::commit(&repo.git, id).ok_or_else(not_found)?;
    let base = &shared.base_url;
    let body = json!({
        "name": branch,
        "commit": commit_json(base, &repo, &commit),
        "protected": false,
        "_links": {
            "self": format!("{base}/repos/{}/branches/{branch}", repo.full_name),
            "html": format!("{base}/{}/tree/{branch}", repo.full_name),
        },
    });
    Ok(Json(body).into_response())
}

async fn get_ref(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, reference)): Path<(String, String, String)>,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let full = format!("refs/{reference}");
    let id = repo
        .git
        .try_find_reference(full.as_str())
        .ok()
        .flatten()
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()))
        .ok_or_else(not_found)?;
    let api = format!("{}/repos/{}", shared.base_url, repo.full_name);
    let body = json!({
        "ref": full,
        "node_id": format!("REF_fake{id}"),
        "url": format!("{api}/git/{full}"),
        "object": {"sha": id.to_string(), "type": "commit", "url": format!("{api}/git/commits/{id}")},
    });
    Ok(Json(body).into_response())
}

async fn get_git_commit(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, sha)): Path<(String, String, String)>,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let id = git::full_sha(&sha).ok_or_else(not_found)?;
    let commit = git::commit(&repo.git, id).ok_or_else(not_found)?;
    let base = &shared.base_url;
    let api = format!("{base}/repos/{}", repo.full_name);
    let body = json!({
        "sha": commit.sha,
        "node_id": format!("C_fake{}", commit.sha),
        "url": format!("{api}/git/commits/{}", commit.sha),
        "html_url": format!("{base}/{}/commit/{}", repo.full_name, commit.sha),
        "author": person_json(&commit.author),
        "committer": person_json(&commit.committer),
        "tree": {"sha": commit.tree, "url": format!("{api}/git/trees/{}", commit.tree)},
        "message": commit.message,
        "parents": parents_json(base, &repo, &commit),
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
    });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct TreeQuery {
    /// Any value turns recursion on, as on GitHub (even `0` or `false`).
    recursive: Option<String>,
}

async fn get_tree(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, sha)): Path<(String, String, String)>,
    Query(query): Query<TreeQuery>,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let recursive = query.recursive.is_some();
    let id = git::resolve_tree(&repo.git, &sha).ok_or_else(not_found)?;
    let mut items = git::tree(&repo.git, id, recursive).ok_or_else(not_found)?;
    let mut truncated = false;
    if recursive {
        let keep = if shared.world().truncate_trees {
            items.len() / 2
        } else {
            MAX_TREE_ENTRIES
        };
        if items.len() > keep {
            items.truncate(keep);
            truncated = true;
        }
    }
    let api = format!("{}/repos/{}", shared.base_url, repo.full_name);
    let tree: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut entry = json!({
                "path": item.path,
                "mode": item.mode,
                "type": item.kind,
                "sha": item.sha,
            });
            if let Some(size) = item.size {
                entry["size"] = json!(size);
            }
            match item.kind {
                "blob" => entry["url"] = json!(format!("{api}/git/blobs/{}", item.sha)),
                "tree" => entry["url"] = json!(format!("{api}/git/trees/{}", item.sha)),
                _ => {}
            }
            entry
        })
        .collect();
    let body = json!({
        "sha": id.to_string(),
        "url": format!("{api}/git/trees/{id}"),
        "tree": tree,
        "truncated": truncated,
    });
    Ok(Json(body).into_response())
}

async fn get_blob(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    let id = git::full_sha(&sha).ok_or_else(not_found)?;
    let data = git::blob(&repo.git, id).ok_or_else(not_found)?;
    if accepts(&headers, "vnd.github.raw") || accepts(&headers, "vnd.github.v3.raw") {
        return Ok(([(CONTENT_TYPE, "application/octet-stream")], data).into_response());
    }
    // GitHub wraps the base64 at 60 characters, each line ending in a newline.
    let encoded = STANDARD.encode(&data);
    let mut content = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for line in encoded.as_bytes().chunks(60) {
        content.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        content.push('\n');
    }
    let body = json!({
        "sha": id.to_string(),
        "node_id": format!("B_fake{id}"),
        "size": data.len(),
        "url": format!("{}/repos/{}/git/blobs/{id}", shared.base_url, repo.full_name),
        "content": content,
        "encoding": "base64",
    });
    Ok(Json(body).into_response())
}

async fn get_default_tarball(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(repo_path): RepoPath,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &repo_path, &uri)?;
    let branch = repo.default_branch.clone();
    tarball_redirect(&shared, &repo, &branch)
}

async fn get_tarball(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((owner, name, rev)): Path<(String, String, String)>,
    uri: Uri,
) -> Answer {
    let repo = open(&shared, caller, &(owner, name), &uri)?;
    tarball_redirect(&shared, &repo, &rev)
}

/// 302 to a short-lived download link, as GitHub sends archive requests to codeload.
fn tarball_redirect(shared: &Shared, repo: &RepoHandle, rev: &str) -> Answer {
    let id = git::resolve_commit(&repo.git, rev).ok_or_else(not_found)?;
    let token = random_text(32);
    shared.world().downloads.insert(
        token.clone(),
        Download {
            repo: repo.id,
            sha: id.to_string(),
            expires_at: Utc::now() + DOWNLOAD_LIFETIME,
        },
    );
    let location = format!(
        "{}/_codeload/{}/legacy.tar.gz/{id}?token={token}",
        shared.base_url, repo.full_name
    );
    Ok((StatusCode::FOUND, [(LOCATION, location)]).into_response())
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: String,
}

/// The archive behind a tarball link: `<owner>-<repo>-<short sha>/` holding the tree, as GitHub
/// lays it out. The link's token is the only credential.
async fn download(State(shared): State<Arc<Shared>>, Query(query): Query<DownloadQuery>) -> Answer {
    let (git_dir, full_name, sha) = {
        let world = shared.world();
        let link = world.downloads.get(&query.token).ok_or_else(not_found)?;
        if link.expires_at <= Utc::now() {
            return Err(not_found());
        }
        let repo = world.repos.get(&link.repo).ok_or_else(not_found)?;
        (
            repo.git_dir.clone(),
            world.full_name(repo),
            link.sha.clone(),
        )
    };
    let prefix = format!("{}-{}", full_name.replace('/', "-"), &sha[..7]);
    let bytes = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || git_write::archive_tar_gz(&git_dir, &sha, &prefix)
    })
    .await
    .map_err(|_| gh_error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"))?;
    let disposition = format!("attachment; filename={prefix}.tar.gz");
    Ok((
        [
            (CONTENT_TYPE, "application/x-gzip".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
