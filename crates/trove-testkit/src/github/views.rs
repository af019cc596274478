//! The JSON shapes of GitHub's App, account, installation and repository objects, shared by the
//! API routes and the webhook payloads.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::state::{Account, AccountKind, Installation, Repo, Shared, World};

/// `2024-01-02T03:04:05Z`, GitHub's timestamp format.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn app(shared: &Shared, world: &World) -> Value {
    let base = &shared.base_url;
    let app = &shared.app;
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_fake{}", app.id),
        "client_id": app.client_id,
        "owner": {"login": app.owner, "id": 1, "type": "Organization"},
        "name": app.name,
        "description": "Trove test App served by the fake GitHub",
        "external_url": base,
        "html_url": format!("{base}/apps/{}", app.slug),
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "permissions": {"contents": "read", "metadata": "read"},
        "events": ["push", "repository"],
        "installations_count": world.installations.len(),
    })
}

pub(crate) fn account(base: &str, account: &Account) -> Value {
    let login = &account.login;
    json!({
        "login": login,
        "id": account.id,
        "node_id": format!("U_fake{}", account.id),
        "avatar_url": format!("{base}/avatars/{login}"),
        "url": format!("{base}/users/{login}"),
        "html_url": format!("{base}/{login}"),
        "type": account.kind.as_str(),
        "site_admin": false,
    })
}

pub(crate) fn installation(shared: &Shared, world: &World, inst: &Installation) -> Value {
    let base = &shared.base_url;
    let owner = &world.accounts[&inst.account];
    let html_url = match owner.kind {
        AccountKind::Organization => format!(
            "{base}/organizations/{}/settings/installations/{}",
            owner.login, inst.id
        ),
        AccountKind::User => format!("{base}/settings/installations/{}", inst.id),
    };
    json!({
        "id": inst.id,
        "account": account(base, owner),
        "repository_selection": "selected",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", inst.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": html_url,
        "app_id": shared.app.id,
        "app_slug": shared.app.slug,
        "client_id": shared.app.client_id,
        "target_id": owner.id,
        "target_type": owner.kind.as_str(),
        "permissions": {"contents": "read", "metadata": "read"},
        "events": ["push", "repository"],
        "created_at": timestamp(inst.created_at),
        "updated_at": timestamp(inst.created_at),
        "single_file_name": null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "suspended_by": null,
        "suspended_at": inst.suspended_at.map(timestamp),
    })
}

pub(crate) fn repository(base: &str, world: &World, repo: &Repo) -> Value {
    let full_name = world.full_name(repo);
    let owner = &world.accounts[&repo.owner];
    let api = format!("{base}/repos/{full_name}");
    json!({
        "id": repo.id,
        "node_id": format!("R_fake{}", repo.id),
        "name": repo.name,
        "full_name": full_name,
        "owner": account(base, owner),
        "private": true,
        "visibility": "private",
        "html_url": format!("{base}/{full_name}"),
        "description": null,
        "fork": false,
        "url": api,
        "git_url": format!("git://fake-github.invalid/{full_name}.git"),
        "ssh_url": format!("git@fake-github.invalid:{full_name}.git"),
        "clone_url": format!("{base}/{full_name}.git"),
        "trees_url": format!("{api}/git/trees{{/sha}}"),
        "blobs_url": format!("{api}/git/blobs{{/sha}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "archived": repo.archived,
        "disabled": false,
        "default_branch": repo.default_branch,
        "created_at": timestamp(repo.created_at),
        "updated_at": timestamp(repo.created_at),
        "pushed_at": timestamp(repo.created_at),
        "size": 0,
        "topics": [],
        "is_template": false,
        "has_issues": true,
        "permissions": {"admin": false, "maintain": false, "push": false, "triage": false, "pull": true},
    })
}
