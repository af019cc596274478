//! Discovery judges a git commit exactly as it judges the same files in a directory.

mod common;

use std::path::Path;

use common::{Repo, branch, source};
use trove_discovery::{DirSnapshot, discover};
use trove_sources::GitLimits;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/claude-plugins"
);

/// Copies a folder tree (files, folders, symlinks) and makes the copies writable.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ft = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else if ft.is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            let mut perms = std::fs::metadata(&dest).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&dest, perms).unwrap();
        }
    }
}

/// Compares discovery on the fixture folder with discovery on a git commit of it, read through the
/// plain path and (when `also_fetch`) fetched through a `file://` URL into the cache. The listing
/// code is the same either way; the fetch only costs time in debug builds.
async fn same_discovery(fixture: &str, also_fetch: bool) {
    let original = Path::new(FIXTURES).join(fixture);
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path(), fixture);
    copy_tree(&original, &repo.dir);
    let sha = repo.commit("fixture");

    let dir = DirSnapshot::open(&original).unwrap();
    let expected = serde_json::to_value(discover(&dir)).unwrap();
    assert!(
        !dir.skipped().iter().any(|s| !s.contains(".git")),
        "{:?}",
        dir.skipped()
    );

    let src = source(tmp.path(), GitLimits::default());
    let mut urls = vec![repo.path_str()];
    if also_fetch {
        urls.push(repo.file_url());
    }
    for url in urls {
        let snap = src.snapshot(&branch(&url, "main"), &sha).await.unwrap();
        assert!(!snap.truncated());
        let got = serde_json::to_value(discover(&snap)).unwrap();
        assert_eq!(got, expected, "{fixture} via {url}");
    }
}

#[tokio::test]
async fn anthropics_claude_code_matches_the_directory() {
    same_discovery("anthropics__claude-code", true).await;
}

#[tokio::test]
async fn every_other_fixture_matches_the_directory() {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "anthropics__claude-code")
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for fixture in names {
        same_discovery(&fixture, false).await;
    }
}
