//! The git source over real repositories: URLs and paths, branches, tags and SHAs, caching, heads
//! without pack downloads, old commits, symlinks, submodules and subdir rooting.

mod common;

use std::sync::Arc;

use common::{Repo, branch, cache_entries, git, packs, source};
use trove_discovery::{EntryKind, Snapshot};
use trove_sources::{GitLimits, Reference, RepoSnapshot, RepositorySource, Target};

fn sample(parent: &std::path::Path) -> Repo {
    let repo = Repo::init(parent, "sample");
    repo.write("README.md", "hello\n")
        .write(".claude-plugin/plugin.json", r#"{"name": "sample"}"#)
        .write(
            "skills/one/SKILL.md",
            "---\nname: one\ndescription: First\n---\nBody\n",
        );
    repo.commit("first");
    repo
}

fn paths(s: &RepoSnapshot, kind: EntryKind) -> Vec<String> {
    let mut v: Vec<String> = s
        .entries()
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.path.clone())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn file_url_branch_head_and_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main");

    let head = src.head(&target).await.unwrap();
    assert_eq!(head.sha, repo.head());
    assert_eq!(head.ref_name.as_deref(), Some("refs/heads/main"));

    let snap = src.snapshot(&target, &head.sha).await.unwrap();
    assert_eq!(snap.sha(), head.sha);
    assert!(!snap.truncated());
    assert_eq!(
        paths(&snap, EntryKind::Blob),
        [
            ".claude-plugin/plugin.json",
            "README.md",
            "skills/one/SKILL.md"
        ]
    );
    assert_eq!(
        paths(&snap, EntryKind::Tree),
        [".claude-plugin", "skills", "skills/one"]
    );
    assert_eq!(snap.read_full("README.md", 1024).unwrap(), b"hello\n");
    assert_eq!(Snapshot::read(&snap, "README.md", 3).unwrap(), b"hel");
    assert_eq!(snap.blob_entry("README.md").unwrap().size, 6);
    assert_eq!(Snapshot::root_name(&snap), Some("sample"));
    // Paths are relative and clean.
    for e in snap.entries() {
        assert!(!e.path.starts_with('/') && !e.path.split('/').any(|s| s == ".."));
    }
    // One cache entry, a bare repository.
    let entries = cache_entries(tmp.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let cache = src.cache_path(&target).unwrap().unwrap();
    assert!(cache.join("HEAD").is_file() && !cache.join(".git").exists());
}

#[tokio::test]
async fn default_branch_tag_and_sha_references() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let first = repo.head();
    git(&repo.dir, &["tag", "-a", "v1", "-m", "release one"]);
    git(&repo.dir, &["tag", "light"]);
    repo.write("README.md", "changed\n");
    let second = repo.commit("second");
    let src = source(tmp.path(), GitLimits::default());
    let url = repo.file_url();

    let default = src
        .head(&Target::new(&url, Reference::DefaultBranch))
        .await
        .unwrap();
    assert_eq!(default.sha, second);
    assert_eq!(default.ref_name.as_deref(), Some("refs/heads/main"));

    // An annotated tag is peeled to its commit.
    let tag = Target::new(&url, Reference::Tag("v1".into()));
    let head = src.head(&tag).await.unwrap();
    assert_eq!(head.sha, first);
    let snap = src.snapshot(&tag, &head.sha).await.unwrap();
    assert_eq!(snap.read_full("README.md", 100).unwrap(), b"hello\n");

    let light = Target::new(&url, Reference::Named("light".into()));
    assert_eq!(src.head(&light).await.unwrap().sha, first);
    let named_branch = Target::new(&url, Reference::Named("main".into()));
    assert_eq!(src.head(&named_branch).await.unwrap().sha, second);

    // A fixed SHA resolves to itself without asking anyone, and snapshots by id.
    let pinned = Target::new(&url, Reference::Sha(first.to_uppercase()));
    let head = src.head(&pinned).await.unwrap();
    assert_eq!((head.sha.as_str(), head.ref_name), (first.as_str(), None));
    let snap = src.snapshot(&pinned, &first).await.unwrap();
    assert_eq!(snap.read_full("README.md", 100).unwrap(), b"hello\n");
}

