//! Listing a commit through the git trees API.
//!
//! One `GET .../git/trees/{sha}?recursive=1` lists a whole commit unless GitHub cuts it short
//! (`truncated: true`, past 100,000 entries or 7 MB). Then the listing is rebuilt folder by folder
//! with non-recursive requests, a few in flight at once. Either way the raw entries go through
//! the same checks as the git source's walk: unsafe names are skipped and recorded, folders
//! below the depth limit are not entered, the entry limit stops the listing. Any limit that
//! leaves something out marks the listing truncated; any failed request fails the listing, so
//! a partial listing never looks complete.

use std::collections::VecDeque;

use serde::Deserialize;
use tokio::task::JoinSet;
use trove_discovery::{Entry, EntryKind};

use super::api::encode_segment;
use super::app::GitHubApp;
use super::config::GitHubSourceLimits;
use super::error::GitHubError;
use super::http::{Call, Credential};
use crate::snapshot::is_safe_name;

/// A tree as the API gives it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireTree {
    pub tree: Vec<WireEntry>,
    #[serde(default)]
    pub truncated: bool,
}

/// One entry of a tree answer; `path` is relative to the requested tree.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireEntry {
    pub path: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    #[serde(default)]
    pub size: Option<u64>,
}

/// Where the trees of one repository are read from.
#[derive(Clone)]
pub(crate) struct TreeReader {
    pub app: GitHubApp,
    pub installation: u64,
    /// `owner/name`, already checked.
    pub repo: String,
}

impl TreeReader {
    /// `GET .../git/trees/{sha}`, recursive or not. Trees never change, so no ETag.
    pub async fn tree(&self, sha: &str, recursive: bool) -> Result<WireTree, GitHubError> {
        let mut url = format!(
            "{}/repos/{}/git/trees/{}",
            self.app.api_url(),
            self.repo,
            encode_segment(sha)
        );
        if recursive {
            url.push_str("?recursive=1");
        }
        let what = format!("tree {sha} of {}", self.repo);
        self.app
            .send(Call::get(url, Credential::Installation(self.installation)).uncached())
            .await?
            .json(&what)
    }
}

/// A checked listing plus what the blob reader needs.
pub(crate) struct Listing {
    pub entries: Vec<Entry>,
    /// Index into `entries` and object id of every symlink (their targets are read later).
    pub symlinks: Vec<(usize, String)>,
    pub truncated: bool,
    pub skipped: Vec<String>,
}

/// Lists tree `root` completely (or says it could not).
pub(crate) async fn list(
    reader: &TreeReader,
    root: &str,
    limits: &GitHubSourceLimits,
) -> Result<Listing, GitHubError> {
    let recursive = reader.tree(root, true).await?;
    let (raw, truncated) = if recursive.truncated {
        tracing::info!(repo = %reader.repo, tree = root, "recursive tree truncated, walking folders");
        walk(reader, root, limits).await?
    } else {
        (recursive.tree, false)
    };
    Ok(check(raw, truncated, limits))
}

