//! Reconcile over real git repositories, on SQLite and PostgreSQL.

mod common;

use common::{Repo, setup};
use trove_store::connectors::model::SyncStatus;
use trove_testkit::{TestDb, backend_tests};

fn n(counts: &std::collections::BTreeMap<String, i64>, t: &str) -> i64 {
    counts.get(t).copied().unwrap_or(0)
}

/// Initial import of four fixture repositories gives the README's plugins and counts.
async fn imports_fixtures(db: &TestDb) {
    // (fixture, plugins, skills, commands, agents, hook files, hook handlers as the README counts).
    let cases = [
        ("anthropics__claude-code", 13, 10, 15, 15, 5, 13),
        ("anthropics__skills", 3, 17, 0, 0, 0, 0),
        ("obra__superpowers", 1, 14, 0, 0, 1, 1),
        ("netresearch__typo3-docs-skill", 1, 1, 0, 0, 1, 2),
    ];
    for (name, plugins, skills, commands, agents, hooks, handlers) in cases {
        let repo = Repo::fixture(name);
        let s = setup(&db.store, &repo.url()).await;
        let ev = s.sync().await;
        assert!(
            matches!(ev.status, SyncStatus::Completed | SyncStatus::Partial),
            "{name}: {ev:?}"
        );
        let c = s.counts().await;
        assert_eq!(s.plugins().await, plugins, "{name}: plugins");
        assert_eq!(
            n(&c, "skill"),
            skills,
            "{name}: skills {c:?} {:?}",
            ev.errors
        );
        assert_eq!(
            n(&c, "command"),
            commands,
            "{name}: commands {c:?} {:?}",
            ev.errors
        );
        assert_eq!(
            n(&c, "agent"),
            agents,
            "{name}: agents {c:?} {:?}",
            ev.errors
        );
        assert_eq!(
            n(&c, "hook"),
            hooks,
            "{name}: hook files {c:?} {:?}",
            ev.errors
        );
        assert_eq!(s.hook_handlers().await, handlers, "{name}: hook handlers");
        // Plugins are written several at once on PostgreSQL: still one marketplace row, and each
        // plugin placed in it once, at a place of its own.
        if name == "anthropics__claude-code" {
            let markets = s
                .count("SELECT CAST(COUNT(*) AS BIGINT) FROM marketplaces WHERE connector_instance_id = $1")
                .await;
            assert_eq!(markets, 1, "{name}: marketplaces");
            let placements = [
                (
                    "placements",
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM marketplace_plugins mp JOIN marketplaces m ON m.id = mp.marketplace_id WHERE m.connector_instance_id = $1 AND mp.removed_at IS NULL",
                ),
                (
                    "placed plugins",
                    "SELECT CAST(COUNT(DISTINCT mp.plugin_id) AS BIGINT) FROM marketplace_plugins mp JOIN marketplaces m ON m.id = mp.marketplace_id WHERE m.connector_instance_id = $1 AND mp.removed_at IS NULL",
                ),
                (
                    "positions",
                    "SELECT CAST(COUNT(DISTINCT mp.position) AS BIGINT) FROM marketplace_plugins mp JOIN marketplaces m ON m.id = mp.marketplace_id WHERE m.connector_instance_id = $1 AND mp.removed_at IS NULL",
                ),
            ];
            for (what, query) in placements {
                assert_eq!(s.count(query).await, plugins, "{name}: {what}");
            }
        }
        assert_eq!(ev.counts.created as i64, c.values().sum::<i64>(), "{name}");
        assert!(ev.errors.is_empty(), "{name}: {:?}", ev.errors);
        assert_eq!(
            ev.source_revision_ref.as_deref(),
            Some(repo.head().as_str())
        );
    }
}

backend_tests!(imports_fixtures);

