//! Installation and repository events change exactly what DESIGN flow 7 says, and nothing else.

use serde_json::{Value, json};
use trove_store::sql;
use trove_testkit::{TestDb, backend_tests};

use crate::common;
use crate::support::*;

backend_tests!(lifecycle_events_change_what_flow_7_says);

async fn lifecycle_events_change_what_flow_7_says(db: &TestDb) {
    let w = common::world(db).await;
    let s = &w.server;
    let org = org_id(&w.org);
    let a = github_target(&db.store, org, 800, 9301, "acme/one", "main", None).await;
    let b = github_target(&db.store, org, 800, 9302, "acme/two", "main", None).await;
    let jobs = count(db, "jobs").await;
    let objects = count(db, "config_objects").await;
    let body = |v: Value| serde_json::to_vec(&v).unwrap();
    let installation = json!({"id": 800});
    let repo = |id: i64, name: &str| json!({"id": id, "full_name": name, "clone_url": format!("https://github.com/{name}.git")});
    let mut n = 0;
    // Each step: the delivery, then exactly the rows that must differ from the state before it.
    let mut step = async |event: &str, payload: Value, want: u16| {
        n += 1;
        let before = state(db).await;
        let r = deliver(s, event, &format!("life-{n}"), &body(payload)).await;
        assert_eq!(r.status, want, "{event}: {:?}", r.body);
        let after = state(db).await;
        let changed: Vec<String> = after
            .into_iter()
            .filter(|row| !before.contains(row))
            .collect();
        changed
    };
    let inst = |i: &GhTarget| i.instance.uuid().to_string();
    let tgt = |i: &GhTarget| i.target.uuid().to_string();
    let acct = a.account.uuid().to_string();

    let changed = step(
        "installation",
        json!({"action": "suspend", "installation": installation}),
        202,
    )
    .await;
    assert_eq!(changed, vec![format!("account {acct} suspended")]);
    let changed = step(
        "installation",
        json!({"action": "unsuspend", "installation": installation}),
        202,
    )
    .await;
    assert_eq!(changed, vec![format!("account {acct} active")]);
    let changed = step("installation_repositories", json!({"action": "removed", "installation": installation, "repositories_added": [], "repositories_removed": [repo(9301, "acme/one")]}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repo_access_removed\")",
            inst(&a)
        )]
    );
    let changed = step("installation_repositories", json!({"action": "added", "installation": installation, "repositories_added": [repo(9301, "acme/one")], "repositories_removed": []}), 202).await;
    assert_eq!(changed, vec![format!("instance {} active None", inst(&a))]);
    let changed = step("repository", json!({"action": "renamed", "installation": installation, "repository": repo(9302, "acme/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "target {} active Some(\"acme/deux\") https://github.com/acme/deux.git",
            tgt(&b)
        )]
    );
    let changed = step("repository", json!({"action": "transferred", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "target {} active Some(\"other/deux\") https://github.com/other/deux.git",
            tgt(&b)
        )]
    );
    let changed = step("repository", json!({"action": "archived", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repository_archived\")",
            inst(&b)
        )]
    );
    let changed = step("repository", json!({"action": "unarchived", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(changed, vec![format!("instance {} active None", inst(&b))]);
    let changed = step("repository", json!({"action": "deleted", "installation": installation, "repository": repo(9302, "other/deux")}), 202).await;
    assert_eq!(
        changed,
        vec![format!(
            "instance {} error Some(\"repository_deleted\")",
            inst(&b)
        )]
    );
    // A repository of no instance, and an unknown installation: recorded, nothing changes.
    let changed = step(
        "repository",
        json!({"action": "archived", "installation": installation, "repository": repo(1, "x/y")}),
        200,
    )
    .await;
    assert!(changed.is_empty());
    let changed = step(
        "installation",
        json!({"action": "deleted", "installation": {"id": 999}}),
        200,
    )
    .await;
    assert!(changed.is_empty());
    let changed = step(
        "installation",
        json!({"action": "deleted", "installation": installation}),
        202,
    )
    .await;
    let mut want = vec![
        format!("account {acct} disconnected"),
        format!(
            "instance {} disabled Some(\"installation_deleted\")",
            inst(&a)
        ),
        format!(
            "instance {} disabled Some(\"installation_deleted\")",
            inst(&b)
        ),
    ];
    want.sort();
    let mut changed = changed;
    changed.sort();
    assert_eq!(changed, want);
    // None of them enqueued a reconcile or touched an object; each change was audited.
    assert_eq!(count(db, "jobs").await, jobs);
    assert_eq!(count(db, "config_objects").await, objects);
    let audited: i64 = db
        .store
        .db
        .scalar(sql(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'github.%'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audited, 10);
    // A push through the disconnected installation reaches nothing.
    let r = deliver(
        s,
        "push",
        "life-push",
        &push_body(800, 9301, "acme/one", "main", &sha(5)),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
