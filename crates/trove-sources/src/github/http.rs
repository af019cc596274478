//! One request to GitHub, done properly: credentials, conditional GETs, rate limits, retries.
//!
//! - Server errors (5xx) and connection failures are retried with exponential backoff and
//!   jitter, up to [`GitHubLimits::attempts`](super::GitHubLimits) tries, then
//!   [`GitHubError::Unavailable`]. Other 4xx answers are never retried.
//! - A `403`/`429` that is a rate limit (`x-ratelimit-remaining: 0`, a `retry-after` header, or
//!   GitHub's "secondary rate limit" message) is waited out when the wait is short, otherwise
//!   it is [`GitHubError::RateLimited`] with the reset time.
//! - A `401` on an installation token drops the cached token and tries once more with a fresh
//!   one (a token can be revoked before it expires).
//! - Cacheable GETs send `If-None-Match` with the remembered `ETag`; a `304` is answered from
//!   memory.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use sha2::Digest as _;

use super::app::GitHubApp;
use super::error::GitHubError;
use super::etag::{EtagKey, Remembered};
use super::model::UserToken;

/// GitHub's JSON media type.
pub(crate) const JSON: &str = "application/vnd.github+json";
/// The bare SHA of a commit, as text.
pub(crate) const SHA: &str = "application/vnd.github.sha";
/// The raw bytes of a blob.
pub(crate) const RAW: &str = "application/vnd.github.raw";
/// Plain JSON (the OAuth endpoint is not part of the REST API).
pub(crate) const PLAIN_JSON: &str = "application/json";

/// Most bytes read of a JSON answer (a recursive tree listing tops out at 7 MB).
pub(crate) const MAX_JSON_BYTES: u64 = 64 << 20;
/// Most bytes read of an error answer (only its `message` is used).
const MAX_ERROR_BYTES: u64 = 64 << 10;

/// Whose credential a request carries.
#[derive(Clone)]
pub(crate) enum Credential {
    /// No `Authorization` header (the OAuth code exchange authenticates in its body).
    Anonymous,
    /// The app JWT.
    App,
    /// An installation access token.
    Installation(u64),
    /// A user-to-server token.
    User(UserToken),
}

impl Credential {
    /// A stable, secret-free name of the credential for cache keys.
    fn identity(&self) -> String {
        match self {
            Credential::Anonymous => "anonymous".to_owned(),
            Credential::App => "app".to_owned(),
            Credential::Installation(id) => format!("installation:{id}"),
            Credential::User(token) => {
                let digest = sha2::Sha256::digest(token.secret().as_bytes());
                format!("user:{}", hex::encode(&digest[..16]))
            }
        }
    }
}

/// One request.
pub(crate) struct Call {
    pub method: Method,
    pub url: String,
    pub credential: Credential,
    pub accept: &'static str,
    /// An `application/x-www-form-urlencoded` body.
    pub form: Option<String>,
    /// Remember the answer's `ETag` and send `If-None-Match` next time.
    pub cache: bool,
    /// Stop reading the body past this many bytes ([`Answer::overflow`] is then set).
    pub body_limit: u64,
    /// Retry 5xx answers (false for requests that must not run twice).
    pub retry_server_errors: bool,
    /// Read a `422` as [`GitHubError::NotFound`]: GitHub answers 422 ("No commit found") for
    /// refs and SHAs that resolve to nothing.
    pub unprocessable_is_missing: bool,
}

impl Call {
    /// A cacheable JSON GET.
    pub fn get(url: String, credential: Credential) -> Self {
        Call {
            method: Method::GET,
            url,
            credential,
            accept: JSON,
            form: None,
            cache: true,
            body_limit: MAX_JSON_BYTES,
            retry_server_errors: true,
            unprocessable_is_missing: false,
        }
    }

    /// An uncached JSON POST, retried on server errors.
    pub fn post(url: String, credential: Credential) -> Self {
        Call {
            method: Method::POST,
            cache: false,
            ..Call::get(url, credential)
        }
    }

    /// The same call asking for `accept`.
    pub fn accept(mut self, accept: &'static str) -> Self {
        self.accept = accept;
        self
    }

    /// The same call without the ETag cache.
    pub fn uncached(mut self) -> Self {
        self.cache = false;
        self
    }

    /// The same call reading a `422` as not found.
    pub fn missing_on_422(mut self) -> Self {
        self.unprocessable_is_missing = true;
        self
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub body: Vec<u8>,
    /// The `rel="next"` page, when there is one.
    pub next: Option<String>,
    /// True when the body was longer than the call's limit (and was cut).
    pub overflow: bool,
}

impl Answer {
    /// The body as JSON of type `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, GitHubError> {
        if self.overflow {
            return Err(GitHubError::Invalid(format!("{what}: answer too large")));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| GitHubError::Invalid(format!("{what}: unexpected answer: {e}")))
    }
}