/// Edit one skill, add one, delete one, rename one: 1 updated, 2 created, 2 deleted; a re-sync at
/// the same SHA writes nothing.
async fn change_set_and_resync(db: &TestDb) {
    let repo = Repo::fixture("obra__superpowers");
    let s = setup(&db.store, &repo.url()).await;
    let first = s.sync().await;
    assert_eq!(first.counts.created, 15, "{first:?}");
    let old_rename: i64 = s.live_bindings().await;
    let skill = |n: &str| format!("skills/{n}/SKILL.md");
    let edited = std::fs::read_to_string(repo.path().join(skill("brainstorming"))).unwrap();
    repo.write(
        &skill("brainstorming"),
        &format!("{edited}\nOne more line.\n"),
    );
    repo.write(
        &skill("brand-new"),
        "---\nname: brand-new\ndescription: A new skill.\n---\nDo the new thing.\n",
    );
    std::fs::remove_dir_all(repo.path().join("skills/writing-plans")).unwrap();
    std::fs::rename(
        repo.path().join("skills/executing-plans"),
        repo.path().join("skills/running-plans"),
    )
    .unwrap();
    let sha = repo.commit("change set");
    let renamed_before: Option<uuid::Uuid> = s
        .store
        .db
        .scalar(
            trove_store::sql("SELECT object_id FROM source_bindings WHERE path = 'skills/executing-plans' AND instance_id = $1")
                .bind(s.instance.uuid()),
        )
        .await
        .unwrap();
    let ev = s.sync().await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    assert_eq!(
        (ev.counts.updated, ev.counts.created, ev.counts.deleted),
        (1, 2, 2),
        "{ev:?}"
    );
    assert_eq!(ev.source_revision_ref.as_deref(), Some(sha.as_str()));
    assert_eq!(s.live_bindings().await, old_rename);
    assert_eq!(s.tombstones().await, 2);
    let renamed_after: Option<uuid::Uuid> = s
        .store
        .db
        .scalar(
            trove_store::sql("SELECT object_id FROM source_bindings WHERE path = 'skills/running-plans' AND instance_id = $1 AND closed_at IS NULL")
                .bind(s.instance.uuid()),
        )
        .await
        .unwrap();
    assert_ne!(
        renamed_before, renamed_after,
        "a renamed path gets a new identity"
    );
    let deleted = s
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM config_objects WHERE connector_instance_id = $1 AND status = 'deleted' AND deleted_at IS NOT NULL")
        .await;
    assert_eq!(deleted, 2);

    // Re-sync at the same SHA: nothing but the event itself.
    let before = (
        s.versions().await,
        s.bindings().await,
        s.objects().await,
        s.tombstones().await,
    );
    let again = s.sync().await;
    assert_eq!(again.status, SyncStatus::Ignored, "{again:?}");
    assert_eq!(again.counts, Default::default());
    let after = (
        s.versions().await,
        s.bindings().await,
        s.objects().await,
        s.tombstones().await,
    );
    assert_eq!(before, after);
    let events = s
        .count("SELECT CAST(COUNT(*) AS BIGINT) FROM sync_events WHERE instance_id = $1")
        .await;
    assert_eq!(events, 3);

    // A path that comes back gets a new identity, never the tombstoned one.
    repo.write(
        &skill("writing-plans"),
        "---\nname: writing-plans\ndescription: Back again.\n---\nPlan.\n",
    );
    repo.commit("bring one back");
    let back = s.sync().await;
    assert_eq!(
        (back.counts.created, back.counts.deleted),
        (1, 0),
        "{back:?}"
    );
    let identities = s
        .count("SELECT CAST(COUNT(DISTINCT object_id) AS BIGINT) FROM source_bindings WHERE instance_id = $1 AND path = 'skills/writing-plans'")
        .await;
    assert_eq!(identities, 2);
}

/// The worker "killed" at several points: the next run ends where an uninterrupted one would,
/// with no duplicate objects or bindings.
async fn crash_at_fault_points(db: &TestDb) {
    use trove_sync::engine::faults::points;
    let reference = {
        let repo = Repo::fixture("anthropics__claude-code");
        let s = setup(&db.store, &repo.url()).await;
        s.sync().await;
        (
            s.counts().await,
            s.objects().await,
            s.bindings().await,
            s.plugins().await,
        )
    };
    for (point, nth) in [
        (points::STARTED, 1),
        (points::DISCOVERED, 1),
        (points::PLUGIN_BEFORE_COMMIT, 3),
        (points::PLUGIN_COMMITTED, 5),
        (points::BEFORE_SYNCED, 1),
    ] {
        let repo = Repo::fixture("anthropics__claude-code");
        let s = setup(&db.store, &repo.url()).await;
        let id = s
            .queue(trove_store::connectors::model::Trigger::Initial, None)
            .await;
        s.engine.faults().arm(point, nth);
        let err = s.engine.run_sync_event(id).await;
        assert!(err.is_err(), "{point}: the fault fires");
        // The same event is run again (the job's retry).
        let ev = s.engine.run_sync_event(id).await.unwrap();
        assert_eq!(ev.status, SyncStatus::Completed, "{point}: {ev:?}");
        let state = (
            s.counts().await,
            s.objects().await,
            s.bindings().await,
            s.plugins().await,
        );
        assert_eq!(state, reference, "{point}");
        let again = s.sync().await;
        assert_eq!(again.status, SyncStatus::Ignored, "{point}");
    }
}

