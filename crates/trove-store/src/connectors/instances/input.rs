//! What a request to connect a repository branch, or to change an instance, may say: the request
//! shapes, their checks (URL, branch, config size), and the JSON merge patch applied to settings.

use serde::Deserialize;
use trove_core::{AppError, AppResult, ConnectorAccountId};
use utoipa::ToSchema;

/// The largest accepted `config` document, in bytes of JSON.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

/// A request to connect a repository branch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewInstance {
    /// `git` (GitHub instances are created by the GitHub setup flow).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository URL (`https://…`, `http://…`, `ssh://…`, `file://…`); never with a password in
    /// it: put credentials in a connector account.
    pub url: String,
    /// The branch to follow (default: the remote's default branch, resolved by the server).
    #[serde(default)]
    pub branch: Option<String>,
    /// A name unique in the org (default: the repository's name).
    #[serde(default)]
    pub name: Option<String>,
    /// A git credential account (`cac_…`) for private repositories.
    #[serde(default)]
    pub account_id: Option<ConnectorAccountId>,
    /// Import plugins that appear later (default `false`).
    #[serde(default)]
    pub auto_import: Option<bool>,
    /// Free-form settings (a JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// A checked instance, ready to create: a git URL ([`NewInstance::resolve`]) or a GitHub repository
/// ([`ValidInstance::github`]).
#[derive(Debug, Clone)]
pub struct ValidInstance {
    /// The URL.
    pub url: String,
    /// The branch.
    pub branch: String,
    /// The name.
    pub name: String,
    /// The account: a git credential (optional) or, for GitHub, the installation's account.
    pub account_id: Option<ConnectorAccountId>,
    /// Auto-import.
    pub auto_import: bool,
    /// Settings.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The GitHub repository, for a GitHub instance; `None` for a plain git one.
    pub github: Option<GithubRepository>,
}

/// The GitHub repository a GitHub instance follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRepository {
    /// GitHub's numeric repository id: stable across renames and transfers, what pushes match on.
    pub repository_id: i64,
    /// `owner/name` as GitHub reports it now.
    pub repository_name: String,
}

impl ValidInstance {
    /// A GitHub instance of `repository` through the installation account `account`, following
    /// `branch`, cloned from `url` (the repository's `clone_url`). `name` defaults to the
    /// repository's name (with `@branch` for a branch other than `main` or `master`).
    pub fn github(
        account: ConnectorAccountId,
        repository: GithubRepository,
        url: &str,
        branch: &str,
        name: Option<&str>,
        auto_import: bool,
    ) -> AppResult<Self> {
        let url = validate_url(url)?;
        validate_branch(branch)?;
        let full = repository.repository_name.trim();
        let well_formed = full.split_once('/').is_some_and(|(owner, repo)| {
            !owner.is_empty() && !repo.is_empty() && !repo.contains('/')
        });
        if !well_formed || full.len() > 255 || full.chars().any(|c| c.is_control() || c == ' ') {
            return Err(AppError::invalid(
                "repositoryName",
                "must be `owner/name` as GitHub reports it",
            ));
        }
        let name = match name {
            Some(n) => trove_core::names::validate_name("name", n)?,
            None => default_name(full, branch),
        };
        Ok(Self {
            url,
            branch: branch.to_string(),
            name,
            account_id: Some(account),
            auto_import,
            config: serde_json::Map::new(),
            github: Some(GithubRepository {
                repository_id: repository.repository_id,
                repository_name: full.to_string(),
            }),
        })
    }
}

impl NewInstance {
    /// Checks the type, URL and config; returns the URL (trimmed). The branch and name are resolved by
    /// [`NewInstance::resolve`] once the caller knows the remote's default branch.
    pub fn check(&self) -> AppResult<String> {
        if self.kind != "git" {
            return Err(AppError::invalid(
                "type",
                "only `git` instances are created here (GitHub repositories are connected through the GitHub setup)",
            ));
        }
        let url = validate_url(&self.url)?;
        if let Some(branch) = &self.branch {
            validate_branch(branch)?;
        }
        if let Some(config) = &self.config {
            check_config(config)?;
        }
        Ok(url)
    }