#[tokio::test]
async fn local_paths_are_read_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let bare = tmp.path().join("bare.git");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &repo.path_str(),
            &bare.display().to_string(),
        ],
    );
    let src = source(tmp.path(), GitLimits::default());
    for (url, name) in [
        (repo.path_str(), "sample"),
        (bare.display().to_string(), "bare"),
    ] {
        let target = branch(&url, "main");
        assert!(src.cache_path(&target).unwrap().is_none());
        let head = src.head(&target).await.unwrap();
        assert_eq!(head.sha, repo.head());
        let snap = src.snapshot(&target, &head.sha).await.unwrap();
        assert_eq!(snap.read_full("README.md", 100).unwrap(), b"hello\n");
        assert_eq!(Snapshot::root_name(&snap), Some(name));
    }
    assert!(
        !tmp.path().join("git-cache").exists(),
        "local reads never create a cache"
    );
}

#[tokio::test]
async fn later_snapshot_fetches_into_the_same_cache_and_head_downloads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main");
    let first = src.head(&target).await.unwrap().sha;
    src.snapshot(&target, &first).await.unwrap();
    let cache = src.cache_path(&target).unwrap().unwrap();
    let packs_after_first = packs(&cache);
    assert_eq!(packs_after_first.len(), 1, "{packs_after_first:?}");
    // A marker inside the cache entry survives only if the entry is reused, not re-cloned.
    std::fs::write(cache.join("trove-test-marker"), "x").unwrap();

    // The no-op path: head again, same SHA, nothing fetched; a snapshot of a cached commit
    // touches no network either.
    assert_eq!(src.head(&target).await.unwrap().sha, first);
    src.snapshot(&target, &first).await.unwrap();
    assert_eq!(packs(&cache), packs_after_first);

    repo.write("skills/two/SKILL.md", "---\nname: two\n---\n")
        .write("README.md", "hello again\n");
    let second = repo.commit("second");
    let head = src.head(&target).await.unwrap();
    assert_eq!(head.sha, second);
    assert_eq!(packs(&cache), packs_after_first, "head() downloaded a pack");

    let snap = src.snapshot(&target, &second).await.unwrap();
    assert_eq!(snap.read_full("README.md", 100).unwrap(), b"hello again\n");
    assert!(snap.blob_entry("skills/two/SKILL.md").is_some());
    assert!(
        cache.join("trove-test-marker").exists(),
        "cache was re-created"
    );
    assert_eq!(packs(&cache).len(), 2);
    assert_eq!(cache_entries(tmp.path()).len(), 1);
}

#[tokio::test]
async fn snapshot_at_an_old_sha_after_the_branch_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let old = repo.head();
    repo.write("README.md", "v2\n");
    repo.commit("second");
    repo.write("README.md", "v3\n");
    let newest = repo.commit("third");
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main");

    // Fresh cache: the branch fetch brings the newest commit only, so the old one is fetched
    // by id.
    let snap = src.snapshot(&target, &old).await.unwrap();
    assert_eq!(snap.read_full("README.md", 100).unwrap(), b"hello\n");
    let snap = src.snapshot(&target, &newest).await.unwrap();
    assert_eq!(snap.read_full("README.md", 100).unwrap(), b"v3\n");
    // And an old commit after the newest one is cached.
    let tmp2 = tempfile::tempdir().unwrap();
    let src2 = source(tmp2.path(), GitLimits::default());
    src2.snapshot(&target, &newest).await.unwrap();
    let snap = src2.snapshot(&target, &old).await.unwrap();
    assert_eq!(snap.sha(), old);
}

#[tokio::test]
async fn symlinks_and_submodules_are_reported_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let sub_sha = repo.head();
    repo.symlink("link-out", "../../etc/passwd")
        .symlink("skills/alias", "one");
    git(&repo.dir, &["add", "-A"]);
    // A gitlink with no checkout: `git add -A` would stage its removal, so commit the index.
    repo.gitlink("vendor/sub", &sub_sha);
    let sha = repo.commit_staged("links");
    let src = source(tmp.path(), GitLimits::default());
    for url in [repo.file_url(), repo.path_str()] {
        let snap = src.snapshot(&branch(&url, "main"), &sha).await.unwrap();
        let links: Vec<_> = snap
            .entries()
            .iter()
            .filter(|e| e.kind == EntryKind::Symlink)
            .map(|e| (e.path.as_str(), e.link_target.as_deref(), e.mode))
            .collect();
        assert_eq!(
            links,
            [
                ("link-out", Some("../../etc/passwd"), 0o120_000),
                ("skills/alias", Some("one"), 0o120_000)
            ]
        );
        assert_eq!(paths(&snap, EntryKind::Submodule), ["vendor/sub"]);
        // Neither is readable as a file.
        assert!(snap.read_full("link-out", 1 << 20).is_err());
        assert!(Snapshot::read(&snap, "skills/alias/SKILL.md", 100).is_err());
        assert!(snap.read_full("vendor/sub", 100).is_err());
    }
}

