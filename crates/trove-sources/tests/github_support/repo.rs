//! An in-memory repository served the way GitHub's git data API serves one: refs, commits,
//! trees (recursive or not, optionally truncated), blobs (JSON or raw) and tarballs (through a
//! redirect, as GitHub's download links), with switches to fail given trees or every tarball.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{Req, answer, json, mint_tokens};

/// A blob's id as git computes it: the client matches tarball content to the listing by it.
fn blob_id(data: &[u8]) -> String {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data)
        .unwrap()
        .to_hex()
        .to_string()
}

/// Any other object id: 40 hex digits derived from the content (not git's hash; only opaque ids
/// matter to the client).
fn oid(kind: &str, data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(data);
    hex::encode(h.finalize())[..40].to_owned()
}

#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub name: String,
    pub mode: &'static str,
    pub kind: &'static str,
    pub sha: String,
    pub size: Option<u64>,
}

/// A file to put in a commit.
pub enum File<'a> {
    Blob(&'a str, &'a [u8]),
    Exec(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
    Submodule(&'a str),
}

#[derive(Default)]
pub struct Objects {
    pub trees: HashMap<String, Vec<TreeEntry>>,
    pub blobs: HashMap<String, Vec<u8>>,
    pub commits: HashMap<String, String>,
    pub refs: HashMap<String, String>,
}

/// The repository plus switches.
pub struct Repo {
    pub full_name: String,
    pub installation: u64,
    pub objects: Mutex<Objects>,
    /// Recursive tree answers come back `truncated: true` with half the entries.
    pub truncate: AtomicBool,
    /// Trees (by sha) that always answer 502.
    pub failing_trees: Mutex<HashSet<String>>,
    /// Blobs whose raw answer is this many bytes longer than the listed size says.
    pub blob_padding: AtomicU64,
    /// Tarball downloads answer 502.
    pub failing_tarballs: AtomicBool,
    pub tokens: AtomicU64,
    pub default_branch: Mutex<String>,
}

impl Repo {
    pub fn new(full_name: &str, installation: u64) -> Repo {
        Repo {
            full_name: full_name.to_owned(),
            installation,
            objects: Mutex::new(Objects::default()),
            truncate: AtomicBool::new(false),
            failing_trees: Mutex::new(HashSet::new()),
            blob_padding: AtomicU64::new(0),
            failing_tarballs: AtomicBool::new(false),
            tokens: AtomicU64::new(0),
            default_branch: Mutex::new("main".to_owned()),
        }
    }

    /// Makes a commit of `files` and points `refs/heads/{branch}` at it. Returns the commit id.
    pub fn commit(&self, branch: &str, files: &[File<'_>]) -> String {
        let mut objects = self.objects.lock().unwrap();
        let mut root = Dir::default();
        for file in files {
            let (path, mode, kind, sha, size) = match file {
                File::Blob(p, d) | File::Exec(p, d) => {
                    let sha = blob_id(d);
                    objects.blobs.insert(sha.clone(), d.to_vec());
                    let mode = if matches!(file, File::Exec(..)) {
                        "100755"
                    } else {
                        "100644"
                    };
                    (*p, mode, "blob", sha, Some(d.len() as u64))
                }
                File::Link(p, target) => {
                    let sha = blob_id(target.as_bytes());
                    objects
                        .blobs
                        .insert(sha.clone(), target.as_bytes().to_vec());
                    (*p, "120000", "blob", sha, Some(target.len() as u64))
                }
                File::Submodule(p) => (*p, "160000", "commit", oid("commit", p.as_bytes()), None),
            };
            let mut dir = &mut root;
            let mut segments: Vec<&str> = path.split('/').collect();
            let name = segments.pop().unwrap();
            for seg in segments {
                dir = dir.dirs.entry(seg.to_owned()).or_default();
            }
            dir.leaves.push(TreeEntry {
                name: name.to_owned(),
                mode,
                kind,
                sha,
                size,
            });
        }
        let tree = store_dir(&mut objects, root);
        let commit = oid(
            "commit",
            format!("{tree} {branch} {}", objects.commits.len()).as_bytes(),
        );
        objects.commits.insert(commit.clone(), tree);
        objects
            .refs
            .insert(format!("heads/{branch}"), commit.clone());
        commit
    }

    /// The tree id of folder `path` ("" for the root) in `commit`.
    pub fn tree_of(&self, commit: &str, path: &str) -> String {
        let objects = self.objects.lock().unwrap();
        let mut tree = objects.commits[commit].clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            tree = objects.trees[&tree]
                .iter()
                .find(|e| e.name == seg)
                .unwrap()
                .sha
                .clone();
        }
        tree
    }

    /// Every entry under `tree`, with full paths, depth first.
    fn flatten(objects: &Objects, tree: &str, prefix: &str, out: &mut Vec<serde_json::Value>) {
        for e in &objects.trees[tree] {
            let path = if prefix.is_empty() {
                e.name.clone()
            } else {
                format!("{prefix}/{}", e.name)
            };
            out.push(entry_json(e, &path));
            if e.kind == "tree" {
                Self::flatten(objects, &e.sha, &path, out);
            }
        }
    }

    /// Appends the regular files under `tree` to `tar`, below folder `prefix`.
    fn archive(
        objects: &Objects,
        tree: &str,
        prefix: &str,
        tar: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    ) {
        for e in &objects.trees[tree] {
            let path = format!("{prefix}/{}", e.name);
            match (e.kind, e.mode) {
                ("tree", _) => Self::archive(objects, &e.sha, &path, tar),
                ("blob", "100644" | "100755") => {
                    let data = &objects.blobs[&e.sha];
                    let mut header = tar::Header::new_gnu();
                    header.set_size(data.len() as u64);
                    header.set_mode(0o644);
                    header.set_entry_type(tar::EntryType::Regular);
                    tar.append_data(&mut header, &path, data.as_slice())
                        .unwrap();
                }
                _ => {}
            }
        }
    }

    /// Answers the git data API of this repository; `None` for paths it does not serve.
    pub fn handle(&self, req: &Req) -> Option<Response> {
        if let Some(r) = mint_tokens(req, &self.tokens, 3600) {
            return Some(r);
        }
        let prefix = format!("/repos/{}", self.full_name);
        let rest = req.path.strip_prefix(&prefix)?;
        let token_ok = req
            .bearer()
            .is_some_and(|t| t.starts_with(&format!("ghs_inst{}_", self.installation)));
        if !token_ok {
            return Some(json(404, serde_json::json!({"message": "Not Found"})));
        }
        let objects = self.objects.lock().unwrap();
        let not_found = || json(404, serde_json::json!({"message": "Not Found"}));
        if rest.is_empty() {
            let (owner, name) = self.full_name.split_once('/').unwrap();
            let etag = format!("\"repo-{}\"", self.default_branch.lock().unwrap());
            if req.header("if-none-match") == Some(etag.as_str()) {
                return Some(answer(304, &[("etag", etag)], ""));
            }
            let mut r = json(
                200,
                serde_json::json!({
                    "id": 77, "name": name, "full_name": self.full_name,
                    "owner": {"login": owner, "id": 5, "type": "Organization"},
                    "private": true, "archived": false,
                    "default_branch": *self.default_branch.lock().unwrap(),
                    "html_url": format!("https://github.example/{}", self.full_name),
                }),
            );
            r.headers_mut().insert("etag", etag.parse().unwrap());
            return Some(r);
        }
        if let Some(git_ref) = rest.strip_prefix("/commits/") {
            let git_ref = urlencoding_decode(git_ref);
            let sha = objects.refs.get(&git_ref).cloned().or_else(|| {
                objects
                    .commits
                    .contains_key(&git_ref)
                    .then(|| git_ref.clone())
            });
            let Some(sha) = sha else {
                return Some(json(
                    422,
                    serde_json::json!({"message": format!("No commit found for SHA: {git_ref}")}),
                ));
            };
            let etag = format!("\"{sha}\"");
            if req.header("if-none-match") == Some(etag.as_str()) {
                return Some(answer(304, &[("etag", etag)], ""));
            }
            assert_eq!(req.header("accept"), Some("application/vnd.github.sha"));
            return Some(answer(
                200,
                &[("etag", etag), ("content-type", "text/plain".into())],
                sha,
            ));
        }
        if let Some(sha) = rest.strip_prefix("/git/commits/") {
            let Some(tree) = objects.commits.get(sha) else {
                return Some(not_found());
            };
            return Some(json(
                200,
                serde_json::json!({"sha": sha, "tree": {"sha": tree}, "parents": []}),
            ));
        }
        if let Some(sha) = rest.strip_prefix("/git/trees/") {
            if self.failing_trees.lock().unwrap().contains(sha) {
                return Some(json(502, serde_json::json!({"message": "Server Error"})));
            }
            let Some(entries) = objects.trees.get(sha) else {
                return Some(not_found());
            };
            let mut tree: Vec<serde_json::Value>;
            let mut truncated = false;
            if req.param("recursive").is_some() {
                tree = Vec::new();
                Self::flatten(&objects, sha, "", &mut tree);
                if self.truncate.load(Ordering::SeqCst) {
                    tree.truncate(tree.len() / 2);
                    truncated = true;
                }
            } else {
                tree = entries.iter().map(|e| entry_json(e, &e.name)).collect();
            }
            return Some(json(
                200,
                serde_json::json!({"sha": sha, "tree": tree, "truncated": truncated}),
            ));
        }
        if let Some(sha) = rest.strip_prefix("/tarball/") {
            // GitHub answers with a redirect to a short-lived download link.
            return Some(match objects.commits.contains_key(sha) {
                true => answer(
                    302,
                    &[("location", format!("{prefix}/_download/{sha}"))],
                    "",
                ),
                false => not_found(),
            });
        }
        if let Some(sha) = rest.strip_prefix("/_download/") {
            if self.failing_tarballs.load(Ordering::SeqCst) {
                return Some(json(502, serde_json::json!({"message": "Server Error"})));
            }
            let Some(tree) = objects.commits.get(sha) else {
                return Some(not_found());
            };
            let (owner, name) = self.full_name.split_once('/').unwrap();
            let top = format!("{owner}-{name}-{}", &sha[..7]);
            let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let mut tar = tar::Builder::new(gz);
            Self::archive(&objects, tree, &top, &mut tar);
            let body = tar.into_inner().unwrap().finish().unwrap();
            return Some(answer(
                200,
                &[("content-type", "application/x-gzip".into())],
                body,
            ));
        }
        if let Some(sha) = rest.strip_prefix("/git/blobs/") {
            let Some(data) = objects.blobs.get(sha) else {
                return Some(not_found());
            };
            assert_eq!(req.header("accept"), Some("application/vnd.github.raw"));
            let mut data = data.clone();
            let pad = self.blob_padding.load(Ordering::SeqCst) as usize;
            data.extend(std::iter::repeat_n(b'x', pad));
            return Some(answer(
                200,
                &[("content-type", "application/octet-stream".into())],
                data,
            ));
        }
        Some(not_found())
    }
}

/// A folder being built.
#[derive(Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    leaves: Vec<TreeEntry>,
}

/// Stores `dir` and its subfolders; returns its tree id.
fn store_dir(objects: &mut Objects, dir: Dir) -> String {
    let mut entries = dir.leaves;
    for (name, sub) in dir.dirs {
        let sha = store_dir(objects, sub);
        entries.push(TreeEntry {
            name,
            mode: "040000",
            kind: "tree",
            sha,
            size: None,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let listing: String = entries
        .iter()
        .map(|e| format!("{} {} {}\n", e.mode, e.name, e.sha))
        .collect();
    let id = oid("tree", listing.as_bytes());
    objects.trees.insert(id.clone(), entries);
    id
}

fn entry_json(e: &TreeEntry, path: &str) -> serde_json::Value {
    let mut v = serde_json::json!({"path": path, "mode": e.mode, "type": e.kind, "sha": e.sha});
    if let Some(size) = e.size {
        v["size"] = size.into();
    }
    v
}

/// Decodes `%XX` escapes of a path.
fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