/// Two reconciles of one target at once: one result, no duplicates.
async fn concurrent_runs(db: &TestDb) {
    let repo = Repo::fixture("obra__superpowers");
    let s = setup(&db.store, &repo.url()).await;
    let a = s
        .queue(trove_store::connectors::model::Trigger::Manual, None)
        .await;
    let b = s
        .queue(
            trove_store::connectors::model::Trigger::Push,
            Some(&repo.head()),
        )
        .await;
    let (ra, rb) = tokio::join!(s.engine.run_sync_event(a), s.engine.run_sync_event(b));
    for r in [&ra, &rb] {
        if let Err(e) = r {
            assert!(e.to_string().contains("another reconcile"), "{e}");
        }
    }
    // Whatever was refused runs afterwards (the job's retry) and finds nothing to do.
    for (id, r) in [(a, &ra), (b, &rb)] {
        if r.is_err() {
            let ev = s.engine.run_sync_event(id).await.unwrap();
            assert_eq!(ev.status, SyncStatus::Ignored);
        }
    }
    assert_eq!(s.objects().await, 15);
    assert_eq!(s.bindings().await, 15);
    assert_eq!(s.plugins().await, 1);
}

/// Reconciles of three targets at once on one engine share its write slots (on PostgreSQL fewer
/// than their plugins): each ends as it would alone.
async fn several_targets_at_once(db: &TestDb) {
    let repos: Vec<Repo> = (0..3)
        .map(|_| Repo::fixture("anthropics__claude-code"))
        .collect();
    let mut setups = Vec::new();
    for repo in &repos {
        setups.push(setup(&db.store, &repo.url()).await);
    }
    let mut ids = Vec::new();
    for s in &setups {
        ids.push(
            s.queue(trove_store::connectors::model::Trigger::Manual, None)
                .await,
        );
    }
    let engine = &setups[0].engine;
    let (a, b, c) = tokio::join!(
        engine.run_sync_event(ids[0]),
        engine.run_sync_event(ids[1]),
        engine.run_sync_event(ids[2]),
    );
    for (s, ev) in setups.iter().zip([a, b, c]) {
        let ev = ev.unwrap();
        assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
        assert_eq!(ev.counts.created, 45, "{ev:?}");
        assert_eq!(s.plugins().await, 13);
        assert_eq!(s.objects().await, 45);
        assert_eq!(s.live_bindings().await, 45);
    }
}

/// A truncated listing tombstones nothing and is `partial`.
async fn truncated_listing(db: &TestDb) {
    let repo = Repo::fixture("obra__superpowers");
    let s = setup(&db.store, &repo.url()).await;
    s.sync().await;
    std::fs::remove_dir_all(repo.path().join("skills/writing-plans")).unwrap();
    repo.commit("delete one");
    let cache = tempfile::tempdir().unwrap();
    let limits = trove_sources::GitLimits {
        max_entries: 20,
        ..Default::default()
    };
    let source = trove_sources::GitSource::new(cache.path(), limits);
    let engine = trove_sync::Engine::new(s.store.clone(), std::sync::Arc::new(source));
    let id = s
        .queue(trove_store::connectors::model::Trigger::Manual, None)
        .await;
    let ev = engine.run_sync_event(id).await.unwrap();
    assert_eq!(ev.status, SyncStatus::Partial, "{ev:?}");
    assert_eq!(ev.counts.deleted, 0);
    assert_eq!(s.tombstones().await, 0);
    assert_eq!(s.live_bindings().await, 15);
}

/// One unparsable file is a per-file error; the rest import.
async fn per_file_error(db: &TestDb) {
    let repo = Repo::fixture("obra__superpowers");
    repo.write("skills/broken/SKILL.md", "no frontmatter at all\n");
    repo.commit("broken skill");
    let s = setup(&db.store, &repo.url()).await;
    let ev = s.sync().await;
    assert_eq!(ev.status, SyncStatus::Partial, "{ev:?}");
    assert_eq!(ev.errors.len(), 1, "{ev:?}");
    assert_eq!(ev.errors[0].path, "skills/broken");
    assert_eq!(ev.counts.created, 15);
}

