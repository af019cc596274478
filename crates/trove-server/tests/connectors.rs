//! Connector API on both engines, against real git repositories (`file://` URLs): create with the
//! initial sync, duplicate names, merge-patch, sync and retry, discovery and apply, mappings and
//! preview, the remove cascade (an object in a hand-made plugin is kept and detached), accounts,
//! tenancy.

mod common;
mod gitrepo;

use std::sync::Arc;

use serde_json::json;
use trove_testkit::{TestDb, backend_tests, bootstrap};

backend_tests!(connector_api, remove_keeps_objects_in_hand_made_plugins);

async fn connector_api(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let t = &w.org.owner_token;
    let dir = tempfile::tempdir().unwrap();
    let url = gitrepo::git_repo(&dir);

    // Create: instance + target + queued initial sync; the branch defaults to the remote's.
    let created = s
        .post(
            &w.path("/connector-instances"),
            t,
            json!({"type": "git", "url": url, "name": "tools", "config": {"a": 1, "keep": "me"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["queued"], true);
    assert_eq!(created.body["event"]["trigger"], "initial");
    assert_eq!(created.body["event"]["status"], "queued");
    assert!(
        created.body["job"]["id"]
            .as_str()
            .unwrap()
            .starts_with("job_")
    );
    let item = &created.body["item"];
    assert_eq!(item["targets"][0]["branch"], "main");
    let id = item["id"].as_str().unwrap().to_string();
    let event = created.body["event"]["id"].as_str().unwrap().to_string();

    // A taken name is a 409, never a 500.
    let dup = s
        .post(
            &w.path("/connector-instances"),
            t,
            json!({"type": "git", "url": url, "name": "tools"}),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error(), "connector_instance_name_taken");
    // Bad input changes nothing.
    let bad = s
        .post(
            &w.path("/connector-instances"),
            t,
            json!({"type": "git", "url": "https://u:p@host/r.git"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    // A bare path is refused with the URL form it takes.
    let path = s
        .post(
            &w.path("/connector-instances"),
            t,
            json!({"type": "git", "url": "/srv/plugins"}),
        )
        .await;
    assert_eq!(path.status, 400);
    assert!(
        path.body["message"]
            .as_str()
            .unwrap()
            .contains("file:///path/to/repo"),
        "{:?}",
        path.body
    );

    // PATCH merges config: fields the patch does not name stay.
    let patched = s
        .patch(
            &w.path(&format!("/connector-instances/{id}")),
            t,
            json!({"config": {"b": 2, "a": null}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        patched.body["item"]["config"],
        json!({"keep": "me", "b": 2})
    );

    // Retry refuses an event that is queued or running.
    let retry = s
        .post(
            &w.path(&format!("/connector-sync-events/{event}/retry")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(retry.status, 409);
    assert_eq!(retry.error(), "sync_in_progress");
    db.store
        .start_sync_event(event.parse().unwrap())
        .await
        .unwrap();
    let retry = s
        .post(
            &w.path(&format!("/connector-sync-events/{event}/retry")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(retry.status, 409, "running is refused too");
    gitrepo::fail_event(&db.store, &event).await;
    let retry = s
        .post(
            &w.path(&format!("/connector-sync-events/{event}/retry")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(retry.status, 202, "{:?}", retry.body);
    assert_eq!(retry.body["event"]["status"], "queued");

    // Sync now: 202 with the job and event.
    let sync = s
        .post(
            &w.path(&format!("/connector-instances/{id}/sync")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(sync.status, 202, "{:?}", sync.body);
    assert_eq!(sync.body["ok"], true);
    assert!(sync.body["job"]["id"].is_string());

    // Events list and detail.
    let events = s
        .get(
            &w.path(&format!("/connector-sync-events?instanceId={id}")),
            t,
        )
        .await;
    assert_eq!(events.status, 200);
    assert!(!events.body["items"].as_array().unwrap().is_empty());
    let one = s
        .get(&w.path(&format!("/connector-sync-events/{event}")), t)
        .await;
    assert_eq!(one.status, 200);
    assert!(one.body["item"]["counts"]["created"].is_number());

    // Tree and mapping preview read the head listing.
    let tree = s
        .get(
            &w.path(&format!(
                "/connector-instances/{id}/discovery/tree?prefix=skills/"
            )),
            t,
        )
        .await;
    assert_eq!(tree.status, 200, "{:?}", tree.body);
    assert!(
        tree.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "skills/checklist/SKILL.md")
    );
    let preview = s
        .post(
            &w.path(&format!("/connector-instances/{id}/mappings/preview")),
            t,
            json!({"selector": "skills/**"}),
        )
        .await;
    assert_eq!(preview.status, 200, "{:?}", preview.body);
    assert_eq!(
        preview.body["item"]["files"],
        json!(["skills/checklist/SKILL.md"])
    );

    // Mappings.
    let m = s
        .post(
            &w.path(&format!("/connector-instances/{id}/mappings")),
            t,
            json!({"selector": "agents/*.md", "objectType": "agent"}),
        )
        .await;
    assert_eq!(m.status, 201, "{:?}", m.body);
    let mid = m.body["item"]["id"].as_str().unwrap();
    let m2 = s
        .patch(
            &w.path(&format!("/connector-instances/{id}/mappings/{mid}")),
            t,
            json!({"selector": "agents/**"}),
        )
        .await;
    assert_eq!(m2.body["item"]["selector"], "agents/**");
    assert_eq!(m2.body["item"]["objectType"], "agent");
    let del = s
        .delete(
            &w.path(&format!("/connector-instances/{id}/mappings/{mid}")),
            t,
        )
        .await;
    assert_eq!(del.status, 200);

    // Disable refuses syncs; enable allows them again.
    let dis = s
        .post(
            &w.path(&format!("/connector-instances/{id}/disable")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(dis.body["item"]["status"], "disabled");
    let sync = s
        .post(
            &w.path(&format!("/connector-instances/{id}/sync")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(sync.status, 409);
    let en = s
        .post(
            &w.path(&format!("/connector-instances/{id}/enable")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(en.body["item"]["status"], "active");

    // Accounts: the token is never returned.
    let acct = s
        .post(
            &w.path("/connector-accounts"),
            t,
            json!({"type": "git", "name": "ci", "token": "very-secret-token"}),
        )
        .await;
    assert_eq!(acct.status, 201);
    assert!(!acct.body.to_string().contains("very-secret-token"));
    assert_eq!(acct.body["item"]["hasCredentials"], true);
    let aid = acct.body["item"]["id"].as_str().unwrap();
    let list = s.get(&w.path("/connector-accounts"), t).await;
    assert!(!list.body.to_string().contains("very-secret-token"));
    let gone = s
        .post(
            &w.path(&format!("/connector-accounts/{aid}/disconnect")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(gone.status, 200);
    assert_eq!(gone.body["item"]["account"]["status"], "disconnected");

    // A member without a grant sees no instances and cannot read this one.
    let (_, member) = w.member(db, "m@acme.test", "member").await;
    let seen = s.get(&w.path("/connector-instances"), &member).await;
    assert_eq!(seen.body["items"], json!([]));
    let denied = s
        .get(&w.path(&format!("/connector-instances/{id}")), &member)
        .await;
    assert_eq!(denied.status, 403);

    // Tenancy: another org's admin gets 404 for this org's instance, even through their own org.
    let other = bootstrap(&db.store, "other", "boss@other.test").await;
    let cross = s
        .get(
            &format!("/v1/orgs/other/connector-instances/{id}"),
            &other.owner_token,
        )
        .await;
    assert_eq!(cross.status, 404);
    let cross = s
        .get(
            &format!("/v1/orgs/other/connector-sync-events/{event}"),
            &other.owner_token,
        )
        .await;
    assert_eq!(cross.status, 404);
}

async fn remove_keeps_objects_in_hand_made_plugins(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let t = &w.org.owner_token;
    let dir = tempfile::tempdir().unwrap();
    let url = gitrepo::git_repo(&dir);
    let created = s
        .post(
            &w.path("/connector-instances"),
            t,
            json!({"type": "git", "url": url}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["item"]["id"].as_str().unwrap().to_string();

    let discovery = s
        .get(&w.path(&format!("/connector-instances/{id}/discovery")), t)
        .await;
    assert_eq!(discovery.status, 200, "{:?}", discovery.body);
    let keys: Vec<String> = discovery.body["item"]["discovery"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_string())
        .collect();
    assert!(!keys.is_empty());
    let applied = s
        .post(
            &w.path(&format!("/connector-instances/{id}/discovery/apply")),
            t,
            json!({"selectedKeys": keys, "autoImport": false}),
        )
        .await;
    assert_eq!(applied.status, 202, "{:?}", applied.body);

    // Run the reconcile here (no worker in the test server).
    let cache = tempfile::tempdir().unwrap();
    let engine = trove_sync::Engine::new(
        db.store.clone(),
        Arc::new(trove_sources::GitSource::new(
            cache.path(),
            trove_sources::GitLimits::default(),
        )),
    );
    let event = applied.body["event"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let done = engine.run_sync_event(event).await.unwrap();
    assert!(done.counts.created >= 2, "{done:?}");

    // Put one imported object in a hand-made plugin.
    let objects = s.get(&w.path("/config-objects?limit=200"), t).await;
    let imported: Vec<String> = objects.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    assert!(imported.len() >= 2, "{:?}", objects.body);
    let keep = imported[0].clone();
    let mine = s
        .post(&w.path("/plugins"), t, json!({"name": "hand-made"}))
        .await;
    let mine = mine.body["item"]["id"].as_str().unwrap().to_string();
    let added = s
        .post(
            &w.path(&format!("/plugins/{mine}/config-objects")),
            t,
            json!({"configObjectId": keep}),
        )
        .await;
    assert!(added.status.is_success());

    let removed = s
        .post(
            &w.path(&format!("/connector-instances/{id}/remove")),
            t,
            json!({}),
        )
        .await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    let report = &removed.body["item"];
    assert_eq!(report["removedInstanceIds"], json!([id]));
    let kept = report["keptConfigObjects"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{report}");
    assert_eq!(kept[0]["id"], keep);
    assert_eq!(kept[0]["reason"], "in_hand_made_plugin");
    assert_eq!(kept[0]["heldBy"], json!([mine]));
    assert_eq!(
        report["deletedConfigObjectIds"].as_array().unwrap().len(),
        imported.len() - 1
    );

    // The kept object is still there and still in the hand-made plugin; the instance is gone.
    let obj = s.get(&w.path(&format!("/config-objects/{keep}")), t).await;
    assert_eq!(obj.status, 200);
    let members = s
        .get(&w.path(&format!("/plugins/{mine}/config-objects")), t)
        .await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
    let gone = s
        .get(&w.path(&format!("/connector-instances/{id}")), t)
        .await;
    assert_eq!(gone.status, 404);
}
