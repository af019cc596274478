//! The switches: truncated recursive trees, `fail_next`, and an exhausted rate limit.

use super::{bearer, get, mint, world};

#[tokio::test]
async fn switches_truncate_trees_fail_requests_and_exhaust_the_rate_limit() {
    let (gh, inst, _) = world().await;
    let token = mint(&gh, inst).await;
    let full = get(
        &gh,
        "/repos/acme/plugins/git/trees/main?recursive=1",
        bearer(&token),
        &[],
    )
    .await
    .json();
    let entries = full["tree"].as_array().unwrap().len();
    gh.set_truncate_trees(true);
    let cut = get(
        &gh,
        "/repos/acme/plugins/git/trees/main?recursive=1",
        bearer(&token),
        &[],
    )
    .await
    .json();
    assert_eq!(cut["truncated"], true);
    assert!(cut["tree"].as_array().unwrap().len() < entries);
    let flat = get(
        &gh,
        "/repos/acme/plugins/git/trees/main",
        bearer(&token),
        &[],
    )
    .await
    .json();
    assert_eq!(
        flat["truncated"], false,
        "non-recursive answers are whole, so clients can walk"
    );
    gh.set_truncate_trees(false);

    gh.fail_next("/git/trees", 2, 502);
    let statuses = [
        get(
            &gh,
            "/repos/acme/plugins/git/trees/main",
            bearer(&token),
            &[],
        )
        .await
        .status,
        get(&gh, "/repos/acme/plugins", bearer(&token), &[])
            .await
            .status,
        get(
            &gh,
            "/repos/acme/plugins/git/trees/main",
            bearer(&token),
            &[],
        )
        .await
        .status,
        get(
            &gh,
            "/repos/acme/plugins/git/trees/main",
            bearer(&token),
            &[],
        )
        .await
        .status,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [502, 200, 502, 200]);

    gh.set_rate_limit(Some(2));
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let ok = get(&gh, "/repos/acme/plugins", bearer(&token), &[]).await;
        assert_eq!(ok.status, 200);
        remaining.push(ok.header("x-ratelimit-remaining").to_owned());
    }
    assert_eq!(remaining, ["1", "0"]);
    let limited = get(&gh, "/repos/acme/plugins", bearer(&token), &[]).await;
    assert_eq!(limited.status, 403);
    assert_eq!(limited.header("x-ratelimit-remaining"), "0");
    let reset: i64 = limited.header("x-ratelimit-reset").parse().unwrap();
    assert!(reset > chrono::Utc::now().timestamp() - 1);
    assert!(
        limited.json()["message"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    gh.set_rate_limit(None);
    assert_eq!(
        get(&gh, "/repos/acme/plugins", bearer(&token), &[])
            .await
            .status,
        200
    );
}
