//! Reusing an earlier discovery's plugin candidates: the result always equals a fresh discovery,
//! unchanged plugin folders are not read again, and a build that depended on anything outside its
//! folder is never reused.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use trove_discovery::{
    DirSnapshot, Discovery, DocCache, Entry, EntryKind, ReadError, Reusable, Snapshot, discover,
    discover_reusing, discover_reusing_with,
};

/// A snapshot whose blobs carry object ids (a digest of their bytes), like a git listing, and
/// which records every path read.
#[derive(Default)]
struct Listed {
    files: BTreeMap<String, Vec<u8>>,
    entries: Vec<Entry>,
    /// Whether folders are listed with an id naming their whole content, as git lists trees.
    trees: bool,
    reads: RefCell<Vec<String>>,
}

impl Listed {
    fn from_snapshot(snap: &dyn Snapshot) -> Self {
        let mut files = BTreeMap::new();
        for e in snap.entries() {
            if e.kind == EntryKind::Blob {
                let bytes = snap.read(&e.path, usize::MAX).expect("fixture file reads");
                files.insert(e.path.clone(), bytes);
            }
        }
        Self::from_files(files)
    }

    fn from_files(files: BTreeMap<String, Vec<u8>>) -> Self {
        Self::listing(files, false)
    }

    fn listing(files: BTreeMap<String, Vec<u8>>, trees: bool) -> Self {
        let mut entries: Vec<Entry> = files
            .iter()
            .map(|(path, bytes)| {
                let mut e = Entry::blob(path.clone(), bytes.len() as u64);
                e.oid = Some(hex::encode(Sha256::digest(bytes)));
                e
            })
            .collect();
        if trees {
            // Each folder's id digests the paths and ids of everything below it.
            let mut folders: BTreeMap<String, Sha256> = BTreeMap::new();
            for e in &entries {
                let mut dir = e.path.as_str();
                while let Some(i) = dir.rfind('/') {
                    dir = &dir[..i];
                    let digest = folders.entry(dir.to_owned()).or_default();
                    digest.update(e.path.as_bytes());
                    digest.update(e.oid.as_deref().unwrap_or_default().as_bytes());
                }
            }
            for (dir, digest) in folders {
                let mut e = Entry::blob(dir, 0);
                e.kind = EntryKind::Tree;
                e.mode = 0o040_000;
                e.oid = Some(hex::encode(digest.finalize()));
                entries.push(e);
            }
        }
        Listed {
            files,
            entries,
            trees,
            reads: RefCell::new(Vec::new()),
        }
    }

    fn with_trees(&self) -> Self {
        Self::listing(self.files.clone(), true)
    }

    fn with(&self, path: &str, text: &str) -> Self {
        let mut files = self.files.clone();
        files.insert(path.to_owned(), text.as_bytes().to_vec());
        Self::listing(files, self.trees)
    }

    fn without(&self, path: &str) -> Self {
        let mut files = self.files.clone();
        files.remove(path);
        Self::listing(files, self.trees)
    }

    fn text(&self, path: &str) -> String {
        String::from_utf8_lossy(&self.files[path]).into_owned()
    }

    fn reads(&self) -> Vec<String> {
        self.reads.borrow().clone()
    }
}

impl Snapshot for Listed {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn read(&self, path: &str, max_bytes: usize) -> Result<Vec<u8>, ReadError> {
        self.reads.borrow_mut().push(path.to_owned());
        let bytes = self.files.get(path).ok_or(ReadError::NotFound)?;
        Ok(bytes[..bytes.len().min(max_bytes)].to_vec())
    }

    fn root_name(&self) -> Option<&str> {
        Some("repo")
    }
}

fn same(a: &Discovery, b: &Discovery) {
    assert_eq!(
        serde_json::to_value(a).unwrap(),
        serde_json::to_value(b).unwrap()
    );
}

fn manifest(name: &str) -> String {
    json!({"name": name, "version": "1.0.0"}).to_string()
}

fn command(text: &str) -> String {
    format!("---\ndescription: {text}\n---\n\nBody of {text}.\n")
}

/// A marketplace of three plugins under `plugins/`.
fn marketplace() -> Listed {
    let mut files = BTreeMap::new();
    let mut entries = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        entries.push(json!({"name": name, "source": format!("./plugins/{name}")}));
        files.insert(
            format!("plugins/{name}/.claude-plugin/plugin.json"),
            manifest(name).into_bytes(),
        );
        for c in 0..3 {
            files.insert(
                format!("plugins/{name}/commands/c{c}.md"),
                command(&format!("{name} command {c}")).into_bytes(),
            );
        }
        files.insert(
            format!("plugins/{name}/skills/s/SKILL.md"),
            format!("---\nname: s\ndescription: skill of {name}\n---\n").into_bytes(),
        );
    }
    files.insert(
        ".claude-plugin/marketplace.json".into(),
        json!({"name": "m", "owner": {"name": "o"}, "plugins": entries})
            .to_string()
            .into_bytes(),
    );
    Listed::from_files(files)
}

#[test]
fn unchanged_plugins_are_reused_without_reading_their_folders() {
    reused_without_reading(marketplace());
}

