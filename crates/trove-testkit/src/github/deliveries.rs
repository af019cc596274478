//! Webhook deliveries as GitHub sends them: the `X-Hub-Signature-256` HMAC, a push payload built
//! from the repository's real history, and the signed POST with GitHub's headers.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::git_write::git_text;
use super::views;
use super::{FakeGitHub, FakeRepo};

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
/// GitHub lists at most this many commits in a push payload.
const MAX_PUSH_COMMITS: usize = 2048;

/// `sha256=<lowercase hex HMAC-SHA256 of body keyed by secret>`, the `X-Hub-Signature-256` value.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `push` payload for `git_ref` (`refs/heads/<branch>`) moving from `before` to `after` (40 zeros
/// for a created or deleted ref), shaped like GitHub's: `ref`, `before`, `after`, `created`,
/// `deleted`, `forced`, `repository`, `installation`, `pusher`, `sender`, `compare`, `commits`
/// (read from the repository: id, tree, message, timestamps, added/removed/modified) and
/// `head_commit`.
pub fn push_payload(
    repo: &FakeRepo,
    installation: u64,
    git_ref: &str,
    before: &str,
    after: &str,
    deleted: bool,
) -> Value {
    let base = &repo.base_url;
    let full_name = &repo.full_name;
    let owner = full_name.split('/').next().unwrap_or_default();
    let created = before == ZERO_SHA && !deleted;
    let shas = if deleted {
        Vec::new()
    } else {
        pushed_commits(&repo.path, git_ref, before, after)
    };
    let forced = !created && !deleted && !is_ancestor(&repo.path, before, after);
    let commits: Vec<Value> = shas
        .iter()
        .map(|sha| commit_entry(&repo.path, base, full_name, sha))
        .collect();
    let head_commit = if deleted {
        Value::Null
    } else {
        commits
            .last()
            .filter(|c| c["id"] == after)
            .cloned()
            .unwrap_or_else(|| commit_entry(&repo.path, base, full_name, after))
    };
    let default_branch = git_text(&repo.path, &["symbolic-ref", "--short", "HEAD"]);
    let name = full_name.split('/').nth(1).unwrap_or_default();
    let owner_json = json!({
        "name": owner,
        "email": null,
        "login": owner,
        "id": repo.owner_id,
        "node_id": format!("U_fake{}", repo.owner_id),
        "url": format!("{base}/users/{owner}"),
        "html_url": format!("{base}/{owner}"),
        "type": repo.owner_type,
        "site_admin": false,
    });
    let now = chrono::Utc::now().timestamp();
    json!({
        "ref": git_ref,
        "before": before,
        "after": after,
        "repository": {
            "id": repo.id,
            "node_id": format!("R_fake{}", repo.id),
            "name": name,
            "full_name": full_name,
            "private": true,
            "owner": owner_json,
            "html_url": format!("{base}/{full_name}"),
            "url": format!("{base}/{full_name}"),
            "clone_url": format!("{base}/{full_name}.git"),
            "default_branch": default_branch,
            "master_branch": default_branch,
            "archived": false,
            "disabled": false,
            "visibility": "private",
            "created_at": now,
            "pushed_at": now,
        },
        "pusher": {"name": owner, "email": null},
        "sender": {"login": owner, "id": repo.owner_id, "type": repo.owner_type, "site_admin": false},
        "installation": {"id": installation, "node_id": format!("I_fake{installation}")},
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": null,
        "compare": format!("{base}/{full_name}/compare/{}...{}", &before[..12.min(before.len())], &after[..12.min(after.len())]),
        "commits": commits,
        "head_commit": head_commit,
    })
}

