//! Store support of the GitHub webhook on both engines: binding installations to one org, GitHub
//! instances and the targets pushes reach, delivery records (dedupe, outcomes, retention).

use serde_json::json;
use trove_core::time::now_ms;
use trove_core::{AppError, OrgId, OrgRole};
use trove_store::connectors::accounts::GithubInstallation;
use trove_store::connectors::deliveries::{DELIVERY_RETENTION_MS, DeliveryOutcome, NewDelivery};
use trove_store::connectors::instances::{GithubRepository, ValidInstance};
use trove_store::registry::access::Principal;
use trove_store::{Actor, PageRequest, Store, sql};
use trove_testkit::{TestDb, backend_tests};

backend_tests!(
    an_installation_binds_to_one_org,
    github_instances_and_the_targets_pushes_reach,
    deliveries_are_recorded_once_and_pruned,
);

fn installation(id: i64, name: &str) -> GithubInstallation {
    GithubInstallation {
        installation_id: id,
        name: name.into(),
        metadata: json!({"accountLogin": name, "accountType": "Organization"}),
        suspended: false,
    }
}

async fn org(store: &Store, slug: &str) -> (OrgId, Principal) {
    let (org, _, _) = store
        .bootstrap(
            slug,
            &format!("owner@{slug}.test"),
            Some("correct horse battery"),
        )
        .await
        .unwrap();
    let owner = store
        .members(org.id, PageRequest::first(10))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role == OrgRole::Owner)
        .unwrap();
    let p = Principal {
        org_id: org.id,
        membership_id: owner.id,
        is_admin: true,
    };
    (org.id, p)
}

async fn an_installation_binds_to_one_org(db: &TestDb) {
    let st = &db.store;
    let (a, _) = org(st, "alpha").await;
    let (b, _) = org(st, "beta").await;
    let first = st
        .bind_github_installation(a, &installation(41, "acme"), Actor::default())
        .await
        .unwrap();
    assert_eq!(
        (
            first.kind.as_str(),
            first.status.as_str(),
            first.remote_id.as_deref()
        ),
        ("github", "active", Some("41"))
    );
    // The same org again: the same account, updated.
    let mut renamed = installation(41, "acme-renamed");
    renamed.suspended = true;
    let again = st
        .bind_github_installation(a, &renamed, Actor::default())
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (again.name.as_str(), again.status.as_str()),
        ("acme-renamed", "suspended")
    );
    // Another org: 409, and nothing changed.
    let err = st
        .bind_github_installation(b, &installation(41, "thief"), Actor::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AppError::Conflict {
                code: "github_installation_bound",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(st.account(a, first.id).await.unwrap().name, "acme-renamed");
    let in_b: i64 = st
        .db
        .scalar(sql("SELECT COUNT(*) FROM connector_accounts WHERE org_id = $1").bind(b.uuid()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_b, 0);
}

async fn github_instances_and_the_targets_pushes_reach(db: &TestDb) {
    let st = &db.store;
    let (a, p) = org(st, "alpha").await;
    let account = st
        .bind_github_installation(a, &installation(51, "acme"), Actor::default())
        .await
        .unwrap();
    let repo = GithubRepository {
        repository_id: 777,
        repository_name: "acme/tools".into(),
    };
    let url = "https://github.com/acme/tools.git";
    let valid = ValidInstance::github(account.id, repo.clone(), url, "main", None, false).unwrap();
    assert_eq!(valid.name, "tools");
    let mut tx = st.db.begin().await.unwrap();
    let (instance, target) = st
        .create_instance_in(&mut tx, &p, &valid, Actor::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let created = st.instance(a, instance).await.unwrap();
    assert_eq!(
        (created.kind.as_str(), created.account_id),
        ("github", Some(account.id))
    );
    let t = &created.targets[0];
    assert_eq!(
        (
            t.repository_id.as_deref(),
            t.repository_name.as_deref(),
            t.branch.as_str()
        ),
        (Some("777"), Some("acme/tools"), "main")
    );

    let found = st.tracked_targets(777, "main").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].target, found[0].installation_id, found[0].org),
        (target, 51, a)
    );
    assert!(st.tracked_targets(777, "dev").await.unwrap().is_empty());
    // A disabled instance is not tracked.
    st.set_instance_active(a, instance, false, Actor::default())
        .await
        .unwrap();
    assert!(st.tracked_targets(777, "main").await.unwrap().is_empty());

    // A git credential account cannot carry a GitHub instance, and a GitHub one needs an account.
    let git = st
        .create_account(
            a,
            &trove_store::connectors::accounts::NewAccount {
                kind: "git".into(),
                name: "cred".into(),
                username: None,
                token: "secret".into(),
            },
            Actor::default(),
        )
        .await
        .unwrap();
    let wrong = ValidInstance::github(git.id, repo.clone(), url, "dev", None, false).unwrap();
    let mut tx = st.db.begin().await.unwrap();
    let err = st
        .create_instance_in(&mut tx, &p, &wrong, Actor::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::NotFound { .. }), "{err:?}");
    drop(tx);
    let mut orphan =
        ValidInstance::github(account.id, repo.clone(), url, "dev", None, false).unwrap();
    orphan.account_id = None;
    let mut tx = st.db.begin().await.unwrap();
    let err = st
        .create_instance_in(&mut tx, &p, &orphan, Actor::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");
    drop(tx);
    for bad in ["tools", "/tools", "a/b/c", "acme/ tools"] {
        let repo = GithubRepository {
            repository_id: 1,
            repository_name: bad.into(),
        };
        assert!(
            ValidInstance::github(account.id, repo, url, "main", None, false).is_err(),
            "{bad}"
        );
    }
}

