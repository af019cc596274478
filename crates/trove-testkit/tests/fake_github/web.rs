//! The browser side: single-use OAuth codes and the install redirect to the Setup URL.

use serde_json::{Value, json};

use super::{bearer, client, exchange, get, mint, world};

#[tokio::test]
async fn oauth_codes_are_single_use_and_tokens_name_their_user() {
    let (gh, inst, _) = world().await;
    let alice = gh.add_user("alice");
    let code = gh.authorize("alice");
    let granted = exchange(&gh, &code).await;
    let token = granted["access_token"].as_str().unwrap();
    assert!(token.starts_with("ghu_"));
    assert_eq!(
        (granted["token_type"].as_str(), granted["scope"].as_str()),
        (Some("bearer"), Some(""))
    );
    let user = get(&gh, "/user", bearer(token), &[]).await.json();
    assert_eq!(
        (user["login"].as_str(), user["id"].as_u64()),
        (Some("alice"), Some(alice))
    );
    let installations = get(&gh, "/user/installations", bearer(token), &[])
        .await
        .json();
    assert_eq!(installations["installations"][0]["id"], inst);

    let replay = exchange(&gh, &code).await;
    assert_eq!(replay["error"], "bad_verification_code");
    assert!(replay.get("access_token").is_none());
    let wrong_secret: Value = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .header("accept", "application/json")
        .json(&json!({"client_id": gh.client_id(), "client_secret": "nope", "code": gh.authorize("alice")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_secret["error"], "incorrect_client_credentials");
    let form = client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .json(&json!({"client_id": gh.client_id(), "client_secret": gh.client_secret(), "code": gh.authorize("alice")}))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().starts_with("access_token=ghu_"));
    let installation_token = mint(&gh, inst).await;
    assert_eq!(
        get(&gh, "/user", bearer(&installation_token), &[])
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn install_redirect_carries_installation_state_and_a_fresh_code() {
    let (gh, inst, _) = world().await;
    gh.add_user("mallory");
    gh.set_setup_url("http://trove.test/v1/connectors/github/callback");
    let state = "st/ate+with&odd=chars";
    let redirect = url::Url::parse(&gh.install("mallory", state, inst)).unwrap();
    assert_eq!(redirect.path(), "/v1/connectors/github/callback");
    let query: std::collections::HashMap<_, _> = redirect.query_pairs().into_owned().collect();
    assert_eq!(query["installation_id"], inst.to_string());
    assert_eq!(query["setup_action"], "install");
    assert_eq!(query["state"], state);
    // The code is Mallory's, and Mallory cannot see Acme's installation: the hijack shape.
    let token = exchange(&gh, &query["code"]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        get(&gh, "/user", bearer(&token), &[]).await.json()["login"],
        "mallory"
    );
    assert_eq!(
        get(&gh, "/user/installations", bearer(&token), &[])
            .await
            .json()["total_count"],
        0
    );
    let page = get(
        &gh,
        &format!("/apps/trove-test/installations/new?state={}", "s1"),
        None,
        &[],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        String::from_utf8(page.bytes)
            .unwrap()
            .contains(&format!("installation_id={inst}"))
    );
}