    /// The checked instance, with `branch` the given branch or the remote's default.
    pub fn resolve(&self, url: String, default_branch: Option<String>) -> AppResult<ValidInstance> {
        let branch = match (&self.branch, default_branch) {
            (Some(b), _) => b.clone(),
            (None, Some(b)) => b,
            (None, None) => {
                return Err(AppError::invalid(
                    "branch",
                    "the repository has no default branch; name one",
                ));
            }
        };
        validate_branch(&branch)?;
        let name = match &self.name {
            Some(n) => trove_core::names::validate_name("name", n)?,
            None => default_name(&url, &branch),
        };
        let config = match &self.config {
            Some(serde_json::Value::Object(map)) => map.clone(),
            _ => serde_json::Map::new(),
        };
        Ok(ValidInstance {
            url,
            branch,
            name,
            account_id: self.account_id,
            auto_import: self.auto_import.unwrap_or(false),
            config,
            github: None,
        })
    }
}

/// `repo` from `…/repo.git`, or `repo@branch` when the branch is not a usual default.
fn default_name(url: &str, branch: &str) -> String {
    let last = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repository");
    let repo = last.strip_suffix(".git").unwrap_or(last);
    let repo = if repo.is_empty() { "repository" } else { repo };
    if matches!(branch, "main" | "master") {
        repo.to_string()
    } else {
        format!("{repo}@{branch}")
    }
}

/// Checks a repository URL: a known scheme, no whitespace or control characters, no password.
pub fn validate_url(url: &str) -> AppResult<String> {
    let url = url.trim();
    if url.is_empty() || url.len() > 2048 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(AppError::invalid(
            "url",
            "must be a repository URL of at most 2048 characters without spaces",
        ));
    }
    let Some((_, rest)) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "https" | "http" | "ssh" | "file"))
    else {
        return Err(AppError::invalid(
            "url",
            "must start with https://, http://, ssh:// or file:// (a repository on the server's disk is file:///path/to/repo)",
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && userinfo.contains(':')
    {
        return Err(AppError::invalid(
            "url",
            "must not contain a password; create a connector account with the credential and pass its `accountId`",
        ));
    }
    Ok(url.to_string())
}

/// Checks a branch name against git's ref rules (the parts that matter for a branch name).
pub fn validate_branch(branch: &str) -> AppResult<()> {
    let bad = branch.is_empty()
        || branch.len() > 255
        || branch.starts_with(['-', '/'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c));
    if bad {
        return Err(AppError::invalid(
            "branch",
            "is not a valid branch name (e.g. `main` or `release/1.x`)",
        ));
    }
    Ok(())
}

/// Checks that a config value is a JSON object of bounded size.
pub(super) fn check_config(config: &serde_json::Value) -> AppResult<()> {
    if !config.is_object() {
        return Err(AppError::invalid("config", "must be a JSON object"));
    }
    if serde_json::to_vec(config)?.len() > MAX_CONFIG_BYTES {
        return Err(AppError::invalid(
            "config",
            format!("must be at most {MAX_CONFIG_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// Applies a JSON merge patch (RFC 7386): objects merge key by key, `null` removes a key, anything
/// else replaces. Fields the patch does not mention are never dropped.
pub fn merge_config(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(key);
                } else {
                    merge_config(
                        base.entry(key.clone()).or_insert(serde_json::Value::Null),
                        value,
                    );
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// A change to an instance; absent fields are left alone.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstancePatch {
    /// A new name (unique in the org).
    #[serde(default)]
    pub name: Option<String>,
    /// Import plugins that appear later.
    #[serde(default)]
    pub auto_import: Option<bool>,
    /// Merged into the stored settings (JSON merge patch: `null` removes a key, other keys stay).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
}

/// Filters of the instance list.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only instances in this state.
    pub status: Option<String>,
    /// A case-insensitive substring of the name.
    pub q: Option<String>,
    /// Only instances using this account.
    pub account: Option<ConnectorAccountId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_fields_the_patch_does_not_name() {
        let mut base = serde_json::json!({"a": 1, "nested": {"x": 1, "y": 2}, "gone": true});
        merge_config(
            &mut base,
            &serde_json::json!({"b": 2, "nested": {"y": 3}, "gone": null}),
        );
        assert_eq!(
            base,
            serde_json::json!({"a": 1, "b": 2, "nested": {"x": 1, "y": 3}})
        );
    }

    #[test]
    fn urls_and_branches() {
        assert!(validate_url("https://github.com/acme/plugins.git").is_ok());
        assert!(validate_url("file:///tmp/repo").is_ok());
        assert!(validate_url("https://user:secret@host/repo").is_err());
        assert!(validate_url("ftp://host/repo").is_err());
        assert!(validate_branch("release/1.x").is_ok());
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a~1"] {
            assert!(validate_branch(bad).is_err(), "{bad}");
        }
        assert_eq!(default_name("https://h/acme/tools.git", "main"), "tools");
        assert_eq!(default_name("file:///tmp/r/", "dev"), "r@dev");
    }
}
