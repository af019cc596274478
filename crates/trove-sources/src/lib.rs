//! Repository snapshots: one commit of a repository as a listing plus a blob reader, feeding
//! `trove-discovery` and the importer.
//!
//! - [`RepositorySource`] is what the sync engine calls: a cheap [`RepositorySource::head`] (ref
//!   advertisement only) and [`RepositorySource::snapshot`] at an exact commit SHA. It is
//!   dyn-compatible, so engines hold an `Arc<dyn RepositorySource>`.
//! - [`GitSource`] implements it for https/http/`file://` URLs and local repositories with gix:
//!   shallow fetches into a per-URL bare-repository cache, trees read without a work tree, every
//!   call bounded in time and size.
//! - [`GitHubSource`] implements it for repositories of GitHub App installations, through the
//!   REST API ([`GitHubApp`] is the App client); [`SourceRouter`] sends each target to the right
//!   one.
//! - [`RepoSnapshot`] implements [`trove_discovery::Snapshot`], so
//!   `trove_discovery::discover(&snapshot)` judges a git commit exactly as it judges a directory.

pub mod git;
pub mod github;
mod router;
mod snapshot;
mod source;
pub mod webhook;

pub use git::location::redact_url;
pub use git::{GitLimits, GitSource};
pub use github::{
    AppInfo, ClientStats, GitHubApp, GitHubConfig, GitHubError, GitHubLimits, GitHubSource,
    GitHubSourceLimits, GitHubUser, Installation, Repository, UserToken,
};
pub use router::SourceRouter;
pub use snapshot::{BlobReader, RepoSnapshot, SnapshotParts};
pub use source::{
    BoxFuture, Credentials, GitHubRepo, Head, Reference, RepositorySource, SourceError, Target,
};
