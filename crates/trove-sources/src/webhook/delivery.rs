//! The normalised envelope of a verified delivery and the routing decision made from it.
//!
//! The body is parsed once into a [`serde_json::Value`]; the small typed views below are read
//! from that value and ignore every field they do not name, so GitHub adding fields never breaks
//! a delivery. Fields that are missing where an event needs them are a [`ParseError`]. A `push`,
//! the event that comes in volume, can also be read straight into its routing fields
//! ([`Delivery::parse_push`]).

use serde::Deserialize;
use serde_json::Value;

/// A push's `after` when the ref was deleted.
const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

/// A repository as GitHub names it in payloads: numeric id (stable across renames and transfers)
/// and `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RepoRef {
    pub id: i64,
    pub full_name: String,
}

/// What the receiver should do with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `push`. `head_sha` is `None` when the ref was deleted.
    Push {
        /// Branch name without `refs/heads/`; `None` for tags and any other ref namespace.
        branch: Option<String>,
        /// `deleted: true` or `after` is 40 zeros (either alone suffices).
        deleted: bool,
        created: bool,
        forced: bool,
        head_sha: Option<String>,
    },
    /// `installation` (created, deleted, suspend, unsuspend, new_permissions_accepted, …).
    Installation {
        action: String,
        /// Repositories listed in the payload (present on `created`/`deleted`; may be empty).
        repositories: Vec<RepoRef>,
    },
    /// `installation_repositories`: repositories granted to or withdrawn from the App.
    InstallationRepositories {
        action: String,
        added: Vec<RepoRef>,
        removed: Vec<RepoRef>,
    },
    /// `repository` (renamed, transferred, archived, unarchived, deleted, edited, …); the
    /// repository itself is in [`Delivery::repository_id`] / [`Delivery::repository_full_name`].
    Repository { action: String },
    /// `ping`, sent when a hook is created.
    Ping,
    /// Any other event: acknowledged and dropped.
    Ignored { reason: String },
}

/// The body was verified but cannot be read as the event it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("webhook body is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("`{event}` payload lacks a field it needs: {source}")]
    Shape {
        event: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One delivery, normalised once. `payload` keeps the whole parsed body for handlers that need
/// more than the envelope.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Delivery`; a redelivery reuses it, so it is the dedupe key (with the hook id).
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    pub action: Option<String>,
    /// `installation.id`; present on GitHub App deliveries, absent on repository hooks.
    pub installation_id: Option<i64>,
    pub repository_id: Option<i64>,
    pub repository_full_name: Option<String>,
    /// Full ref of a push (`refs/heads/…`, `refs/tags/…`).
    pub ref_name: Option<String>,
    /// New head of a push; `None` when the ref was deleted.
    pub head_sha: Option<String>,
    pub payload: Value,
    route: Route,
}

/// Fields every event may carry.
#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
    installation: Option<Id>,
    repository: Option<RepoRef>,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

/// A push as routing reads it: the envelope's fields and the push's own, every one inline (no
/// `flatten`, which would buffer all the fields it skips).
#[derive(Deserialize)]
struct PushBody {
    action: Option<String>,
    installation: Option<Id>,
    repository: Option<RepoRef>,
    #[serde(rename = "ref")]
    ref_name: String,
    after: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
}

impl PushBody {
    /// The new head (`None` when the ref was deleted) and the route.
    fn route(&self) -> (Option<String>, Route) {
        let deleted = self.deleted || self.after == ZERO_SHA;
        let head = (!deleted).then(|| self.after.clone());
        let route = Route::Push {
            branch: self.ref_name.strip_prefix("refs/heads/").map(str::to_owned),
            deleted,
            created: self.created,
            forced: self.forced,
            head_sha: head.clone(),
        };
        (head, route)
    }
}

#[derive(Deserialize)]
struct ActionBody {
    action: String,
}

#[derive(Deserialize)]
struct InstallationBody {
    action: String,
    // `null` on some actions, hence Option rather than a serde default alone.
    #[serde(default)]
    repositories: Option<Vec<RepoRef>>,
}

#[derive(Deserialize)]
struct InstallationRepositoriesBody {
    action: String,
    #[serde(default)]
    repositories_added: Vec<RepoRef>,
    #[serde(default)]
    repositories_removed: Vec<RepoRef>,
}

