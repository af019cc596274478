//! Reading blobs of a GitHub snapshot: `GET .../git/blobs/{sha}` as raw bytes, bounded, with a
//! small per-snapshot cache (discovery reads manifests that the import then reads again).
//!
//! [`BlobReader`] is synchronous (discovery is), so each read runs the request on the runtime
//! the snapshot was made on and waits for it; callers run inside `spawn_blocking`, as for the git
//! source.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use trove_discovery::Entry;

use super::api::encode_segment;
use super::app::GitHubApp;
use super::error::GitHubError;
use super::http::{Call, Credential, RAW};
use crate::snapshot::BlobReader;
use crate::source::SourceError;

/// Most bytes of a symlink target kept (as the git source does).
pub(crate) const MAX_LINK_TARGET: u64 = 4096;

/// Fetches one blob as raw bytes, reading at most `limit` bytes; the flag says it is longer
/// (the bytes are then a prefix, possibly empty).
pub(crate) async fn fetch_blob(
    app: &GitHubApp,
    installation: u64,
    repo: &str,
    sha: &str,
    limit: u64,
) -> Result<(Vec<u8>, bool), GitHubError> {
    let url = format!(
        "{}/repos/{repo}/git/blobs/{}",
        app.api_url(),
        encode_segment(sha)
    );
    let mut call = Call::get(url, Credential::Installation(installation))
        .accept(RAW)
        .uncached();
    call.body_limit = limit;
    let answer = app.send(call).await?;
    Ok((answer.body, answer.overflow))
}

/// Small cache of blob contents, bounded in bytes, oldest out first.
struct BlobCache {
    budget: usize,
    used: usize,
    order: VecDeque<String>,
    data: HashMap<String, Vec<u8>>,
}

impl BlobCache {
    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.data.get(path).cloned()
    }

    fn put(&mut self, path: &str, data: &[u8]) {
        // Large files are read once (by the import); caching them would evict the manifests.
        if data.len() > self.budget / 8 || self.data.contains_key(path) {
            return;
        }
        while self.used + data.len() > self.budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(d) = self.data.remove(&old) {
                self.used -= d.len();
            }
        }
        self.used += data.len();
        self.order.push_back(path.to_owned());
        self.data.insert(path.to_owned(), data.to_vec());
    }
}

/// The [`BlobReader`] of a GitHub snapshot.
pub(crate) struct GitHubBlobReader {
    app: GitHubApp,
    runtime: tokio::runtime::Handle,
    installation: u64,
    repo: String,
    max_blob_bytes: u64,
    cache: Mutex<BlobCache>,
}

impl GitHubBlobReader {
    /// A reader for the blobs of `repo`.
    pub fn new(
        app: GitHubApp,
        installation: u64,
        repo: String,
        max_blob_bytes: u64,
        cache_bytes: usize,
    ) -> Self {
        GitHubBlobReader {
            app,
            runtime: tokio::runtime::Handle::current(),
            installation,
            repo,
            max_blob_bytes,
            cache: Mutex::new(BlobCache {
                budget: cache_bytes,
                used: 0,
                order: VecDeque::new(),
                data: HashMap::new(),
            }),
        }
    }

    /// Runs the fetch on the snapshot's runtime and waits for it from this (blocking) thread.
    /// A task plus a channel rather than `Handle::block_on`, so a runtime that shuts down ends
    /// the wait with an error instead of a hang.
    fn fetch_blocking(&self, sha: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let app = self.app.clone();
        let repo = self.repo.clone();
        let sha = sha.to_owned();
        let installation = self.installation;
        self.runtime.spawn(async move {
            let result = fetch_blob(&app, installation, &repo, &sha, limit).await;
            let _ = tx.send(result.map(|(data, overflow)| (!overflow).then_some(data)));
        });
        match rx.recv() {
            Ok(result) => result.map_err(SourceError::from),
            Err(_) => Err(SourceError::Unreachable(
                "the runtime stopped before the blob was read".to_owned(),
            )),
        }
    }
}

impl std::fmt::Debug for GitHubBlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubBlobReader")
            .field("repo", &self.repo)
            .field("installation", &self.installation)
            .finish()
    }
}

impl BlobReader for GitHubBlobReader {
    fn read_blob(&self, entry: &Entry, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
        let (path, size) = (entry.path.as_str(), &entry.size);
        let Some(sha) = entry.oid.as_deref() else {
            return Err(SourceError::NotFound(format!(
                "{} is not a file of this snapshot",
                path.escape_debug()
            )));
        };
        let limit = max_bytes.min(self.max_blob_bytes);
        let too_large = |size: String| {
            SourceError::TooLarge(format!(
                "{} has {size} bytes, over the limit of {limit}",
                path.escape_debug()
            ))
        };
        if *size > limit {
            return Err(too_large(size.to_string()));
        }
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path);
        if let Some(data) = cached {
            if data.len() as u64 > limit {
                return Err(too_large(data.len().to_string()));
            }
            return Ok(data);
        }
        // The listed size is GitHub's word; the limit is enforced on the bytes actually read.
        let Some(data) = self.fetch_blocking(sha, limit)? else {
            return Err(too_large(format!("more than {limit}")));
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(path, &data);
        Ok(data)
    }
}
