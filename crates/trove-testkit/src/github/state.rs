//! What the fake knows: the App's identity, accounts, installations, repositories, issued
//! credentials, switches and the request log. Everything mutable sits behind one mutex that is
//! never held across an await or a `git` process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::RecordedRequest;
use super::keys::AppKey;

/// The rate-limit ceiling GitHub reports for an installation token.
pub(crate) const RATE_LIMIT: u32 = 5000;

/// The registered App, fixed for the life of a fake.
pub(crate) struct AppIdentity {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    pub key: AppKey,
    pub owner: String,
}

/// State shared by the server and the [`FakeGitHub`](super::FakeGitHub) handle.
pub(crate) struct Shared {
    pub app: AppIdentity,
    /// `http://127.0.0.1:<port>`, serving both the API and the web pages.
    pub base_url: String,
    /// Where repositories are created (`<data dir>/repos/<id>.git`).
    pub data_dir: PathBuf,
    world: Mutex<World>,
}

/// A user or an organization.
#[derive(Clone)]
pub(crate) struct Account {
    pub id: u64,
    pub login: String,
    pub kind: AccountKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountKind {
    User,
    Organization,
}

impl AccountKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Organization => "Organization",
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "User" => Self::User,
            "Organization" => Self::Organization,
            other => panic!("account type must be \"User\" or \"Organization\", not {other:?}"),
        }
    }
}

pub(crate) struct Installation {
    pub id: u64,
    pub account: u64,
    /// Users who see this installation in `GET /user/installations`.
    pub users: BTreeSet<u64>,
    /// Repositories the installation's tokens can read.
    pub repos: BTreeSet<u64>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub(crate) struct Repo {
    pub id: u64,
    pub owner: u64,
    pub name: String,
    /// Earlier full names, oldest first; requests to them are redirected.
    pub previous_names: Vec<String>,
    pub git_dir: PathBuf,
    pub git: gix::ThreadSafeRepository,
    pub default_branch: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
}

/// Who an issued token speaks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Installation(u64),
    User(u64),
}

pub(crate) struct Token {
    pub grant: Grant,
    pub expires_at: DateTime<Utc>,
}

pub(crate) struct OAuthCode {
    pub user: u64,
    pub expires_at: DateTime<Utc>,
    pub redirect_uri: Option<String>,
}

/// A tarball download link handed out by `GET /repos/{o}/{r}/tarball/{ref}`.
pub(crate) struct Download {
    pub repo: u64,
    pub sha: String,
    pub expires_at: DateTime<Utc>,
}

pub(crate) struct FailRule {
    pub path_contains: String,
    pub remaining: u32,
    pub status: u16,
}

/// The primary rate limit, one bucket for every credential.
pub(crate) struct RateLimit {
    /// `None`: unlimited. Refilled to `None` when the window resets.
    pub remaining: Option<u32>,
    pub used: u32,
    /// Unix seconds.
    pub reset: i64,
    pub window: Duration,
}

pub(crate) struct World {
    next_account: u64,
    next_installation: u64,
    next_repo: u64,
    pub accounts: BTreeMap<u64, Account>,
    pub installations: BTreeMap<u64, Installation>,
    pub repos: BTreeMap<u64, Repo>,
    pub tokens: HashMap<String, Token>,
    pub codes: HashMap<String, OAuthCode>,
    pub downloads: HashMap<String, Download>,
    pub fail_rules: Vec<FailRule>,
    pub rate: RateLimit,
    pub truncate_trees: bool,
    pub requests: Vec<RecordedRequest>,
    pub tokens_minted: u32,
    pub setup_url: Option<String>,
    pub webhook_url: Option<String>,
}

/// How a `owner/name` resolves.
pub(crate) enum RepoLookup {
    Found(u64),
    /// An earlier name of this repository.
    Moved(u64),
    Missing,
}

impl Shared {
    pub(crate) fn new(app: AppIdentity, base_url: String, data_dir: PathBuf) -> Self {
        let window = Duration::from_secs(60);
        Self {
            app,
            base_url,
            data_dir,
            world: Mutex::new(World {
                // Distinct ranges, so an id of one kind used as another never finds anything.
                next_account: 1001,
                next_installation: 50_001,
                next_repo: 700_001,
                accounts: BTreeMap::new(),
                installations: BTreeMap::new(),
                repos: BTreeMap::new(),
                tokens: HashMap::new(),
                codes: HashMap::new(),
                downloads: HashMap::new(),
                fail_rules: Vec::new(),
                rate: RateLimit {
                    remaining: None,
                    used: 0,
                    reset: Utc::now().timestamp() + window.as_secs() as i64,
                    window,
                },
                truncate_trees: false,
                requests: Vec::new(),
                tokens_minted: 0,
                setup_url: None,
                webhook_url: None,
            }),
        }
    }

    /// Locks the world. A panic in another holder (a failed assertion in a test) must not hide
    /// the state from the rest of the test, so poisoning is ignored.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl World {
    /// The account named `login` (case-insensitive, as on GitHub), created with `kind` when new.
    pub(crate) fn ensure_account(&mut self, login: &str, kind: AccountKind) -> u64 {
        if let Some(account) = self.account_by_login(login) {
            return account.id;
        }
        let id = self.next_account;
        self.next_account += 1;
        self.accounts.insert(
            id,
            Account {
                id,
                login: login.to_owned(),
                kind,
            },
        );
        id
    }