/// Deliveries for A, B, C processed as C, A, B end at C.
async fn out_of_order(db: &TestDb) {
    use trove_store::connectors::model::Trigger;
    let repo = Repo::fixture("obra__superpowers");
    let s = setup(&db.store, &repo.url()).await;
    s.sync().await;
    let skill = "skills/brainstorming/SKILL.md";
    let base = std::fs::read_to_string(repo.path().join(skill)).unwrap();
    let mut shas = Vec::new();
    for step in ["A", "B", "C"] {
        repo.write(skill, &format!("{base}\nStep {step}.\n"));
        shas.push(repo.commit(step));
    }
    let c = s.queue(Trigger::Push, Some(&shas[2])).await;
    let a = s.queue(Trigger::Push, Some(&shas[0])).await;
    let b = s.queue(Trigger::Push, Some(&shas[1])).await;
    let ec = s.engine.run_sync_event(c).await.unwrap();
    let ea = s.engine.run_sync_event(a).await.unwrap();
    let eb = s.engine.run_sync_event(b).await.unwrap();
    assert_eq!(ec.status, SyncStatus::Completed);
    assert_eq!(ec.counts.updated, 1);
    assert_eq!(
        (ea.status, eb.status),
        (SyncStatus::Ignored, SyncStatus::Ignored)
    );
    let synced: Option<String> = s
        .store
        .db
        .scalar(
            trove_store::sql("SELECT synced_sha FROM connector_targets WHERE id = $1")
                .bind(s.target.uuid()),
        )
        .await
        .unwrap()
        .flatten();
    assert_eq!(synced.as_deref(), Some(shas[2].as_str()));
}

/// A `url` plugin source in a marketplace is fetched at its pinned SHA and imported.
async fn remote_url_source(db: &TestDb) {
    let plugin = Repo::fixture("netresearch__typo3-docs-skill");
    let pinned = plugin.head();
    let market = Repo::empty();
    market.write(
        ".claude-plugin/marketplace.json",
        &format!(
            r#"{{"name": "remote-market", "description": "Remote plugins", "owner": {{"name": "Tests"}},
               "plugins": [{{"name": "typo3-docs", "source": {{"source": "url", "url": "{}", "sha": "{pinned}"}}}}]}}"#,
            plugin.url()
        ),
    );
    market.commit("marketplace");
    let s = setup(&db.store, &market.url()).await;
    let ev = s.sync().await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    let c = s.counts().await;
    assert_eq!((n(&c, "skill"), n(&c, "hook")), (1, 1), "{c:?}");
    let name: Option<String> = s
        .store
        .db
        .scalar(
            trove_store::sql("SELECT name FROM marketplaces WHERE connector_instance_id = $1")
                .bind(s.instance.uuid()),
        )
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("remote-market"));
}

backend_tests!(
    change_set_and_resync,
    crash_at_fault_points,
    concurrent_runs,
    several_targets_at_once,
    truncated_listing,
    per_file_error,
    out_of_order,
    remote_url_source,
);

/// The backstop queues a periodic reconcile only for a target whose head moved.
async fn backstop_checks_heads(db: &TestDb) {
    let repo = Repo::fixture("obra__superpowers");
    let s = setup(&db.store, &repo.url()).await;
    s.sync().await;
    assert_eq!(s.engine.check_heads().await.unwrap(), 0);
    repo.write(
        "skills/extra/SKILL.md",
        "---\nname: extra\ndescription: More.\n---\nBody.\n",
    );
    repo.commit("extra");
    assert_eq!(s.engine.check_heads().await.unwrap(), 1);
    let id: Option<uuid::Uuid> = s
        .store
        .db
        .scalar(
            trove_store::sql("SELECT id FROM sync_events WHERE instance_id = $1 AND trigger = 'periodic' AND status = 'queued'")
                .bind(s.instance.uuid()),
        )
        .await
        .unwrap();
    let ev = s.engine.run_sync_event(id.unwrap().into()).await.unwrap();
    assert_eq!((ev.status, ev.counts.created), (SyncStatus::Completed, 1));
    assert_eq!(trove_sync::jobs::resync_interval_ms(None).unwrap(), 600_000);
    assert_eq!(
        trove_sync::jobs::resync_interval_ms(Some("30s")).unwrap(),
        30_000
    );
    assert_eq!(
        trove_sync::jobs::resync_interval_ms(Some("10m")).unwrap(),
        600_000
    );
    assert!(trove_sync::jobs::resync_interval_ms(Some("soon")).is_err());
}

backend_tests!(backstop_checks_heads);
