//! From a verified, parsed delivery to the work it asks for, decided without the database: events
//! and actions Trove does not act on are answered at once (200, nothing written), everything else
//! becomes a small [`Work`] for the ingest (the parsed payload is dropped here, so a queue of
//! pending deliveries holds a few ids and names each, never bodies).

use trove_sources::webhook::{Delivery, Route};
use trove_store::connectors::lifecycle::GithubLifecycle;

/// A delivery the ingest records and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`.
    pub action: Option<String>,
    /// The installation that sent it; every change is scoped to its org.
    pub installation_id: i64,
    /// The payload's repository, if any.
    pub repository_id: Option<i64>,
    /// What to do.
    pub kind: WorkKind,
}

/// What a [`Work`] asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkKind {
    /// A push to a branch: reconcile the targets that follow it at `head`, or, when `head` is
    /// `None` (the branch was deleted), mark them `branch_missing`.
    Push {
        /// The repository.
        repository_id: i64,
        /// The branch (without `refs/heads/`).
        branch: String,
        /// The new head; `None` when the branch was deleted.
        head: Option<String>,
    },
    /// An installation or repository change (DESIGN flow 7).
    Lifecycle(GithubLifecycle),
}

/// Decides what a delivery asks for: `Ok(work)` for the ingest, `Err(reason)` for a 200 that
/// records nothing.
pub fn decide(delivery: &Delivery) -> Result<Work, String> {
    let action = delivery.action.as_deref().unwrap_or_default();
    let unhandled = || format!("`{}.{action}` changes nothing in Trove", delivery.event);
    let repository = || {
        delivery
            .repository_id
            .ok_or_else(|| format!("`{}` delivery without a repository", delivery.event))
    };
    let kind = match delivery.route() {
        Route::Ignored { reason } => return Err(reason.clone()),
        Route::Ping => return Err("ping: the webhook is reachable".into()),
        Route::Push {
            branch,
            deleted,
            head_sha,
            ..
        } => {
            let Some(branch) = branch else {
                return Err(format!(
                    "only branch pushes are tracked (ref `{}`)",
                    delivery.ref_name.as_deref().unwrap_or_default()
                ));
            };
            WorkKind::Push {
                repository_id: repository()?,
                branch: branch.clone(),
                head: if *deleted { None } else { head_sha.clone() },
            }
        }
        Route::Installation { action, .. } => match action.as_str() {
            "deleted" => WorkKind::Lifecycle(GithubLifecycle::InstallationDeleted),
            "suspend" => WorkKind::Lifecycle(GithubLifecycle::InstallationSuspended(true)),
            "unsuspend" => WorkKind::Lifecycle(GithubLifecycle::InstallationSuspended(false)),
            _ => return Err(unhandled()),
        },
        Route::InstallationRepositories {
            action,
            added,
            removed,
        } => {
            let ids = |repos: &[trove_sources::webhook::RepoRef]| {
                repos.iter().map(|r| r.id).collect::<Vec<_>>()
            };
            match action.as_str() {
                "removed" if !removed.is_empty() => {
                    WorkKind::Lifecycle(GithubLifecycle::RepositoriesRemoved(ids(removed)))
                }
                "added" if !added.is_empty() => {
                    WorkKind::Lifecycle(GithubLifecycle::RepositoriesAdded(ids(added)))
                }
                _ => return Err(unhandled()),
            }
        }
        Route::Repository { action } => {
            let repository_id = repository()?;
            match action.as_str() {
                "renamed" | "transferred" => {
                    let full_name = delivery
                        .repository_full_name
                        .clone()
                        .ok_or_else(|| "repository event without a full name".to_string())?;
                    WorkKind::Lifecycle(GithubLifecycle::RepositoryMoved {
                        repository_id,
                        full_name,
                        url: clone_url(delivery),
                    })
                }
                "archived" | "unarchived" => {
                    WorkKind::Lifecycle(GithubLifecycle::RepositoryArchived {
                        repository_id,
                        archived: action == "archived",
                    })
                }
                "deleted" => {
                    WorkKind::Lifecycle(GithubLifecycle::RepositoryDeleted { repository_id })
                }
                _ => return Err(unhandled()),
            }
        }
    };
    let installation_id = delivery.installation_id.ok_or_else(|| {
        "not a GitHub App delivery (no installation); connect repositories through the GitHub App"
            .to_string()
    })?;
    Ok(Work {
        delivery_id: delivery.delivery_id.clone(),
        event: delivery.event.clone(),
        action: delivery.action.clone(),
        installation_id,
        repository_id: delivery.repository_id,
        kind,
    })
}