async fn deliveries_are_recorded_once_and_pruned(db: &TestDb) {
    let st = &db.store;
    let new = |id: &str| NewDelivery {
        delivery_id: id.into(),
        event: "push".into(),
        action: None,
        installation_id: Some(9),
        repository_id: Some(10),
    };
    let mut tx = st.db.begin().await.unwrap();
    let fresh = st
        .record_deliveries_in(&mut tx, &[new("b"), new("a"), new("b")])
        .await
        .unwrap();
    assert_eq!(fresh.len(), 2);
    st.set_delivery_outcomes_in(
        &mut tx,
        &[
            ("a".into(), DeliveryOutcome::Queued, None),
            (
                "b".into(),
                DeliveryOutcome::Ignored,
                Some("not followed".into()),
            ),
        ],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Seen before: not fresh.
    let mut tx = st.db.begin().await.unwrap();
    let fresh = st
        .record_deliveries_in(&mut tx, &[new("a"), new("c")])
        .await
        .unwrap();
    assert_eq!(fresh.into_iter().collect::<Vec<_>>(), vec!["c".to_string()]);
    drop(tx);
    let b = st.delivery("b").await.unwrap().unwrap();
    assert_eq!(
        (b.outcome.as_str(), b.reason.as_deref()),
        ("ignored", Some("not followed"))
    );
    assert!(st.delivery("c").await.unwrap().is_none(), "rolled back");

    // Retention: rows older than the window go, younger ones stay.
    st.db
        .execute(
            sql("UPDATE webhook_deliveries SET received_at = $1 WHERE delivery_id = 'a'")
                .bind(now_ms() - DELIVERY_RETENTION_MS - 1000),
        )
        .await
        .unwrap();
    const { assert!(DELIVERY_RETENTION_MS >= 7 * 24 * 3600 * 1000) };
    let pruned = st
        .prune_deliveries(now_ms() - DELIVERY_RETENTION_MS)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert!(st.delivery("a").await.unwrap().is_none());
    assert!(st.delivery("b").await.unwrap().is_some());
}