impl Delivery {
    /// Parses a body that [`super::verify_signature`] has already accepted. `event` and
    /// `delivery_id` are the `X-GitHub-Event` and `X-GitHub-Delivery` header values.
    pub fn parse(event: &str, delivery_id: &str, body: &[u8]) -> Result<Delivery, ParseError> {
        let payload: Value = serde_json::from_slice(body).map_err(ParseError::Json)?;
        let shape = |source| ParseError::Shape {
            event: event.to_owned(),
            source,
        };
        let envelope = Envelope::deserialize(&payload).map_err(shape)?;

        let mut ref_name = None;
        let mut head_sha = None;
        let route = match event {
            "push" => {
                let push = PushBody::deserialize(&payload).map_err(shape)?;
                let (head, route) = push.route();
                ref_name = Some(push.ref_name);
                head_sha = head;
                route
            }
            "installation" => {
                let body = InstallationBody::deserialize(&payload).map_err(shape)?;
                Route::Installation {
                    action: body.action,
                    repositories: body.repositories.unwrap_or_default(),
                }
            }
            "installation_repositories" => {
                let body = InstallationRepositoriesBody::deserialize(&payload).map_err(shape)?;
                Route::InstallationRepositories {
                    action: body.action,
                    added: body.repositories_added,
                    removed: body.repositories_removed,
                }
            }
            "repository" => {
                let body = ActionBody::deserialize(&payload).map_err(shape)?;
                Route::Repository {
                    action: body.action,
                }
            }
            "ping" => Route::Ping,
            other => Route::Ignored {
                reason: format!("event `{other}` is not handled"),
            },
        };

        let (repository_id, repository_full_name) = match envelope.repository {
            Some(repo) => (Some(repo.id), Some(repo.full_name)),
            None => (None, None),
        };
        Ok(Delivery {
            delivery_id: delivery_id.to_owned(),
            event: event.to_owned(),
            action: envelope.action,
            installation_id: envelope.installation.map(|i| i.id),
            repository_id,
            repository_full_name,
            ref_name,
            head_sha,
            payload,
            route,
        })
    }

    /// Reads a `push` body straight into the few fields routing needs, without building the
    /// whole document (a push carries its commits and several kilobytes of repository and
    /// sender objects nobody reads). The result equals [`Delivery::parse`]'s except that
    /// `payload` is `Null`. `None` when the body does not read cleanly this way (not JSON, a
    /// missing field, a repeated key): [`Delivery::parse`] then gives the answer and its error.
    pub fn parse_push(delivery_id: &str, body: &[u8]) -> Option<Delivery> {
        let push: PushBody = serde_json::from_slice(body).ok()?;
        let (head_sha, route) = push.route();
        let (repository_id, repository_full_name) = match push.repository {
            Some(repo) => (Some(repo.id), Some(repo.full_name)),
            None => (None, None),
        };
        Some(Delivery {
            delivery_id: delivery_id.to_owned(),
            event: "push".to_owned(),
            action: push.action,
            installation_id: push.installation.map(|i| i.id),
            repository_id,
            repository_full_name,
            ref_name: Some(push.ref_name),
            head_sha,
            payload: Value::Null,
            route,
        })
    }

    /// The routing decision, fixed at parse time so the envelope and the route cannot disagree
    /// about what the body said.
    pub fn route(&self) -> &Route {
        &self.route
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_lean_push_reads_as_the_full_parse_does() {
        let head = "ab".repeat(20);
        let bodies = [
            json!({"ref": "refs/heads/main", "after": head, "forced": true, "action": null,
                "installation": {"id": 9}, "repository": {"id": 5, "full_name": "a/b", "x": [1]},
                "commits": [{"id": head, "message": "m"}], "sender": {"login": "u"}}),
            json!({"ref": "refs/heads/gone", "after": ZERO_SHA, "deleted": true,
                "repository": {"id": 5, "full_name": "a/b"}}),
            json!({"ref": "refs/tags/v1", "after": head, "created": true}),
        ];
        for body in bodies {
            let bytes = serde_json::to_vec(&body).unwrap();
            let lean = Delivery::parse_push("d", &bytes).unwrap();
            let full = Delivery::parse("push", "d", &bytes).unwrap();
            assert_eq!(lean.payload, Value::Null);
            let fields = |d: &Delivery| {
                (
                    d.delivery_id.clone(),
                    d.event.clone(),
                    d.action.clone(),
                    d.installation_id,
                    d.repository_id,
                    d.repository_full_name.clone(),
                    d.ref_name.clone(),
                    d.head_sha.clone(),
                    d.route().clone(),
                )
            };
            assert_eq!(fields(&lean), fields(&full), "{body}");
        }
        // What does not read cleanly is left to the full parse, which says why.
        for bad in [
            &b"not json"[..],
            br#"{"after": "x"}"#,
            br#"{"ref": "refs/heads/a", "ref": "refs/heads/b", "after": "x"}"#,
        ] {
            assert!(Delivery::parse_push("d", bad).is_none());
        }
        assert!(Delivery::parse("push", "d", b"not json").is_err());
    }
}