/// Lists tree `root` one folder per request, up to `limits.tree_concurrency` at once.
async fn walk(
    reader: &TreeReader,
    root: &str,
    limits: &GitHubSourceLimits,
) -> Result<(Vec<WireEntry>, bool), GitHubError> {
    let mut pending: VecDeque<(String, String, usize)> = VecDeque::new();
    pending.push_back((root.to_owned(), String::new(), 0));
    let mut running = JoinSet::new();
    let mut raw = Vec::new();
    let mut truncated = false;
    loop {
        while running.len() < limits.tree_concurrency.max(1) {
            let Some((sha, prefix, depth)) = pending.pop_front() else {
                break;
            };
            let reader = reader.clone();
            running.spawn(async move {
                let tree = reader.tree(&sha, false).await;
                (prefix, depth, tree)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        // Dropping `running` on an early return aborts the requests still in flight.
        let (prefix, depth, tree) =
            joined.map_err(|e| GitHubError::Unavailable(format!("listing a folder: {e}")))?;
        let tree = tree?;
        truncated |= tree.truncated;
        for mut entry in tree.tree {
            if !prefix.is_empty() {
                entry.path = format!("{prefix}/{}", entry.path);
            }
            let name = entry.path.rsplit('/').next().unwrap_or_default();
            if entry.kind == "tree" && is_safe_name(name) && depth + 1 < limits.max_depth {
                pending.push_back((entry.sha.clone(), entry.path.clone(), depth + 1));
            }
            raw.push(entry);
        }
        let more = !pending.is_empty() || !running.is_empty();
        if raw.len() >= limits.max_entries && more {
            truncated = true;
            break;
        }
    }
    Ok((raw, truncated))
}

/// Applies the git source's rules to raw entries: safe names only, the depth limit, the entry
/// limit; sorted by path so both ways of listing give the same result.
fn check(mut raw: Vec<WireEntry>, truncated: bool, limits: &GitHubSourceLimits) -> Listing {
    raw.sort_by(|a, b| a.path.cmp(&b.path));
    let mut listing = Listing {
        entries: Vec::new(),
        symlinks: Vec::new(),
        truncated,
        skipped: Vec::new(),
    };
    for wire in raw {
        let segments: Vec<&str> = wire.path.split('/').collect();
        let (name, parents) = segments.split_last().unwrap_or((&"", &[]));
        // Below a skipped folder: already accounted for by the folder itself.
        if parents.iter().any(|s| !is_safe_name(s)) || segments.len() > limits.max_depth {
            continue;
        }
        if !is_safe_name(name) {
            listing
                .skipped
                .push(format!("{}: not a safe name", wire.path.escape_debug()));
            continue;
        }
        if listing.entries.len() >= limits.max_entries {
            listing.truncated = true;
            break;
        }
        let mode = u32::from_str_radix(&wire.mode, 8).unwrap_or(0);
        let size = wire.size.unwrap_or(0);
        let entry = match (wire.kind.as_str(), mode) {
            ("tree", _) => {
                if segments.len() >= limits.max_depth {
                    listing.truncated = true;
                    listing.skipped.push(format!(
                        "{}/: deeper than {} levels",
                        wire.path, limits.max_depth
                    ));
                    continue;
                }
                entry(wire.path, EntryKind::Tree, 0, 0o040_000, Some(wire.sha))
            }
            ("commit", _) => entry(wire.path, EntryKind::Submodule, 0, 0o160_000, None),
            ("blob", 0o120_000) => {
                listing
                    .symlinks
                    .push((listing.entries.len(), wire.sha.clone()));
                entry(wire.path, EntryKind::Symlink, size, 0o120_000, None)
            }
            ("blob", m) => {
                let mode = if m & 0o111 != 0 { 0o100_755 } else { 0o100_644 };
                entry(wire.path, EntryKind::Blob, size, mode, Some(wire.sha))
            }
            (other, _) => {
                listing.skipped.push(format!(
                    "{}: unknown entry type {}",
                    wire.path.escape_debug(),
                    other.escape_debug()
                ));
                continue;
            }
        };
        listing.entries.push(entry);
    }
    listing
}

fn entry(path: String, kind: EntryKind, size: u64, mode: u32, oid: Option<String>) -> Entry {
    Entry {
        path,
        kind,
        size,
        mode,
        link_target: None,
        oid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(path: &str, kind: &str, mode: &str) -> WireEntry {
        WireEntry {
            path: path.to_owned(),
            mode: mode.to_owned(),
            kind: kind.to_owned(),
            sha: "a".repeat(40),
            size: (kind == "blob").then_some(3),
        }
    }

    #[test]
    fn unsafe_names_are_skipped_with_their_contents() {
        let raw = vec![
            wire(".git", "tree", "040000"),
            wire(".git/config", "blob", "100644"),
            wire("a", "tree", "040000"),
            wire("a/run.sh", "blob", "100755"),
            wire("a/back\\slash", "blob", "100644"),
            wire("link", "blob", "120000"),
            wire("sub", "commit", "160000"),
        ];
        let listing = check(raw, false, &GitHubSourceLimits::default());
        let paths: Vec<_> = listing
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.mode))
            .collect();
        assert_eq!(
            paths,
            [
                ("a", EntryKind::Tree, 0o040_000),
                ("a/run.sh", EntryKind::Blob, 0o100_755),
                ("link", EntryKind::Symlink, 0o120_000),
                ("sub", EntryKind::Submodule, 0o160_000),
            ]
        );
        assert_eq!(listing.skipped.len(), 2, "{:?}", listing.skipped);
        assert!(!listing.truncated);
        assert_eq!(listing.symlinks.len(), 1);
    }

    #[test]
    fn depth_and_entry_limits_truncate() {
        let limits = GitHubSourceLimits {
            max_depth: 2,
            ..GitHubSourceLimits::default()
        };
        let raw = vec![
            wire("a", "tree", "040000"),
            wire("a/b", "tree", "040000"),
            wire("a/f", "blob", "100644"),
            wire("a/b/c", "blob", "100644"),
        ];
        let listing = check(raw.clone(), false, &limits);
        let paths: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/f"]);
        assert!(listing.truncated);

        let limits = GitHubSourceLimits {
            max_entries: 2,
            ..GitHubSourceLimits::default()
        };
        let listing = check(raw, false, &limits);
        assert_eq!(listing.entries.len(), 2);
        assert!(listing.truncated);
    }
}
