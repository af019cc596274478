//! Where a target's repository is: a remote URL (fetched into the cache) or a local repository
//! (read in place). Credentials are split off the URL here, so nothing downstream ever holds a
//! URL with a secret in it.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::source::{Credentials, SourceError};

/// A parsed target location.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// A repository on this machine, opened directly (no copy, no cache).
    Local(PathBuf),
    /// A URL fetched through a git transport into a cached bare repository.
    Remote(Remote),
}

/// A remote URL without userinfo, plus the credentials that came with it (if any).
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    /// The URL gix connects to; never carries userinfo.
    pub url: gix::Url,
    /// The URL as text, safe to log.
    pub display: String,
    /// Credentials from the target or from the URL's userinfo.
    pub credentials: Option<Credentials>,
}

impl Remote {
    /// The cache directory name: a stable hash of the URL and the credentials, so two accounts
    /// with different credentials for one URL never share (and leak) a cached copy.
    pub fn cache_key(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.display.as_bytes());
        h.update([0]);
        if let Some(c) = &self.credentials {
            h.update(c.username.as_bytes());
            h.update([0]);
            h.update(c.secret.as_bytes());
        }
        let digest = h.finalize();
        hex::encode(&digest[..16])
    }
}

/// Parses `url` (with optional explicit `credentials`). `allow_local` admits local paths and
/// `file://` URLs; `allow_http` admits plain `http://` to hosts other than loopback.
pub(crate) fn parse(
    url: &str,
    credentials: Option<&Credentials>,
    allow_local: bool,
    allow_http: bool,
) -> Result<Location, SourceError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(SourceError::Invalid("empty repository URL".into()));
    }
    if url.contains(['\n', '\r', '\0']) {
        return Err(SourceError::Invalid("control characters in URL".into()));
    }
    let lower = url.to_ascii_lowercase();
    let scheme = lower.split_once("://").map(|(s, _)| s);
    match scheme {
        None => {
            // `host:path` (scp-like ssh) has a colon before any slash; a path does not.
            if let Some(colon) = url.find(':')
                && !url[..colon].contains('/')
            {
                return Err(SourceError::Invalid(format!(
                    "{} looks like an ssh location; only https, http, file URLs and local paths are supported",
                    redact_url(url)
                )));
            }
            if !allow_local {
                return Err(SourceError::Invalid(
                    "local repository paths are not allowed here".into(),
                ));
            }
            let path = std::path::absolute(url)
                .map_err(|e| SourceError::Invalid(format!("bad local path: {e}")))?;
            Ok(Location::Local(path))
        }
        Some("file") if !allow_local => Err(SourceError::Invalid(
            "file:// URLs are not allowed here".into(),
        )),
        Some(s @ ("https" | "http" | "file")) => {
            let mut parsed = gix::url::parse(gix::bstr::BStr::new(url))
                .map_err(|_| SourceError::Invalid(format!("malformed URL {}", redact_url(url))))?;
            let mut creds = credentials.cloned();
            if let Some(user) = parsed.user().map(str::to_owned) {
                if s == "file" {
                    return Err(SourceError::Invalid("userinfo in a file:// URL".into()));
                }
                let secret = parsed.password().unwrap_or_default().to_owned();
                // Explicit credentials win over userinfo; either way the URL loses it.
                creds.get_or_insert(Credentials {
                    username: user,
                    secret,
                });
                parsed.set_user(None);
                parsed.set_password(None);
            }
            if s == "http" && !allow_http && !is_loopback(parsed.host()) {
                return Err(SourceError::Invalid(format!(
                    "plain http is only allowed to loopback hosts: {}",
                    parsed.to_bstring()
                )));
            }
            if s == "file" && parsed.path.is_empty() {
                return Err(SourceError::Invalid("file:// URL without a path".into()));
            }
            if s != "https" && creds.is_some() {
                // gix refuses to send them in clear text anyway; say so before connecting.
                return Err(SourceError::Invalid(
                    "credentials are only sent over https".into(),
                ));
            }
            let display = parsed.to_bstring().to_string();
            Ok(Location::Remote(Remote {
                url: parsed,
                display,
                credentials: creds,
            }))
        }
        Some(_) => Err(SourceError::Invalid(format!(
            "unsupported URL scheme in {}; only https, http, file URLs and local paths are supported",
            redact_url(url)
        ))),
    }
}

fn is_loopback(host: Option<&str>) -> bool {
    match host {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// `url` with any userinfo replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The name of a repository from its URL or path: the last segment without `.git`.
pub(crate) fn repo_name(path: &str) -> Option<String> {
    let mut segments = path.rsplit(['/', '\\']).filter(|s| !s.is_empty());
    let mut last = segments.next()?;
    if last == ".git" {
        last = segments.next()?;
    }
    let name = last.strip_suffix(".git").unwrap_or(last);
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo() {
        assert_eq!(
            redact_url("https://u:tok@host/x.git"),
            "https://***@host/x.git"
        );
        assert_eq!(redact_url("https://host/a@b"), "https://host/a@b");
        assert_eq!(redact_url("/local/path"), "/local/path");
    }

    #[test]
    fn splits_credentials_off_the_url() {
        let Location::Remote(r) =
            parse("https://me:s3cret@example.com/o/r.git", None, true, false).expect("valid")
        else {
            panic!("remote expected")
        };
        assert!(!r.display.contains("s3cret"), "{}", r.display);
        let c = r.credentials.expect("creds");
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("me", "s3cret"));
    }

    #[test]
    fn cache_key_depends_on_credentials() {
        let a = parse("https://example.com/o/r.git", None, true, false).expect("valid");
        let creds = Credentials {
            username: "u".into(),
            secret: "t".into(),
        };
        let b = parse("https://example.com/o/r.git", Some(&creds), true, false).expect("valid");
        let (Location::Remote(a), Location::Remote(b)) = (a, b) else {
            panic!("remote expected")
        };
        assert_ne!(a.cache_key(), b.cache_key());
        assert_eq!(a.cache_key().len(), 32);
    }

    #[test]
    fn rejects_what_is_not_supported() {
        for url in [
            "git@github.com:o/r.git",
            "ssh://host/r",
            "ftp://x/y",
            "http://example.com/r.git",
            "",
        ] {
            assert!(
                matches!(parse(url, None, true, false), Err(SourceError::Invalid(_))),
                "{url}"
            );
        }
        assert!(parse("http://127.0.0.1:8080/r.git", None, true, false).is_ok());
        assert!(matches!(
            parse("/tmp/x", None, false, false),
            Err(SourceError::Invalid(_))
        ));
        assert!(matches!(
            parse("file:///tmp/x", None, false, false),
            Err(SourceError::Invalid(_))
        ));
    }

    #[test]
    fn names_repositories() {
        assert_eq!(repo_name("https://h/o/repo.git").as_deref(), Some("repo"));
        assert_eq!(repo_name("/srv/work/repo/.git").as_deref(), Some("repo"));
        assert_eq!(repo_name("/srv/work/repo/").as_deref(), Some("repo"));
    }
}
