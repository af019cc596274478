//! Installing the App: the whole flow with a session cookie, and every misuse of a state or an
//! installation id.

use serde_json::json;
use trove_testkit::{TestDb, TestServer, backend_tests, bootstrap};

use crate::common;
use crate::support::{assert_state_refused, urlencode, world};

backend_tests!(
    unconfigured_routes_answer_409,
    install_binds_the_installation_once,
    bad_states_are_rejected,
    only_the_starting_user_completes,
    installation_not_owned_is_refused,
    installation_bound_to_another_org_is_a_conflict,
    concurrent_completions_spend_a_state_once,
    a_browser_is_answered_with_a_page,
);

async fn unconfigured_routes_answer_409(db: &TestDb) {
    let w = common::world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let (_, member) = w.member(db, "member@acme.test", "member").await;
    let start = s
        .post(&w.path("/connectors/github/install/start"), t, json!({}))
        .await;
    assert_eq!(start.status, 409, "{:?}", start.body);
    assert_eq!(start.error(), "github_not_configured");
    assert!(
        start.body["message"]
            .as_str()
            .unwrap()
            .contains("TROVE_GITHUB_APP_ID")
    );
    let callback = s
        .get(
            "/v1/connectors/github/callback?installation_id=1&state=x&code=y",
            t,
        )
        .await;
    assert_eq!(callback.error(), "github_not_configured");
    let list = s
        .get(
            &w.path("/connector-accounts/cac_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f/repositories"),
            t,
        )
        .await;
    assert_eq!(list.error(), "github_not_configured");
    // Authorization comes first: a member learns nothing about the configuration.
    let as_member = s
        .post(
            &w.path("/connectors/github/install/start"),
            &member,
            json!({}),
        )
        .await;
    assert_eq!(as_member.status, 403);
}

async fn install_binds_the_installation_once(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let start = w
        .base
        .server
        .post(
            &w.path(org, "/connectors/github/install/start"),
            &org.owner_token,
            json!({}),
        )
        .await;
    assert_eq!(start.status, 200, "{:?}", start.body);
    let state = start.body["state"].as_str().unwrap().to_owned();
    let redirect = start.body["redirectUrl"].as_str().unwrap();
    assert!(
        redirect.starts_with(&format!(
            "{}/apps/{}/installations/new?state=",
            w.fake.url(),
            w.fake.app_slug()
        )),
        "{redirect}"
    );

    // The browser comes back from GitHub with the session cookie of the user who started.
    let browser = w.browser(true).await;
    let url = w.fake.install("alice", &state, w.installation);
    let done = TestServer::reply(browser.get(&url).send().await.unwrap()).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["ok"], true);
    let account = &done.body["item"];
    assert_eq!(account["type"], "github");
    assert_eq!(account["status"], "active");
    assert_eq!(account["name"], "acme-gh");
    assert_eq!(account["remoteId"], w.installation.to_string());
    // GitHub's description of the installation (`GET /app/installations/{id}`).
    assert_eq!(account["metadata"]["accountLogin"], "acme-gh");
    assert_eq!(account["metadata"]["accountType"], "Organization");
    assert_eq!(account["metadata"]["repositorySelection"], "selected");
    assert_eq!(w.accounts(org).await.len(), 1);
    let audit = w
        .base
        .server
        .get(&w.path(org, "/audit"), &org.owner_token)
        .await;
    assert!(
        audit.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "connector_account.bind"),
        "{:?}",
        audit.body
    );

    // The same redirect again, or the same state with a fresh code: the state is spent.
    let replay = TestServer::reply(browser.get(&url).send().await.unwrap()).await;
    assert_state_refused(&replay);
    let fresh_code = w.fake.install("alice", &state, w.installation);
    let replay = w.follow(&fresh_code, &org.owner_token).await;
    assert_state_refused(&replay);
    // No token, code or state in what the caller is told.
    let text = replay.body.to_string();
    assert!(!text.contains(&state[..20]), "{text}");
    assert_eq!(w.accounts(org).await.len(), 1);

    // A redirect without a code: the App must ask for user authorization during installation.
    let state = w.start(org, &org.owner_token).await;
    let no_code = w
        .base
        .server
        .get(
            &format!(
                "/v1/connectors/github/callback?installation_id={}&setup_action=install&state={}",
                w.installation,
                urlencode(&state)
            ),
            &org.owner_token,
        )
        .await;
    assert_eq!(no_code.status, 400, "{:?}", no_code.body);
    assert_eq!(no_code.body["field"], "code");
    assert!(
        no_code.body["message"]
            .as_str()
            .unwrap()
            .contains("Request user authorization")
    );
}