    pub(crate) fn account_by_login(&self, login: &str) -> Option<&Account> {
        self.accounts
            .values()
            .find(|a| a.login.eq_ignore_ascii_case(login))
    }

    pub(crate) fn add_installation(&mut self, account: u64, users: BTreeSet<u64>) -> u64 {
        let id = self.next_installation;
        self.next_installation += 1;
        self.installations.insert(
            id,
            Installation {
                id,
                account,
                users,
                repos: BTreeSet::new(),
                suspended_at: None,
                created_at: Utc::now(),
            },
        );
        id
    }

    pub(crate) fn allocate_repo_id(&mut self) -> u64 {
        let id = self.next_repo;
        self.next_repo += 1;
        id
    }

    pub(crate) fn full_name(&self, repo: &Repo) -> String {
        format!("{}/{}", self.accounts[&repo.owner].login, repo.name)
    }

    pub(crate) fn lookup_repo(&self, owner: &str, name: &str) -> RepoLookup {
        let wanted = format!("{owner}/{name}");
        if let Some(repo) = self
            .repos
            .values()
            .find(|r| self.full_name(r).eq_ignore_ascii_case(&wanted))
        {
            return RepoLookup::Found(repo.id);
        }
        // The newest holder of an old name wins, as a later rename may have reused it.
        match self.repos.values().rev().find(|r| {
            r.previous_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&wanted))
        }) {
            Some(repo) => RepoLookup::Moved(repo.id),
            None => RepoLookup::Missing,
        }
    }

    /// The first installation whose tokens can read `repo`.
    pub(crate) fn installation_of(&self, repo: u64) -> Option<u64> {
        self.installations
            .values()
            .find(|i| i.repos.contains(&repo))
            .map(|i| i.id)
    }

    /// Whether a request made with `grant` may read `repo`: an installation token sees its
    /// installation's repositories, a user token those of every installation the user sees.
    pub(crate) fn grant_sees_repo(&self, grant: Grant, repo: u64) -> bool {
        match grant {
            Grant::Installation(id) => self
                .installations
                .get(&id)
                .is_some_and(|i| i.repos.contains(&repo)),
            Grant::User(user) => self
                .installations
                .values()
                .any(|i| i.users.contains(&user) && i.repos.contains(&repo)),
        }
    }

    /// Sets the requests left in the current window (`None`: unlimited) and starts a new window.
    pub(crate) fn set_rate_limit(&mut self, remaining: Option<u32>) {
        self.rate.remaining = remaining;
        self.rate.reset = Utc::now().timestamp() + self.rate.window.as_secs() as i64;
    }

    /// Charges one request to the rate limit. `Err` when it is exhausted.
    pub(crate) fn charge_rate_limit(&mut self) -> Result<(), ()> {
        self.roll_rate_window();
        match &mut self.rate.remaining {
            Some(0) => return Err(()),
            Some(n) => *n -= 1,
            None => {}
        }
        self.rate.used += 1;
        Ok(())
    }

    /// Gives back a charge (a `304 Not Modified` is free on GitHub).
    pub(crate) fn refund_rate_limit(&mut self) {
        if let Some(n) = &mut self.rate.remaining {
            *n += 1;
        }
        self.rate.used = self.rate.used.saturating_sub(1);
    }

    /// `(limit, remaining, reset, used)` as the `x-ratelimit-*` headers report them.
    pub(crate) fn rate_headers(&mut self) -> (u32, u32, i64, u32) {
        self.roll_rate_window();
        let rate = &self.rate;
        let remaining = rate
            .remaining
            .unwrap_or(RATE_LIMIT.saturating_sub(rate.used));
        let limit = RATE_LIMIT.max(remaining);
        (limit, remaining, rate.reset, rate.used)
    }

    fn roll_rate_window(&mut self) {
        let now = Utc::now().timestamp();
        if now >= self.rate.reset {
            self.rate.remaining = None;
            self.rate.used = 0;
            self.rate.reset = now + self.rate.window.as_secs() as i64;
        }
    }

    /// The status of the first armed failure rule matching `path`, disarming one shot of it.
    pub(crate) fn take_failure(&mut self, path: &str) -> Option<u16> {
        let rule = self
            .fail_rules
            .iter_mut()
            .find(|r| r.remaining > 0 && path.contains(&r.path_contains))?;
        rule.remaining -= 1;
        let status = rule.status;
        self.fail_rules.retain(|r| r.remaining > 0);
        Some(status)
    }
}

/// `len` random characters from `[0-9A-Za-z]`, like GitHub's token bodies.
pub(crate) fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bytes = [0u8; 64];
        aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
        // Rejection sampling keeps the characters uniform: 248 = 4 * 62.
        out.extend(
            bytes
                .iter()
                .filter(|b| **b < 248)
                .map(|b| char::from(ALPHABET[usize::from(*b % 62)]))
                .take(len - out.len()),
        );
    }
    out
}
