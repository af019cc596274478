//! Talking to a remote: the ref advertisement (`git ls-remote`) and shallow fetches of one ref or
//! one commit. Blocking; the caller runs it on a blocking thread.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::protocol::handshake::Ref;
use gix::remote::Direction;
use gix::remote::fetch::{Shallow, Tags};

use super::budget::{Budget, BudgetProgress};
use super::errors::git_error;
use super::location::Remote;
use crate::source::{Head, Reference, SourceError};

/// What one network operation may spend.
pub(crate) struct NetBudget {
    /// When the operation must be over.
    pub deadline: Instant,
    /// The operation's whole time limit (for error messages).
    pub timeout: Duration,
    /// Most pack bytes one fetch may receive.
    pub max_pack_bytes: u64,
    /// Raised on timeout or when the pack budget is spent; gix checks it while receiving.
    pub interrupt: Arc<AtomicBool>,
}

/// The full ref names to ask the remote for, in order of preference.
pub(crate) fn ref_candidates(reference: &Reference) -> Result<Vec<String>, SourceError> {
    let names = match reference {
        Reference::DefaultBranch => return Ok(vec!["HEAD".to_owned()]),
        Reference::Branch(b) => vec![format!("refs/heads/{b}")],
        Reference::Tag(t) => vec![format!("refs/tags/{t}")],
        Reference::Named(n) if n.starts_with("refs/") => vec![n.clone()],
        Reference::Named(n) => vec![format!("refs/heads/{n}"), format!("refs/tags/{n}")],
        Reference::Sha(_) => return Ok(Vec::new()),
    };
    for n in &names {
        // Validating here also keeps refspec syntax (`*`, `:`, `^`) out of the names.
        gix::refs::FullName::try_from(n.as_str())
            .map_err(|_| SourceError::Invalid(format!("bad ref name {}", n.escape_debug())))?;
    }
    Ok(names)
}

/// A full hexadecimal object id.
pub(crate) fn parse_sha(sha: &str) -> Result<ObjectId, SourceError> {
    if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SourceError::Invalid(format!(
            "{} is not a full commit SHA",
            sha.escape_debug()
        )));
    }
    ObjectId::from_hex(sha.to_ascii_lowercase().as_bytes())
        .map_err(|_| SourceError::Invalid(format!("{sha} is not a full commit SHA")))
}

/// Resolves `reference` on the remote from its ref advertisement only (no pack).
pub(crate) fn ls_remote(
    repo: &gix::Repository,
    remote: &Remote,
    reference: &Reference,
    budget: &NetBudget,
) -> Result<Head, SourceError> {
    let candidates = ref_candidates(reference)?;
    let r = remote_with_specs(repo, remote, &candidates)?;
    let conn = connect(repo, &r, remote, budget)?;
    let (ref_map, _handshake) = conn
        .ref_map(gix::progress::Discard, Default::default())
        .map_err(|e| net_error("listing refs", &e, budget))?;
    for wanted in &candidates {
        for m in &ref_map.mappings {
            let Some(name) = m.remote.as_name() else {
                continue;
            };
            if name != wanted.as_bytes().as_bstr() {
                continue;
            }
            let Some(id) = m.remote.peeled_id() else {
                return Err(SourceError::NotFound(format!(
                    "{wanted} of {} has no commits yet",
                    remote.display
                )));
            };
            let ref_name = match &m.remote {
                gix::remote::fetch::refmap::Source::Ref(Ref::Symbolic { target, .. }) => {
                    target.to_string()
                }
                _ => wanted.clone(),
            };
            return Ok(Head {
                sha: id.to_string(),
                ref_name: Some(ref_name),
            });
        }
    }
    Err(SourceError::NotFound(format!(
        "{} not found on {}",
        describe(reference),
        remote.display
    )))
}

/// Fetches the objects of `reference` (depth 1) into `repo`, updating the matching local ref.
/// Returns the number of pack bytes received.
pub(crate) fn fetch_ref(
    repo: &gix::Repository,
    remote: &Remote,
    reference: &Reference,
    budget: &NetBudget,
) -> Result<u64, SourceError> {
    let specs: Vec<String> = ref_candidates(reference)?
        .into_iter()
        .map(|name| {
            if name == "HEAD" {
                // The remote's default branch, kept under a private name: a bare repo's own
                // HEAD must not be overwritten by a fetch.
                "+HEAD:refs/trove/remote-head".to_owned()
            } else {
                format!("+{name}:{name}")
            }
        })
        .collect();
    fetch_specs(repo, remote, &specs, budget)
}

/// Fetches commit `sha` by id (depth 1). Servers allow this for reachable commits (protocol v2,
/// GitHub, GitLab); the sync engine only asks for commits a ref pointed to.
pub(crate) fn fetch_sha(
    repo: &gix::Repository,
    remote: &Remote,
    sha: ObjectId,
    budget: &NetBudget,
) -> Result<u64, SourceError> {
    fetch_specs(repo, remote, &[sha.to_string()], budget)
}

