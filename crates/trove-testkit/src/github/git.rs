//! Reading the fake's repositories with gix: refs to commits, commit metadata, tree listings with
//! the modes, object ids and sizes `git ls-tree -r -l` reports, and blobs.
//!
//! Repositories are written by `git` processes (see `git_write`), so every read goes to the object
//! database and the ref files on disk; nothing here caches what a later commit could change.

use std::path::Path;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;

/// An author or committer line.
pub(crate) struct Person {
    pub name: String,
    pub email: String,
    /// Unix seconds.
    pub seconds: i64,
}

pub(crate) struct CommitData {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author: Person,
    pub committer: Person,
    pub message: String,
}

/// One entry of a tree listing, in GitHub's vocabulary.
pub(crate) struct TreeItem {
    pub path: String,
    /// Six octal digits, as `git ls-tree` prints them (`100644`, `040000`, …).
    pub mode: String,
    /// `blob`, `tree` or `commit` (a submodule).
    pub kind: &'static str,
    pub sha: String,
    /// Blobs only (symlinks are blobs too).
    pub size: Option<u64>,
}

/// Opens a repository without reading the user's or the system's git configuration.
pub(crate) fn open(git_dir: &Path) -> gix::ThreadSafeRepository {
    gix::ThreadSafeRepository::open_opts(git_dir, gix::open::Options::isolated())
        .unwrap_or_else(|e| panic!("open git repository {}: {e}", git_dir.display()))
}

/// A full 40-digit SHA (either case).
pub(crate) fn full_sha(text: &str) -> Option<ObjectId> {
    if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        ObjectId::from_hex(text.to_ascii_lowercase().as_bytes()).ok()
    } else {
        None
    }
}

/// The commit `rev` names, as GitHub reads a `{ref}` path segment: a full or abbreviated (at least
/// 7 digits) commit SHA, a branch, a tag, or a full `refs/…` name. Tags are peeled.
pub(crate) fn resolve_commit(repo: &gix::Repository, rev: &str) -> Option<ObjectId> {
    let id = object_named(repo, rev)?;
    let commit = repo.find_object(id).ok()?.peel_to_commit().ok()?;
    Some(commit.id)
}

/// The tree `rev` names: a tree SHA, or anything [`resolve_commit`] accepts (its root tree).
pub(crate) fn resolve_tree(repo: &gix::Repository, rev: &str) -> Option<ObjectId> {
    let id = object_named(repo, rev)?;
    let object = repo.find_object(id).ok()?;
    if object.kind == gix::object::Kind::Tree {
        return Some(object.id);
    }
    Some(object.peel_to_commit().ok()?.tree_id().ok()?.detach())
}

fn object_named(repo: &gix::Repository, rev: &str) -> Option<ObjectId> {
    if let Some(id) = full_sha(rev) {
        return repo.try_find_header(id).ok().flatten().map(|_| id);
    }
    let candidates = [
        format!("refs/heads/{rev}"),
        format!("refs/tags/{rev}"),
        format!("refs/{rev}"),
        rev.to_owned(),
    ];
    for name in candidates.iter().filter(|n| n.starts_with("refs/")) {
        if let Ok(Some(mut reference)) = repo.try_find_reference(name.as_str())
            && let Ok(id) = reference.peel_to_id()
        {
            return Some(id.detach());
        }
    }
    if (7..40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        let prefix = gix::hash::Prefix::from_hex(&rev.to_ascii_lowercase()).ok()?;
        // `Err(())` is an ambiguous prefix, which GitHub does not resolve either.
        return repo.objects.lookup_prefix(prefix, None).ok()??.ok();
    }
    None
}

/// The head of `branch`, if the branch exists.
pub(crate) fn branch_head(repo: &gix::Repository, branch: &str) -> Option<ObjectId> {
    let mut reference = repo
        .try_find_reference(format!("refs/heads/{branch}").as_str())
        .ok()??;
    Some(reference.peel_to_id().ok()?.detach())
}

/// The commit `id`, if it is one.
pub(crate) fn commit(repo: &gix::Repository, id: ObjectId) -> Option<CommitData> {
    let commit = repo.find_object(id).ok()?.try_into_commit().ok()?;
    let decoded = commit.decode().ok()?;
    Some(CommitData {
        sha: id.to_string(),
        tree: decoded.tree().to_string(),
        parents: decoded.parents().map(|p| p.to_string()).collect(),
        author: person(decoded.author().ok()?),
        committer: person(decoded.committer().ok()?),
        message: decoded.message.to_str_lossy().into_owned(),
    })
}

fn person(sig: gix::actor::SignatureRef<'_>) -> Person {
    // The raw time is `<seconds> <+|-><hhmm>`; GitHub reports it in UTC.
    let seconds = sig
        .time
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Person {
        name: sig.name.to_str_lossy().trim().to_owned(),
        email: sig.email.to_str_lossy().trim().to_owned(),
        seconds,
    }
}

/// The entries of tree `id` in git's order; with `recursive`, every subtree's entries follow
/// their tree entry, as in `git ls-tree -r -t`.
pub(crate) fn tree(repo: &gix::Repository, id: ObjectId, recursive: bool) -> Option<Vec<TreeItem>> {
    let mut out = Vec::new();
    walk(repo, id, "", recursive, &mut out)?;
    Some(out)
}

fn walk(
    repo: &gix::Repository,
    id: ObjectId,
    prefix: &str,
    recursive: bool,
    out: &mut Vec<TreeItem>,
) -> Option<()> {
    let tree = repo.find_tree(id).ok()?;
    let decoded = tree.decode().ok()?;
    for entry in &decoded.entries {
        let name = entry.filename.to_str_lossy();
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.mode.kind();
        let oid = entry.oid.to_owned();
        let (kind_name, size) = match kind {
            EntryKind::Tree => ("tree", None),
            EntryKind::Commit => ("commit", None),
            EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                ("blob", Some(repo.find_header(oid).ok()?.size()))
            }
        };
        out.push(TreeItem {
            path: path.clone(),
            mode: format!("{:06o}", kind as u16),
            kind: kind_name,
            sha: oid.to_string(),
            size,
        });
        if recursive && kind == EntryKind::Tree {
            walk(repo, oid, &path, recursive, out)?;
        }
    }
    Some(())
}

/// The bytes of blob `id`, if it is one.
pub(crate) fn blob(repo: &gix::Repository, id: ObjectId) -> Option<Vec<u8>> {
    let object = repo.find_object(id).ok()?;
    (object.kind == gix::object::Kind::Blob).then(|| object.detach().data)
}
