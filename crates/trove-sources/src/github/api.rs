//! The REST calls of the App client: the App, installations, OAuth, users, repositories, heads.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::app::GitHubApp;
use super::error::GitHubError;
use super::http::{Call, Credential, PLAIN_JSON, SHA};
use super::model::{
    AppInfo, GitHubUser, Installation, Repository, UserToken, WireInstallation, WireRepository,
};

/// Items per page of paginated listings (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Most bytes of a bare SHA answer (40 or 64 hex digits and a newline).
const MAX_SHA_BYTES: u64 = 256;

impl GitHubApp {
    /// The App itself (`GET /app` with the app JWT), cached after the first success.
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        let info = self
            .inner
            .app_info
            .get_or_try_init(|| async {
                let url = format!("{}/app", self.api_url());
                self.send(Call::get(url, Credential::App))
                    .await?
                    .json::<AppInfo>("GET /app")
            })
            .await?;
        Ok(info.clone())
    }

    /// Where to send a user to install the App: `{web}/apps/{slug}/installations/new?state=…`.
    pub async fn install_url(&self, state: &str) -> Result<String, GitHubError> {
        let app = self.app_info().await?;
        Ok(format!(
            "{}/apps/{}/installations/new?state={}",
            self.web_url(),
            encode_segment(&app.slug),
            url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>()
        ))
    }

    /// One installation of the App (`GET /app/installations/{id}` with the app JWT).
    pub async fn installation(&self, id: u64) -> Result<Installation, GitHubError> {
        let url = format!("{}/app/installations/{id}", self.api_url());
        let wire: WireInstallation = self
            .send(Call::get(url, Credential::App))
            .await?
            .json(&format!("installation {id}"))?;
        Ok(wire.into())
    }

    /// Exchanges an OAuth code from a redirect for a user-to-server token
    /// (`POST {web}/login/oauth/access_token`). A bad, expired or used code is
    /// [`GitHubError::OAuth`] (GitHub answers those with `200` and an `error` field).
    pub async fn exchange_code(&self, code: &str) -> Result<UserToken, GitHubError> {
        let (Some(client_id), Some(client_secret)) =
            (&self.inner.client_id, &self.inner.client_secret)
        else {
            return Err(GitHubError::Config(
                "user authorization needs the App's OAuth client (set TROVE_GITHUB_CLIENT_ID \
                 and TROVE_GITHUB_CLIENT_SECRET)"
                    .to_owned(),
            ));
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret)
            .append_pair("code", code)
            .finish();
        let mut call = Call::post(
            format!("{}/login/oauth/access_token", self.web_url()),
            Credential::Anonymous,
        )
        .accept(PLAIN_JSON);
        call.form = Some(form);
        // A code is single-use: a retry after a server error could only fail on a used code.
        call.retry_server_errors = false;
        #[derive(Deserialize)]
        struct Exchange {
            access_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let answer: Exchange = self.send(call).await?.json("OAuth code exchange")?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if !token.is_empty() => Ok(UserToken::new(token)),
            (_, error) => {
                let error = error.unwrap_or_else(|| "no access token".to_owned());
                let description: String = answer
                    .error_description
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                Err(GitHubError::OAuth(if description.is_empty() {
                    error
                } else {
                    format!("{error}: {description}")
                }))
            }
        }
    }

    /// The user a user-to-server token belongs to (`GET /user`).
    pub async fn user(&self, token: &UserToken) -> Result<GitHubUser, GitHubError> {
        let url = format!("{}/user", self.api_url());
        self.send(Call::get(url, Credential::User(token.clone())))
            .await?
            .json("GET /user")
    }

    /// Ids of every installation of this App the token's user can access
    /// (`GET /user/installations`, every page).
    pub async fn user_installation_ids(&self, token: &UserToken) -> Result<Vec<u64>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            installations: Vec<IdOnly>,
        }
        #[derive(Deserialize)]
        struct IdOnly {
            id: u64,
        }
        let url = format!("{}/user/installations?per_page={PER_PAGE}", self.api_url());
        let pages: Vec<Page> = self.paginate(url, Credential::User(token.clone())).await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.installations.into_iter().map(|i| i.id))
            .collect())
    }

    /// Every repository the installation can read (`GET /installation/repositories`, every
    /// page, ETag-cached).
    pub async fn installation_repositories(
        &self,
        installation: u64,
    ) -> Result<Vec<Repository>, GitHubError> {
        #[derive(Deserialize)]
        struct Page {
            repositories: Vec<WireRepository>,
        }
        let url = format!(
            "{}/installation/repositories?per_page={PER_PAGE}",
            self.api_url()
        );
        let pages: Vec<Page> = self
            .paginate(url, Credential::Installation(installation))
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.repositories.into_iter().map(Repository::from))
            .collect())
    }

    /// One repository (`GET /repos/{owner}/{repo}`) as the installation sees it.
    pub async fn repository(
        &self,
        installation: u64,
        full_name: &str,
    ) -> Result<Repository, GitHubError> {
        let url = format!("{}/repos/{}", self.api_url(), repo_path(full_name)?);
        let wire: WireRepository = self
            .send(Call::get(url, Credential::Installation(installation)))
            .await?
            .json(&format!("repository {full_name}"))?;
        Ok(wire.into())
    }

    /// The commit SHA at the tip of `branch` (one conditional request; a `304` when unchanged).
    /// A missing branch or repository is [`GitHubError::NotFound`].
    pub async fn branch_head(
        &self,
        installation: u64,
        full_name: &str,
        branch: &str,
    ) -> Result<String, GitHubError> {
        self.commit_at(installation, full_name, &format!("heads/{branch}"))
            .await
    }

    /// The commit SHA a ref resolves to (`GET /repos/{o}/{r}/commits/{ref}` as a bare SHA).
    /// `git_ref` is a commit SHA, `heads/BRANCH`, `tags/TAG` or a plain name.
    pub(crate) async fn commit_at(
        &self,
        installation: u64,
        full_name: &str,
        git_ref: &str,
    ) -> Result<String, GitHubError> {
        if git_ref.is_empty() || git_ref.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(GitHubError::Invalid(format!(
                "bad ref {}",
                git_ref.escape_debug()
            )));
        }
        let encoded: Vec<String> = git_ref.split('/').map(encode_segment).collect();
        let url = format!(
            "{}/repos/{}/commits/{}",
            self.api_url(),
            repo_path(full_name)?,
            encoded.join("/")
        );
        let mut call = Call::get(url, Credential::Installation(installation))
            .accept(SHA)
            .missing_on_422();
        call.body_limit = MAX_SHA_BYTES;
        let answer = self.send(call).await?;
        let sha = std::str::from_utf8(&answer.body)
            .map(str::trim)
            .unwrap_or_default();
        if answer.overflow || !is_object_id(sha) {
            return Err(GitHubError::Invalid(format!(
                "{full_name} {git_ref}: the answer is not a commit SHA"
            )));
        }
        Ok(sha.to_ascii_lowercase())
    }

    /// Follows `rel="next"` links from `first`, parsing every page; fails rather than stopping
    /// early when the page cap is reached, and refuses links that leave the API root (they would
    /// carry our credential elsewhere).
    pub(crate) async fn paginate<T: DeserializeOwned>(
        &self,
        first: String,
        credential: Credential,
    ) -> Result<Vec<T>, GitHubError> {
        let mut pages = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if pages.len() >= self.inner.limits.max_pages {
                return Err(GitHubError::Invalid(format!(
                    "{}: more than {} pages",
                    self.describe(&Method::GET, &url),
                    self.inner.limits.max_pages
                )));
            }
            let what = self.describe(&Method::GET, &url);
            let answer = self.send(Call::get(url, credential.clone())).await?;
            pages.push(answer.json(&what)?);
            if let Some(link) = answer.next {
                if !self.same_api_origin(&link) {
                    return Err(GitHubError::Invalid(format!(
                        "{what}: the next page link leaves {}",
                        self.api_url()
                    )));
                }
                next = Some(link);
            }
        }
        Ok(pages)
    }

    /// True when `url` is under the API root (same scheme, host, port and path prefix).
    fn same_api_origin(&self, url: &str) -> bool {
        url.strip_prefix(self.api_url())
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
    }
}

/// `owner/repo` checked and encoded for a URL path. Names on GitHub are ASCII letters, digits,
/// `-`, `_` and `.`; anything else (a `..`, a third segment) is refused rather than sent.
pub(crate) fn repo_path(full_name: &str) -> Result<String, GitHubError> {
    let invalid =
        || GitHubError::Invalid(format!("bad repository name {}", full_name.escape_debug()));
    let (owner, name) = full_name.split_once('/').ok_or_else(invalid)?;
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !ok(owner) || !ok(name) {
        return Err(invalid());
    }
    Ok(format!("{owner}/{name}"))
}

/// Percent-encodes one path segment (everything but unreserved characters).
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A full git object id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.
pub(crate) fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_checked() {
        assert_eq!(
            repo_path("octo-org/my.repo_1").unwrap(),
            "octo-org/my.repo_1"
        );
        for bad in [
            "", "a", "a/", "/b", "a/b/c", "../b", "a/..", "a b/c", "a/b?x", "a/b%2F",
        ] {
            assert!(repo_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("release-1.x"), "release-1.x");
        assert_eq!(encode_segment("a b#?%"), "a%20b%23%3F%25");
    }
}
