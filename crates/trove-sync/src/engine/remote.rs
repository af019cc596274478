//! Plugins whose marketplace entry points at another repository (`github`, `url`, `git-subdir`):
//! fetched through the same git source at their pinned SHA (or ref), then discovered as a plugin
//! and imported like a local one.

use trove_discovery::{PluginCandidate, Source};
use trove_sources::{Reference, RepoSnapshot, RepositorySource, Target};

/// The git URL of a `github` repo (`owner/repo`), or of a `git-subdir` url that is a bare
/// `owner/repo`.
fn github_url(repo: &str) -> String {
    format!("https://github.com/{}.git", repo.trim_end_matches(".git"))
}

fn looks_like_owner_repo(url: &str) -> bool {
    !url.contains("://")
        && !url.starts_with('/')
        && !url.contains('@')
        && url.split('/').count() == 2
}

/// The source target of a remote plugin source, or why it cannot be fetched.
fn remote_target(source: &Source) -> Result<(Target, Option<String>), String> {
    let reference = |git_ref: &Option<String>, sha: &Option<String>| match (sha, git_ref) {
        (Some(sha), _) => Reference::Sha(sha.clone()),
        (None, Some(r)) => Reference::Named(r.clone()),
        (None, None) => Reference::DefaultBranch,
    };
    match source {
        Source::Github { repo, git_ref, sha } => Ok((
            Target::new(github_url(repo), reference(git_ref, sha)),
            sha.clone(),
        )),
        Source::Url {
            url,
            git_ref,
            sha,
            path,
        } => {
            let mut t = Target::new(url.clone(), reference(git_ref, sha));
            if let Some(p) = path
                .as_deref()
                .map(|p| p.trim_matches('/'))
                .filter(|p| !p.is_empty() && *p != ".")
            {
                t = t.with_subdir(p.trim_start_matches("./"));
            }
            Ok((t, sha.clone()))
        }
        Source::GitSubdir {
            url,
            path,
            git_ref,
            sha,
        } => {
            let url = if looks_like_owner_repo(url) {
                github_url(url)
            } else {
                url.clone()
            };
            let t = Target::new(url, reference(git_ref, sha))
                .with_subdir(path.trim_matches('/').trim_start_matches("./"));
            Ok((t, sha.clone()))
        }
        other => Err(format!(
            "plugin source `{}` cannot be fetched by Trove",
            other.kind()
        )),
    }
}

/// Fetches a remote plugin: its snapshot (at the pinned SHA, or where its ref points now) and the
/// plugin discovery finds at its root.
pub async fn fetch(
    source: &dyn RepositorySource,
    remote: &Source,
) -> Result<(RepoSnapshot, PluginCandidate), String> {
    let (target, pinned) = remote_target(remote)?;
    let sha = match pinned {
        Some(sha) => sha,
        None => source.head(&target).await.map_err(|e| e.to_string())?.sha,
    };
    let snap = source
        .snapshot(&target, &sha)
        .await
        .map_err(|e| e.to_string())?;
    let for_discovery = snap.clone();
    let discovery = tokio::task::spawn_blocking(move || trove_discovery::discover(&for_discovery))
        .await
        .map_err(|e| e.to_string())?;
    let plugin = discovery
        .plugins
        .iter()
        .find(|p| p.root.as_deref() == Some(""))
        .or_else(|| discovery.plugins.first())
        .map(|p| PluginCandidate::clone(p))
        .ok_or_else(|| "no plugin found at the remote source".to_owned())?;
    Ok((snap, plugin))
}
