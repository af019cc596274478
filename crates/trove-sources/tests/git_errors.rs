//! Failures and limits: missing repositories, refs and commits, unreachable and refusing hosts,
//! credentials that never leak, timeouts, and the size and entry limits. Loopback only.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Repo, branch, source};
use trove_discovery::Snapshot;
use trove_sources::{Credentials, GitLimits, GitSource, Reference, SourceError, Target};

const SECRET: &str = "s3cret-token";

fn sample(parent: &std::path::Path) -> Repo {
    let repo = Repo::init(parent, "sample");
    repo.write("a.txt", "a".repeat(2048))
        .write("d1/d2/d3/deep.txt", "deep\n")
        .write("b.txt", "b\n");
    repo.commit("first");
    repo
}

/// A loopback HTTP server answering every request with `status`, recording request headers.
fn fake_http(status: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                log.lock().unwrap().push(line.trim_end().to_owned());
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (format!("http://{addr}/org/repo.git"), seen)
}

/// A loopback server that accepts connections and never answers.
fn silent_http() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    format!("http://{addr}/org/repo.git")
}

fn creds() -> Credentials {
    Credentials {
        username: "robot".into(),
        secret: SECRET.into(),
    }
}

#[tokio::test]
async fn missing_ref_repo_and_commit_are_not_found() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let nowhere = tmp.path().join("nowhere");
    let absent_sha = "0123456789abcdef0123456789abcdef01234567";

    for url in [repo.file_url(), repo.path_str()] {
        let missing_branch = branch(&url, "no-such-branch");
        let err = src.head(&missing_branch).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound(_)), "{url}: {err:?}");
        let tag = Target::new(&url, Reference::Tag("v9".into()));
        let err = src.head(&tag).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound(_)), "{url}: {err:?}");
        let err = src
            .snapshot(&branch(&url, "main"), absent_sha)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::NotFound(_)), "{url}: {err:?}");
    }
    for url in [
        format!("file://{}", nowhere.display()),
        nowhere.display().to_string(),
    ] {
        let err = src.head(&branch(&url, "main")).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound(_)), "{url}: {err:?}");
        let err = src
            .snapshot(&branch(&url, "main"), absent_sha)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::NotFound(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn unreachable_and_refusing_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path(), GitLimits::default());
    let target = branch("http://127.0.0.1:1/x.git", "main");
    let err = src.head(&target).await.unwrap_err();
    assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
    let err = src
        .snapshot(&target, "0123456789abcdef0123456789abcdef01234567")
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");

    let (url, _) = fake_http("404 Not Found");
    let err = src.head(&branch(&url, "main")).await.unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err:?}");
    let (url, _) = fake_http("403 Forbidden");
    let err = src.head(&branch(&url, "main")).await.unwrap_err();
    assert!(matches!(err, SourceError::Auth(_)), "{err:?}");
    let (url, _) = fake_http("503 Service Unavailable");
    let err = src.head(&branch(&url, "main")).await.unwrap_err();
    assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
    assert!(err.is_transient());
    // Something that answers, but is no git server.
    let (url, _) = fake_http("200 OK");
    let err = src.head(&branch(&url, "main")).await.unwrap_err();
    assert!(matches!(err, SourceError::Git(_)), "{err:?}");
}

#[tokio::test]
async fn credentials_are_never_sent_in_clear_text_nor_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let src = source(tmp.path(), GitLimits::default());
    let (url, seen) = fake_http("401 Unauthorized");

    // Without credentials: an authentication error, no prompt, no helper.
    let err = src.head(&branch(&url, "main")).await.unwrap_err();
    assert!(matches!(err, SourceError::Auth(_)), "{err:?}");

    // Credentials are never sent in clear text: plain http with credentials (explicit or as
    // userinfo) is refused before connecting, and nothing shows the secret.
    let with_creds = branch(&url, "main").with_credentials(creds());
    let userinfo_url = url.replace("http://", &format!("http://robot:{SECRET}@"));
    seen.lock().unwrap().clear();
    for target in [with_creds, branch(&userinfo_url, "main")] {
        let err = src.head(&target).await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
        let shown = format!("{err} {err:?} {target:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        let err = src
            .snapshot(&target, "0123456789abcdef0123456789abcdef01234567")
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // With https the credentials are part of the cache identity, and the secret is not in
    // the cache path.
    let https = "https://127.0.0.1:1/org/repo.git";
    let cache = src
        .cache_path(&branch(https, "main").with_credentials(creds()))
        .unwrap()
        .unwrap();
    assert!(!cache.to_string_lossy().contains(SECRET));
    let userinfo = format!("https://robot:{SECRET}@127.0.0.1:1/org/repo.git");
    let err = src.head(&branch(&userinfo, "main")).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SECRET), "{err:?}");
    assert_eq!(
        src.cache_path(&branch(&userinfo, "main")).unwrap(),
        Some(cache.clone()),
        "userinfo and explicit credentials are the same identity"
    );
    // Different credentials for one URL never share a cache entry.
    let other = branch(https, "main").with_credentials(Credentials {
        username: "robot".into(),
        secret: "other".into(),
    });
    assert_ne!(src.cache_path(&other).unwrap(), Some(cache));
}