fn fetch_specs(
    repo: &gix::Repository,
    remote: &Remote,
    specs: &[String],
    budget: &NetBudget,
) -> Result<u64, SourceError> {
    let r = remote_with_specs(repo, remote, specs)?;
    let conn = connect(repo, &r, remote, budget)?;
    let pack_budget = Budget::new(budget.max_pack_bytes, budget.interrupt.clone());
    let mut progress = BudgetProgress::new(pack_budget.clone());
    let prepare = conn
        .prepare_fetch(&mut progress, Default::default())
        .map_err(|e| net_error("negotiating", &e, budget))?;
    let wanted_refs = specs.iter().filter(|s| s.starts_with('+')).count();
    if wanted_refs > 0 && prepare.ref_map().mappings.is_empty() {
        return Err(SourceError::NotFound(format!(
            "ref not found on {}",
            remote.display
        )));
    }
    let result = prepare
        .with_shallow(Shallow::DepthAtRemote(1.try_into().expect("1 is not zero")))
        .with_write_packed_refs_only(true)
        .receive(progress, &budget.interrupt);
    if pack_budget.exceeded() {
        return Err(SourceError::TooLarge(format!(
            "the pack from {} exceeds {} bytes (TROVE_GIT_MAX_FETCH_SIZE raises the limit)",
            remote.display, budget.max_pack_bytes
        )));
    }
    result.map_err(|e| net_error("fetching", &e, budget))?;
    Ok(pack_budget.received())
}

/// An anonymous remote for `remote.url` with exactly `specs` and no tag following.
fn remote_with_specs<'r>(
    repo: &'r gix::Repository,
    remote: &Remote,
    specs: &[String],
) -> Result<gix::Remote<'r>, SourceError> {
    repo.remote_at_without_url_rewrite(remote.url.clone())
        .and_then(|r| r.with_refspecs(specs.iter().map(String::as_str), Direction::Fetch))
        .map(|r| r.with_fetch_tags(Tags::None))
        .map_err(|e| SourceError::Invalid(format!("{}: {}", remote.display, e)))
}

type Conn<'a, 'r> = gix::remote::Connection<
    'a,
    'static,
    'r,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects (no handshake yet) with our credentials and HTTP timeouts.
fn connect<'a, 'r>(
    repo: &'r gix::Repository,
    r: &'a gix::Remote<'r>,
    remote: &Remote,
    budget: &NetBudget,
) -> Result<Conn<'a, 'r>, SourceError> {
    let conn = r
        .connect(Direction::Fetch)
        .map_err(|e| net_error("connecting", &e, budget))?;
    // Always answer credential requests ourselves: with the target's credentials, or with a
    // refusal, never with a helper program or a terminal prompt.
    let creds = remote.credentials.clone();
    let display = remote.display.clone();
    let conn = conn.with_credentials(move |action| match action {
        gix::credentials::helper::Action::Get(ctx) => match &creds {
            Some(c) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: c.username.clone(),
                    password: c.secret.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            None => Err(gix::Error::from_error(AuthRequired(display.clone()))),
        },
        _ => Ok(None),
    });
    let conn = match http_options(repo, remote, budget)? {
        Some(opts) => conn.with_transport_options(opts),
        None => conn,
    };
    Ok(conn)
}

/// The host asked for credentials the target does not have.
#[derive(Debug, thiserror::Error)]
#[error("{0} requires authentication")]
struct AuthRequired(String);

/// HTTP transport options bounded by the operation deadline (connect and whole request).
fn http_options(
    repo: &gix::Repository,
    remote: &Remote,
    budget: &NetBudget,
) -> Result<Option<Box<dyn std::any::Any>>, SourceError> {
    use gix::protocol::transport::client::blocking_io::http;
    if !matches!(
        remote.url.scheme,
        gix::url::Scheme::Http | gix::url::Scheme::Https
    ) {
        return Ok(None);
    }
    let Some(mut opts) = repo
        .transport_options(remote.display.as_bytes().as_bstr(), None)
        .map_err(|e| git_error("configuring http", &e))?
    else {
        return Ok(None);
    };
    let remaining = budget
        .deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    if let Some(http_opts) = opts.downcast_mut::<http::Options>() {
        http_opts.connect_timeout = Some(remaining.min(Duration::from_secs(30)));
        let backend = http::reqwest::Options {
            configure_client: Some(Box::new(move |builder| Ok(builder.timeout(remaining)))),
            configure_request: None,
        };
        http_opts.backend = Some(Arc::new(std::sync::Mutex::new(backend)));
    }
    Ok(Some(opts))
}

/// Classifies a network failure, reporting a timeout as such when the deadline has passed.
fn net_error(what: &str, err: &gix::Error, budget: &NetBudget) -> SourceError {
    if Instant::now() >= budget.deadline {
        return SourceError::Timeout(budget.timeout);
    }
    if err.iter_errors().any(|e| e.is::<AuthRequired>()) {
        return SourceError::Auth(super::errors::chain(err));
    }
    git_error(what, err)
}

fn describe(reference: &Reference) -> String {
    match reference {
        Reference::DefaultBranch => "the default branch".to_owned(),
        Reference::Branch(b) => format!("branch {b}"),
        Reference::Tag(t) => format!("tag {t}"),
        Reference::Named(n) => format!("ref {n}"),
        Reference::Sha(s) => format!("commit {s}"),
    }
}
