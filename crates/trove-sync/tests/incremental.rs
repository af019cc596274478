//! One changed file in a repository of many components: exactly one version is written and the
//! import reads only the changed blob (the others are known unchanged from their git object ids).

mod common;

use std::sync::{Arc, Mutex};

use common::{RecordingSource, Repo, setup};
use trove_sources::{GitLimits, GitSource};
use trove_store::connectors::model::{SyncStatus, Trigger};
use trove_sync::Engine;
use trove_testkit::{TestDb, backend_tests};

async fn one_changed_file_reads_one_blob(db: &TestDb) {
    let repo = Repo::empty();
    repo.write(
        ".claude-plugin/plugin.json",
        r#"{"name": "many", "version": "1.0.0"}"#,
    );
    for i in 0..40 {
        repo.write(
            &format!("commands/c{i}.md"),
            &format!("---\ndescription: command {i}\n---\n\nDo thing {i}.\n"),
        );
        repo.write(
            &format!("agents/a{i}.md"),
            &format!("---\nname: a{i}\ndescription: agent {i}\n---\n\nYou are agent {i}.\n"),
        );
        let skill = format!("skills/s{i}");
        repo.write(
            &format!("{skill}/SKILL.md"),
            &format!("---\nname: s{i}\ndescription: skill {i}\n---\n\nSkill {i}.\n"),
        );
        repo.write(
            &format!("{skill}/reference.md"),
            &format!("Reference {i}.\n"),
        );
    }
    repo.commit("many components");
    let s = setup(&db.store, &repo.url()).await;
    let reads = Arc::new(Mutex::new(Vec::new()));
    let source = RecordingSource {
        git: GitSource::new(s.cache.path(), GitLimits::default()),
        reads: reads.clone(),
    };
    // What the import read: reads at its limit (discovery reads with no limit of its own).
    let imported = || -> Vec<String> {
        let reads = reads.lock().unwrap();
        reads
            .iter()
            .filter(|(_, max_bytes)| *max_bytes != u64::MAX)
            .map(|(path, _)| path.clone())
            .collect()
    };
    let engine = Engine::new(s.store.clone(), Arc::new(source)).with_lease_ms(5_000);
    let run = |trigger| {
        let (s, engine) = (&s, &engine);
        async move {
            let id = s.queue(trigger, None).await;
            engine.run_sync_event(id).await.unwrap()
        }
    };

    let first = run(Trigger::Manual).await;
    assert_eq!(first.status, SyncStatus::Completed, "{first:?}");
    assert_eq!(first.counts.created, 120, "{first:?}");
    let first_reads = imported().len();
    assert_eq!(first_reads, 160, "the first import reads every file");

    reads.lock().unwrap().clear();
    repo.write("skills/s7/reference.md", "Reference 7, corrected.\n");
    repo.commit("edit one file");
    let versions = s.versions().await;
    let ev = run(Trigger::Push).await;
    assert_eq!(ev.status, SyncStatus::Completed, "{ev:?}");
    assert_eq!(ev.counts.updated, 1, "{ev:?}");
    assert_eq!(ev.counts.created, 0, "{ev:?}");
    assert_eq!(ev.counts.unchanged, 119, "{ev:?}");
    assert_eq!(s.versions().await - versions, 1);
    // The skill is one object: its two files are read again, nothing else is.
    let mut read = imported();
    read.sort();
    assert_eq!(read, ["skills/s7/SKILL.md", "skills/s7/reference.md"]);
}

backend_tests!(one_changed_file_reads_one_blob);