/// Why one attempt failed, and whether another may help.
enum Attempt {
    Done(Answer),
    RetryAfterBackoff(GitHubError),
    RetryNow,
    WaitThenRetry { wait: Duration, reset_at: i64 },
    Fail(GitHubError),
}

impl GitHubApp {
    /// Sends `call`, with retries, rate-limit waits and the ETag cache.
    pub(crate) async fn send(&self, call: Call) -> Result<Answer, GitHubError> {
        let limits = self.inner.limits;
        let key = call.cache.then(|| etag_key(&call));
        let mut failures = 0u32;
        let mut waits = 0u32;
        let mut fresh_token = false;
        loop {
            let remembered = key.as_ref().and_then(|k| self.inner.etags.get(k));
            match self
                .attempt(&call, remembered.as_deref(), &mut fresh_token)
                .await?
            {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Fail(e) => return Err(e),
                Attempt::RetryNow => {}
                Attempt::RetryAfterBackoff(e) => {
                    failures += 1;
                    if failures >= limits.attempts.max(1) {
                        return Err(e);
                    }
                    tokio::time::sleep(backoff(limits.backoff, failures)).await;
                }
                Attempt::WaitThenRetry { wait, reset_at } => {
                    waits += 1;
                    if wait > limits.max_rate_limit_wait || waits > limits.attempts.max(1) {
                        return Err(GitHubError::RateLimited {
                            reset_at: Some(reset_at),
                        });
                    }
                    tracing::info!(
                        request = %self.describe(&call.method, &call.url),
                        wait_ms = wait.as_millis() as u64,
                        "GitHub rate limit, waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
            self.inner.stats.add_retry();
        }
    }

    /// One try of `call`.
    async fn attempt(
        &self,
        call: &Call,
        remembered: Option<&Remembered>,
        fresh_token: &mut bool,
    ) -> Result<Attempt, GitHubError> {
        let what = self.describe(&call.method, &call.url);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), &call.url)
            .header(header::ACCEPT, call.accept);
        if let Some(value) = self.authorization(&call.credential).await? {
            request = request.header(header::AUTHORIZATION, value);
        }
        if let Some(r) = remembered {
            request = request.header(header::IF_NONE_MATCH, &r.etag);
        }
        if let Some(form) = &call.form {
            request = request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        self.inner.stats.add_request();
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::RetryAfterBackoff(GitHubError::Unavailable(
                    format!("{what}: {}", error_chain(&e)),
                )));
            }
        };
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(r) = remembered
        {
            self.inner.stats.add_not_modified();
            return Ok(Attempt::Done(Answer {
                body: r.body.clone(),
                next: r.next.clone(),
                overflow: false,
            }));
        }
        if status.is_success() {
            let next = next_link(response.headers());
            let etag = response.headers().get(header::ETAG).cloned();
            return Ok(match read_body(&mut response, call.body_limit).await {
                Ok((body, overflow)) => {
                    let answer = Answer {
                        body,
                        next,
                        overflow,
                    };
                    self.store_etag(call, etag, &answer);
                    Attempt::Done(answer)
                }
                Err(e) => Attempt::RetryAfterBackoff(GitHubError::Unavailable(format!(
                    "{what}: reading the answer: {}",
                    error_chain(&e)
                ))),
            });
        }
        let headers = response.headers().clone();
        let message = read_body(&mut response, MAX_ERROR_BYTES)
            .await
            .map(|(body, _)| error_message(&body))
            .unwrap_or_default();
        let detail = if message.is_empty() {
            format!("{what} answered {}", status.as_u16())
        } else {
            format!("{what} answered {}: {message}", status.as_u16())
        };
        Ok(match status.as_u16() {
            401 => match &call.credential {
                Credential::Installation(id) if !*fresh_token => {
                    *fresh_token = true;
                    self.forget_installation_token(*id).await;
                    Attempt::RetryNow
                }
                _ => Attempt::Fail(GitHubError::Unauthorized(detail)),
            },
            403 | 429 => match rate_limit(&headers, status, &message) {
                Some((wait, reset_at)) => Attempt::WaitThenRetry { wait, reset_at },
                None => Attempt::Fail(GitHubError::Forbidden(detail)),
            },
            404 | 410 => Attempt::Fail(GitHubError::NotFound(detail)),
            // An empty repository: there is nothing to read, as if the ref did not exist.
            409 => Attempt::Fail(GitHubError::NotFound(detail)),
            422 if call.unprocessable_is_missing => Attempt::Fail(GitHubError::NotFound(detail)),
            500..=599 if call.retry_server_errors => {
                Attempt::RetryAfterBackoff(GitHubError::Unavailable(detail))
            }
            500..=599 => Attempt::Fail(GitHubError::Unavailable(detail)),
            _ => Attempt::Fail(GitHubError::Invalid(detail)),
        })
    }

    /// Remembers `answer` under the call's cache key when the call is cacheable, or forgets
    /// what was remembered when the fresh answer has no usable `ETag`.
    fn store_etag(&self, call: &Call, etag: Option<HeaderValue>, answer: &Answer) {
        if !call.cache {
            return;
        }
        let key = etag_key(call);
        match etag.as_ref().and_then(|e| e.to_str().ok()) {
            Some(etag) if !answer.overflow => self.inner.etags.put(
                key,
                Remembered {
                    etag: etag.to_owned(),
                    body: answer.body.clone(),
                    next: answer.next.clone(),
                },
            ),
            _ => self.inner.etags.remove(&key),
        }
    }

    /// The `Authorization` header for `credential`, marked sensitive so it never shows in
    /// `Debug` output.
    async fn authorization(
        &self,
        credential: &Credential,
    ) -> Result<Option<HeaderValue>, GitHubError> {
        let secret = match credential {
            Credential::Anonymous => return Ok(None),
            Credential::App => self.app_jwt()?,
            // Boxed: minting a token is itself a request, and async recursion needs a box.
            Credential::Installation(id) => Box::pin(self.installation_token(*id)).await?,
            Credential::User(token) => token.secret().to_owned(),
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {secret}")).map_err(|_| {
            GitHubError::Invalid("a credential has characters a header cannot carry".to_owned())
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// `METHOD /path` of a URL for messages: the API root left out, the query kept (it never
    /// carries secrets here).
    pub(crate) fn describe(&self, method: &Method, url: &str) -> String {
        let path = url
            .strip_prefix(self.api_url())
            .or_else(|| url.strip_prefix(self.web_url()))
            .unwrap_or(url);
        format!("{method} {path}")
    }
}

/// The ETag cache key of `call`.
fn etag_key(call: &Call) -> EtagKey {
    EtagKey {
        url: call.url.clone(),
        accept: call.accept,
        identity: call.credential.identity(),
    }
}

/// The delay before retry number `n` (1-based): `base * 2^(n-1)` plus up to as much again of
/// jitter, so clients that failed together do not retry together.
fn backoff(base: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << (n - 1).min(16));
    let jitter_ms = rand::random_range(0..=exp.as_millis().min(u64::MAX as u128) as u64);
    exp + Duration::from_millis(jitter_ms)
}

