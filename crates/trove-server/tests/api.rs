//! The platform REST API against a real server on a loopback port, on SQLite and PostgreSQL.

mod common;

use reqwest::Method;
use serde_json::json;
use trove_testkit::{TestDb, backend_tests, bootstrap};

use common::world;

backend_tests!(
    credentials_are_required,
    me_and_orgs,
    bad_input_is_rejected_with_the_field,
    members_and_the_last_owner,
    teams_and_team_members,
    tokens_lifecycle,
    login_and_logout,
    tenancy_is_isolated,
    audit_log_records_mutations,
    lists_are_paged_with_cursors,
    health_ready_metrics,
);

async fn credentials_are_required(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let r = s.call(Method::GET, "/v1/me", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.error(), "unauthorized");
    let r = s
        .call(Method::GET, "/v1/me", Some("trove_not-a-real-token"), None)
        .await;
    assert_eq!(r.status, 401);
    let r = s.call(Method::GET, &w.path("/members"), None, None).await;
    assert_eq!(r.status, 401);
    let raw = s
        .client
        .get(format!("{}/v1/me", s.base))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    // Every response carries a request id.
    assert!(raw.headers().contains_key("x-request-id"));
}

async fn me_and_orgs(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let me = s.get("/v1/me", t).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["item"]["user"]["email"], "owner@acme.test");
    assert_eq!(me.body["item"]["authenticatedBy"], "token");
    assert_eq!(me.body["item"]["tokenOrgId"], w.org.id.as_str());

    let orgs = s.get("/v1/orgs", t).await;
    assert_eq!(orgs.status, 200);
    assert_eq!(orgs.body["items"].as_array().unwrap().len(), 1);
    assert!(orgs.body["nextCursor"].is_null());

    // By slug and by id.
    let by_slug = s.get("/v1/orgs/acme", t).await;
    assert_eq!(by_slug.status, 200);
    assert_eq!(by_slug.body["item"]["slug"], "acme");
    let by_id = s.get(&format!("/v1/orgs/{}", w.org.id), t).await;
    assert_eq!(by_id.body["item"]["id"], w.org.id.as_str());
    assert!(
        by_id.body["item"]["createdAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let patched = s
        .patch("/v1/orgs/acme", t, json!({"name": "Acme Corp"}))
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["ok"], true);
    assert_eq!(patched.body["item"]["name"], "Acme Corp");
    let renamed = s
        .patch("/v1/orgs/acme", t, json!({"slug": "acme-corp"}))
        .await;
    assert_eq!(renamed.body["item"]["slug"], "acme-corp");
    assert_eq!(s.get("/v1/orgs/acme", t).await.status, 404);

    let created = s
        .post("/v1/orgs", t, json!({"slug": "beta", "name": "Beta"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let dup = s.post("/v1/orgs", t, json!({"slug": "beta"})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.error(), "already_exists");
}

async fn bad_input_is_rejected_with_the_field(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let path = w.path("/members");
    // Malformed JSON.
    let r = s
        .call_raw(Method::POST, &path, Some(t), b"{\"email\": ".to_vec())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "invalid_request");
    // Wrong type names the field.
    let r = s.post(&path, t, json!({"email": 42})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "email", "{:?}", r.body);
    // Missing field names the field.
    let r = s.post(&path, t, json!({"role": "member"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "email", "{:?}", r.body);
    // Unknown enum value names the field.
    let r = s
        .post(&path, t, json!({"email": "a@b.c", "role": "emperor"}))
        .await;
    assert_eq!(r.body["field"], "role", "{:?}", r.body);
    // Unknown field is refused rather than ignored.
    let r = s
        .post(&path, t, json!({"email": "a@b.c", "rol": "admin"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "rol", "{:?}", r.body);
    // Invalid value.
    let r = s.post(&path, t, json!({"email": "not an email"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "email");
    let r = s.post("/v1/orgs", t, json!({"slug": "Bad Slug"})).await;
    assert_eq!(r.body["field"], "slug");
    // Bad paging parameters.
    let r = s.get(&w.path("/members?limit=0"), t).await;
    assert_eq!(r.body["field"], "limit");
    let r = s.get(&w.path("/members?limit=201"), t).await;
    assert_eq!(r.status, 400);
    let r = s.get(&w.path("/members?cursor=garbage"), t).await;
    assert_eq!(r.body["field"], "cursor");
    // Oversized body.
    let big = format!("{{\"email\": \"{}\"}}", "a".repeat(3 * 1024 * 1024));
    let r = s
        .call_raw(Method::POST, &path, Some(t), big.into_bytes())
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error(), "payload_too_large");
    // The unread body makes the connection unusable; the server says so, so the next call opens a
    // fresh one instead of failing on the dead one.
    assert_eq!(r.headers["connection"], "close");
    // Nothing was written by any of these.
    let members = s.get(&path, t).await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
    // Unknown route and unknown resource.
    assert_eq!(s.get("/v1/nope", t).await.status, 404);
    assert_eq!(
        s.get(&w.path("/teams/team_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"), t)
            .await
            .status,
        404
    );
    assert_eq!(s.get(&w.path("/teams/not-an-id"), t).await.status, 404);
}

async fn members_and_the_last_owner(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let (alice, alice_token) = w.member(db, "Alice@Example.test", "member").await;
    let list = s.get(&w.path("/members"), t).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let alice_row = items.iter().find(|m| m["id"] == alice.as_str()).unwrap();
    assert_eq!(alice_row["email"], "alice@example.test");
    assert_eq!(alice_row["role"], "member");
    for key in ["id", "userId", "email", "name", "role", "createdAt"] {
        assert!(alice_row.get(key).is_some(), "member lacks {key}");
    }
    assert_eq!(
        s.get(&w.path(&format!("/members/{alice}")), t).await.body["item"]["id"],
        alice.as_str()
    );
    // Adding the same person twice.
    let dup = s
        .post(
            &w.path("/members"),
            t,
            json!({"email": "alice@example.test"}),
        )
        .await;
    assert_eq!(dup.status, 409);

    // A plain member may read but not administer.
    assert_eq!(s.get(&w.path("/members"), &alice_token).await.status, 200);
    let denied = s
        .post(&w.path("/members"), &alice_token, json!({"email": "x@y.z"}))
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error(), "missing_org_capability");
    let denied = s
        .patch(
            &w.path(&format!("/members/{alice}")),
            &alice_token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(denied.status, 403);

    // Promote to admin; an admin cannot create owners.
    let promoted = s
        .patch(
            &w.path(&format!("/members/{alice}")),
            t,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.status, 200);
    assert_eq!(promoted.body["item"]["role"], "admin");
    let r = s
        .post(
            &w.path("/members"),
            &alice_token,
            json!({"email": "o@x.y", "role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let (bob, _) = w.member(db, "bob@example.test", "member").await;

    // The only owner can be neither demoted nor removed.
    let me = s.get("/v1/me", t).await;
    let owner_user = me.body["item"]["user"]["id"].as_str().unwrap().to_string();
    let members = s.get(&w.path("/members"), t).await;
    let owner_mem = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == owner_user.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .patch(
            &w.path(&format!("/members/{owner_mem}")),
            t,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "last_owner");
    let r = s.delete(&w.path(&format!("/members/{owner_mem}")), t).await;
    assert_eq!(r.status, 409);
    // With a second owner, the first may step down.
    assert_eq!(
        s.patch(
            &w.path(&format!("/members/{bob}")),
            t,
            json!({"role": "owner"})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.patch(
            &w.path(&format!("/members/{owner_mem}")),
            t,
            json!({"role": "admin"})
        )
        .await
        .status,
        200
    );

    // Removing a member revokes their tokens for this org.
    let removed = s.delete(&w.path(&format!("/members/{alice}")), t).await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.body["item"]["id"], alice.as_str());
    assert_eq!(s.get("/v1/me", &alice_token).await.status, 401);
    assert_eq!(
        s.get(&w.path(&format!("/members/{alice}")), t).await.status,
        404
    );
}

async fn teams_and_team_members(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let (alice, alice_token) = w.member(db, "alice@example.test", "member").await;
    let team = s
        .post(&w.path("/teams"), t, json!({"name": "Platform"}))
        .await;
    assert_eq!(team.status, 201, "{:?}", team.body);
    let id = team.body["item"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("team_"));
    assert_eq!(team.body["item"]["memberCount"], 0);
    assert_eq!(
        s.post(&w.path("/teams"), t, json!({"name": "Platform"}))
            .await
            .status,
        409
    );
    assert_eq!(
        s.post(&w.path("/teams"), &alice_token, json!({"name": "Rogue"}))
            .await
            .status,
        403
    );

    let added = s
        .post(
            &w.path(&format!("/teams/{id}/members")),
            t,
            json!({"orgMembershipId": alice}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let again = s
        .post(
            &w.path(&format!("/teams/{id}/members")),
            t,
            json!({"orgMembershipId": alice}),
        )
        .await;
    assert_eq!(again.status, 201, "adding twice is idempotent");
    let bogus = s
        .post(
            &w.path(&format!("/teams/{id}/members")),
            t,
            json!({"orgMembershipId": "mem_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"}),
        )
        .await;
    assert_eq!(bogus.status, 400);
    let members = s
        .get(&w.path(&format!("/teams/{id}/members")), &alice_token)
        .await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.get(&w.path(&format!("/teams/{id}")), t).await.body["item"]["memberCount"],
        1
    );

    let renamed = s
        .patch(
            &w.path(&format!("/teams/{id}")),
            t,
            json!({"name": "Platform Eng"}),
        )
        .await;
    assert_eq!(renamed.body["item"]["name"], "Platform Eng");
    assert_eq!(
        s.get(&w.path("/teams"), &alice_token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        s.delete(&w.path(&format!("/teams/{id}/members/{alice}")), t)
            .await
            .status,
        200
    );
    assert_eq!(
        s.delete(&w.path(&format!("/teams/{id}/members/{alice}")), t)
            .await
            .status,
        404
    );
    assert_eq!(
        s.delete(&w.path(&format!("/teams/{id}")), &alice_token)
            .await
            .status,
        403
    );
    assert_eq!(
        s.delete(&w.path(&format!("/teams/{id}")), t).await.status,
        200
    );
    assert_eq!(s.get(&w.path(&format!("/teams/{id}")), t).await.status, 404);
}

async fn tokens_lifecycle(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let created = s
        .post(
            &w.path("/tokens"),
            t,
            json!({"name": "ci", "expiresAt": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let secret = created.body["item"]["secret"].as_str().unwrap().to_string();
    let id = created.body["item"]["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("trove_"));
    assert!(
        created.body["item"]["expiresAt"]
            .as_str()
            .unwrap()
            .starts_with("2999")
    );
    assert_eq!(s.get("/v1/me", &secret).await.status, 200);
    let list = s.get(&w.path("/tokens"), t).await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|i| i.get("secret").is_none()),
        "secrets are never listed"
    );
    assert!(!list.body.to_string().contains(&secret));
    // Past expiry is refused.
    let past = s
        .post(
            &w.path("/tokens"),
            t,
            json!({"name": "old", "expiresAt": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status, 400);
    assert_eq!(past.body["field"], "expiresAt");
    // Another member cannot revoke it; the owner can.
    let (_, alice_token) = w.member(db, "alice@example.test", "member").await;
    assert_eq!(
        s.delete(&w.path(&format!("/tokens/{id}")), &alice_token)
            .await
            .status,
        404
    );
    let revoked = s.delete(&w.path(&format!("/tokens/{id}")), t).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["item"]["revokedAt"].is_string());
    assert_eq!(s.get("/v1/me", &secret).await.status, 401);
}

async fn login_and_logout(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = |password: &'static str| {
        let client = client.clone();
        let url = format!("{}/v1/auth/login", s.base);
        async move {
            client
                .post(url)
                .json(&json!({"email": "OWNER@acme.test", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let bad = login("wrong").await;
    assert_eq!(bad.status(), 401);
    let ok = login("correct horse battery").await;
    assert_eq!(ok.status(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let me = client
        .get(format!("{}/v1/me", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let body: serde_json::Value = me.json().await.unwrap();
    assert_eq!(body["item"]["authenticatedBy"], "session");
    // A session reaches every org of the user.
    let orgs = client
        .get(format!("{}/v1/orgs/acme/members", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(orgs.status(), 200);
    let out = client
        .post(format!("{}/v1/auth/logout", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let me = client
        .get(format!("{}/v1/me", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
}

async fn tenancy_is_isolated(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let other = bootstrap(&db.store, "other", "boss@other.test").await;
    let t = &w.org.owner_token;
    // Another org's routes are 404 whether addressed by slug or id, and whatever the verb.
    for path in [
        "/v1/orgs/other",
        "/v1/orgs/other/members",
        "/v1/orgs/other/teams",
        "/v1/orgs/other/audit",
    ] {
        assert_eq!(s.get(path, t).await.status, 404, "{path}");
    }
    assert_eq!(
        s.get(&format!("/v1/orgs/{}", other.id), t).await.status,
        404
    );
    assert_eq!(
        s.post("/v1/orgs/other/teams", t, json!({"name": "x"}))
            .await
            .status,
        404
    );
    // A token bound to one org does not reach another org of the same user.
    let created = s.post("/v1/orgs", t, json!({"slug": "second"})).await;
    assert_eq!(created.status, 201);
    assert_eq!(s.get("/v1/orgs/second", t).await.status, 404);
    let listed = s.get("/v1/orgs", t).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "a token lists only its own org"
    );
    // And the other org's owner sees nothing of acme.
    assert_eq!(
        s.get("/v1/orgs/acme/members", &other.owner_token)
            .await
            .status,
        404
    );
}

async fn audit_log_records_mutations(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let (_, alice_token) = w.member(db, "alice@example.test", "member").await;
    s.post(&w.path("/teams"), t, json!({"name": "Ops"})).await;
    let log = s.get(&w.path("/audit"), t).await;
    assert_eq!(log.status, 200);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.first(),
        Some(&"team.create"),
        "newest first: {actions:?}"
    );
    for expected in ["org.create", "member.add", "token.create", "team.create"] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let team_entry = &log.body["items"][0];
    assert_eq!(team_entry["detail"]["name"], "Ops");
    assert!(
        team_entry["actorUserId"]
            .as_str()
            .unwrap()
            .starts_with("usr_")
    );
    assert!(
        team_entry["actorTokenId"]
            .as_str()
            .unwrap()
            .starts_with("tok_")
    );
    let denied = s.get(&w.path("/audit"), &alice_token).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.error(), "missing_org_capability");
}

async fn lists_are_paged_with_cursors(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    for i in 0..5 {
        assert_eq!(
            s.post(&w.path("/teams"), t, json!({"name": format!("team {i}")}))
                .await
                .status,
            201
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => w.path(&format!("/teams?limit=2&cursor={c}")),
            None => w.path("/teams?limit=2"),
        };
        let page = s.get(&path, t).await;
        assert_eq!(page.status, 200);
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..5).map(|i| format!("team {i}")).collect::<Vec<_>>()
    );
}

async fn health_ready_metrics(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let health = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["ok"], true);
    let ready = s.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    s.get("/v1/me", &w.org.owner_token).await;
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("trove_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/me\""), "{text}");
    assert!(
        text.contains("trove_http_request_duration_seconds"),
        "{text}"
    );
    assert!(
        text.contains("trove_jobs_depth{state=\"queued\"}"),
        "{text}"
    );
    let spec = s.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, 200);
    assert!(spec.body["paths"]["/v1/orgs/{org}/members"].is_object());
}