/// The commits a push of `before..after` brings, oldest first: for a new ref, those not on any
/// other branch.
fn pushed_commits(git_dir: &Path, git_ref: &str, before: &str, after: &str) -> Vec<String> {
    let max = format!("--max-count={MAX_PUSH_COMMITS}");
    let listed = if before == ZERO_SHA {
        // `--exclude` patterns for `--branches` are branch names, without `refs/heads/`.
        let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
        let exclude = format!("--exclude={branch}");
        git_text(
            git_dir,
            &[
                "rev-list",
                "--reverse",
                &max,
                after,
                "--not",
                &exclude,
                "--branches",
            ],
        )
    } else if !git_succeeds(
        git_dir,
        &["cat-file", "-e", &format!("{before}^{{commit}}")],
    ) {
        // An unknown `before` (a test's made-up SHA): only the new head is known to be pushed.
        after.to_owned()
    } else if is_ancestor(git_dir, before, after) {
        git_text(
            git_dir,
            &["rev-list", "--reverse", &max, &format!("{before}..{after}")],
        )
    } else {
        // A forced push: GitHub lists what is new relative to the common ancestor.
        git_text(
            git_dir,
            &["rev-list", "--reverse", &max, after, "--not", before],
        )
    };
    listed.lines().map(str::to_owned).collect()
}

fn is_ancestor(git_dir: &Path, ancestor: &str, descendant: &str) -> bool {
    git_succeeds(
        git_dir,
        &["merge-base", "--is-ancestor", ancestor, descendant],
    )
}

fn git_succeeds(git_dir: &Path, args: &[&str]) -> bool {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .is_ok_and(|out| out.status.success())
}

fn commit_entry(git_dir: &Path, base: &str, full_name: &str, sha: &str) -> Value {
    let fields = git_text(
        git_dir,
        &[
            "show",
            "-s",
            "--format=%T%x00%an%x00%ae%x00%cn%x00%ce%x00%cI%x00%B",
            sha,
        ],
    );
    let mut parts = fields.splitn(7, '\0');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let (tree, author, author_email, committer, committer_email, date, message) =
        (next(), next(), next(), next(), next(), next(), next());
    let (mut added, mut removed, mut modified) = (Vec::new(), Vec::new(), Vec::new());
    let changes = git_text(
        git_dir,
        &[
            "diff-tree",
            "-r",
            "--no-commit-id",
            "--name-status",
            "--root",
            sha,
        ],
    );
    for line in changes.lines() {
        let Some((status, path)) = line.split_once('\t') else {
            continue;
        };
        match status {
            "A" => added.push(path.to_owned()),
            "D" => removed.push(path.to_owned()),
            _ => modified.push(path.to_owned()),
        }
    }
    json!({
        "id": sha,
        "tree_id": tree,
        "distinct": true,
        "message": message.trim_end(),
        "timestamp": date,
        "url": format!("{base}/{full_name}/commit/{sha}"),
        "author": {"name": author, "email": author_email},
        "committer": {"name": committer, "email": committer_email},
        "added": added,
        "removed": removed,
        "modified": modified,
    })
}