async fn bad_states_are_rejected(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let state = w.start(org, &org.owner_token).await;
    let code = || w.fake.authorize("alice");
    let complete =
        |state: String| json!({"state": state, "installationId": w.installation, "code": code()});

    // Tampered: any changed character of the payload or the MAC breaks the signature.
    let parts: Vec<&str> = state.split('.').collect();
    assert_eq!(parts.len(), 3, "{state}");
    let flip = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    for tampered in [
        format!("{}.{}.{}", parts[0], flip(parts[1]), parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], flip(parts[2])),
        format!("{}.{}", parts[0], parts[1]),
        "v1.e30.AAAA".to_string(),
        String::new(),
    ] {
        let reply = w.complete(org, &org.owner_token, complete(tampered)).await;
        assert_state_refused(&reply);
    }

    // Expired: ten minutes have passed for this state.
    let expired = w.start(org, &org.owner_token).await;
    db.store
        .db
        .execute(
            trove_store::sql("UPDATE github_install_states SET expires_at = $1")
                .bind(trove_core::time::now_ms() - 1),
        )
        .await
        .unwrap();
    let reply = w.complete(org, &org.owner_token, complete(expired)).await;
    assert_state_refused(&reply);
    assert!(w.accounts(org).await.is_empty(), "nothing is bound");

    // A state from another Trove (another key) does not verify here.
    let other = TestDb::sqlite().await;
    let (other_org, other_user, _) = other
        .store
        .bootstrap("acme", "owner@acme.test", None)
        .await
        .unwrap();
    let foreign = other
        .store
        .issue_install_state(other_org.id, other_user.id)
        .await
        .unwrap();
    let reply = w
        .complete(org, &org.owner_token, complete(foreign.token))
        .await;
    assert_state_refused(&reply);
    other.finish().await;
    assert!(w.accounts(org).await.is_empty());

    // The encryption key that sealed the state key is retired: a new state key replaces it, so
    // states issued before no longer verify and new ones work.
    let before = w.start(org, &org.owner_token).await;
    db.store.set_keys(trove_store::KeyRing::generate(7));
    let after = w.start(org, &org.owner_token).await;
    let reply = w.complete(org, &org.owner_token, complete(before)).await;
    assert_state_refused(&reply);
    let reply = w.complete(org, &org.owner_token, complete(after)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

async fn only_the_starting_user_completes(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let (_, admin) = w.base.member(db, "second@acme.test", "admin").await;
    let state = w.start(org, &org.owner_token).await;
    let body = || json!({"state": state, "installationId": w.installation, "code": w.fake.authorize("alice")});
    let stolen = w.complete(org, &admin, body()).await;
    assert_eq!(stolen.status, 409, "{:?}", stolen.body);
    assert_eq!(stolen.error(), "install_state_user_mismatch");
    let stolen = w
        .follow(&w.fake.install("alice", &state, w.installation), &admin)
        .await;
    assert_eq!(stolen.error(), "install_state_user_mismatch");
    assert!(w.accounts(org).await.is_empty());
    // The state was not spent by the refused attempts: its owner still completes.
    let done = w.complete(org, &org.owner_token, body()).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["item"]["remoteId"], w.installation.to_string());
}