#[tokio::test]
async fn git_subdir_roots_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path(), "mono");
    repo.write("README.md", "root\n")
        .write(
            "plugins/alpha/.claude-plugin/plugin.json",
            r#"{"name":"alpha"}"#,
        )
        .write("plugins/alpha/commands/go.md", "# go\n")
        .write("plugins/beta/x.md", "x\n");
    let sha = repo.commit("mono");
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main").with_subdir("plugins/alpha/");
    let snap = src.snapshot(&target, &sha).await.unwrap();
    assert_eq!(
        paths(&snap, EntryKind::Blob),
        [".claude-plugin/plugin.json", "commands/go.md"]
    );
    assert_eq!(Snapshot::root_name(&snap), Some("alpha"));
    let d = trove_discovery::discover(&snap);
    assert_eq!(d.plugins.len(), 1);

    let missing = branch(&repo.file_url(), "main").with_subdir("plugins/gamma");
    assert!(matches!(
        src.snapshot(&missing, &sha).await,
        Err(trove_sources::SourceError::NotFound(_))
    ));
    let file_not_dir = branch(&repo.file_url(), "main").with_subdir("README.md");
    assert!(matches!(
        src.snapshot(&file_not_dir, &sha).await,
        Err(trove_sources::SourceError::NotFound(_))
    ));
    for bad in ["../x", "/etc", "plugins/../.."] {
        let t = branch(&repo.file_url(), "main").with_subdir(bad);
        assert!(
            matches!(
                src.snapshot(&t, &sha).await,
                Err(trove_sources::SourceError::Invalid(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn concurrent_snapshots_share_one_cache_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let sha = repo.head();
    let src: Arc<dyn RepositorySource> = Arc::new(source(tmp.path(), GitLimits::default()));
    let target = Arc::new(branch(&repo.file_url(), "main"));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (src, target, sha) = (src.clone(), target.clone(), sha.clone());
        tasks.push(tokio::spawn(async move {
            src.snapshot(&target, &sha).await.map(|s| s.entries().len())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 6);
    }
    assert_eq!(cache_entries(tmp.path()).len(), 1);
}

#[tokio::test]
async fn snapshot_is_shareable_across_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let snap = src
        .snapshot(&branch(&repo.file_url(), "main"), &repo.head())
        .await
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = snap.clone();
            std::thread::spawn(move || s.read_full("skills/one/SKILL.md", 1 << 10).unwrap().len())
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap() > 10);
    }
}

#[tokio::test]
async fn an_incremental_fetch_downloads_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path(), "big");
    // Incompressible-ish content so pack sizes reflect object counts.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..200 {
        let body: String = (0..2000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(b'a' + (seed % 26) as u8)
            })
            .collect();
        repo.write(&format!("files/f{i}.txt"), body);
    }
    let first = repo.commit("many files");
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main");
    src.snapshot(&target, &first).await.unwrap();
    repo.write("files/f0.txt", "small change\n");
    let second = repo.commit("one change");
    src.snapshot(&target, &second).await.unwrap();

    let cache = src.cache_path(&target).unwrap().unwrap();
    let mut sizes: Vec<u64> = packs(&cache)
        .iter()
        .map(|p| {
            std::fs::metadata(cache.join("objects/pack").join(p))
                .unwrap()
                .len()
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes.len(), 2);
    assert!(
        sizes[0] * 20 < sizes[1],
        "the second fetch re-downloaded the tree: {sizes:?}"
    );
}