#[test]
fn folders_listed_with_tree_ids_are_reused_by_them() {
    reused_without_reading(marketplace().with_trees());
    // A plugin folder moved elsewhere keeps its tree id but not its place: it is built again.
    let first = marketplace().with_trees();
    let cold = discover_reusing(&first, &Reusable::default());
    let mut market: serde_json::Value =
        serde_json::from_str(&first.text(".claude-plugin/marketplace.json")).unwrap();
    market["plugins"][0]["source"] = json!("./plugins/beta");
    let moved = first.with(".claude-plugin/marketplace.json", &market.to_string());
    let warm = discover_reusing(&moved, &cold.reusable);
    same(&warm.discovery, &discover(&moved));
    assert_eq!(warm.reused, 2, "alpha's entry now points at beta's folder");

    // The tree id stands for the folder's content: a listing that keeps it is taken at its word
    // (git guarantees the id changes with any file below), so not even the listing is walked.
    let mut stale = first.with("plugins/gamma/commands/c0.md", &command("gamma, edited"));
    let old_tree = first
        .entries
        .iter()
        .find(|e| e.path == "plugins/gamma")
        .and_then(|e| e.oid.clone());
    for e in &mut stale.entries {
        if e.path == "plugins/gamma" {
            e.oid.clone_from(&old_tree);
        }
    }
    assert_eq!(discover_reusing(&stale, &cold.reusable).reused, 3);
}

fn reused_without_reading(first: Listed) {
    let cold = discover_reusing(&first, &Reusable::default());
    same(&cold.discovery, &discover(&first));
    assert_eq!(cold.reused, 0);
    assert_eq!(cold.reusable.plugins.len(), 3);

    let edited = first.with("plugins/beta/commands/c1.md", &command("beta, corrected"));
    let warm = discover_reusing(&edited, &cold.reusable);
    let reads = edited.reads();
    assert_eq!(warm.reused, 2);
    same(&warm.discovery, &discover(&edited));
    let beta = &warm.discovery.plugins[1];
    assert_eq!(
        beta.components.commands[1].description.as_deref(),
        Some("beta, corrected")
    );
    // Only the marketplace file and the changed plugin's files were read.
    assert!(
        reads
            .iter()
            .all(|p| p.starts_with("plugins/beta/") || p == ".claude-plugin/marketplace.json"),
        "{reads:?}"
    );
    assert!(reads.contains(&"plugins/beta/commands/c1.md".to_owned()));
}

#[test]
fn a_rebuilt_plugin_reads_only_the_markdown_files_whose_blobs_changed() {
    let docs = DocCache::default();
    let first = marketplace();
    let cold = discover_reusing_with(&first, &Reusable::default(), Some(&docs));
    same(&cold.discovery, &discover(&first));
    assert_eq!(docs.len(), 12, "every command and skill file is kept");

    let edited = first.with("plugins/beta/commands/c1.md", &command("beta, corrected"));
    let warm = discover_reusing_with(&edited, &cold.reusable, Some(&docs));
    let markdown_read = |snap: &Listed| -> Vec<String> {
        snap.reads()
            .into_iter()
            .filter(|p| p.ends_with(".md"))
            .collect()
    };
    assert_eq!(markdown_read(&edited), ["plugins/beta/commands/c1.md"]);
    same(&warm.discovery, &discover(&edited));

    // The same bytes at another path are the same blob: not read again.
    let copied = edited.with("plugins/gamma/commands/c9.md", &command("beta, corrected"));
    let again = discover_reusing_with(&copied, &warm.reusable, Some(&docs));
    assert!(markdown_read(&copied).is_empty(), "{:?}", copied.reads());
    same(&again.discovery, &discover(&copied));
}

#[test]
fn a_changed_manifest_or_entry_is_not_reused() {
    let first = marketplace();
    let cold = discover_reusing(&first, &Reusable::default());

    let renamed = first.with(
        "plugins/gamma/.claude-plugin/plugin.json",
        &json!({"name": "gamma", "version": "2.0.0", "description": "new"}).to_string(),
    );
    let warm = discover_reusing(&renamed, &cold.reusable);
    assert_eq!(warm.reused, 2);
    same(&warm.discovery, &discover(&renamed));
    assert_eq!(
        warm.discovery.plugins[2].metadata.version.as_deref(),
        Some("2.0.0")
    );

    // The marketplace entry is an input too: `strict: false` changes what gamma is.
    let mut market: serde_json::Value =
        serde_json::from_str(&first.text(".claude-plugin/marketplace.json")).unwrap();
    market["plugins"][2]["strict"] = json!(false);
    market["plugins"][2]["commands"] = json!(["./commands/c0.md"]);
    let entry_changed = first.with(".claude-plugin/marketplace.json", &market.to_string());
    let warm = discover_reusing(&entry_changed, &cold.reusable);
    assert_eq!(warm.reused, 2);
    same(&warm.discovery, &discover(&entry_changed));
}