/// Reads at most `limit` bytes of the body; the flag says the body was longer.
async fn read_body(response: &mut Response, limit: u64) -> Result<(Vec<u8>, bool), reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Ok((Vec::new(), true));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// GitHub's `message` from an error body, shortened; empty when there is none.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_default();
    message.chars().take(300).collect()
}

/// For a rate-limited answer: how long to wait and when the limit resets (unix seconds).
fn rate_limit(headers: &HeaderMap, status: StatusCode, message: &str) -> Option<(Duration, i64)> {
    let now = super::app::now_unix();
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(secs) = number("retry-after") {
        let secs = secs.max(0);
        return Some((Duration::from_secs(secs as u64), now + secs));
    }
    if number("x-ratelimit-remaining") == Some(0) {
        let reset = number("x-ratelimit-reset").unwrap_or(now + 60);
        return Some((Duration::from_secs((reset - now).max(0) as u64), reset));
    }
    // A secondary limit without headers: GitHub asks for at least a minute's pause.
    if status == StatusCode::TOO_MANY_REQUESTS
        || message.to_ascii_lowercase().contains("rate limit")
    {
        return Some((Duration::from_secs(60), now + 60));
    }
    None
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        is_next.then(|| target.to_owned())
    })
}

/// An error and its causes on one line. reqwest errors name the URL, which carries no secret
/// (credentials travel in headers and bodies only).
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    without_query(out, e.url())
}

/// `text` with `url` shown without its query: a redirect (a tarball's) leads to a download link
/// whose query carries a short-lived token, and errors reach logs and sync events.
fn without_query(text: String, url: Option<&reqwest::Url>) -> String {
    match url {
        Some(url) if url.query().is_some() => {
            let mut bare = url.clone();
            bare.set_query(None);
            text.replace(url.as_str(), bare.as_str())
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_token_in_a_url_is_never_shown() {
        let url: reqwest::Url = "https://codeload.example/acme/x/legacy.tar.gz/abc?token=SECRET"
            .parse()
            .unwrap();
        let text = format!("error decoding response body for url ({url}): connection reset");
        let shown = without_query(text, Some(&url));
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("https://codeload.example/acme/x/legacy.tar.gz/abc)"),
            "{shown}"
        );
    }

    #[test]
    fn next_link_finds_rel_next_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api.example/x?page=1>; rel=\"prev\", <https://api.example/x?page=3>; rel=\"next\", <https://api.example/x?page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.example/x?page=3")
        );
        h.insert(
            header::LINK,
            HeaderValue::from_static("<https://api.example/x?page=1>; rel=\"first\""),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn backoff_grows_and_stays_within_twice_the_step() {
        let base = Duration::from_millis(100);
        for n in 1..5 {
            let d = backoff(base, n);
            let step = base * (1 << (n - 1));
            assert!(d >= step && d <= step * 2, "{n}: {d:?}");
        }
    }
}