#[tokio::test]
async fn a_cache_left_by_a_killed_fetch_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.file_url(), "main");
    src.snapshot(&target, &repo.head()).await.unwrap();
    let cache = src.cache_path(&target).unwrap().unwrap();

    // git lock files a killed process left behind do not block the next fetch.
    for lock in ["packed-refs.lock", "shallow.lock", "refs/heads/main.lock"] {
        let p = cache.join(lock);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    repo.write("README.md", "after the crash\n");
    let second = repo.commit("second");
    let snap = src.snapshot(&target, &second).await.unwrap();
    assert_eq!(
        snap.read_full("README.md", 100).unwrap(),
        b"after the crash\n"
    );

    // A cache entry that is not a repository at all is rebuilt.
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::create_dir_all(cache.join("junk")).unwrap();
    let snap = src.snapshot(&target, &second).await.unwrap();
    assert_eq!(
        snap.read_full("README.md", 100).unwrap(),
        b"after the crash\n"
    );
    assert!(!cache.join("junk").exists());
}

/// Every entry of a snapshot, in a stable order.
fn listing(s: &RepoSnapshot) -> Vec<trove_discovery::Entry> {
    let mut v = s.entries().to_vec();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

#[tokio::test]
async fn listings_from_remembered_trees_equal_fresh_listings() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    repo.write("skills/two/SKILL.md", "---\nname: two\n---\n")
        .write("skills/two/run.sh", "#!/bin/sh\n")
        .symlink("skills/alias", "one");
    let mut commits = vec![repo.commit("more")];
    // Edit one file, make one executable, delete a folder, repoint a link, add a deep file.
    repo.write(
        "skills/one/SKILL.md",
        "---\nname: one\ndescription: Edited\n---\n",
    );
    commits.push(repo.commit("edit"));
    git(
        &repo.dir,
        &["update-index", "--chmod=+x", "skills/two/run.sh"],
    );
    commits.push(repo.commit_staged("executable"));
    std::fs::remove_dir_all(repo.dir.join("skills/two")).unwrap();
    std::fs::remove_file(repo.dir.join("skills/alias")).unwrap();
    repo.symlink("skills/alias", "../README.md")
        .write("a/b/c/d.md", "deep\n");
    commits.push(repo.commit("reshape"));

    let fresh = |entries| GitLimits {
        tree_cache_entries: entries,
        ..GitLimits::default()
    };
    // One source remembers everything, one remembers too little to keep a whole listing, and a
    // new source with no memory gives the reference listing.
    let warm = source(&tmp.path().join("warm"), fresh(100_000));
    let tiny = source(&tmp.path().join("tiny"), fresh(3));
    let target = branch(&repo.path_str(), "main");
    // Twice round, so the second pass lists old commits again from remembered trees.
    for sha in commits.iter().chain(&commits) {
        let cold = source(&tmp.path().join("cold"), fresh(0));
        let expected = listing(&cold.snapshot(&target, sha).await.unwrap());
        for src in [&warm, &tiny] {
            let snap = src.snapshot(&target, sha).await.unwrap();
            assert_eq!(listing(&snap), expected, "commit {sha}");
        }
    }
    let snap = warm.snapshot(&target, &commits[2]).await.unwrap();
    let run = snap.blob_entry("skills/two/run.sh").unwrap();
    assert_eq!(run.mode, 0o100_755);
    assert_eq!(
        snap.read_full("skills/two/run.sh", 100).unwrap(),
        b"#!/bin/sh\n"
    );
}

#[tokio::test]
async fn files_are_listed_in_byte_order_of_their_paths() {
    // Git sorts a tree's names as if folders ended in `/`: `a-b` and `a.txt` come before the
    // folder `a`, and so must they in the listing for it to be sorted by full path.
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path(), "order");
    for path in [
        "a/x",
        "a-b",
        "a.txt",
        "a/z/deep.md",
        "a/y",
        "b",
        "A",
        "a0/q",
    ] {
        repo.write(path, path);
    }
    repo.commit("paths that sort differently as names and as paths");
    let src = source(tmp.path(), GitLimits::default());
    let target = branch(&repo.path_str(), "main");
    let head = src.head(&target).await.unwrap();
    let snap = src.snapshot(&target, &head.sha).await.unwrap();
    let listed: Vec<&str> = snap
        .entries()
        .iter()
        .filter(|e| e.kind == EntryKind::Blob)
        .map(|e| e.path.as_str())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted);
    assert_eq!(listed.len(), 8);
}