/// The repository's `clone_url` when it is a plain `https://` URL without credentials (GitHub's
/// own; anything else keeps the stored URL).
fn clone_url(delivery: &Delivery) -> Option<String> {
    let url = delivery.payload["repository"]["clone_url"].as_str()?;
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let clean = !authority.is_empty()
        && !authority.contains('@')
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_control() || c == ' ');
    clean.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn delivery(event: &str, body: serde_json::Value) -> Delivery {
        Delivery::parse(event, "id-1", &serde_json::to_vec(&body).unwrap()).unwrap()
    }

    #[test]
    fn pushes_become_work_only_for_app_branch_pushes() {
        let repo = json!({"id": 5, "full_name": "a/b"});
        let push = |r: &str, after: &str, installation: bool| {
            let mut body = json!({"ref": r, "after": after, "repository": repo});
            if installation {
                body["installation"] = json!({"id": 9});
            }
            decide(&delivery("push", body))
        };
        let head = "1".repeat(40);
        let work = push("refs/heads/main", &head, true).unwrap();
        assert_eq!(
            work.kind,
            WorkKind::Push {
                repository_id: 5,
                branch: "main".into(),
                head: Some(head.clone())
            }
        );
        assert_eq!(
            (work.installation_id, work.delivery_id.as_str()),
            (9, "id-1")
        );
        let deleted = push("refs/heads/main", &"0".repeat(40), true).unwrap();
        assert!(matches!(deleted.kind, WorkKind::Push { head: None, .. }));
        assert!(
            push("refs/tags/v1", &head, true)
                .unwrap_err()
                .contains("only branch")
        );
        assert!(
            push("refs/heads/main", &head, false)
                .unwrap_err()
                .contains("no installation")
        );
    }

    #[test]
    fn lifecycle_actions_map_to_changes_and_the_rest_is_ignored() {
        let installation = json!({"id": 9});
        let repo = json!({"id": 5, "full_name": "a/b", "clone_url": "https://github.com/a/b.git"});
        let kind = |event: &str, action: &str| {
            let body = json!({"action": action, "installation": installation, "repository": repo,
                "repositories_added": [repo], "repositories_removed": [repo]});
            decide(&delivery(event, body)).map(|w| w.kind)
        };
        use GithubLifecycle as L;
        assert_eq!(
            kind("installation", "deleted"),
            Ok(WorkKind::Lifecycle(L::InstallationDeleted))
        );
        assert_eq!(
            kind("installation", "suspend"),
            Ok(WorkKind::Lifecycle(L::InstallationSuspended(true)))
        );
        assert_eq!(
            kind("installation_repositories", "removed"),
            Ok(WorkKind::Lifecycle(L::RepositoriesRemoved(vec![5])))
        );
        assert_eq!(
            kind("repository", "renamed"),
            Ok(WorkKind::Lifecycle(L::RepositoryMoved {
                repository_id: 5,
                full_name: "a/b".into(),
                url: Some("https://github.com/a/b.git".into())
            }))
        );
        assert_eq!(
            kind("repository", "deleted"),
            Ok(WorkKind::Lifecycle(L::RepositoryDeleted {
                repository_id: 5
            }))
        );
        for (event, action) in [
            ("installation", "created"),
            ("repository", "edited"),
            ("issues", "opened"),
            ("ping", ""),
        ] {
            assert!(kind(event, action).is_err(), "{event}.{action}");
        }
        // A clone URL with credentials or another scheme is not taken.
        let body = json!({"action": "renamed", "installation": installation,
            "repository": {"id": 5, "full_name": "a/b", "clone_url": "https://user@evil/a/b.git"}});
        let work = decide(&delivery("repository", body)).unwrap();
        assert!(matches!(
            work.kind,
            WorkKind::Lifecycle(L::RepositoryMoved { url: None, .. })
        ));
    }
}
