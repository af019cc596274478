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
    // (fixture, plugins, skills, commands, agents, hook files). anthropics__skills has 17 skills,
    // but xlsx, docx and pptx are over the registry's 1 MiB per-version cap: per-file errors.
    let cases = [
        ("anthropics__claude-code", 13, 10, 15, 15, 5),
        ("anthropics__skills", 3, 14, 0, 0, 0),
        ("obra__superpowers", 1, 14, 0, 0, 1),
        ("netresearch__typo3-docs-skill", 1, 1, 0, 0, 1),
    ];
    for (name, plugins, skills, commands, agents, hooks) in cases {
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
        assert_eq!(ev.counts.created as i64, c.values().sum::<i64>(), "{name}");
        let expected_errors = if name == "anthropics__skills" { 3 } else { 0 };
        assert_eq!(ev.errors.len(), expected_errors, "{name}: {:?}", ev.errors);
        assert_eq!(
            ev.source_revision_ref.as_deref(),
            Some(repo.head().as_str())
        );
    }
}

backend_tests!(imports_fixtures);
