//! Reading blobs of a GitHub snapshot: `GET .../git/blobs/{sha}` as raw bytes, bounded, with a
//! small per-snapshot cache (discovery reads manifests that the import then reads again), or from
//! the commit's tarball once the snapshot has read many (see `archive`).
//!
//! [`BlobReader`] is synchronous (discovery is), so each read runs the request on the runtime
//! the snapshot was made on and waits for it; callers run inside `spawn_blocking`, as for the git
//! source.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use trove_discovery::Entry;

use super::api::encode_segment;
use super::app::GitHubApp;
use super::archive::{ARCHIVE_AFTER_BLOBS, ARCHIVE_MIN_BLOBS, Wanted, tarball_url, unpack};
use super::config::GitHubSourceLimits;
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
    fetch_content(app, installation, url, Some(RAW), limit).await
}

/// Reads repository content at `url` with the installation's token, at most `limit` bytes; the
/// flag says it is longer (the bytes are then a prefix, possibly empty).
pub(crate) async fn fetch_content(
    app: &GitHubApp,
    installation: u64,
    url: String,
    accept: Option<&'static str>,
    limit: u64,
) -> Result<(Vec<u8>, bool), GitHubError> {
    let mut call = Call::get(url, Credential::Installation(installation)).uncached();
    if let Some(accept) = accept {
        call = call.accept(accept);
    }
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

/// Whether a snapshot's files come from its tarball.
enum Archive {
    /// Not yet: this many blobs were read one by one.
    NotYet { fetched: usize },
    /// The listed files found in the tarball, by blob id.
    Loaded(HashMap<String, Vec<u8>>),
    /// Not for this snapshot (too few or too large files, or the download failed).
    Unused,
}

/// The [`BlobReader`] of a GitHub snapshot.
pub(crate) struct GitHubBlobReader {
    app: GitHubApp,
    runtime: tokio::runtime::Handle,
    installation: u64,
    repo: String,
    /// The commit, for its tarball.
    sha: String,
    max_blob_bytes: u64,
    archive_bytes: u64,
    cache: Mutex<BlobCache>,
    wanted: Wanted,
    archive: Mutex<Archive>,
}

impl GitHubBlobReader {
    /// A reader for the blobs of commit `sha` of `repo`, whose listing is `entries`.
    pub fn new(
        app: GitHubApp,
        installation: u64,
        repo: String,
        sha: String,
        entries: &[Entry],
        limits: &GitHubSourceLimits,
    ) -> Self {
        let wanted = Wanted::of(entries, limits.max_blob_bytes);
        let archive = if wanted.len() >= ARCHIVE_MIN_BLOBS && wanted.bytes() <= limits.archive_bytes
        {
            Archive::NotYet { fetched: 0 }
        } else {
            Archive::Unused
        };
        GitHubBlobReader {
            app,
            runtime: tokio::runtime::Handle::current(),
            installation,
            repo,
            sha,
            max_blob_bytes: limits.max_blob_bytes,
            archive_bytes: limits.archive_bytes,
            cache: Mutex::new(BlobCache {
                budget: limits.blob_cache_bytes,
                used: 0,
                order: VecDeque::new(),
                data: HashMap::new(),
            }),
            wanted,
            archive: Mutex::new(archive),
        }
    }

    /// Runs `fetch` on the snapshot's runtime and waits for it from this (blocking) thread.
    /// A task plus a channel rather than `Handle::block_on`, so a runtime that shuts down ends
    /// the wait with an error instead of a hang.
    fn on_runtime<T: Send + 'static>(
        &self,
        what: &str,
        fetch: impl Future<Output = Result<T, GitHubError>> + Send + 'static,
    ) -> Result<T, SourceError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(fetch.await);
        });
        match rx.recv() {
            Ok(result) => result.map_err(SourceError::from),
            Err(_) => Err(SourceError::Unreachable(format!(
                "the runtime stopped before the {what} was read"
            ))),
        }
    }

    /// Fetches one blob; `None` when it is longer than `limit`.
    fn fetch_blocking(&self, sha: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let (app, repo, sha) = (self.app.clone(), self.repo.clone(), sha.to_owned());
        let installation = self.installation;
        let (data, overflow) = self.on_runtime("blob", async move {
            fetch_blob(&app, installation, &repo, &sha, limit).await
        })?;
        Ok((!overflow).then_some(data))
    }

    /// The content of blob `id` from the tarball, loading the tarball first when this snapshot
    /// has read enough blobs one by one; `None` when the blobs API must serve it.
    fn archived(&self, id: &str) -> Option<Vec<u8>> {
        // Held while the tarball loads: concurrent reads wait for it rather than each making a
        // request it would make unnecessary.
        let mut archive = self.archive.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *archive {
            Archive::NotYet { fetched } if *fetched >= ARCHIVE_AFTER_BLOBS => {
                *archive = self.load_archive();
            }
            Archive::NotYet { fetched } => {
                *fetched += 1;
                return None;
            }
            Archive::Loaded(_) | Archive::Unused => {}
        }
        match &*archive {
            Archive::Loaded(files) => files.get(&id.to_ascii_lowercase()).cloned(),
            Archive::NotYet { .. } | Archive::Unused => None,
        }
    }

    fn load_archive(&self) -> Archive {
        let (app, installation) = (self.app.clone(), self.installation);
        let url = tarball_url(&app, &self.repo, &self.sha);
        let limit = self.archive_bytes.saturating_mul(2);
        let downloaded = self.on_runtime("tarball", async move {
            fetch_content(&app, installation, url, None, limit).await
        });
        let archive = match downloaded {
            Ok((_, true)) => Err(format!("it is over {limit} bytes")),
            Ok((archive, false)) => unpack(
                &archive,
                &self.wanted,
                self.max_blob_bytes,
                self.archive_bytes.saturating_mul(8),
            ),
            Err(error) => Err(error.to_string()),
        };
        match archive {
            Ok(files) => {
                tracing::debug!(repo = %self.repo, sha = %self.sha, files = files.len(), listed = self.wanted.len(), "reading files from the commit's tarball");
                Archive::Loaded(files)
            }
            Err(error) => {
                tracing::warn!(repo = %self.repo, sha = %self.sha, %error, "cannot use the commit's tarball; reading files one by one");
                Archive::Unused
            }
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
        let data = match self.archived(sha) {
            Some(data) if data.len() as u64 > limit => {
                return Err(too_large(data.len().to_string()));
            }
            Some(data) => data,
            None => match self.fetch_blocking(sha, limit)? {
                Some(data) => data,
                None => return Err(too_large(format!("more than {limit}"))),
            },
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(path, &data);
        Ok(data)
    }
}
