//! Turning gix's type-erased errors into [`SourceError`] kinds the sync engine can act on.
//!
//! gix reports one error tree per failure; the kind is decided from the classifications gix
//! attaches, the I/O error kinds inside, and (as a last resort) the server's own words, which are
//! the only signal for "no such ref" over the wire. URLs handed to gix never carry userinfo, so the
//! rendered chain holds no secrets.

use std::io::ErrorKind;

use gix::error::Class;

use crate::source::SourceError;

/// The whole error chain as one line, deduplicated (gix often repeats a cause in its context).
pub(crate) fn chain(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let s = e.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    let line = parts.join(": ");
    if line.len() > 2000 {
        // Server messages can be long; the start says what happened.
        let cut = line.floor_char_boundary(2000);
        format!("{}…", &line[..cut])
    } else {
        line
    }
}

/// Classifies a failure while doing `what` (a short phrase: "fetching", "reading a tree").
pub(crate) fn git_error(what: &str, err: &gix::Error) -> SourceError {
    let text = chain(err);
    let msg = format!("{what}: {text}");
    let lower = text.to_ascii_lowercase();

    let io_kind = err
        .iter_errors()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .next();
    if matches!(
        io_kind,
        Some(
            ErrorKind::ConnectionRefused
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::HostUnreachable
                | ErrorKind::NetworkUnreachable
                | ErrorKind::AddrNotAvailable
                | ErrorKind::TimedOut
        )
    ) {
        return SourceError::Unreachable(msg);
    }
    if err.is_cancelled() {
        return SourceError::Git(msg);
    }
    // HTTP statuses as gix words them ("Received HTTP status 404"); matched with the prefix so a
    // SHA or port that happens to contain "404" means nothing.
    if let Some(status) = lower
        .split("http status ")
        .skip(1)
        .find_map(|rest| rest.get(..3).and_then(|s| s.parse::<u16>().ok()))
    {
        return match status {
            401 | 403 => SourceError::Auth(msg),
            404 | 410 => SourceError::NotFound(msg),
            500..=599 => SourceError::Unreachable(msg),
            _ => SourceError::Git(msg),
        };
    }
    if err
        .iter_errors()
        .any(|e| e.is::<gix::protocol::transport::client::AuthenticationRequired>())
    {
        return SourceError::Auth(msg);
    }
    // The server's words: git-upload-pack and hosting services say these when a repository or
    // object is missing or hidden; the file transport says so about a missing path.
    const NOT_FOUND: [&str; 5] = [
        "not our ref",
        "repository not found",
        "does not appear to be a git repository",
        "is a valid git directory",
        "no such file or directory",
    ];
    if err.is_not_found() || NOT_FOUND.iter().any(|p| lower.contains(p)) {
        return SourceError::NotFound(msg);
    }
    if err.is_unauthenticated() || err.is_permission_denied() {
        return SourceError::Auth(msg);
    }
    if err.classify().any(|c| c.class() == Class::Retryable) {
        return SourceError::Unreachable(msg);
    }
    SourceError::Git(msg)
}
