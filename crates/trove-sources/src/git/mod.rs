//! The git source: any `https://`, `http://` (loopback unless allowed), `file://` URL or local
//! repository, read with gix.
//!
//! Remote URLs are fetched shallowly (depth 1) into bare repositories cached under
//! `cache_dir/<hash of URL and credentials>`; a later snapshot fetches only what is new, and a
//! snapshot of a commit already in the cache touches no network at all. Local paths are read in
//! place. `head` is a ref advertisement only (the `git ls-remote` of it), run against a shared
//! empty probe repository so it never waits behind a fetch. Decoded trees are kept by object id
//! between snapshots, so listing a commit after a small change decodes only the folders on the
//! changed paths. Every operation runs on a blocking thread under one deadline; a pack budget and
//! listing limits bound the rest.

mod budget;
mod errors;
pub mod location;
mod lock;
mod net;
mod tree;
mod tree_cache;

pub(crate) use tree::subdir_segments;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::bstr::ByteSlice;

use self::errors::git_error;
use self::location::{Location, Remote};
use self::lock::{FileLock, KeyedLocks};
use self::net::NetBudget;
use self::tree::GitBlobReader;
use self::tree_cache::TreeCache;
use crate::snapshot::RepoSnapshot;
use crate::source::{BoxFuture, Head, Reference, RepositorySource, SourceError, Target};

/// Bounds for every git operation.
#[derive(Debug, Clone, Copy)]
pub struct GitLimits {
    /// Wall-clock limit for one `head` or `snapshot` call (lock wait, network and listing).
    pub timeout: Duration,
    /// Most pack bytes one fetch may download.
    pub max_pack_bytes: u64,
    /// Stop listing after this many entries (files, folders, links); the snapshot is then
    /// marked truncated.
    pub max_entries: usize,
    /// Largest blob ever read into memory.
    pub max_blob_bytes: u64,
    /// Do not descend below this many folder levels (the snapshot is then marked truncated).
    pub max_depth: usize,
    /// Decoded trees kept between snapshots, counted in tree entries (about 100 bytes each):
    /// the next snapshot of a repository decodes only the folders that changed. 0 turns it off.
    pub tree_cache_entries: usize,
}

impl Default for GitLimits {
    fn default() -> Self {
        GitLimits {
            timeout: Duration::from_secs(120),
            max_pack_bytes: 512 << 20,
            max_entries: 250_000,
            max_blob_bytes: 32 << 20,
            max_depth: 48,
            tree_cache_entries: 500_000,
        }
    }
}

/// The git implementation of [`RepositorySource`].
#[derive(Debug)]
pub struct GitSource {
    cache_dir: PathBuf,
    limits: GitLimits,
    allow_local: bool,
    allow_http: bool,
    locks: KeyedLocks,
    trees: Arc<TreeCache>,
}

/// Name of the shared empty repository `head` runs ref advertisements from.
const PROBE_DIR: &str = "probe.git";

impl GitSource {
    /// A source caching under `cache_dir` (created on first use). Local paths and `file://` URLs
    /// are allowed; plain `http://` only to loopback hosts.
    pub fn new(cache_dir: impl Into<PathBuf>, limits: GitLimits) -> Self {
        GitSource {
            cache_dir: cache_dir.into(),
            limits,
            allow_local: true,
            allow_http: false,
            locks: KeyedLocks::default(),
            trees: Arc::new(TreeCache::new(limits.tree_cache_entries)),
        }
    }

    /// Whether local paths and `file://` URLs are accepted (a multi-tenant server should refuse
    /// them: they read this machine's filesystem).
    pub fn allow_local(mut self, allow: bool) -> Self {
        self.allow_local = allow;
        self
    }