async fn installation_not_owned_is_refused(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    // Mallory can install the App somewhere, but cannot see alice's installation.
    w.fake.add_user("mallory");
    let _own = w.fake.add_installation("mallory", "User", &["mallory"]);
    let state = w.start(org, &org.owner_token).await;
    let hijack = w
        .follow(
            &w.fake.install("mallory", &state, w.installation),
            &org.owner_token,
        )
        .await;
    assert_eq!(hijack.status, 403, "{:?}", hijack.body);
    assert_eq!(hijack.error(), "missing_resource_access");
    assert!(w.accounts(org).await.is_empty(), "nothing is bound");
    // Through `complete` too, with a fresh state.
    let state = w.start(org, &org.owner_token).await;
    let hijack = w
        .complete(
            org,
            &org.owner_token,
            json!({"state": state, "installationId": w.installation, "code": w.fake.authorize("mallory")}),
        )
        .await;
    assert_eq!(hijack.status, 403, "{:?}", hijack.body);
    assert!(w.accounts(org).await.is_empty());
    // A code GitHub does not know (forged, or already exchanged) proves nothing either.
    let state = w.start(org, &org.owner_token).await;
    let forged = w
        .complete(
            org,
            &org.owner_token,
            json!({"state": state, "installationId": w.installation, "code": "not-a-code"}),
        )
        .await;
    assert_eq!(forged.status, 400, "{:?}", forged.body);
    assert_eq!(forged.body["field"], "code");
    assert!(!forged.body.to_string().contains("not-a-code"));
    assert!(w.accounts(org).await.is_empty());
}

async fn installation_bound_to_another_org_is_a_conflict(db: &TestDb) {
    let w = world(db).await;
    w.install(&w.base.org).await;
    let beta = bootstrap(&db.store, "beta", "owner@beta.test").await;
    let state = w.start(&beta, &beta.owner_token).await;
    let taken = w
        .complete(
            &beta,
            &beta.owner_token,
            json!({"state": state, "installationId": w.installation, "code": w.fake.authorize("alice")}),
        )
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert_eq!(taken.error(), "installation_bound_elsewhere");
    assert!(w.accounts(&beta).await.is_empty());
    assert_eq!(w.accounts(&w.base.org).await.len(), 1);
    // A state of one org completed on another org's route is refused before GitHub is asked.
    let state = w.start(&w.base.org, &w.base.org.owner_token).await;
    let elsewhere = w
        .complete(
            &beta,
            &beta.owner_token,
            json!({"state": state, "installationId": w.installation, "code": w.fake.authorize("alice")}),
        )
        .await;
    assert_eq!(elsewhere.status, 409, "{:?}", elsewhere.body);
}

async fn concurrent_completions_spend_a_state_once(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let state = w.start(org, &org.owner_token).await;
    let attempts = (0..4).map(|_| {
        let body = json!({"state": state, "installationId": w.installation, "code": w.fake.authorize("alice")});
        w.complete(org, &org.owner_token, body)
    });
    let replies = futures_util::future::join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(won, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 200) {
        assert_state_refused(reply);
    }
}

/// GitHub sends the installing person's browser to the callback: it gets a page saying what
/// happened (escaped, loading nothing, never cached, sending no referrer), not the JSON envelope.
async fn a_browser_is_answered_with_a_page(db: &TestDb) {
    let w = world(db).await;
    let org = &w.base.org;
    let browser = w.browser(false).await;
    let page = |url: String| {
        let browser = browser.clone();
        async move {
            let response = browser
                .get(url)
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (status, headers, response.text().await.unwrap())
        }
    };

    // Not signed in to Trove in this browser: what to do about it.
    let state = w.start(org, &org.owner_token).await;
    let url = w.fake.install("alice", &state, w.installation);
    let (status, _, text) = page(url).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("Sign in to Trove in this browser"), "{text}");

    w.sign_in(&browser).await;
    let state = w.start(org, &org.owner_token).await;
    let url = w.fake.install("alice", &state, w.installation);
    let (status, headers, text) = page(url.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<strong>acme-gh</strong>"), "{text}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert_eq!(w.accounts(org).await.len(), 1);

    // The same redirect again: refused, saying why, without echoing the state.
    let (status, _, text) = page(url).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("could not be completed"), "{text}");
    assert!(!text.contains(&state[..20]), "{text}");
}
