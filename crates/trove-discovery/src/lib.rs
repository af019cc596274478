//! Discovery: given the files of one commit of a repository, say what it holds — a marketplace,
//! one or several plugins, a skills collection, or nothing Claude Code could load — and list every
//! candidate plugin with its components, exactly as Claude Code would see them.
//!
//! The crate is pure: it reads only through the [`Snapshot`] trait (a local directory, a git
//! tree, a GitHub tree listing), never touches a network or a database, and reads only the blobs it
//! needs (manifests, frontmatter, hook and server JSON). Hostile input (path traversal, symlinks out
//! of the tree, oversized files, deep nesting, YAML alias bombs) yields warnings and skipped files,
//! never a panic or an unbounded allocation.
//!
//! ```
//! use trove_discovery::{discover, snapshot::MemSnapshot, Classification};
//! let snap = MemSnapshot::new()
//!     .file(".claude-plugin/plugin.json", r#"{"name": "demo"}"#)
//!     .file("skills/hello/SKILL.md", "---\nname: hello\ndescription: Says hello\n---\nHi");
//! let d = discover(&snap);
//! assert_eq!(d.classification, Classification::Plugin);
//! assert_eq!(d.plugins[0].components.skills[0].description.as_deref(), Some("Says hello"));
//! ```

mod classify;
pub mod components;
mod ctx;
mod doc_cache;
pub mod frontmatter;
mod index;
pub mod jsonc;
pub mod manifest;
mod marketplace;
pub mod model;
pub mod paths;
mod plugin;
mod report;
mod reuse;
pub mod snapshot;

pub use classify::discover;
pub use doc_cache::{DEFAULT_DOC_CACHE_BYTES, DocCache};
pub use model::{
    Classification, Components, Discovery, FrontmatterStatus, Hook, MarkdownComponent,
    MarketplaceInfo, Metadata, PluginCandidate, Server, Skill, Source, Warning, WarningCode,
};
pub use report::render_summary;
pub use reuse::{
    BuiltPlugin, IncrementalDiscovery, RULES_VERSION, Reusable, discover_reusing,
    discover_reusing_with,
};
pub use snapshot::{DirSnapshot, Entry, EntryKind, MemSnapshot, ReadError, Snapshot};