    /// Whether plain `http://` is accepted for hosts other than loopback.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &GitLimits {
        &self.limits
    }

    /// The cache directory `target` uses, or `None` for a local repository (read in place).
    pub fn cache_path(&self, target: &Target) -> Result<Option<PathBuf>, SourceError> {
        Ok(match self.locate(target)? {
            Location::Local(_) => None,
            Location::Remote(r) => Some(self.cache_dir.join(r.cache_key())),
        })
    }

    fn locate(&self, target: &Target) -> Result<Location, SourceError> {
        location::parse(
            &target.url,
            target.credentials.as_ref(),
            self.allow_local,
            self.allow_http,
        )
    }

    /// Where `target.reference` points now. See [`RepositorySource::head`].
    pub async fn head(&self, target: &Target) -> Result<Head, SourceError> {
        let location = self.locate(target)?;
        if let Reference::Sha(sha) = &target.reference {
            let id = net::parse_sha(sha)?;
            return Ok(Head {
                sha: id.to_string(),
                ref_name: None,
            });
        }
        let reference = target.reference.clone();
        let cache_dir = self.cache_dir.clone();
        self.bounded(None, move |budget| match location {
            Location::Local(path) => {
                let repo = open_local(&path)?;
                resolve_local(&repo, &reference)
            }
            Location::Remote(remote) => {
                let probe = probe_repo(&cache_dir)?;
                net::ls_remote(&probe, &remote, &reference, &budget)
            }
        })
        .await
    }

    /// A snapshot of commit `sha`. See [`RepositorySource::snapshot`].
    pub async fn snapshot(&self, target: &Target, sha: &str) -> Result<RepoSnapshot, SourceError> {
        let location = self.locate(target)?;
        let id = net::parse_sha(sha)?;
        if let Some(subdir) = &target.subdir {
            tree::subdir_segments(subdir)?;
        }
        let limits = self.limits;
        let subdir = target.subdir.clone();
        let trees = Arc::clone(&self.trees);
        match location {
            Location::Local(path) => {
                self.bounded(None, move |_| {
                    let repo = open_local(&path)?;
                    let name = location::repo_name(&path.to_string_lossy());
                    build_snapshot(repo, &trees, id, subdir.as_deref(), &limits, name)
                })
                .await
            }
            Location::Remote(remote) => {
                let key = remote.cache_key();
                let mutex = self.locks.get(&key);
                let cache_dir = self.cache_dir.clone();
                let reference = target.reference.clone();
                self.bounded(Some(mutex), move |budget| {
                    let repo = fetch_commit(&cache_dir, &key, &remote, &reference, id, &budget)?;
                    let name = location::repo_name(&remote.display);
                    build_snapshot(repo, &trees, id, subdir.as_deref(), &limits, name)
                })
                .await
            }
        }
    }

    /// Runs `work` on a blocking thread under the operation deadline, after taking `mutex` (the
    /// per-cache-entry lock) when given. On timeout the interrupt flag stops a pack download at
    /// its next read, so the abandoned thread soon releases its file lock.
    async fn bounded<T, F>(
        &self,
        mutex: Option<Arc<tokio::sync::Mutex<()>>>,
        work: F,
    ) -> Result<T, SourceError>
    where
        T: Send + 'static,
        F: FnOnce(NetBudget) -> Result<T, SourceError> + Send + 'static,
    {
        let timeout = self.limits.timeout;
        let interrupt = Arc::new(AtomicBool::new(false));
        let budget = NetBudget {
            deadline: Instant::now() + timeout,
            timeout,
            max_pack_bytes: self.limits.max_pack_bytes,
            interrupt: interrupt.clone(),
        };
        let op = async move {
            // Waiting here costs no thread; the file lock inside covers other processes.
            let _guard = match mutex {
                Some(m) => Some(m.lock_owned().await),
                None => None,
            };
            match tokio::task::spawn_blocking(move || work(budget)).await {
                Ok(r) => r,
                Err(e) => Err(SourceError::Git(format!("git worker failed: {e}"))),
            }
        };
        match tokio::time::timeout(timeout, op).await {
            Ok(r) => r,
            Err(_) => {
                interrupt.store(true, Ordering::SeqCst);
                Err(SourceError::Timeout(timeout))
            }
        }
    }
}

