//! The GitHub client's HTTP behaviour: conditional requests, rate limits, retries, pagination.

mod github_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use github_support::{Fake, Req, answer, config, json, mint_tokens, now};
use trove_sources::{GitHubApp, GitHubError, GitHubLimits};

fn repo_json(name: &str) -> serde_json::Value {
    serde_json::json!({
        "id": 10, "name": name.split('/').nth(1).unwrap(), "full_name": name,
        "owner": {"login": name.split('/').next().unwrap(), "id": 1, "type": "User"},
        "private": false, "archived": false, "default_branch": "trunk",
        "html_url": format!("https://github.example/{name}"),
    })
}

/// A fake that mints tokens and answers `/repos/...` through `repos`.
async fn fake_with(
    repos: impl Fn(&Req) -> axum::response::Response + Send + Sync + 'static,
) -> Fake {
    let minted = AtomicU64::new(0);
    Fake::start(move |req: &Req| mint_tokens(req, &minted, 3600).unwrap_or_else(|| repos(req)))
        .await
}

#[tokio::test]
async fn a_repeated_get_is_answered_304_from_the_etag_cache_per_credential() {
    let fake = fake_with(|req: &Req| {
        let etag = "\"v1\"".to_owned();
        if req.header("if-none-match") == Some(etag.as_str()) {
            return answer(304, &[("etag", etag)], "");
        }
        let mut r = json(200, repo_json("acme/tools"));
        r.headers_mut().insert("etag", etag.parse().unwrap());
        r
    })
    .await;
    let app = github_support::app(&fake.url);
    let first = app.repository(1, "acme/tools").await.unwrap();
    assert_eq!(first.default_branch, "trunk");
    assert_eq!(first.owner, "acme");
    let second = app.repository(1, "acme/tools").await.unwrap();
    assert_eq!(first, second);
    let stats = app.stats();
    assert_eq!(stats.not_modified, 1);

    // Another installation never reuses the first one's cached answer.
    app.repository(2, "acme/tools").await.unwrap();
    let gets: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/repos/acme/tools")
        .map(|r| r.header("if-none-match").map(str::to_owned))
        .collect();
    assert_eq!(gets, [None, Some("\"v1\"".to_owned()), None]);
    assert_eq!(app.stats().not_modified, 1);
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let fake = fake_with(
        move |_req: &Req| match seen.fetch_add(1, Ordering::SeqCst) {
            // Primary limit spent, resets now.
            0 => answer(
                403,
                &[
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", now().to_string()),
                ],
                r#"{"message":"API rate limit exceeded"}"#,
            ),
            // Secondary limit with a zero-second Retry-After.
            1 => answer(429, &[("retry-after", "0".into())], ""),
            _ => json(200, repo_json("acme/tools")),
        },
    )
    .await;
    let app = github_support::app(&fake.url);
    app.repository(1, "acme/tools").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(app.stats().retries, 2);
}

