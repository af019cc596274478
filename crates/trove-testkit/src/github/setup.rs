//! Changing the fake's world: users, installations, repositories and their history, renames,
//! suspensions, OAuth codes. Both [`FakeGitHub`](super::FakeGitHub) and the `/_fake/` control
//! routes call these. Misuse (an unknown id, a duplicate name) panics: these build test fixtures.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::Utc;

use super::FakeRepo;
use super::git_write;
use super::state::{AccountKind, Repo, Shared};
use super::web;

impl Shared {
    pub(crate) fn add_user(&self, login: &str) -> u64 {
        self.world().ensure_account(login, AccountKind::User)
    }

    pub(crate) fn add_installation(&self, account: &str, kind: &str, users: &[&str]) -> u64 {
        let kind = AccountKind::parse(kind);
        let mut world = self.world();
        let account = world.ensure_account(account, kind);
        let users: BTreeSet<u64> = users
            .iter()
            .map(|login| world.ensure_account(login, AccountKind::User))
            .collect();
        world.add_installation(account, users)
    }

    /// A view of repository `id` as it is now.
    pub(crate) fn fake_repo(&self, id: u64) -> FakeRepo {
        let world = self.world();
        let repo = world
            .repos
            .get(&id)
            .unwrap_or_else(|| panic!("no repository with id {id}"));
        let owner = &world.accounts[&repo.owner];
        FakeRepo {
            id,
            full_name: world.full_name(repo),
            path: repo.git_dir.clone(),
            owner_id: owner.id,
            owner_type: owner.kind.as_str().to_owned(),
            base_url: self.base_url.clone(),
        }
    }

    /// The id of the repository currently named `full_name`.
    pub(crate) fn repo_id(&self, full_name: &str) -> Option<u64> {
        let (owner, name) = full_name.split_once('/')?;
        match self.world().lookup_repo(owner, name) {
            super::state::RepoLookup::Found(id) => Some(id),
            _ => None,
        }
    }

    /// Creates a repository in `installation` whose first commit on `main` holds the content of
    /// `dir`.
    pub(crate) fn create_repo(&self, installation: u64, full_name: &str, dir: &Path) -> FakeRepo {
        let (owner, name) = full_name
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .unwrap_or_else(|| panic!("repository name must be owner/name, not {full_name:?}"));
        assert!(
            self.repo_id(full_name).is_none(),
            "repository {full_name} already exists"
        );
        let id = {
            let mut world = self.world();
            assert!(
                world.installations.contains_key(&installation),
                "no installation {installation}"
            );
            world.allocate_repo_id()
        };
        let git_dir = self.data_dir.join("repos").join(format!("{id}.git"));
        std::fs::create_dir_all(&git_dir).expect("create repository directory");
        git_write::init_bare(&git_dir, "main");
        git_write::commit_dir(&git_dir, "main", dir, "Initial commit");
        let git = super::git::open(&git_dir);
        let mut world = self.world();
        let owner = world.ensure_account(owner, AccountKind::Organization);
        world.repos.insert(
            id,
            Repo {
                id,
                owner,
                name: name.to_owned(),
                previous_names: Vec::new(),
                git_dir,
                git,
                default_branch: "main".to_owned(),
                archived: false,
                created_at: Utc::now(),
            },
        );
        world
            .installations
            .get_mut(&installation)
            .expect("checked above")
            .repos
            .insert(id);
        drop(world);
        self.fake_repo(id)
    }

