//! [`GitHubSource`]: the [`RepositorySource`] for targets that name a repository of an App
//! installation ([`Target::github`]).
//!
//! `head` is one conditional `GET .../commits/{ref}` asking for the bare SHA, so the periodic
//! backstop costs a `304` when nothing moved. `snapshot` reads the commit's tree through the git
//! trees API (see `tree`) and serves blobs through the blobs API (see `blob`).

use std::future::Future;

use serde::Deserialize;

use super::api::{encode_segment, is_object_id, repo_path};
use super::app::GitHubApp;
use super::blob::{GitHubBlobReader, MAX_LINK_TARGET, fetch_blob};
use super::config::GitHubSourceLimits;
use super::error::GitHubError;
use super::http::{Call, Credential};
use super::tree::{self, Listing, TreeReader};
use crate::git::subdir_segments;
use crate::snapshot::{RepoSnapshot, SnapshotParts};
use crate::source::{
    BoxFuture, GitHubRepo, Head, Reference, RepositorySource, SourceError, Target,
};

/// Reads repositories of App installations through the REST API.
#[derive(Debug, Clone)]
pub struct GitHubSource {
    app: GitHubApp,
    limits: GitHubSourceLimits,
}

impl GitHubSource {
    /// A source reading through `app`, with default limits.
    pub fn new(app: GitHubApp) -> Self {
        Self::with_limits(app, GitHubSourceLimits::default())
    }

    /// A source reading through `app` within `limits`.
    pub fn with_limits(app: GitHubApp, limits: GitHubSourceLimits) -> Self {
        GitHubSource { app, limits }
    }

    /// The App client this source reads through.
    pub fn app(&self) -> &GitHubApp {
        &self.app
    }

    /// The limits in force.
    pub fn limits(&self) -> &GitHubSourceLimits {
        &self.limits
    }

    /// Where the target's reference points now. See [`RepositorySource::head`].
    pub async fn head(&self, target: &Target) -> Result<Head, SourceError> {
        let repo = github_repo(target)?;
        if let Reference::Sha(sha) = &target.reference {
            return if is_object_id(sha) {
                Ok(Head {
                    sha: sha.to_ascii_lowercase(),
                    ref_name: None,
                })
            } else {
                Err(SourceError::Invalid(format!(
                    "{} is not a full commit SHA",
                    sha.escape_debug()
                )))
            };
        }
        self.bounded(self.resolve(repo, &target.reference)).await
    }

    async fn resolve(&self, repo: &GitHubRepo, reference: &Reference) -> Result<Head, SourceError> {
        let (inst, name) = (repo.installation_id, repo.full_name.as_str());
        let at = |git_ref: String, ref_name: String| async move {
            let sha = self.app.commit_at(inst, name, &git_ref).await?;
            Ok::<_, GitHubError>(Head {
                sha,
                ref_name: Some(ref_name),
            })
        };
        let head = match reference {
            Reference::DefaultBranch => {
                let branch = self.app.repository(inst, name).await?.default_branch;
                at(format!("heads/{branch}"), format!("refs/heads/{branch}")).await?
            }
            Reference::Branch(b) => at(format!("heads/{b}"), format!("refs/heads/{b}")).await?,
            Reference::Tag(t) => at(format!("tags/{t}"), format!("refs/tags/{t}")).await?,
            Reference::Named(n) => match n.strip_prefix("refs/") {
                Some(rest) => at(rest.to_owned(), n.clone()).await?,
                // As `git clone --branch` does: a branch first, then a tag.
                None => match at(format!("heads/{n}"), format!("refs/heads/{n}")).await {
                    Err(GitHubError::NotFound(_)) => {
                        at(format!("tags/{n}"), format!("refs/tags/{n}")).await?
                    }
                    other => other?,
                },
            },
            Reference::Sha(sha) => Head {
                sha: sha.clone(),
                ref_name: None,
            },
        };
        Ok(head)
    }

    /// A snapshot of commit `sha`. See [`RepositorySource::snapshot`].
    pub async fn snapshot(&self, target: &Target, sha: &str) -> Result<RepoSnapshot, SourceError> {
        let repo = github_repo(target)?;
        if !is_object_id(sha) {
            return Err(SourceError::Invalid(format!(
                "{} is not a full commit SHA",
                sha.escape_debug()
            )));
        }
        let segments = match &target.subdir {
            Some(subdir) => subdir_segments(subdir)?,
            None => Vec::new(),
        };
        self.bounded(self.read_snapshot(repo, &sha.to_ascii_lowercase(), segments))
            .await
    }

