//! An installation's repositories: the paged list, target validation, and setup followed by a
//! reconcile that reads the repository through the GitHub REST API.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;
use trove_sources::{GitHubSource, GitLimits, GitSource, SourceRouter};
use trove_store::connectors::model::SyncStatus;
use trove_testkit::{TestDb, backend_tests};

use crate::support::{urlencode, world};

backend_tests!(repositories_validate_and_setup);

async fn repositories_validate_and_setup(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let t = &org.owner_token;
    let account = w.install(org).await;
    let plugin: &[(&str, &[u8])] = &[
        (
            ".claude-plugin/plugin.json",
            br#"{"name": "review", "description": "Code review helpers", "version": "1.0.0"}"#,
        ),
        (
            "skills/checklist/SKILL.md",
            b"---\nname: checklist\ndescription: A review checklist\n---\nCheck everything.\n",
        ),
    ];
    let repo = w.fake.add_repo(w.installation, "acme-gh/Plugins", plugin);
    for name in [
        "acme-gh/zeta",
        "acme-gh/alpha",
        "acme-gh/Mid",
        "acme-gh/beta",
    ] {
        w.fake
            .add_repo(w.installation, name, &[("README.md", b"hi")]);
    }
    // Another account's repository: not this installation's.
    let elsewhere = w.fake.add_installation("other-gh", "Organization", &[]);
    w.fake
        .add_repo(elsewhere, "other-gh/secret", &[("README.md", b"no")]);

    // Sorted by full name, keyset-paged, from the installation's listing only.
    let server = &w.base.server;
    let repos = |rest: String| {
        let path = w.path(
            org,
            &format!("/connector-accounts/{account}/repositories{rest}"),
        );
        async move { server.get(&path, t).await }
    };
    w.fake.clear_requests();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={}", urlencode(c)),
            None => "?limit=2".to_string(),
        };
        let page = repos(query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(
            items
                .iter()
                .map(|i| i["fullName"].as_str().unwrap().to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "acme-gh/alpha",
            "acme-gh/beta",
            "acme-gh/Mid",
            "acme-gh/Plugins",
            "acme-gh/zeta"
        ]
    );
    assert!(
        w.fake
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/repos/")),
        "listing never asks GitHub once per repository: {:?}",
        w.fake.requests()
    );
    let filtered = repos("?q=PLUG".to_string()).await;
    let items = filtered.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], repo.id);
    assert_eq!(items[0]["defaultBranch"], "main");
    assert_eq!(items[0]["connected"], false);
    let bad = repos("?limit=0".to_string()).await;
    assert_eq!(bad.status, 400);

    // Validate: default branch, a missing branch, a repository of another installation.
    let account_path = |rest: &str| w.path(org, &format!("/connector-accounts/{account}{rest}"));
    let valid = w
        .base
        .server
        .post(
            &account_path("/validate-target"),
            t,
            json!({"repository": "acme-gh/plugins"}),
        )
        .await;
    assert_eq!(valid.status, 200, "{:?}", valid.body);
    assert_eq!(valid.body["branch"], "main");
    assert_eq!(valid.body["defaultBranch"], "main");
    assert_eq!(
        valid.body["headSha"].as_str(),
        w.fake.head(&repo, "main").as_deref()
    );
    assert_eq!(valid.body["repository"]["fullName"], "acme-gh/Plugins");
    let missing = w
        .base
        .server
        .post(
            &account_path("/validate-target"),
            t,
            json!({"repository": "acme-gh/Plugins", "branch": "nope"}),
        )
        .await;
    assert_eq!(missing.status, 400, "{:?}", missing.body);
    assert_eq!(missing.body["field"], "branch");
    let foreign = w
        .base
        .server
        .post(
            &account_path("/validate-target"),
            t,
            json!({"repository": "other-gh/secret"}),
        )
        .await;
    assert_eq!(foreign.status, 400, "{:?}", foreign.body);
    assert_eq!(foreign.body["field"], "repository");
    let none = w
        .base
        .server
        .get(&w.path(org, "/connector-instances"), t)
        .await;
    assert!(
        none.body["items"].as_array().unwrap().is_empty(),
        "validation writes nothing"
    );

    // Setup: instance + target + initial sync in one go.
    let setup = w
        .base
        .server
        .post(
            &account_path("/setup"),
            t,
            json!({"repository": "acme-gh/Plugins", "autoImport": true}),
        )
        .await;
    assert_eq!(setup.status, 201, "{:?}", setup.body);
    let item = &setup.body["item"];
    assert_eq!(item["type"], "github");
    assert_eq!(item["accountId"], account);
    assert_eq!(item["targets"][0]["branch"], "main");
    assert_eq!(item["targets"][0]["repositoryId"], repo.id.to_string());
    assert_eq!(item["targets"][0]["repositoryName"], "acme-gh/Plugins");
    assert_eq!(setup.body["syncEvent"]["trigger"], "initial");
    assert_eq!(setup.body["syncEvent"]["status"], "queued");
    let again = w
        .base
        .server
        .post(
            &account_path("/setup"),
            t,
            json!({"repository": "acme-gh/Plugins", "name": "second"}),
        )
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.error(), "repository_already_connected");
    let listed = repos("?q=plugins".to_string()).await;
    assert_eq!(listed.body["items"][0]["connected"], true);

    // The worker's reconcile reads the repository through the App's REST API.
    let cache = tempfile::tempdir().unwrap();
    let sources = SourceRouter::new(
        Arc::new(GitSource::new(cache.path(), GitLimits::default())),
        Some(Arc::new(GitHubSource::new(w.app.clone()))),
    );
    let engine = trove_sync::Engine::new(db.store.clone(), Arc::new(sources));
    let event = setup.body["syncEvent"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    w.fake.clear_requests();
    let done = engine.run_sync_event(event).await.unwrap();
    assert_eq!(done.status, SyncStatus::Completed, "{done:?}");
    assert_eq!(done.counts.created, 1, "{done:?}");
    assert_eq!(
        done.source_revision_ref.as_deref(),
        w.fake.head(&repo, "main").as_deref()
    );
    assert!(
        w.fake
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/repos/acme-gh/Plugins/git/")),
        "read through the git data API: {:?}",
        w.fake.requests()
    );
    let objects = w
        .base
        .server
        .call(Method::GET, &w.path(org, "/config-objects"), Some(t), None)
        .await;
    let names: Vec<&str> = objects.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(names, ["checklist"], "{:?}", objects.body);
    // The API's own reads of the head (discovery, its tree) go through the App too.
    let instance = item["id"].as_str().unwrap();
    let discovery = w
        .base
        .server
        .get(
            &w.path(org, &format!("/connector-instances/{instance}/discovery")),
            t,
        )
        .await;
    assert_eq!(discovery.status, 200, "{:?}", discovery.body);
    assert_eq!(
        discovery.body["item"]["discovery"]["plugins"][0]["name"], "review",
        "{:?}",
        discovery.body
    );
    let tree = w
        .base
        .server
        .get(
            &w.path(
                org,
                &format!("/connector-instances/{instance}/discovery/tree"),
            ),
            t,
        )
        .await;
    assert_eq!(tree.status, 200, "{:?}", tree.body);
    assert!(
        tree.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "skills/checklist/SKILL.md"),
        "{:?}",
        tree.body
    );
    let plugins = w.base.server.get(&w.path(org, "/plugins"), t).await;
    assert_eq!(
        plugins.body["items"][0]["name"], "review",
        "{:?}",
        plugins.body
    );
}