    pub(crate) fn add_repo(
        &self,
        installation: u64,
        full_name: &str,
        files: &[(&str, &[u8])],
    ) -> FakeRepo {
        let work = tempfile::tempdir().expect("work dir");
        for (path, content) in files {
            let file = work.path().join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).expect("create folders");
            }
            std::fs::write(&file, content).expect("write file");
        }
        self.create_repo(installation, full_name, work.path())
    }

    fn git_dir(&self, repo: u64) -> (std::path::PathBuf, String) {
        let world = self.world();
        let repo = world
            .repos
            .get(&repo)
            .unwrap_or_else(|| panic!("no repository with id {repo}"));
        (repo.git_dir.clone(), repo.default_branch.clone())
    }

    pub(crate) fn commit(
        &self,
        repo: u64,
        branch: &str,
        changes: &[(&str, Option<&[u8]>)],
        message: &str,
    ) -> String {
        let (git_dir, default_branch) = self.git_dir(repo);
        git_write::commit_changes(&git_dir, branch, &default_branch, changes, message)
    }

    pub(crate) fn delete_branch(&self, repo: u64, branch: &str) {
        let (git_dir, _) = self.git_dir(repo);
        git_write::delete_branch(&git_dir, branch);
    }

    pub(crate) fn default_branch(&self, repo: u64) -> String {
        self.git_dir(repo).1
    }

    /// The first parent of commit `sha`, if it has one.
    pub(crate) fn first_parent(&self, repo: u64, sha: &str) -> Option<String> {
        let (git_dir, _) = self.git_dir(repo);
        let repo = super::git::open(&git_dir).to_thread_local();
        let id = super::git::full_sha(sha)?;
        super::git::commit(&repo, id)?.parents.into_iter().next()
    }

    /// The head of `branch`, if it exists.
    pub(crate) fn head(&self, repo: u64, branch: &str) -> Option<String> {
        let (git_dir, _) = self.git_dir(repo);
        git_write::branch_head(&git_dir, branch)
    }

    /// Renames (or, with another owner, transfers) a repository; the old name redirects.
    pub(crate) fn rename_repo(&self, repo: u64, new_full_name: &str) -> FakeRepo {
        let (owner, name) = new_full_name
            .split_once('/')
            .unwrap_or_else(|| panic!("repository name must be owner/name, not {new_full_name:?}"));
        {
            let mut world = self.world();
            let owner = world.ensure_account(owner, AccountKind::Organization);
            let old = {
                let current = world
                    .repos
                    .get(&repo)
                    .unwrap_or_else(|| panic!("no repository with id {repo}"));
                world.full_name(current)
            };
            let entry = world.repos.get_mut(&repo).expect("checked above");
            entry.previous_names.push(old);
            entry.owner = owner;
            entry.name = name.to_owned();
        }
        self.fake_repo(repo)
    }

    pub(crate) fn set_suspended(&self, installation: u64, suspended: bool) {
        let mut world = self.world();
        let inst = world
            .installations
            .get_mut(&installation)
            .unwrap_or_else(|| panic!("no installation {installation}"));
        inst.suspended_at = suspended.then(Utc::now);
    }

    pub(crate) fn set_repo_in_installation(&self, installation: u64, repo: u64, present: bool) {
        let mut world = self.world();
        let inst = world
            .installations
            .get_mut(&installation)
            .unwrap_or_else(|| panic!("no installation {installation}"));
        if present {
            inst.repos.insert(repo);
        } else {
            inst.repos.remove(&repo);
        }
    }

    pub(crate) fn set_archived(&self, repo: u64, archived: bool) {
        let mut world = self.world();
        world
            .repos
            .get_mut(&repo)
            .unwrap_or_else(|| panic!("no repository with id {repo}"))
            .archived = archived;
    }

    fn user_id(&self, login: &str) -> u64 {
        self.world()
            .account_by_login(login)
            .unwrap_or_else(|| panic!("no user {login:?}; add it with add_user first"))
            .id
    }

    pub(crate) fn authorize(&self, login: &str) -> String {
        let user = self.user_id(login);
        web::issue_code(self, user, None)
    }

    pub(crate) fn install_redirect(&self, login: &str, state: &str, installation: u64) -> String {
        let user = self.user_id(login);
        let setup_url = self
            .world()
            .setup_url
            .clone()
            .expect("set_setup_url must be called before install");
        web::setup_redirect(self, &setup_url, user, state, installation)
    }
}
