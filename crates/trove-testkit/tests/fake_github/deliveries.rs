//! Signed deliveries that Trove's own verifier and parser accept.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{Value, json};
use trove_testkit::github::{FakeGitHub, deliver, push_payload, sign};

use super::{client, world};

type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A webhook receiver on loopback that keeps what it gets and answers 202.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                sink.lock().unwrap().push((headers, body.to_vec()));
                (StatusCode::ACCEPTED, axum::Json(json!({"ok": true})))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hook, received)
}

#[tokio::test]
async fn signed_deliveries_verify_with_troves_verifier() {
    let (gh, inst, repo) = world().await;
    let (hook, received) = receiver().await;

    let before = gh.head(&repo, "main").unwrap();
    let after = gh.commit(
        &repo,
        "main",
        &[("README.md", Some(b"v2\n")), ("new.md", Some(b"n\n"))],
        "two files",
    );
    let payload = push_payload(&repo, inst, "refs/heads/main", &before, &after, false);
    let body = payload.to_string();
    let (status, answer) = deliver(
        &hook,
        gh.webhook_secret().as_bytes(),
        "push",
        "guid-1",
        body.as_bytes(),
    )
    .await;
    assert_eq!((status, answer), (202, json!({"ok": true})));
    gh.set_webhook_url(&hook);
    let (status, _) = gh.send_push(&repo, "main", &after, &"0".repeat(40)).await;
    assert_eq!(status, 202);

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    for (headers, bytes) in &received {
        let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
        trove_sources::webhook::verify_signature(gh.webhook_secret().as_bytes(), signature, bytes)
            .unwrap();
        assert!(
            trove_sources::webhook::verify_signature(b"other secret", signature, bytes).is_err()
        );
        assert_eq!(headers["x-github-event"], "push");
        assert!(
            headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("GitHub-Hookshot/")
        );
        assert_eq!(headers["content-type"], "application/json");
    }
    assert_eq!(received[0].0["x-github-delivery"], "guid-1");
    let delivery =
        trove_sources::webhook::Delivery::parse("push", "guid-1", &received[0].1).unwrap();
    assert_eq!(
        (delivery.repository_id, delivery.installation_id),
        (Some(repo.id as i64), Some(inst as i64))
    );
    assert_eq!(delivery.head_sha.as_deref(), Some(after.as_str()));
    let sent: Value = serde_json::from_slice(&received[0].1).unwrap();
    assert_eq!(sent["commits"][0]["modified"], json!(["README.md"]));
    assert_eq!(sent["commits"][0]["added"], json!(["new.md"]));
    assert_eq!(sent["head_commit"]["id"], after.as_str());
    assert_eq!(
        (
            sent["created"].as_bool(),
            sent["deleted"].as_bool(),
            sent["forced"].as_bool()
        ),
        (Some(false), Some(false), Some(false))
    );
    let deleted: Value = serde_json::from_slice(&received[1].1).unwrap();
    assert_eq!(
        (
            deleted["deleted"].as_bool(),
            deleted["head_commit"].is_null()
        ),
        (Some(true), true)
    );
    assert_eq!(
        received[1].0["x-github-hook-installation-target-id"],
        gh.app_id().to_string().as_str()
    );

    assert_eq!(
        sign(b"It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

/// POSTs JSON to a control route and returns the status and answer.
async fn control(gh: &FakeGitHub, route: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/_fake/{route}", gh.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn control_routes_drive_the_fake_as_the_binary_does() {
    let gh = FakeGitHub::start().await;
    let (hook, received) = receiver().await;
    let (_, inst) = control(
        &gh,
        "installations",
        json!({"account": "acme", "users": ["bob"]}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("README.md"), "one\n").unwrap();
    let repo = json!({"installation": inst["id"], "full_name": "acme/tools", "dir": dir.path()});
    let (status, created) = control(&gh, "repos", repo.clone()).await;
    assert_eq!(status, 200, "{created}");
    let (status, refused) = control(&gh, "repos", repo).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );

    let files = json!({"repo": "acme/tools", "files": {"README.md": "two\n", "new.md": "n"}});
    let (_, committed) = control(&gh, "commit", files).await;
    let sha = committed["sha"].as_str().unwrap();
    let (status, _) = control(&gh, "push", json!({"repo": "acme/tools"})).await;
    assert_eq!(status, 400, "no webhook URL yet");
    control(&gh, "switches", json!({"webhook_url": hook, "fail_next": {"path_contains": "/git/trees", "count": 1, "status": 503}})).await;
    let (status, pushed) = control(&gh, "push", json!({"repo": "acme/tools"})).await;
    assert_eq!(
        (status, pushed["status"].as_u64()),
        (200, Some(202)),
        "{pushed}"
    );

    let received = received.lock().unwrap().clone();
    let (headers, body) = &received[0];
    let signature = headers.get("x-hub-signature-256").map(|v| v.as_bytes());
    trove_sources::webhook::verify_signature(gh.webhook_secret().as_bytes(), signature, body)
        .unwrap();
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (sent["after"].as_str(), sent["before"].as_str()),
        (Some(sha), committed["before"].as_str())
    );
    assert_eq!(sent["repository"]["id"], created["id"]);
    assert_eq!(sent["installation"]["id"], inst["id"]);

    let token = super::mint(&gh, inst["id"].as_u64().unwrap()).await;
    let tree = super::get(
        &gh,
        "/repos/acme/tools/git/trees/main",
        super::bearer(&token),
        &[],
    )
    .await;
    assert_eq!(
        tree.status, 503,
        "the switch set through the control route applies"
    );
    assert!(gh.requests().iter().all(|r| !r.path.starts_with("/_fake/")));
}