/// POSTs a signed delivery to `url` with GitHub's headers (`X-GitHub-Event`,
/// `X-GitHub-Delivery`, `X-Hub-Signature-256`, `Content-Type: application/json`,
/// `User-Agent: GitHub-Hookshot/…`) and returns the status and the JSON answer (`Null` when the
/// answer is not JSON). Panics when the request cannot be sent.
pub async fn deliver(
    url: &str,
    secret: &[u8],
    event: &str,
    delivery_id: &str,
    body: &[u8],
) -> (u16, Value) {
    post_delivery(url, secret, event, delivery_id, body, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// [`deliver`], with the App's installation-target headers when `app_id` is given, and an error
/// instead of a panic.
pub(crate) async fn post_delivery(
    url: &str,
    secret: &[u8],
    event: &str,
    delivery_id: &str,
    body: &[u8],
    app_id: Option<u64>,
) -> Result<(u16, Value), String> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/fake")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery_id)
        .header("x-github-hook-id", "1")
        .header("x-hub-signature-256", sign(secret, body))
        .body(body.to_vec());
    if let Some(app_id) = app_id {
        request = request
            .header("x-github-hook-installation-target-type", "integration")
            .header("x-github-hook-installation-target-id", app_id.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("delivering {event} to {url} failed: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// A fresh delivery GUID, as `X-GitHub-Delivery` carries one.
pub fn delivery_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Short repository entries, as installation payloads list them.
fn repo_entries(repos: &[&FakeRepo]) -> Vec<Value> {
    repos
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "node_id": format!("R_fake{}", r.id),
                "name": r.full_name.split('/').nth(1).unwrap_or_default(),
                "full_name": r.full_name,
                "private": true,
            })
        })
        .collect()
}

impl FakeGitHub {
    /// Signs `payload` with the webhook secret and POSTs it as `event` to the webhook URL (see
    /// [`set_webhook_url`](Self::set_webhook_url)), with the App's installation-target headers.
    /// Returns the status and the JSON answer.
    pub async fn send_event(
        &self,
        event: &str,
        delivery_id: &str,
        payload: &Value,
    ) -> (u16, Value) {
        let url = self
            .shared
            .world()
            .webhook_url
            .clone()
            .expect("set_webhook_url must be called before send_event");
        let body = payload.to_string();
        post_delivery(
            &url,
            self.webhook_secret().as_bytes(),
            event,
            delivery_id,
            body.as_bytes(),
            Some(self.app_id()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends a `push` for `branch` from `before` to `after` (40 zeros for a deleted branch) under
    /// a fresh delivery id, for the installation that holds the repository.
    pub async fn send_push(
        &self,
        repo: &FakeRepo,
        branch: &str,
        before: &str,
        after: &str,
    ) -> (u16, Value) {
        let installation = self
            .shared
            .world()
            .installation_of(repo.id)
            .unwrap_or_default();
        let payload = push_payload(
            repo,
            installation,
            &format!("refs/heads/{branch}"),
            before,
            after,
            after == ZERO_SHA,
        );
        self.send_event("push", &delivery_id(), &payload).await
    }

    fn sender(&self, account: u64) -> Value {
        let world = self.shared.world();
        views::account(&self.shared.base_url, &world.accounts[&account])
    }

    /// An `installation` payload (`created`, `deleted`, `suspend`, `unsuspend`, …) for the
    /// installation as it is now.
    pub fn installation_payload(&self, installation: u64, action: &str) -> Value {
        let (inst_json, account, repos) = {
            let world = self.shared.world();
            let inst = &world.installations[&installation];
            let repos: Vec<u64> = inst.repos.iter().copied().collect();
            (
                views::installation(&self.shared, &world, inst),
                inst.account,
                repos,
            )
        };
        let repos: Vec<FakeRepo> = repos
            .into_iter()
            .map(|r| self.shared.fake_repo(r))
            .collect();
        json!({
            "action": action,
            "installation": inst_json,
            "repositories": repo_entries(&repos.iter().collect::<Vec<_>>()),
            "requester": null,
            "sender": self.sender(account),
        })
    }

    /// An `installation_repositories` payload (`added` or `removed`).
    pub fn installation_repositories_payload(
        &self,
        installation: u64,
        action: &str,
        added: &[&FakeRepo],
        removed: &[&FakeRepo],
    ) -> Value {
        let (inst_json, account) = {
            let world = self.shared.world();
            let inst = &world.installations[&installation];
            (
                views::installation(&self.shared, &world, inst),
                inst.account,
            )
        };
        json!({
            "action": action,
            "installation": inst_json,
            "repository_selection": "selected",
            "repositories_added": repo_entries(added),
            "repositories_removed": repo_entries(removed),
            "requester": null,
            "sender": self.sender(account),
        })
    }

    /// A `repository` payload (`renamed`, `transferred`, `archived`, `unarchived`, `deleted`, …)
    /// for the repository as it is now; `renamed` and `transferred` carry `changes` from its
    /// previous name.
    pub fn repository_payload(&self, repo: &FakeRepo, action: &str) -> Value {
        let (repo_json, owner, previous) = {
            let world = self.shared.world();
            let entry = &world.repos[&repo.id];
            (
                views::repository(&self.shared.base_url, &world, entry),
                entry.owner,
                entry.previous_names.last().cloned(),
            )
        };
        let mut payload = json!({
            "action": action,
            "repository": repo_json,
            "installation": {"id": self.shared.world().installation_of(repo.id)},
            "sender": self.sender(owner),
        });
        if let Some((old_owner, old_name)) = previous.as_deref().and_then(|p| p.split_once('/')) {
            match action {
                "renamed" => {
                    payload["changes"] = json!({"repository": {"name": {"from": old_name}}})
                }
                "transferred" => {
                    payload["changes"] = json!({"owner": {"from": {"user": {"login": old_owner}}}});
                }
                _ => {}
            }
        }
        payload
    }
}