#[test]
fn added_removed_and_renamed_plugins_are_seen() {
    let first = marketplace();
    let cold = discover_reusing(&first, &Reusable::default());

    let mut market: serde_json::Value =
        serde_json::from_str(&first.text(".claude-plugin/marketplace.json")).unwrap();
    market["plugins"][0]["name"] = json!("alpha-renamed");
    market["plugins"][1] = json!({"name": "delta", "source": "./plugins/delta"});
    let changed = first
        .with(".claude-plugin/marketplace.json", &market.to_string())
        .without("plugins/beta/commands/c0.md")
        .with("plugins/delta/commands/d.md", &command("delta"));
    let warm = discover_reusing(&changed, &cold.reusable);
    same(&warm.discovery, &discover(&changed));
    // Only gamma kept its key and its inputs.
    assert_eq!(warm.reused, 1);
    let keys: Vec<&str> = warm
        .discovery
        .plugins
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            ".claude-plugin/marketplace.json#alpha-renamed",
            ".claude-plugin/marketplace.json#delta",
            ".claude-plugin/marketplace.json#gamma"
        ]
    );
}

#[test]
fn a_build_that_looked_outside_its_folder_is_not_kept() {
    // `./shared/x.md` does not exist in gamma's folder but does from the marketplace root: the
    // warning about it depends on a file outside the folder, so gamma cannot be reused.
    let mut market: serde_json::Value =
        serde_json::from_str(&marketplace().text(".claude-plugin/marketplace.json")).unwrap();
    market["plugins"][2]["commands"] = json!(["./shared/x.md"]);
    let first = marketplace()
        .with(".claude-plugin/marketplace.json", &market.to_string())
        .with("shared/x.md", &command("shared"));
    let cold = discover_reusing(&first, &Reusable::default());
    assert!(
        !cold
            .reusable
            .plugins
            .contains_key(".claude-plugin/marketplace.json#gamma")
    );
    assert_eq!(cold.reusable.plugins.len(), 2);

    // Removing the outside file changes gamma's warnings; a fresh build sees it.
    let second = first.without("shared/x.md");
    let warm = discover_reusing(&second, &cold.reusable);
    same(&warm.discovery, &discover(&second));
    assert_eq!(warm.reused, 2);
}

#[test]
fn sources_without_object_ids_reuse_nothing() {
    let listed = marketplace();
    let mut plain = trove_discovery::MemSnapshot::new();
    for (path, bytes) in &listed.files {
        plain.add_file(path, bytes.clone());
    }
    let cold = discover_reusing(&plain, &Reusable::default());
    assert!(cold.reusable.plugins.is_empty());
    let again = discover_reusing(&plain, &listed_reusable(&listed));
    assert_eq!(again.reused, 0);
    same(&again.discovery, &discover(&plain));
}

fn listed_reusable(listed: &Listed) -> Reusable {
    discover_reusing(listed, &Reusable::default()).reusable
}

#[test]
fn a_round_trip_through_json_reuses_the_same() {
    let first = marketplace();
    let cold = discover_reusing(&first, &Reusable::default());
    let stored: Reusable =
        serde_json::from_str(&serde_json::to_string(&cold.reusable).unwrap()).unwrap();
    let warm = discover_reusing(&first, &stored);
    assert_eq!(warm.reused, 3);
    same(&warm.discovery, &cold.discovery);
}

/// Every fixture repository: discovery with reuse equals a fresh one after editing, adding and
/// removing files in a few of its plugins (spread over the list), one change at a time.
#[test]
fn fixtures_reused_after_edits_equal_fresh_discoveries() {
    let dir = common::fixtures_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    // Shared by every discovery below, as an engine shares it across repositories.
    let docs = DocCache::default();
    for name in names {
        let base = Listed::from_snapshot(&DirSnapshot::open(&dir.join(&name)).unwrap());
        let cold = discover_reusing(&base, &Reusable::default());
        same(&cold.discovery, &discover(&base));
        let warm = discover_reusing(&base, &cold.reusable);
        assert_eq!(warm.reused, cold.reusable.plugins.len(), "{name}");
        same(&warm.discovery, &cold.discovery);

        let plugins = &cold.discovery.plugins;
        let step = plugins.len().div_ceil(4).max(1);
        for plugin in plugins.iter().step_by(step) {
            let Some(root) = plugin.root.as_deref() else {
                continue;
            };
            let prefix = if root.is_empty() {
                String::new()
            } else {
                format!("{root}/")
            };
            let mut variants = vec![base.with(&format!("{prefix}commands/added.md"), "Added\n")];
            if let Some(md) = base
                .files
                .keys()
                .find(|p| p.starts_with(&prefix) && p.ends_with(".md"))
            {
                let text = base.text(md);
                variants.push(base.with(md, &format!("---\ndescription: edited\n---\n{text}")));
                variants.push(base.without(md));
            }
            if let Some(manifest) = &plugin.manifest_path {
                variants.push(base.with(manifest, r#"{"name": "edited-manifest"}"#));
            }
            for changed in variants {
                let warm = discover_reusing(&changed, &cold.reusable);
                same(&warm.discovery, &discover(&changed));
                let shared = discover_reusing_with(&changed, &cold.reusable, Some(&docs));
                same(&shared.discovery, &discover(&changed));
            }
        }
    }
}
