//! GitHub: an App client (app JWTs, installation tokens, user-to-server OAuth) over hand-written
//! REST calls, and [`GitHubSource`], the [`crate::RepositorySource`] that reads repositories
//! through the REST API instead of git.
//!
//! - [`GitHubApp`] is cheap to clone and shared by the server (install flow, repository lists)
//!   and the worker (snapshots). It signs app JWTs with the App key, mints installation tokens
//!   and keeps them until shortly before they expire, remembers `ETag`s so repeated reads cost a
//!   `304` (which GitHub does not count against the rate limit), waits out short rate limits and
//!   retries server errors with backoff.
//! - [`GitHubSource`] resolves heads with one conditional request and lists commits through the
//!   git trees API, falling back to a walk of subtrees when GitHub truncates a recursive listing,
//!   and reads files through the blobs API, or from the commit's tarball when a run reads many.
//!
//! No message, `Debug` output or log line carries the private key, a JWT, a token or the client
//! secret.

mod api;
mod app;
mod archive;
mod blob;
mod config;
mod error;
mod etag;
mod http;
mod jwt;
mod model;
mod source;
mod tokens;
mod tree;

pub use app::GitHubApp;
pub use config::{GitHubConfig, GitHubLimits, GitHubSourceLimits};
pub use error::GitHubError;
pub use model::{AppInfo, ClientStats, GitHubUser, Installation, Repository, UserToken};
pub use source::GitHubSource;
