//! Every payload fixture and signature vector through the route, and the refusals that come before
//! any work.

use serde_json::{Value, json};
use trove_server::ServerConfig;
use trove_store::sql;
use trove_testkit::{TestDb, TestServer, backend_tests};

use crate::common;
use crate::support::*;

backend_tests!(
    every_fixture_is_answered_as_documented,
    refusals_come_before_any_work
);

/// The outcome a fixture must get, in the order the table is posted.
enum Want {
    /// 202 and `queued: true` with this many sync events.
    Queued(usize),
    /// 202 and `queued: false`.
    Applied,
    /// 200 `accepted: false`, the reason containing this text.
    Ignored(&'static str),
}

async fn every_fixture_is_answered_as_documented(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let st = &db.store;
    // Installations and targets matching the fixtures' ids.
    #[rustfmt::skip]
    let follows: [(i64, i64, &str, &str, Option<&str>); 9] = [
        (92907551, 926103085, "ctbur/ci-server", "main", None),
        (92907551, 926103085, "ctbur/ci-server", "fix-installation-token", None),
        (1, 186853002, "Codertocat/Hello-World", "master", None),
        (1, 186853261, "Octocoders/Old-Name", "main", Some("https://github.com/Octocoders/Old-Name.git")),
        (1924121, 184635124, "packit-service/hello-world", "build-branch", None),
        (47030689, 700724239, "flightctl/flightctl", "EDM-1179", None),
        (2, 1296269, "octocat/Hello-World", "main", None),
        (957387, 186853007, "octocat/Space", "main", None),
        (16598467, 42, "octo-org/thing", "main", None),
    ];
    let mut made = Vec::new();
    for (installation, repository, name, branch, url) in follows {
        made.push(github_target(st, org, installation, repository, name, branch, url).await);
    }
    let [
        app_main,
        app_fix,
        hello,
        octo,
        packit,
        flight,
        removed,
        added,
        suspended,
    ] = made.try_into().unwrap();
    st.db
        .execute(
            sql("UPDATE connector_instances SET status = 'error', status_reason = 'repo_access_removed' WHERE id = $1")
                .bind(added.instance.uuid()),
        )
        .await
        .unwrap();

    use Want::*;
    #[rustfmt::skip]
    let table: &[(&str, &str, Want)] = &[
        ("push/delivery.app.branch-push.json", "push", Queued(1)),
        ("push/delivery.app.branch-deleted.json", "push", Applied),
        ("push/branch-created.with-installation.json", "push", Queued(1)),
        // Same (target, head) as the previous delivery: joins its sync event.
        ("push/branch-created.no-username-committer.json", "push", Queued(1)),
        ("push/branch-created.with-commits.json", "push", Queued(1)),
        ("push/force-push.with-installation.json", "push", Queued(1)),
        ("push/branch-push.json", "push", Ignored("not a GitHub App delivery")),
        ("push/delivery.repo-hook.branch-push.json", "push", Ignored("not a GitHub App delivery")),
        ("push/delivery.repo-hook.branch-deleted.json", "push", Ignored("not a GitHub App delivery")),
        ("push/tag-created.ghes-35.json", "push", Ignored("only branch pushes")),
        ("push/tag-deleted.json", "push", Ignored("only branch pushes")),
        ("push/tag-deleted.1.json", "push", Ignored("only branch pushes")),
        ("push/tag-deleted.with-installation.json", "push", Ignored("only branch pushes")),
        ("push/tag-deleted.with-organization.json", "push", Ignored("only branch pushes")),
        ("installation_repositories/removed.json", "installation_repositories", Applied),
        ("installation_repositories/added.json", "installation_repositories", Applied),
        ("installation/created.json", "installation", Ignored("changes nothing")),
        ("installation/created.with-requester.json", "installation", Ignored("changes nothing")),
        ("installation/new_permissions_accepted.json", "installation", Ignored("changes nothing")),
        ("installation/suspend.json", "installation", Applied),
        ("installation/unsuspend.json", "installation", Applied),
        ("installation/deleted.json", "installation", Applied),
        ("repository/renamed.json", "repository", Applied),
        // Same name and URL as the rename left: nothing to change.
        ("repository/transferred.with-installation.json", "repository", Ignored("nothing to change")),
        ("repository/transferred.json", "repository", Ignored("not a GitHub App delivery")),
        ("repository/archived.derived.json", "repository", Applied),
        ("repository/created.json", "repository", Ignored("changes nothing")),
        ("repository/created.with-installation.json", "repository", Ignored("changes nothing")),
        ("repository/edited.json", "repository", Ignored("changes nothing")),
        ("repository/edited.with-default_branch-edit.json", "repository", Ignored("changes nothing")),
        ("repository/privatized.json", "repository", Ignored("changes nothing")),
        ("repository/publicized.json", "repository", Ignored("changes nothing")),
        ("repository/deleted.ghes-35.json", "repository", Ignored("not a GitHub App delivery")),
        ("repository/deleted.github-ae.json", "repository", Ignored("not a GitHub App delivery")),
        ("ping/ping.json", "ping", Ignored("ping")),
        ("ping/with-app_id.json", "ping", Ignored("ping")),
        ("ping/with-organization.json", "ping", Ignored("ping")),
        ("issues/opened.json", "issues", Ignored("`issues` is not handled")),
        ("pull_request/opened.json", "pull_request", Ignored("`pull_request` is not handled")),
        ("pull_request/synchronize.json", "pull_request", Ignored("`pull_request` is not handled")),
    ];
    let mut shared_event = None;
    for (n, (file, event, want)) in table.iter().enumerate() {
        let id = format!("fixture-{n}");
        let r = deliver(s, event, &id, &fixture(file)).await;
        match want {
            Queued(events) => {
                assert_eq!(r.status, 202, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["queued"].as_bool(), r.body["event"].as_str()),
                    (Some(true), Some(*event)),
                    "{file}"
                );
                assert_eq!(r.body["deliveryId"], id.as_str(), "{file}");
                assert_eq!(event_ids(&r).len(), *events, "{file}");
                if file.contains("branch-created.with-installation") {
                    shared_event = event_ids(&r).pop();
                }
                if file.contains("no-username-committer") {
                    assert_eq!(
                        event_ids(&r).pop(),
                        shared_event,
                        "same (target, head): one sync event"
                    );
                }
            }
            Applied => {
                assert_eq!(r.status, 202, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["accepted"].as_bool(), r.body["queued"].as_bool()),
                    (Some(true), Some(false)),
                    "{file}"
                );
            }
            Ignored(reason) => {
                assert_eq!(r.status, 200, "{file}: {:?}", r.body);
                assert_eq!(
                    (r.body["ok"].as_bool(), r.body["accepted"].as_bool()),
                    (Some(true), Some(false)),
                    "{file}"
                );
                let text = r.body["reason"].as_str().unwrap_or_default();
                assert!(
                    text.contains(reason),
                    "{file}: reason {text:?} lacks {reason:?}"
                );
            }
        }
    }

    // What the deliveries did, target by target.
    let target = |t: &GhTarget| st.target(org, t.target);
    let instance = |t: &GhTarget| st.instance(org, t.instance);
    assert_eq!(target(&app_fix).await.unwrap().status, "branch_missing");
    assert_eq!(target(&app_main).await.unwrap().status, "active");
    for t in [&app_main, &hello, &packit, &flight] {
        let pushes: i64 = st
            .db
            .scalar(
                sql("SELECT COUNT(*) FROM sync_events WHERE target_id = $1 AND trigger = 'push'")
                    .bind(t.target.uuid()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pushes, 1, "one push sync event for {:?}", t.target);
    }
    let moved = target(&octo).await.unwrap();
    assert_eq!(
        moved.repository_name.as_deref(),
        Some("Octocoders/Hello-World")
    );
    assert_eq!(moved.url, "https://github.com/Octocoders/Hello-World.git");
    let archived = instance(&octo).await.unwrap();
    assert_eq!(
        (archived.status.as_str(), archived.status_reason.as_deref()),
        ("error", Some("repository_archived"))
    );
    let gone = instance(&removed).await.unwrap();
    // `removed` put it in error; `installation.deleted` (same installation) then disabled it.
    assert_eq!(
        (gone.status.as_str(), gone.status_reason.as_deref()),
        ("disabled", Some("installation_deleted"))
    );
    assert_eq!(
        st.account(org, removed.account).await.unwrap().status,
        "disconnected"
    );
    let back = instance(&added).await.unwrap();
    assert_eq!(
        (back.status.as_str(), back.status_reason.as_deref()),
        ("active", None)
    );
    assert_eq!(
        st.account(org, suspended.account).await.unwrap().status,
        "active"
    );
    // Every delivery that reached the database is recorded with its outcome, none left `received`.
    let left: i64 = st
        .db
        .scalar(sql(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE outcome = 'received'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left, 0);
    let record = st.delivery("fixture-0").await.unwrap().expect("recorded");
    assert_eq!(
        (
            record.event.as_str(),
            record.outcome.as_str(),
            record.installation_id,
            record.repository_id
        ),
        ("push", "queued", Some(92907551), Some(926103085))
    );
    assert!(
        st.delivery("fixture-38").await.unwrap().is_none(),
        "ignored events are not recorded"
    );
}

fn vector_body(v: &Value) -> Vec<u8> {
    if let Some(hex_body) = v["payload_utf8_hex"].as_str() {
        return hex::decode(hex_body).unwrap();
    }
    if let Some(p) = v["payload"]
        .as_str()
        .or(v["payload_as_reserialized"].as_str())
    {
        return p.as_bytes().to_vec();
    }
    if let Some(file) = v["body_file"].as_str() {
        return std::fs::read(shared_dir().join(file)).unwrap();
    }
    let spec = v["body"].as_str().expect("a body");
    let (file, transform) = spec.split_once(" transformed: ").unwrap();
    let original = fixture(file);
    match transform {
        "trailing-newline-added" => [original.as_slice(), b"\n"].concat(),
        "reserialized-pretty" => serde_json::to_vec_pretty(&json_of(&original)).unwrap(),
        other => panic!("unknown transform {other}"),
    }
}

/// Every signature vector through the HTTP route: a server per secret, the vector's headers.
async fn signature_vectors(db: &TestDb) {
    let doc = json_of(&fixture("signature-vectors.json"));
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 16);
    for (n, v) in vectors.iter().enumerate() {
        let name = v["name"].as_str().unwrap();
        let body = vector_body(v);
        let signature = v["expected_x_hub_signature_256"]
            .as_str()
            .or(v["presented_x_hub_signature_256"].as_str())
            .or(v["headers"]["X-Hub-Signature-256"].as_str());
        let secrets: Vec<String> = match v["secret"].as_str() {
            Some(s) => vec![s.to_string()],
            None => v["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        };
        let mut accepted_by_any = false;
        for secret in &secrets {
            let config = ServerConfig {
                webhook_secret: trove_server::WebhookSecret::new(secret.as_bytes()),
                ..ServerConfig::default()
            };
            let s = TestServer::start_with(db.store.clone(), config).await;
            let event = v["headers"]["X-GitHub-Event"].as_str().unwrap_or("ping");
            let delivery = format!("vector-{n}-{secret}");
            let mut headers = vec![
                ("x-github-event", event),
                ("x-github-delivery", delivery.as_str()),
            ];
            if let Some(sig) = signature {
                headers.push(("x-hub-signature-256", sig));
            }
            if let Some(sha1) = v["headers"]["X-Hub-Signature"].as_str() {
                headers.push(("x-hub-signature", sha1));
            }
            let r = post(&s, &headers, body.clone()).await;
            if r.status == 401 {
                let want = if signature.is_none() {
                    "missing signature"
                } else {
                    "invalid signature"
                };
                assert_eq!(r.body, json!({"ok": false, "error": want}), "{name}");
            } else {
                // Past the signature: a ping (200), a delivery for no tracked target (200), or a body
                // that is not JSON (400).
                assert!(
                    [200, 400].contains(&r.status.as_u16()),
                    "{name}: {} {:?}",
                    r.status,
                    r.body
                );
                accepted_by_any = true;
            }
        }
        assert_eq!(
            accepted_by_any,
            v["valid"].as_bool().unwrap(),
            "vector {name}"
        );
    }
}

async fn refusals_come_before_any_work(db: &TestDb) {
    let w = common::world(db).await;
    let org = org_id(&w.org);
    github_target(&db.store, org, 77, 7001, "acme/tools", "main", None).await;
    let body = push_body(77, 7001, "acme/tools", "main", &sha(1));
    let before = counts(db).await;

    // No secret configured: 503, the body unread.
    let plain = TestServer::start_with(db.store.clone(), ServerConfig::default()).await;
    let r = deliver(&plain, "push", "d-1", &body).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body,
        json!({"ok": false, "error": "webhook secret not configured"})
    );

    let s = &w.server;
    let good = sign(trove_testkit::server::WEBHOOK_SECRET.as_bytes(), &body);
    let wrong = sign(b"another secret", &body);
    let sha1_only = "sha1=4786d04e00b7e096196f1aea84542e08295e8c7c";
    // (headers, body, status, error)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![("x-github-event", "push"), ("x-github-delivery", "d-2")],
            body.clone(),
            401,
            "missing signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-3"),
                ("x-hub-signature", sha1_only),
            ],
            body.clone(),
            401,
            "missing signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-4"),
                ("x-hub-signature-256", &wrong),
            ],
            body.clone(),
            401,
            "invalid signature",
        ),
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-5"),
                ("x-hub-signature-256", "sha256=zz"),
            ],
            body.clone(),
            401,
            "invalid signature",
        ),
        // A valid signature over other bytes (the body gained a newline).
        (
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "d-6"),
                ("x-hub-signature-256", &good),
            ],
            [body.as_slice(), b"\n"].concat(),
            401,
            "invalid signature",
        ),
        (
            vec![("x-github-delivery", "d-7"), ("x-hub-signature-256", &good)],
            body.clone(),
            400,
            "invalid delivery",
        ),
        (
            vec![("x-github-event", "push"), ("x-hub-signature-256", &good)],
            body.clone(),
            400,
            "invalid delivery",
        ),
    ];
    for (headers, bytes, status, error) in cases {
        let r = post(s, &headers, bytes).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (status, error),
            "{headers:?}: {:?}",
            r.body
        );
    }
    for (event, bytes) in [
        ("push", b"{not json".to_vec()),
        (
            "push",
            br#"{"repository": {"id": 1, "full_name": "a/b"}}"#.to_vec(),
        ),
    ] {
        let r = deliver(s, event, "d-8", &bytes).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (400, "invalid delivery"),
            "{:?}",
            r.body
        );
    }
    // An event Trove does not act on is acknowledged without its body being read: signed by
    // GitHub, and nothing of it is used.
    let r = deliver(s, "workflow_job", "d-8b", b"{not json").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["accepted"], false);
    assert_eq!(r.body["reason"], "event `workflow_job` is not handled");
    // Over 25 MiB: 413 (the signature is never computed over it).
    let huge = vec![b' '; trove_server::routes::webhooks::WEBHOOK_BODY_LIMIT + 1];
    let r = post(
        s,
        &[
            ("x-github-event", "push"),
            ("x-github-delivery", "d-9"),
            ("x-hub-signature-256", &good),
        ],
        huge,
    )
    .await;
    assert_eq!(r.status, 413);
    // Nothing above wrote anything, and a correctly signed copy still works afterwards.
    assert_eq!(counts(db).await, before);
    let ok = deliver(s, "push", "d-10", &body).await;
    assert_eq!(ok.status, 202, "{:?}", ok.body);
    signature_vectors(db).await;
}