    async fn read_snapshot(
        &self,
        repo: &GitHubRepo,
        sha: &str,
        segments: Vec<String>,
    ) -> Result<RepoSnapshot, SourceError> {
        let reader = TreeReader {
            app: self.app.clone(),
            installation: repo.installation_id,
            repo: repo_path(&repo.full_name)?,
        };
        let mut tree = self.commit_tree(&reader, sha).await?;
        for (i, seg) in segments.iter().enumerate() {
            let listing = reader.tree(&tree, false).await.map_err(listing_error)?;
            let found = listing
                .tree
                .into_iter()
                .find(|e| e.path == *seg && e.kind == "tree");
            let Some(found) = found else {
                return Err(SourceError::NotFound(format!(
                    "folder {} is not in commit {sha}",
                    segments[..=i].join("/")
                )));
            };
            tree = found.sha;
        }
        let mut listing = tree::list(&reader, &tree, &self.limits)
            .await
            .map_err(listing_error)?;
        self.read_link_targets(&reader, &mut listing).await?;
        let root_name = segments
            .last()
            .cloned()
            .or_else(|| repo.full_name.rsplit('/').next().map(str::to_owned));
        let blob_reader = GitHubBlobReader::new(
            self.app.clone(),
            repo.installation_id,
            reader.repo.clone(),
            sha.to_owned(),
            &listing.entries,
            &self.limits,
        );
        Ok(RepoSnapshot::new(
            SnapshotParts {
                sha: sha.to_owned(),
                entries: listing.entries,
                truncated: listing.truncated,
                root_name,
                skipped: listing.skipped,
            },
            Box::new(blob_reader),
        ))
    }

    /// The tree of commit `sha` (`GET .../git/commits/{sha}`).
    async fn commit_tree(&self, reader: &TreeReader, sha: &str) -> Result<String, SourceError> {
        #[derive(Deserialize)]
        struct Commit {
            tree: TreeRef,
        }
        #[derive(Deserialize)]
        struct TreeRef {
            sha: String,
        }
        let url = format!(
            "{}/repos/{}/git/commits/{}",
            self.app.api_url(),
            reader.repo,
            encode_segment(sha)
        );
        let call = Call::get(url, Credential::Installation(reader.installation))
            .uncached()
            .missing_on_422();
        let commit: Commit = match self.app.send(call).await {
            Ok(answer) => answer.json(&format!("commit {sha}"))?,
            Err(GitHubError::NotFound(m)) => {
                return Err(SourceError::NotFound(format!(
                    "commit {sha} is not in {}: {m}",
                    reader.repo
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(commit.tree.sha)
    }

    /// Fills in symlink targets, a few requests at a time, as the git source does (discovery
    /// warns about links that leave the repository).
    async fn read_link_targets(
        &self,
        reader: &TreeReader,
        listing: &mut Listing,
    ) -> Result<(), SourceError> {
        let mut running = tokio::task::JoinSet::new();
        let mut pending = std::mem::take(&mut listing.symlinks).into_iter();
        loop {
            while running.len() < self.limits.tree_concurrency.max(1) {
                let Some((index, sha)) = pending.next() else {
                    break;
                };
                let reader = reader.clone();
                running.spawn(async move {
                    let (app, inst) = (&reader.app, reader.installation);
                    // A longer target is cut, never refused: the link is reported, not followed.
                    let (data, _) =
                        fetch_blob(app, inst, &reader.repo, &sha, MAX_LINK_TARGET).await?;
                    Ok::<_, GitHubError>((index, data))
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (index, data) = joined
                .map_err(|e| SourceError::Unreachable(format!("reading a symlink: {e}")))?
                .map_err(listing_error)?;
            listing.entries[index].link_target = Some(String::from_utf8_lossy(&data).into_owned());
        }
        Ok(())
    }

    /// Runs `work` under the source's time limit.
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        match tokio::time::timeout(self.limits.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Timeout(self.limits.timeout)),
        }
    }
}

/// The GitHub repository of `target`, or an error for targets that have none.
fn github_repo(target: &Target) -> Result<&GitHubRepo, SourceError> {
    target.github.as_ref().ok_or_else(|| {
        SourceError::Invalid("this target is not a GitHub App repository".to_owned())
    })
}

/// An error while listing a commit that exists: a missing tree or blob there is damage or a
/// race on GitHub's side, worth a retry, not "the repository is gone".
fn listing_error(e: GitHubError) -> SourceError {
    match e {
        GitHubError::NotFound(m) => SourceError::Git(format!("listing the commit: {m}")),
        other => other.into(),
    }
}

impl RepositorySource for GitHubSource {
    fn head<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<Head, SourceError>> {
        Box::pin(GitHubSource::head(self, target))
    }

    fn snapshot<'a>(
        &'a self,
        target: &'a Target,
        sha: &'a str,
    ) -> BoxFuture<'a, Result<RepoSnapshot, SourceError>> {
        Box::pin(GitHubSource::snapshot(self, target, sha))
    }
}
