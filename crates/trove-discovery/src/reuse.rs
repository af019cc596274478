//! Reusing the plugin candidates of an earlier discovery of the same repository.
//!
//! A candidate built from a plugin folder is a function of its inputs: the folder's listing (paths,
//! blob object ids, sizes, modes, folders, symlinks, submodules), the blobs those ids name, and
//! what the caller knew before reading the folder (its [`LocalSpec`]: key, marketplace entry,
//! `strict`, earlier warnings, …). A fingerprint digests all of them; when a later discovery
//! computes the same fingerprint, the earlier candidate is exactly what a fresh build would give,
//! so it is taken as it is and none of the folder's files are read.
//!
//! Two guards keep that true. A build that queried anything outside its folder (a declared path
//! that only exists from the marketplace root, say) depends on more than the folder, so it is not
//! kept. And a source that does not know blob object ids (a plain directory) gives no
//! fingerprint, so nothing is kept or reused. A change to discovery's own rules must change
//! [`RULES_VERSION`], so candidates kept by an older build are never reused by a newer one.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::classify::discover_with;
use crate::ctx::Ctx;
use crate::doc_cache::DocCache;
use crate::model::{Discovery, PluginCandidate};
use crate::plugin::LocalSpec;
use crate::snapshot::Snapshot;

/// Bumped whenever a rule of discovery changes what a plugin folder yields; part of every
/// fingerprint, with the crate version.
pub const RULES_VERSION: u32 = 1;

/// A plugin candidate and the fingerprint of everything it was built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuiltPlugin {
    /// Hex SHA-256 of the plugin's inputs.
    pub fingerprint: String,
    /// What discovery built from them.
    pub candidate: Arc<PluginCandidate>,
}

/// Candidates a discovery built from plugin folders, by plugin key, that a later discovery of the
/// same repository may reuse. Holds names, paths, descriptions and counts, never file bodies.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reusable {
    /// By plugin key. Shared: a candidate reused run after run is never copied into the next
    /// run's set.
    pub plugins: BTreeMap<String, Arc<BuiltPlugin>>,
}

/// A discovery, what of it a later one may reuse, and how much of an earlier one it reused.
#[derive(Debug, Clone)]
pub struct IncrementalDiscovery {
    /// The discovery, identical to what [`crate::discover`] gives for the same snapshot.
    pub discovery: Discovery,
    /// Its reusable candidates (pass it to the next discovery of the repository).
    pub reusable: Reusable,
    /// How many candidates were taken from `prior` without reading their folders.
    pub reused: usize,
}

/// Discovers `snapshot`, reusing the candidates of `prior` whose fingerprint is unchanged.
pub fn discover_reusing(snapshot: &dyn Snapshot, prior: &Reusable) -> IncrementalDiscovery {
    discover_reusing_with(snapshot, prior, None)
}

/// [`discover_reusing`], also taking the Markdown files it reads from `docs` when it holds their
/// blob ids, and adding those it reads: a plugin rebuilt after a one-file change then reads one
/// file.
pub fn discover_reusing_with(
    snapshot: &dyn Snapshot,
    prior: &Reusable,
    docs: Option<&DocCache>,
) -> IncrementalDiscovery {
    let reuse = Reuse {
        prior,
        docs: docs.map(|cache| (cache, cache.begin())),
        kept: RefCell::new(Reusable::default()),
        reused: Cell::new(0),
    };
    let discovery = discover_with(snapshot, Some(&reuse));
    IncrementalDiscovery {
        discovery,
        reused: reuse.reused.get(),
        reusable: reuse.kept.into_inner(),
    }
}

/// One discovery run's reuse state: what it may take and what it keeps for the next run.
pub(crate) struct Reuse<'p> {
    prior: &'p Reusable,
    /// Markdown files read by earlier discoveries, and this one's generation in that cache.
    pub(crate) docs: Option<(&'p DocCache, u64)>,
    kept: RefCell<Reusable>,
    reused: Cell<usize>,
}

impl Reuse<'_> {
    /// Builds a plugin from its folder with `build`, unless `prior` holds a candidate of the same
    /// fingerprint; keeps the result for the next run when it depends on the folder alone.
    pub(crate) fn build_local(
        &self,
        ctx: &Ctx<'_>,
        spec: LocalSpec<'_>,
        build: impl FnOnce(&Ctx<'_>, LocalSpec<'_>) -> PluginCandidate,
    ) -> Arc<PluginCandidate> {
        let Some(fingerprint) = fingerprint(ctx, &spec) else {
            return Arc::new(build(ctx, spec));
        };
        if let Some(prior) = self.prior.plugins.get(&spec.key)
            && prior.fingerprint == fingerprint
        {
            self.reused.set(self.reused.get() + 1);
            self.keep(Arc::clone(prior));
            return Arc::clone(&prior.candidate);
        }
        ctx.index.begin_scope(&spec.root);
        let candidate = Arc::new(build(ctx, spec));
        if ctx.index.end_scope() {
            self.keep(Arc::new(BuiltPlugin {
                fingerprint,
                candidate: Arc::clone(&candidate),
            }));
        }
        candidate
    }

    fn keep(&self, built: Arc<BuiltPlugin>) {
        self.kept
            .borrow_mut()
            .plugins
            .insert(built.candidate.key.clone(), built);
    }
}

/// The fingerprint of a plugin build's inputs, or `None` when the source gives no blob object ids.
fn fingerprint(ctx: &Ctx<'_>, spec: &LocalSpec<'_>) -> Option<String> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(&RULES_VERSION.to_le_bytes());
    field(spec.key.as_bytes());
    field(spec.root.as_bytes());
    field(json(&spec.entry_name).as_bytes());
    field(json(&spec.entry).as_bytes());
    field(json(&spec.marketplace.map(|m| (&m.info, &m.root))).as_bytes());
    field(&[
        u8::from(spec.strict),
        u8::from(spec.selectable),
        u8::from(spec.fatal),
    ]);
    field(json(&spec.warnings).as_bytes());
    field(json(&ctx.snap.root_name()).as_bytes());
    // A folder's tree id names everything below it, so a listing that gives tree ids (and is
    // complete) needs no walk of the folder; otherwise its entries are digested one by one.
    match ctx.index.subtree_id(&spec.root) {
        Some(tree) if !ctx.snap.truncated() => {
            field(b"tree");
            field(tree.as_bytes());
        }
        _ => {
            let mut listing = Sha256::new();
            if !ctx
                .index
                .feed_subtree(&spec.root, &mut |bytes| listing.update(bytes))
            {
                return None;
            }
            field(b"entries");
            field(&listing.finalize());
        }
    }
    Some(hex::encode(h.finalize()))
}

fn json(value: &impl Serialize) -> String {
    // Serialising plain data (maps, strings, numbers) cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}
