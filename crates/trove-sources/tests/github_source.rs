//! The GitHub REST repository source: heads, snapshots through the trees API (recursive and the
//! truncated-tree fallback), blobs, and the router in front of it.

mod github_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use github_support::repo::{File, Repo};
use github_support::{Fake, Req};
use trove_discovery::EntryKind;
use trove_sources::{
    GitHubRepo, GitHubSource, GitHubSourceLimits, GitLimits, GitSource, Reference,
    RepositorySource, SourceError, SourceRouter, Target,
};

const INSTALLATION: u64 = 12;

fn files() -> Vec<File<'static>> {
    vec![
        File::Blob(
            ".claude-plugin/plugin.json",
            br#"{"name": "demo", "description": "Demo"}"#,
        ),
        File::Blob(
            "skills/hello/SKILL.md",
            b"---\nname: hello\ndescription: Says hello\n---\nHi",
        ),
        File::Blob("skills/big/SKILL.md", &[b'a'; 5000]),
        File::Exec("scripts/run.sh", b"#!/bin/sh\necho hi\n"),
        File::Link("docs/link", "../skills/hello/SKILL.md"),
        File::Link("escape", "../../etc/passwd"),
        File::Submodule("vendor/lib"),
        File::Blob("deep/a/b/c/d.txt", b"deep"),
        File::Blob(".git/config", b"[core]"),
        File::Blob("README.md", b"# demo\n"),
    ]
}

struct Setup {
    fake: Fake,
    repo: Arc<Repo>,
    head: String,
    source: GitHubSource,
}

async fn setup(limits: GitHubSourceLimits) -> Setup {
    setup_with(&files(), limits).await
}