impl RepositorySource for GitSource {
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>> {
        Box::pin(GitSource::head(self, target))
    }

    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>> {
        Box::pin(GitSource::snapshot(self, target, sha))
    }
}

/// Lists commit `id` of `repo` and wraps it with a reader on the same object database.
fn build_snapshot(
    repo: gix::Repository,
    trees: &TreeCache,
    id: ObjectId,
    subdir: Option<&str>,
    limits: &GitLimits,
    root_name: Option<String>,
) -> Result<RepoSnapshot, SourceError> {
    let listing = tree::list_commit(&repo, trees, id, subdir, limits, root_name)?;
    let reader = GitBlobReader {
        repo: repo.into_sync(),
        max_blob_bytes: limits.max_blob_bytes,
        handles: std::sync::Mutex::new(Vec::new()),
    };
    Ok(RepoSnapshot::new(listing, Box::new(reader)))
}

/// Options for every repository we open: our own settings only, never the user's global git
/// configuration, environment or credential helpers.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().config_overrides([
        "user.name=trove",
        "user.email=trove@localhost",
        "core.logAllRefUpdates=false",
    ])
}

/// Opens a local repository (work tree or bare) in place.
fn open_local(path: &Path) -> Result<gix::Repository, SourceError> {
    gix::open_opts(path, open_options()).map_err(|e| {
        let err = git_error("opening", &e);
        match err {
            SourceError::Git(m) | SourceError::NotFound(m) => {
                SourceError::NotFound(format!("no git repository at {}: {m}", path.display()))
            }
            other => other,
        }
    })
}

/// Resolves a reference in a local repository, peeling tags to their commit.
fn resolve_local(repo: &gix::Repository, reference: &Reference) -> Result<Head, SourceError> {
    for name in net::ref_candidates(reference)? {
        let found = repo
            .try_find_reference(name.as_str())
            .map_err(|e| git_error("reading refs", &e))?;
        let Some(mut r) = found else { continue };
        let full = match r.target().try_name() {
            Some(target) => target.as_bstr().to_string(),
            None => r.name().as_bstr().to_string(),
        };
        let id = r
            .peel_to_commit()
            .map_err(|e| SourceError::NotFound(format!("{name}: {}", errors::chain(&e))))?
            .id;
        return Ok(Head {
            sha: id.to_string(),
            ref_name: Some(full),
        });
    }
    Err(SourceError::NotFound(format!(
        "{reference:?} not found in {}",
        repo.git_dir().display()
    )))
}

/// The shared empty repository for ref advertisements, created once.
fn probe_repo(cache_dir: &Path) -> Result<gix::Repository, SourceError> {
    let dir = cache_dir.join(PROBE_DIR);
    if let Ok(repo) = gix::open_opts(&dir, open_options()) {
        return Ok(repo);
    }
    init_atomically(cache_dir, &dir)
}

/// Creates a bare repository at `dir` by initialising a sibling and renaming it into place, so
/// a crash never leaves a half-made repository under the final name.
fn init_atomically(cache_dir: &Path, dir: &Path) -> Result<gix::Repository, SourceError> {
    let io = |e: std::io::Error| SourceError::Git(format!("cache directory: {e}"));
    std::fs::create_dir_all(cache_dir).map_err(io)?;
    let tmp = tempdir_in(cache_dir).map_err(io)?;
    gix::init_bare(&tmp).map_err(|e| git_error("creating the cache", &e))?;
    if let Err(e) = std::fs::rename(&tmp, dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        // Someone else won the race (the probe is created without a lock); use theirs.
        if !dir.exists() {
            return Err(io(e));
        }
    }
    gix::open_opts(dir, open_options()).map_err(|e| git_error("opening the cache", &e))
}

