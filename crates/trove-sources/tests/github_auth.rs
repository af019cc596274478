//! GitHub App authentication: app JWTs, installation tokens, user-to-server OAuth, and secrets
//! kept out of every message.

mod github_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use github_support::keys::{check_app_jwt, keys, verify_jwt};
use github_support::{APP_ID, CLIENT_SECRET, Fake, Req, config, json, mint_tokens};
use trove_sources::{GitHubApp, GitHubError, UserToken};

fn app_json() -> serde_json::Value {
    serde_json::json!({
        "id": APP_ID, "slug": "trove-test", "name": "Trove Test",
        "html_url": "https://github.example/apps/trove-test", "owner": {"login": "acme"},
    })
}

#[tokio::test]
async fn app_jwt_is_rs256_signed_by_the_app_key_for_both_pem_forms() {
    for pem in [&keys().pkcs1_pem, &keys().pkcs8_pem] {
        let fake = Fake::start(|req: &Req| match check_app_jwt(req) {
            Ok(_) => json(200, app_json()),
            Err(e) => json(401, serde_json::json!({ "message": e })),
        })
        .await;
        let mut cfg = config(&fake.url);
        cfg.private_key_pem = pem.clone();
        let app = GitHubApp::new(cfg).unwrap();
        let info = app.app_info().await.unwrap();
        assert_eq!(info.slug, "trove-test");
        assert_eq!(info.id, APP_ID);
        let sent = fake.requests();
        let claims = verify_jwt(sent[0].bearer().unwrap()).unwrap();
        assert_eq!(claims.iss, APP_ID.to_string());
        assert!(claims.exp - claims.iat <= 600, "{claims:?}");
        assert_eq!(sent[0].header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(
            sent[0].header("accept"),
            Some("application/vnd.github+json")
        );
        assert!(sent[0].header("user-agent").unwrap().starts_with("trove/"));

        // Cached after the first success; the JWT is reused, not signed per request.
        app.app_info().await.unwrap();
        assert_eq!(fake.requests().len(), 1);
        app.installation(1).await.unwrap_err();
        let sent = fake.requests();
        assert_eq!(sent[1].bearer(), sent[0].bearer());
        assert_eq!(app.stats().jwts_signed, 1);
    }
}

#[tokio::test]
async fn pem_with_escaped_newlines_is_accepted_and_a_bad_key_is_a_config_error() {
    let mut cfg = config("http://127.0.0.1:9");
    cfg.private_key_pem = keys().pkcs1_pem.replace('\n', "\\n");
    GitHubApp::new(cfg).unwrap();

    let body = keys().pkcs1_pem.lines().nth(3).unwrap().to_owned();
    for (i, bad) in [
        String::new(),
        "not a key".to_owned(),
        keys()
            .pkcs1_pem
            .replace("-----END RSA PRIVATE KEY-----", ""),
        keys().pkcs1_pem.replace(&body, &"*".repeat(body.len())),
        keys()
            .pkcs1_pem
            .replace("RSA PRIVATE KEY", "EC PRIVATE KEY"),
        keys().pkcs1_pem.replace(&body, &"A".repeat(body.len())),
    ]
    .into_iter()
    .enumerate()
    {
        let mut cfg = config("http://127.0.0.1:9");
        cfg.private_key_pem = bad.clone();
        let Err(err) = GitHubApp::new(cfg) else {
            panic!("bad key {i} accepted");
        };
        assert!(matches!(err, GitHubError::Config(_)), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&body), "key material in {text}");
    }
    let mut cfg = config("ftp://example");
    cfg.api_url = "ftp://example".into();
    assert!(matches!(GitHubApp::new(cfg), Err(GitHubError::Config(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installation_token_is_minted_once_for_concurrent_callers_and_reused() {
    let minted = Arc::new(AtomicU64::new(0));
    let counter = minted.clone();
    let fake = Fake::start(move |req: &Req| mint_tokens(req, &counter, 3600).unwrap()).await;
    let app = github_support::app(&fake.url);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.installation_token(7).await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for call in calls {
        tokens.push(call.await.unwrap());
    }
    assert!(tokens.iter().all(|t| t == "ghs_inst7_1"), "{tokens:?}");
    for _ in 0..5 {
        assert_eq!(app.installation_token(7).await.unwrap(), "ghs_inst7_1");
    }
    assert_eq!(minted.load(Ordering::SeqCst), 1);
    assert_eq!(app.stats().tokens_minted, 1);
    // Another installation has its own token.
    assert_eq!(app.installation_token(8).await.unwrap(), "ghs_inst8_2");
    assert_eq!(fake.count("POST", "/app/installations/"), 2);
}

#[tokio::test]
async fn a_token_close_to_expiry_is_minted_again() {
    let minted = Arc::new(AtomicU64::new(0));
    let counter = minted.clone();
    // Four minutes left: inside the five-minute refresh margin, so never reused.
    let fake = Fake::start(move |req: &Req| mint_tokens(req, &counter, 240).unwrap()).await;
    let app = github_support::app(&fake.url);
    let a = app.installation_token(3).await.unwrap();
    let b = app.installation_token(3).await.unwrap();
    let c = app.installation_token(3).await.unwrap();
    assert_eq!(
        [a.as_str(), &b, &c],
        ["ghs_inst3_1", "ghs_inst3_2", "ghs_inst3_3"]
    );
    assert_eq!(app.stats().tokens_minted, 3);
}

#[tokio::test]
async fn a_refused_installation_token_is_replaced_once() {
    let minted = Arc::new(AtomicU64::new(0));
    let counter = minted.clone();
    let fake = Fake::start(move |req: &Req| {
        if let Some(r) = mint_tokens(req, &counter, 3600) {
            return r;
        }
        // The first token was revoked; the second works.
        match req.bearer() {
            Some("ghs_inst5_2") => json(
                200,
                serde_json::json!({"total_count": 0, "repositories": []}),
            ),
            _ => json(401, serde_json::json!({"message": "Bad credentials"})),
        }
    })
    .await;
    let app = github_support::app(&fake.url);
    assert!(app.installation_repositories(5).await.unwrap().is_empty());
    assert_eq!(minted.load(Ordering::SeqCst), 2);
    // Still refused after the fresh token: Unauthorized, no loop.
    let err = app.repository(6, "o/r").await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("ghs_") && !text.contains("Bearer"), "{text}");
    assert_eq!(fake.count("GET", "/repos/o/r"), 2);
}

#[tokio::test]
async fn installation_lookup_and_install_url() {
    let fake = Fake::start(|req: &Req| {
        if check_app_jwt(req).is_err() {
            return json(401, serde_json::json!({"message": "Bad credentials"}));
        }
        match req.path.as_str() {
            "/app" => json(200, app_json()),
            "/app/installations/31" => json(200, serde_json::json!({
                "id": 31,
                "account": {"login": "acme", "id": 900, "type": "Organization"},
                "repository_selection": "selected",
                "suspended_at": "2024-01-01T00:00:00Z",
                "html_url": "https://github.example/organizations/acme/settings/installations/31",
                "target_type": "Organization",
            })),
            _ => json(404, serde_json::json!({"message": "Not Found"})),
        }
    })
    .await;
    let app = github_support::app(&fake.url);
    let inst = app.installation(31).await.unwrap();
    assert_eq!(inst.account_login, "acme");
    assert_eq!(inst.account_id, 900);
    assert_eq!(inst.account_type, "Organization");
    assert_eq!(inst.repository_selection, "selected");
    assert!(inst.suspended);
    let err = app.installation(32).await.unwrap_err();
    assert!(matches!(err, GitHubError::NotFound(_)), "{err:?}");

    let url = app.install_url("a b&c=d/é").await.unwrap();
    assert_eq!(
        url,
        format!(
            "{}/apps/trove-test/installations/new?state=a+b%26c%3Dd%2F%C3%A9",
            fake.url
        )
    );
}

#[tokio::test]
async fn oauth_code_exchange_user_and_installations() {
    let fake = Fake::start(|req: &Req| {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/login/oauth/access_token") => {
                assert_eq!(req.header("accept"), Some("application/json"));
                assert!(req.header("authorization").is_none());
                let form: std::collections::HashMap<String, String> =
                    url::form_urlencoded::parse(&req.body).into_owned().collect();
                assert_eq!(form["client_id"], github_support::CLIENT_ID);
                assert_eq!(form["client_secret"], CLIENT_SECRET);
                if form["code"] == "good" {
                    json(200, serde_json::json!({"access_token": "ghu_usertoken", "token_type": "bearer", "scope": ""}))
                } else {
                    // GitHub's way: 200 with an error.
                    json(200, serde_json::json!({
                        "error": "bad_verification_code",
                        "error_description": "The code passed is incorrect or expired.",
                    }))
                }
            }
            ("GET", "/user") if req.bearer() == Some("ghu_usertoken") => {
                json(200, serde_json::json!({"login": "octocat", "id": 583231}))
            }
            ("GET", "/user/installations") if req.bearer() == Some("ghu_usertoken") => {
                let page: u32 = req.param("page").map(|p| p.parse().unwrap()).unwrap_or(1);
                let ids = match page { 1 => vec![1, 2], 2 => vec![3], _ => vec![] };
                let installations: Vec<_> = ids.iter().map(|id| serde_json::json!({
                    "id": id, "account": {"login": "acme", "id": 9, "type": "Organization"},
                })).collect();
                let mut r = json(200, serde_json::json!({"total_count": 3, "installations": installations}));
                if page == 1 {
                    let base = format!("http://{}", req.header("host").unwrap());
                    r.headers_mut().insert("link", format!("<{base}/user/installations?per_page=100&page=2>; rel=\"next\"").parse().unwrap());
                }
                r
            }
            _ => json(401, serde_json::json!({"message": "Bad credentials"})),
        }
    })
    .await;
    let app = github_support::app(&fake.url);
    let token = app.exchange_code("good").await.unwrap();
    assert_eq!(format!("{token:?}"), "UserToken(<redacted>)");
    assert_eq!(token.secret(), "ghu_usertoken");
    let user = app.user(&token).await.unwrap();
    assert_eq!((user.login.as_str(), user.id), ("octocat", 583231));
    assert_eq!(app.user_installation_ids(&token).await.unwrap(), [1, 2, 3]);

    let err = app.exchange_code("used").await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::OAuth(m) if m.contains("bad_verification_code")),
        "{err:?}"
    );
    let err = app.user(&UserToken::new("ghu_other")).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized(_)), "{err:?}");
    for text in [format!("{err} {err:?}"), format!("{app:?}")] {
        assert!(
            !text.contains("ghu_") && !text.contains(CLIENT_SECRET),
            "{text}"
        );
    }

    let mut cfg = config(&fake.url);
    cfg.client_secret = None;
    let err = GitHubApp::new(cfg)
        .unwrap()
        .exchange_code("good")
        .await
        .unwrap_err();
    assert!(matches!(err, GitHubError::Config(_)), "{err:?}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let cfg = config("https://api.github.example");
    let text = format!("{cfg:?}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(CLIENT_SECRET),
        "{text}"
    );
    assert!(text.contains("<redacted>"));
    let app = GitHubApp::new(cfg).unwrap();
    let text = format!("{app:?}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(CLIENT_SECRET),
        "{text}"
    );
}
