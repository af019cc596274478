//! The fake GitHub answers as GitHub does, over plain HTTP. Here: app JWTs checked for real,
//! installation tokens minted, expiring and scoped to their repositories, Link pagination. In
//! `fake_github/`: git data (ETags, trees equal to `git ls-tree`, raw and base64 blobs, refs,
//! renames, tarballs), the switches, the OAuth and install flow, and signed deliveries.
//!
//! None of this touches Trove's storage, so the tests run once, not per database engine.

#[path = "fake_github/deliveries.rs"]
mod deliveries;
#[path = "fake_github/git_data.rs"]
mod git_data;
#[path = "fake_github/switches.rs"]
mod switches;
#[path = "fake_github/web.rs"]
mod web;

use std::path::Path;
use std::process::Command;

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use trove_testkit::github::{FakeGitHub, FakeRepo};

/// A client that does not follow redirects, so 301/302 answers can be inspected.
fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// `GET {gh}{path}` with `auth` as the Authorization header and extra headers.
async fn get(gh: &FakeGitHub, path: &str, auth: Option<String>, extra: &[(&str, &str)]) -> Answer {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        format!("{}{path}", gh.url())
    };
    let mut request = client().get(url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

/// Mints an installation token through the API.
async fn mint(gh: &FakeGitHub, installation: u64) -> String {
    let response = client()
        .post(format!(
            "{}/app/installations/{installation}/access_tokens",
            gh.url()
        ))
        .bearer_auth(gh.app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// A fake with one organization installation (`alice` sees it) holding `acme/plugins`.
async fn world() -> (FakeGitHub, u64, FakeRepo) {
    let gh = FakeGitHub::start().await;
    gh.add_user("alice");
    let inst = gh.add_installation("acme", "Organization", &["alice"]);
    let repo = gh.add_repo(
        inst,
        "acme/plugins",
        &[
            ("README.md", b"hello\n"),
            ("skills/a/SKILL.md", b"---\nname: a\n---\n"),
        ],
    );
    (gh, inst, repo)
}

fn git(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir").arg(dir).args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn app_jwt_is_required_and_checked() {
    let (gh, inst, _) = world().await;
    let now = chrono::Utc::now().timestamp();
    let app = get(&gh, "/app", bearer(&gh.app_jwt()), &[]).await;
    assert_eq!(app.status, 200);
    let body = app.json();
    assert_eq!(body["id"], gh.app_id());
    assert_eq!(body["slug"], "trove-test");
    assert!(
        body["name"].is_string()
            && body["html_url"].is_string()
            && body["owner"]["login"].is_string()
    );

    let other = FakeGitHub::start().await; // same App id, another key: a bad signature
    let expired = json!({"iat": now - 700, "exp": now - 100, "iss": gh.app_id()});
    let too_long = json!({"iat": now - 60, "exp": now + 600, "iss": gh.app_id()});
    let wrong_iss = json!({"iat": now - 60, "exp": now + 500, "iss": "1"});
    let installation_token = mint(&gh, inst).await;
    for (what, auth) in [
        ("no credentials", None),
        ("bad signature", bearer(&other.app_jwt())),
        ("expired", bearer(&gh.sign_app_jwt(&expired))),
        (
            "longer than 10 minutes",
            bearer(&gh.sign_app_jwt(&too_long)),
        ),
        ("wrong iss", bearer(&gh.sign_app_jwt(&wrong_iss))),
        ("JWT as `token`", Some(format!("token {}", gh.app_jwt()))),
        ("installation token", bearer(&installation_token)),
    ] {
        let answer = get(&gh, "/app", auth.clone(), &[]).await;
        assert_eq!(answer.status, 401, "{what}");
        let message = answer.json()["message"].as_str().unwrap().to_owned();
        assert!(!message.is_empty(), "{what}");
        for path in [
            format!("/app/installations/{inst}"),
            "/app/installations".to_owned(),
        ] {
            assert_eq!(
                get(&gh, &path, auth.clone(), &[]).await.status,
                401,
                "{what} {path}"
            );
        }
    }
    let bad = get(&gh, "/app", bearer(&other.app_jwt()), &[]).await;
    assert_eq!(bad.json()["message"], "Bad credentials");
    let numeric_iss = json!({"iat": now - 60, "exp": now + 500, "iss": gh.app_id()});
    assert_eq!(
        get(&gh, "/app", bearer(&gh.sign_app_jwt(&numeric_iss)), &[])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn installation_tokens_are_minted_expire_and_see_only_their_repositories() {
    let (gh, inst, repo) = world().await;
    let other_inst = gh.add_installation("globex", "Organization", &[]);
    let other = gh.add_repo(other_inst, "globex/tools", &[("x", b"x")]);

    let detail = get(
        &gh,
        &format!("/app/installations/{inst}"),
        bearer(&gh.app_jwt()),
        &[],
    )
    .await;
    let detail = detail.json();
    assert_eq!(detail["id"], inst);
    assert_eq!(detail["account"]["login"], "acme");
    assert_eq!(detail["account"]["type"], "Organization");
    assert_eq!(detail["target_type"], "Organization");
    assert!(detail["suspended_at"].is_null() && detail["repository_selection"].is_string());
    assert_eq!(
        get(&gh, "/app/installations/999", bearer(&gh.app_jwt()), &[])
            .await
            .status,
        404
    );

    let response = client()
        .post(format!(
            "{}/app/installations/{inst}/access_tokens",
            gh.url()
        ))
        .bearer_auth(gh.app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"));
    assert_eq!(
        body["permissions"],
        json!({"contents": "read", "metadata": "read"})
    );
    let expires = body["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'));
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let lifetime = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((3500..=3600).contains(&lifetime), "{lifetime}");
    assert_eq!(gh.tokens_minted(), 1);

    let own = get(&gh, "/repos/acme/plugins", bearer(&token), &[]).await;
    assert_eq!(own.status, 200);
    let own = own.json();
    assert_eq!(
        (own["id"].as_u64(), own["full_name"].as_str()),
        (Some(repo.id), Some("acme/plugins"))
    );
    assert_eq!(own["default_branch"], "main");
    assert_eq!(own["owner"]["login"], "acme");
    assert!(
        own["private"].is_boolean() && own["archived"].is_boolean() && own["clone_url"].is_string()
    );
    assert_eq!(
        get(
            &gh,
            "/repos/acme/plugins",
            Some(format!("token {token}")),
            &[]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get(&gh, "/repos/globex/tools", bearer(&token), &[])
            .await
            .status,
        404
    );
    assert_eq!(get(&gh, "/repos/acme/plugins", None, &[]).await.status, 404);
    let listed = get(&gh, "/installation/repositories", bearer(&token), &[])
        .await
        .json();
    assert_eq!(listed["total_count"], 1);
    assert_eq!(listed["repositories"][0]["full_name"], "acme/plugins");

    gh.remove_repo_from_installation(inst, &repo);
    assert_eq!(
        get(&gh, "/repos/acme/plugins", bearer(&token), &[])
            .await
            .status,
        404
    );
    gh.add_repo_to_installation(inst, &repo);

    gh.suspend_installation(other_inst);
    let refused = client()
        .post(format!(
            "{}/app/installations/{other_inst}/access_tokens",
            gh.url()
        ))
        .bearer_auth(gh.app_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(gh.tokens_minted(), 1);
    let _ = other;

    gh.expire_tokens();
    let expired = get(&gh, "/repos/acme/plugins", bearer(&token), &[]).await;
    assert_eq!(
        (expired.status, expired.json()["message"].clone()),
        (StatusCode::UNAUTHORIZED, json!("Bad credentials"))
    );
}

/// Follows `rel="next"` from `path` and returns every page's items under `key`.
async fn all_pages(gh: &FakeGitHub, path: &str, auth: &str, key: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages) = (Vec::new(), 0);
    let mut next = Some(format!("{}{path}", gh.url()));
    while let Some(url) = next.take() {
        let page = get(gh, &url, bearer(auth), &[]).await;
        assert_eq!(page.status, 200);
        pages += 1;
        items.extend(page.json()[key].as_array().unwrap().iter().cloned());
        let link = page.header(LINK.as_str()).to_owned();
        next = link
            .split(',')
            .find(|l| l.contains("rel=\"next\""))
            .map(|l| {
                l.trim()
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            });
    }
    (items, pages)
}

#[tokio::test]
async fn lists_are_paged_with_link_headers() {
    let (gh, inst, _) = world().await;
    for n in 1..5 {
        gh.add_repo(inst, &format!("acme/extra-{n}"), &[("f", b"f")]);
    }
    for n in 0..2 {
        gh.add_installation(&format!("org-{n}"), "Organization", &["alice"]);
    }
    let token = mint(&gh, inst).await;
    let first = get(
        &gh,
        "/installation/repositories?per_page=2",
        bearer(&token),
        &[],
    )
    .await;
    assert_eq!(first.json()["total_count"], 5);
    let link = first.header("link");
    assert!(
        link.contains("page=2>; rel=\"next\"") && link.contains("page=3>; rel=\"last\""),
        "{link}"
    );
    let (repos, pages) = all_pages(
        &gh,
        "/installation/repositories?per_page=2",
        &token,
        "repositories",
    )
    .await;
    assert_eq!((repos.len(), pages), (5, 3));
    let mut names: Vec<_> = repos
        .iter()
        .map(|r| r["full_name"].as_str().unwrap())
        .collect();
    names.dedup();
    assert_eq!(names.len(), 5);

    let code = gh.authorize("alice");
    let user_token = exchange(&gh, &code).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (installations, pages) = all_pages(
        &gh,
        "/user/installations?per_page=2",
        &user_token,
        "installations",
    )
    .await;
    assert_eq!((installations.len(), pages), (3, 2));
    assert!(installations.iter().any(|i| i["id"] == inst));
}

/// Redeems `code` with the App's client credentials (form body, JSON answer).
async fn exchange(gh: &FakeGitHub, code: &str) -> Value {
    client()
        .post(format!("{}/login/oauth/access_token", gh.url()))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", gh.client_id())
                .append_pair("client_secret", gh.client_secret())
                .append_pair("code", code)
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