#[tokio::test]
async fn a_silent_host_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = GitLimits {
        timeout: Duration::from_millis(300),
        ..GitLimits::default()
    };
    let src = source(tmp.path(), limits);
    let target = branch(&silent_http(), "main");
    let err = src.head(&target).await.unwrap_err();
    assert!(matches!(err, SourceError::Timeout(_)), "{err:?}");
    let err = src
        .snapshot(&target, "0123456789abcdef0123456789abcdef01234567")
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_input_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let src = source(tmp.path(), GitLimits::default());
    let url = repo.file_url();
    for sha in ["abc", "zz23456789abcdef0123456789abcdef01234567", ""] {
        let err = src.snapshot(&branch(&url, "main"), sha).await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{sha}: {err:?}");
        let err = src
            .head(&Target::new(&url, Reference::Sha(sha.into())))
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{sha}: {err:?}");
    }
    for name in ["a..b", "x:y", "*", "bad name"] {
        let err = src.head(&branch(&url, name)).await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{name}: {err:?}");
    }
    for bad in [
        "git@github.com:o/r.git",
        "ssh://h/r",
        "http://example.com/r.git",
    ] {
        let err = src.head(&branch(bad, "main")).await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{bad}: {err:?}");
    }
    let strict = GitSource::new(tmp.path().join("c2"), GitLimits::default()).allow_local(false);
    for local in [url.clone(), repo.path_str()] {
        let err = strict.head(&branch(&local, "main")).await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{local}: {err:?}");
    }
}

#[tokio::test]
async fn blob_entry_and_depth_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sample(tmp.path());
    let sha = repo.head();
    let limits = GitLimits {
        max_blob_bytes: 1024,
        ..GitLimits::default()
    };
    let src = source(tmp.path(), limits);
    for url in [repo.file_url(), repo.path_str()] {
        let snap = src.snapshot(&branch(&url, "main"), &sha).await.unwrap();
        // The big file is listed with its size, but never read into memory.
        assert_eq!(snap.blob_entry("a.txt").unwrap().size, 2048);
        assert!(matches!(
            snap.read_full("a.txt", 1 << 20),
            Err(SourceError::TooLarge(_))
        ));
        assert!(Snapshot::read(&snap, "a.txt", 10).is_err());
        // The caller's own limit applies too.
        assert!(matches!(
            snap.read_full("b.txt", 1),
            Err(SourceError::TooLarge(_))
        ));
        assert_eq!(snap.read_full("b.txt", 2).unwrap(), b"b\n");
    }

    let few = source(
        tmp.path(),
        GitLimits {
            max_entries: 3,
            ..GitLimits::default()
        },
    );
    let snap = few
        .snapshot(&branch(&repo.file_url(), "main"), &sha)
        .await
        .unwrap();
    assert!(snap.truncated());
    assert_eq!(snap.entries().len(), 3);
    assert!(Snapshot::truncated(&snap));

    let shallow = source(
        tmp.path(),
        GitLimits {
            max_depth: 2,
            ..GitLimits::default()
        },
    );
    let snap = shallow
        .snapshot(&branch(&repo.file_url(), "main"), &sha)
        .await
        .unwrap();
    assert!(snap.truncated());
    assert!(snap.entries().iter().all(|e| !e.path.contains("d3")));
    assert!(!snap.skipped().is_empty());
}

#[tokio::test]
async fn a_pack_over_budget_is_too_large_and_leaves_a_usable_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(tmp.path(), "big");
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..50 {
        let body: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        repo.write(&format!("bin/{i}.dat"), body);
    }
    let sha = repo.commit("big");
    let tight = source(
        tmp.path(),
        GitLimits {
            max_pack_bytes: 16 * 1024,
            ..GitLimits::default()
        },
    );
    let target = branch(&repo.file_url(), "main");
    let err = tight.snapshot(&target, &sha).await.unwrap_err();
    assert!(matches!(err, SourceError::TooLarge(_)), "{err:?}");

    // The same cache entry still works with a sufficient budget.
    let roomy = source(tmp.path(), GitLimits::default());
    assert_eq!(
        tight.cache_path(&target).unwrap(),
        roomy.cache_path(&target).unwrap()
    );
    let snap = roomy.snapshot(&target, &sha).await.unwrap();
    assert_eq!(snap.read_full("bin/7.dat", 1 << 20).unwrap().len(), 4096);
}