async fn setup_with(files: &[File<'_>], limits: GitHubSourceLimits) -> Setup {
    let repo = Arc::new(Repo::new("acme/plugins", INSTALLATION));
    let head = repo.commit("main", files);
    let served = repo.clone();
    let fake = Fake::start(move |req: &Req| {
        served.handle(req).unwrap_or_else(|| {
            github_support::json(404, serde_json::json!({"message": "Not Found"}))
        })
    })
    .await;
    let source = GitHubSource::with_limits(github_support::app(&fake.url), limits);
    Setup {
        fake,
        repo,
        head,
        source,
    }
}

fn target(reference: Reference) -> Target {
    Target::new("https://github.com/acme/plugins", reference).with_github(GitHubRepo {
        installation_id: INSTALLATION,
        full_name: "acme/plugins".to_owned(),
    })
}

#[tokio::test]
async fn head_resolves_refs_with_one_conditional_request() {
    let s = setup(GitHubSourceLimits::default()).await;
    let main = target(Reference::Branch("main".into()));
    let head = s.source.head(&main).await.unwrap();
    assert_eq!(head.sha, s.head);
    assert_eq!(head.ref_name.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        s.fake.requests().last().unwrap().path,
        "/repos/acme/plugins/commits/heads/main"
    );

    // The backstop's repeat costs one 304.
    s.source.head(&main).await.unwrap();
    assert_eq!(s.source.app().stats().not_modified, 1);

    let default = s
        .source
        .head(&target(Reference::DefaultBranch))
        .await
        .unwrap();
    assert_eq!(default.sha, s.head);
    let named = s
        .source
        .head(&target(Reference::Named("main".into())))
        .await
        .unwrap();
    assert_eq!(named.ref_name.as_deref(), Some("refs/heads/main"));

    // A branch that moves is seen at once (the ETag no longer matches).
    let next = s
        .repo
        .commit("main", &[File::Blob("README.md", b"changed")]);
    assert_eq!(s.source.head(&main).await.unwrap().sha, next);

    // Slashes in branch names stay path separators.
    let release = s.repo.commit("release/1.x", &[File::Blob("a", b"a")]);
    let head = s
        .source
        .head(&target(Reference::Branch("release/1.x".into())))
        .await
        .unwrap();
    assert_eq!(head.sha, release);
}

#[tokio::test]
async fn a_missing_branch_or_repository_is_not_found() {
    let s = setup(GitHubSourceLimits::default()).await;
    let err = s
        .source
        .head(&target(Reference::Branch("gone".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let err = s
        .source
        .head(&target(Reference::Named("gone".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let other = Target::new("x", Reference::Branch("main".into())).with_github(GitHubRepo {
        installation_id: INSTALLATION,
        full_name: "acme/other".into(),
    });
    let err = s.source.head(&other).await.unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let err = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &"0".repeat(40))
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let err = s
        .source
        .snapshot(&target(Reference::DefaultBranch), "main")
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
    let plain = Target::new("https://github.com/acme/plugins", Reference::DefaultBranch);
    assert!(matches!(
        s.source.head(&plain).await,
        Err(SourceError::Invalid(_))
    ));
}

#[tokio::test]
async fn snapshot_lists_the_commit_like_the_git_source() {
    let s = setup(GitHubSourceLimits::default()).await;
    let snap = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap();
    assert_eq!(snap.sha(), s.head);
    assert!(!snap.truncated());
    assert_eq!(snap.skipped(), [".git: not a safe name"]);
    let blobs = s.repo.objects.lock().unwrap().blobs.clone();
    let find = |path: &str| {
        snap.entries()
            .iter()
            .find(|e| e.path == path)
            .unwrap()
            .clone()
    };

    let plugin = find(".claude-plugin/plugin.json");
    assert_eq!(
        (plugin.kind, plugin.mode, plugin.size),
        (EntryKind::Blob, 0o100_644, 39)
    );
    let oid = plugin.oid.clone().unwrap();
    assert_eq!(blobs[&oid], br#"{"name": "demo", "description": "Demo"}"#);
    let script = find("scripts/run.sh");
    assert_eq!(script.mode, 0o100_755);
    let link = find("docs/link");
    assert_eq!(
        (link.kind, link.mode, link.oid.as_deref()),
        (EntryKind::Symlink, 0o120_000, None)
    );
    assert_eq!(
        link.link_target.as_deref(),
        Some("../skills/hello/SKILL.md")
    );
    let sub = find("vendor/lib");
    assert_eq!((sub.kind, sub.mode), (EntryKind::Submodule, 0o160_000));
    let dir = find("deep/a/b");
    assert_eq!(
        (dir.kind, dir.mode, dir.size),
        (EntryKind::Tree, 0o040_000, 0)
    );
    assert!(
        !snap
            .entries()
            .iter()
            .any(|e| e.path.starts_with(".git/") || e.path == ".git")
    );

    // Discovery reads through the blob reader (on a blocking thread, as the sync engine does).
    let discovery = tokio::task::spawn_blocking(move || trove_discovery::discover(&snap))
        .await
        .unwrap();
    assert_eq!(
        discovery.classification,
        trove_discovery::Classification::Plugin
    );
    let skills: Vec<_> = discovery.plugins[0]
        .components
        .skills
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(skills.contains(&"hello"), "{skills:?}");
    let warnings = format!("{:?}", discovery.warnings);
    assert!(warnings.contains("escape"), "{warnings}");
}

#[tokio::test]
async fn snapshot_of_a_subdir_is_rooted_there() {
    let s = setup(GitHubSourceLimits::default()).await;
    let t = target(Reference::DefaultBranch).with_subdir("skills");
    let snap = s.source.snapshot(&t, &s.head).await.unwrap();
    let paths: Vec<_> = snap.entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["big", "big/SKILL.md", "hello", "hello/SKILL.md"]);
    assert_eq!(trove_discovery::Snapshot::root_name(&snap), Some("skills"));

    let err = s
        .source
        .snapshot(&t.clone().with_subdir("nope"), &s.head)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let err = s
        .source
        .snapshot(&t.with_subdir("../x"), &s.head)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn a_truncated_tree_is_walked_folder_by_folder_to_the_same_listing() {
    let s = setup(GitHubSourceLimits::default()).await;
    let t = target(Reference::DefaultBranch);
    let recursive = s.source.snapshot(&t, &s.head).await.unwrap();
    let before = s.fake.count("GET", "/repos/acme/plugins/git/trees/");
    assert_eq!(before, 1);

    s.repo.truncate.store(true, Ordering::SeqCst);
    let walked = s.source.snapshot(&t, &s.head).await.unwrap();
    assert!(!walked.truncated());
    assert_eq!(walked.entries(), recursive.entries());
    assert_eq!(walked.skipped(), recursive.skipped());
    // One recursive try, then one request per folder (.git is never entered).
    let folders = recursive
        .entries()
        .iter()
        .filter(|e| e.kind == EntryKind::Tree)
        .count();
    assert_eq!(
        s.fake.count("GET", "/repos/acme/plugins/git/trees/") - before,
        1 + 1 + folders
    );
}

#[tokio::test]
async fn a_server_error_in_the_middle_of_the_walk_fails_the_snapshot() {
    let s = setup(GitHubSourceLimits::default()).await;
    s.repo.truncate.store(true, Ordering::SeqCst);
    let broken = s.repo.tree_of(&s.head, "deep/a");
    s.repo.failing_trees.lock().unwrap().insert(broken.clone());
    let err = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
    assert!(err.is_transient());
    // The failing folder was tried three times (retries), and nothing was passed off as complete.
    let tries = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&broken))
        .count();
    assert_eq!(tries, 3);

    // Without truncation, a failing root listing fails the same way.
    s.repo.truncate.store(false, Ordering::SeqCst);
    let root = s.repo.tree_of(&s.head, "");
    s.repo.failing_trees.lock().unwrap().insert(root);
    let err = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn listing_limits_mark_the_snapshot_truncated() {
    for truncate in [false, true] {
        let limits = GitHubSourceLimits {
            max_entries: 5,
            ..GitHubSourceLimits::default()
        };
        let s = setup(limits).await;
        s.repo.truncate.store(truncate, Ordering::SeqCst);
        let snap = s
            .source
            .snapshot(&target(Reference::DefaultBranch), &s.head)
            .await
            .unwrap();
        assert!(snap.truncated(), "walk: {truncate}");
        assert!(snap.entries().len() <= 5);

        let limits = GitHubSourceLimits {
            max_depth: 3,
            ..GitHubSourceLimits::default()
        };
        let s = setup(limits).await;
        s.repo.truncate.store(truncate, Ordering::SeqCst);
        let snap = s
            .source
            .snapshot(&target(Reference::DefaultBranch), &s.head)
            .await
            .unwrap();
        assert!(snap.truncated(), "walk: {truncate}");
        assert!(
            snap.entries()
                .iter()
                .all(|e| e.path.split('/').count() <= 3)
        );
        assert!(snap.entries().iter().any(|e| e.path == "deep/a"));
        assert!(!snap.entries().iter().any(|e| e.path == "deep/a/b"));
    }
}

#[tokio::test]
async fn blob_reads_enforce_max_bytes() {
    let limits = GitHubSourceLimits {
        max_blob_bytes: 4096,
        ..GitHubSourceLimits::default()
    };
    let s = setup(limits).await;
    let snap = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap();
    let fetches = || s.fake.count("GET", "/repos/acme/plugins/git/blobs/");
    let links = fetches();

    let reader = snap.clone();
    let (readme, small, big, missing) = tokio::task::spawn_blocking(move || {
        (
            reader.read_full("README.md", 1 << 20),
            reader.read_full("README.md", 3),
            reader.read_full("skills/big/SKILL.md", 1 << 20),
            reader.read_full("nope", 1 << 20),
        )
    })
    .await
    .unwrap();
    assert_eq!(readme.unwrap(), b"# demo\n");
    assert!(matches!(small, Err(SourceError::TooLarge(_))), "{small:?}");
    // Over the source's own limit, whatever the caller asks: never fetched.
    assert!(matches!(big, Err(SourceError::TooLarge(_))), "{big:?}");
    assert!(
        matches!(missing, Err(SourceError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(fetches() - links, 1);

    // A second read comes from the snapshot's cache.
    let reader = snap.clone();
    let again = tokio::task::spawn_blocking(move || reader.read_full("README.md", 1 << 20))
        .await
        .unwrap();
    assert_eq!(again.unwrap(), b"# demo\n");
    assert_eq!(fetches() - links, 1);

    // GitHub sending more than the listed size is caught on the bytes read.
    s.repo.blob_padding.store(10_000, Ordering::SeqCst);
    let reader = snap.clone();
    let lying = tokio::task::spawn_blocking(move || reader.read_full("scripts/run.sh", 1 << 20))
        .await
        .unwrap();
    assert!(matches!(lying, Err(SourceError::TooLarge(_))), "{lying:?}");
}

/// 100 command files, each with content of its own, plus a manifest.
fn many_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| {
            (
                format!("commands/cmd-{i:03}.md"),
                format!("---\ndescription: command {i}\n---\nDo thing {i}.\n").into_bytes(),
            )
        })
        .collect();
    files.push((
        ".claude-plugin/plugin.json".into(),
        br#"{"name": "many"}"#.to_vec(),
    ));
    files
}

fn as_blobs(files: &[(String, Vec<u8>)]) -> Vec<File<'_>> {
    files
        .iter()
        .map(|(p, d)| File::Blob(p.as_str(), d.as_slice()))
        .collect()
}

/// Reads every file of `files` from a fresh snapshot, checking each against its content.
async fn read_all(s: &Setup, files: &[(String, Vec<u8>)]) {
    let snap = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap();
    let files = files.to_vec();
    tokio::task::spawn_blocking(move || {
        for (path, data) in files {
            assert_eq!(snap.read_full(&path, 1 << 20).unwrap(), data, "{path}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_run_that_reads_many_files_takes_them_from_the_tarball() {
    let files = many_files();
    let s = setup_with(&as_blobs(&files), GitHubSourceLimits::default()).await;
    let blobs = || s.fake.count("GET", "/repos/acme/plugins/git/blobs/");
    let tarballs = || s.fake.count("GET", "/repos/acme/plugins/tarball/");

    read_all(&s, &files).await;
    // A few one by one, then one tarball for the rest: not one request per file.
    assert_eq!(blobs(), 16);
    assert_eq!(tarballs(), 1);
    assert_eq!(s.fake.count("GET", "/repos/acme/plugins/_download/"), 1);

    // A run that reads a few files (a push that changed a few) never downloads it.
    let snap = s
        .source
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap();
    let first = files[0].clone();
    let data = tokio::task::spawn_blocking(move || snap.read_full(&first.0, 1 << 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, files[0].1);
    assert_eq!((blobs(), tarballs()), (17, 1));
}

#[tokio::test]
async fn a_tarball_that_cannot_be_read_leaves_the_files_to_the_blobs_api() {
    let files = many_files();
    let s = setup_with(&as_blobs(&files), GitHubSourceLimits::default()).await;
    s.repo.failing_tarballs.store(true, Ordering::SeqCst);
    read_all(&s, &files).await;
    assert_eq!(
        s.fake.count("GET", "/repos/acme/plugins/git/blobs/"),
        files.len()
    );
    // One download for the snapshot (retried as any server error is), not one per later read.
    let tries = s.fake.count("GET", "/repos/acme/plugins/tarball/");
    assert!((1..=3).contains(&tries), "{tries} tarball requests");

    // Listed files over the archive budget: every file through the blobs API, no download.
    let limits = GitHubSourceLimits {
        archive_bytes: 1000,
        ..GitHubSourceLimits::default()
    };
    let s = setup_with(&as_blobs(&files), limits).await;
    read_all(&s, &files).await;
    assert_eq!(s.fake.count("GET", "/repos/acme/plugins/tarball/"), 0);
}

#[tokio::test]
async fn the_router_sends_github_targets_to_the_github_source() {
    let s = setup(GitHubSourceLimits::default()).await;
    let cache = tempfile::tempdir().unwrap();
    let git: Arc<dyn RepositorySource> =
        Arc::new(GitSource::new(cache.path(), GitLimits::default()));
    let router = SourceRouter::new(git.clone(), Some(Arc::new(s.source.clone())));
    let head = router
        .head(&target(Reference::DefaultBranch))
        .await
        .unwrap();
    assert_eq!(head.sha, s.head);
    let snap = router
        .snapshot(&target(Reference::DefaultBranch), &s.head)
        .await
        .unwrap();
    assert!(!snap.entries().is_empty());

    // A plain git target goes to git (here: a path that is no repository).
    let plain = Target::new(
        cache.path().join("none").display().to_string(),
        Reference::DefaultBranch,
    );
    assert!(matches!(
        router.head(&plain).await,
        Err(SourceError::NotFound(_))
    ));

    let without_app = SourceRouter::new(git, None);
    let err = without_app
        .head(&target(Reference::DefaultBranch))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Auth(m) if m.contains("TROVE_GITHUB_APP_ID")),
        "{err:?}"
    );
}