/// A fresh, uniquely named directory in `parent`.
fn tempdir_in(parent: &Path) -> std::io::Result<PathBuf> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = parent.join(format!(".tmp-{}-{n}-{nanos}", std::process::id()));
        match std::fs::create_dir(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes sure commit `id` is in the cache entry `key`, fetching the ref and then the commit
/// itself when it is not; holds the entry's file lock throughout.
fn fetch_commit(
    cache_dir: &Path,
    key: &str,
    remote: &Remote,
    reference: &Reference,
    id: ObjectId,
    budget: &NetBudget,
) -> Result<gix::Repository, SourceError> {
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| SourceError::Git(format!("cache directory: {e}")))?;
    let _lock = FileLock::acquire(
        &cache_dir.join(format!("{key}.lock")),
        budget.deadline,
        budget.timeout,
    )?;
    let dir = cache_dir.join(key);
    let repo = match gix::open_opts(&dir, open_options()) {
        Ok(repo) => {
            clear_stale_git_locks(&dir);
            repo
        }
        Err(e) => {
            // A repository that looks whole but does not open is a transient problem (file
            // descriptors, permissions): keep it, other snapshots may be reading from it.
            if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
                return Err(git_error("opening the cache", &e));
            }
            // Missing, or not a repository at all: start over (we hold the lock).
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| SourceError::Git(format!("removing a broken cache: {e}")))?;
            }
            init_atomically(cache_dir, &dir)?
        }
    };
    if repo.has_object(id) {
        tracing::debug!(remote = %remote.display, %id, "commit already cached");
        return Ok(repo);
    }
    if !matches!(reference, Reference::Sha(_)) {
        // The ref is only a hint (it lets servers that refuse fetches by id serve the common
        // case); a ref deleted since `head` must not hide a commit that is still there.
        match net::fetch_ref(&repo, remote, reference, budget) {
            Ok(bytes) => tracing::debug!(remote = %remote.display, bytes, "fetched ref"),
            Err(SourceError::NotFound(m)) => tracing::debug!(remote = %remote.display, "{m}"),
            Err(e) => return Err(e),
        }
        if repo.has_object(id) {
            return Ok(repo);
        }
    }
    // The ref moved on (or none was given): ask for the commit itself.
    let bytes = net::fetch_sha(&repo, remote, id, budget).map_err(|e| match e {
        SourceError::NotFound(m) => {
            SourceError::NotFound(format!("commit {id} could not be fetched: {m}"))
        }
        // `git upload-pack` exits as soon as it reads a want it does not have, which can
        // break the pipe before its "not our ref" is read; a file:// remote can be asked
        // directly instead.
        SourceError::Git(m) | SourceError::Unreachable(m) if file_remote_lacks(remote, id) => {
            SourceError::NotFound(format!("commit {id} is not on {}: {m}", remote.display))
        }
        other => other,
    })?;
    tracing::debug!(remote = %remote.display, bytes, "fetched commit");
    if repo.has_object(id) {
        Ok(repo)
    } else {
        Err(SourceError::NotFound(format!(
            "commit {id} is not on {}",
            remote.display
        )))
    }
}

/// True when `remote` is a `file://` repository that certainly lacks object `id`.
fn file_remote_lacks(remote: &Remote, id: ObjectId) -> bool {
    if remote.url.scheme != gix::url::Scheme::File {
        return false;
    }
    let Ok(path) = gix::path::from_bstr(remote.url.path.as_bstr()) else {
        return false;
    };
    gix::open_opts(path.into_owned(), open_options()).is_ok_and(|repo| !repo.has_object(id))
}

/// Removes git lock files a killed fetch left behind. Only called while holding our own file
/// lock, so no live git operation can own them.
fn clear_stale_git_locks(git_dir: &Path) {
    for name in [
        "packed-refs.lock",
        "shallow.lock",
        "HEAD.lock",
        "config.lock",
    ] {
        let _ = std::fs::remove_file(git_dir.join(name));
    }
    let mut stack = vec![git_dir.join("refs")];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in read.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "lock") {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