#[tokio::test]
async fn a_long_rate_limit_is_an_error_with_the_reset_time() {
    let reset = now() + 3600;
    let fake = fake_with(move |_req: &Req| {
        answer(
            403,
            &[
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            r#"{"message":"API rate limit exceeded"}"#,
        )
    })
    .await;
    let app = github_support::app(&fake.url);
    let err = app.repository(1, "acme/tools").await.unwrap_err();
    assert_eq!(
        err,
        GitHubError::RateLimited {
            reset_at: Some(reset)
        }
    );
    assert_eq!(fake.count("GET", "/repos/"), 1);

    // A plain 403 is not a rate limit and is not retried.
    let fake = fake_with(|_req: &Req| {
        json(
            403,
            serde_json::json!({"message": "Resource not accessible by integration"}),
        )
    })
    .await;
    let client = github_support::app(&fake.url);
    let err = client.repository(1, "acme/tools").await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::Forbidden(m) if m.contains("not accessible")),
        "{err:?}"
    );
    assert_eq!(fake.count("GET", "/repos/"), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable_and_client_errors_are_not() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let fake = fake_with(move |req: &Req| match req.path.as_str() {
        "/repos/acme/flaky" if seen.fetch_add(1, Ordering::SeqCst) < 2 => {
            json(502, serde_json::json!({"message": "Bad Gateway"}))
        }
        "/repos/acme/flaky" => json(200, repo_json("acme/flaky")),
        "/repos/acme/down" => json(503, serde_json::json!({"message": "Unavailable"})),
        "/repos/acme/bad" => json(422, serde_json::json!({"message": "Unprocessable"})),
        _ => json(404, serde_json::json!({"message": "Not Found"})),
    })
    .await;
    let app = github_support::app(&fake.url);
    app.repository(1, "acme/flaky").await.unwrap();
    assert_eq!(fake.count("GET", "/repos/acme/flaky"), 3);
    assert_eq!(app.stats().retries, 2);

    let err = app.repository(1, "acme/down").await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::Unavailable(m) if m.contains("503")),
        "{err:?}"
    );
    assert_eq!(fake.count("GET", "/repos/acme/down"), 3);

    let err = app.repository(1, "acme/gone").await.unwrap_err();
    assert!(matches!(err, GitHubError::NotFound(_)), "{err:?}");
    assert_eq!(fake.count("GET", "/repos/acme/gone"), 1);
    let err = app.repository(1, "acme/bad").await.unwrap_err();
    assert!(matches!(err, GitHubError::Invalid(_)), "{err:?}");
    assert_eq!(fake.count("GET", "/repos/acme/bad"), 1);

    let err = app.repository(1, "acme/../x").await.unwrap_err();
    assert!(matches!(err, GitHubError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn a_host_that_refuses_connections_is_unavailable_after_the_attempts() {
    // Bind and drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = github_support::app(&format!("http://127.0.0.1:{port}"));
    let err = app.app_info().await.unwrap_err();
    assert!(matches!(err, GitHubError::Unavailable(_)), "{err:?}");
    let stats = app.stats();
    assert_eq!((stats.requests, stats.retries), (3, 2));
}

/// Three pages of repositories linked by `Link` headers (with a misleading `total_count`).
fn paged(req: &Req, host_override: Option<&str>) -> axum::response::Response {
    let page: usize = req.param("page").map(|p| p.parse().unwrap()).unwrap_or(1);
    let names: Vec<String> = (0..3).map(|i| format!("acme/repo-{page}-{i}")).collect();
    let repos: Vec<_> = names.iter().map(|n| repo_json(n)).collect();
    let mut r = json(
        200,
        serde_json::json!({"total_count": 1, "repositories": repos}),
    );
    if page < 3 {
        let base = host_override
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http://{}", req.header("host").unwrap()));
        let link = format!(
            "<{base}/installation/repositories?per_page=100&page={}>; rel=\"next\", <{base}/installation/repositories?per_page=100&page=3>; rel=\"last\"",
            page + 1
        );
        r.headers_mut().insert("link", link.parse().unwrap());
    }
    r.headers_mut()
        .insert("etag", format!("\"page{page}\"").parse().unwrap());
    r
}

#[tokio::test]
async fn pagination_follows_next_links_across_pages_and_caches_each_page() {
    let fake = fake_with(|req: &Req| {
        if req
            .header("if-none-match")
            .is_some_and(|e| e.starts_with("\"page"))
        {
            let page: usize = req.param("page").map(|p| p.parse().unwrap()).unwrap_or(1);
            let mut r = paged(req, None);
            *r.body_mut() = axum::body::Body::empty();
            *r.status_mut() = axum::http::StatusCode::NOT_MODIFIED;
            assert_eq!(
                req.header("if-none-match"),
                Some(format!("\"page{page}\"").as_str())
            );
            return r;
        }
        paged(req, None)
    })
    .await;
    let app = github_support::app(&fake.url);
    let repos = app.installation_repositories(4).await.unwrap();
    let names: Vec<_> = repos.iter().map(|r| r.full_name.as_str()).collect();
    assert_eq!(names.len(), 9);
    assert_eq!(names[0], "acme/repo-1-0");
    assert_eq!(names[8], "acme/repo-3-2");
    assert_eq!(fake.count("GET", "/installation/repositories"), 3);
    assert_eq!(fake.requests()[1].param("per_page").as_deref(), Some("100"));

    // Again: three 304s, same list (the cached pages remember their next links).
    let again = app.installation_repositories(4).await.unwrap();
    assert_eq!(again, repos);
    assert_eq!(app.stats().not_modified, 3);
}

#[tokio::test]
async fn pagination_refuses_foreign_links_and_stops_at_the_page_cap() {
    let fake = fake_with(|req: &Req| paged(req, Some("http://evil.example"))).await;
    let client = github_support::app(&fake.url);
    let err = client.installation_repositories(4).await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::Invalid(m) if m.contains("leaves")),
        "{err:?}"
    );
    assert_eq!(fake.count("GET", "/installation/repositories"), 1);

    let fake = fake_with(|req: &Req| paged(req, None)).await;
    let limits = GitHubLimits {
        max_pages: 2,
        ..github_support::fast_limits()
    };
    let client = GitHubApp::with_limits(config(&fake.url), limits).unwrap();
    let err = client.installation_repositories(4).await.unwrap_err();
    assert!(
        matches!(&err, GitHubError::Invalid(m) if m.contains("more than 2 pages")),
        "{err:?}"
    );
}
