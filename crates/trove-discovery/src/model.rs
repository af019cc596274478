//! The result of discovery, serialisable in exactly the shape `trove discover --json` prints.
//!
//! Keys are snake_case. The documented keys are always present (nulls and empty lists included);
//! items carry extra fields that later stages (apply, sync) need, such as a skill's file list.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How the repository is classified, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// A `.claude-plugin/marketplace.json` (at the root, or nested in a monorepo).
    Marketplace,
    /// One plugin: a root `.claude-plugin/plugin.json`, a single manifest elsewhere, or a root
    /// folder laid out as a plugin.
    Plugin,
    /// Several `.claude-plugin/plugin.json` manifests and no marketplace.
    MultiPlugin,
    /// `SKILL.md` folders but no manifest at all.
    SkillsOnly,
    /// Nothing Claude Code could load.
    Unsupported,
}

impl Classification {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Marketplace => "marketplace",
            Classification::Plugin => "plugin",
            Classification::MultiPlugin => "multi_plugin",
            Classification::SkillsOnly => "skills_only",
            Classification::Unsupported => "unsupported",
        }
    }
}

/// Everything discovery found in one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovery {
    /// The overall judgment.
    pub classification: Classification,
    /// The marketplace the repository publishes (root first, else the shallowest nested one);
    /// `null` when there is none or its file was rejected.
    pub marketplace: Option<MarketplaceInfo>,
    /// Candidate plugins, in marketplace order (or path order without a marketplace).
    /// Shared: a later discovery that reuses a candidate holds the same allocation.
    pub plugins: Vec<Arc<PluginCandidate>>,
    /// Repository-level warnings (parse errors, rejected marketplaces, skipped paths, ...).
    pub warnings: Vec<Warning>,
}

/// Marketplace-level metadata from `marketplace.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarketplaceInfo {
    /// Marketplace name (validated: never a path).
    pub name: String,
    /// The `owner` object as written (an empty object when absent or not an object).
    pub owner: Map<String, Value>,
    /// `description`, or the older `metadata.description`.
    pub description: Option<String>,
    /// Path of the marketplace file in the snapshot.
    pub path: String,
    /// `version`, or the older `metadata.version`.
    pub version: Option<String>,
    /// `metadata.pluginRoot`, normalised, when set and valid.
    pub plugin_root: Option<String>,
}

/// Where a plugin's files come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// A folder of this snapshot.
    Local {
        /// Folder path (`""` is the snapshot root).
        path: String,
    },
    /// A GitHub repository.
    Github {
        /// `owner/repo`.
        repo: String,
        /// Branch or tag.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        git_ref: Option<String>,
        /// Full commit SHA; wins over `ref`.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
    /// Any git URL.
    Url {
        /// The git URL.
        url: String,
        /// Branch or tag.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        git_ref: Option<String>,
        /// Full commit SHA.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
        /// Undocumented `path` seen on some `url` entries; kept so the fetcher can honour it.
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// One subdirectory of a git repository.
    GitSubdir {
        /// `owner/repo`, https or SSH URL.
        url: String,
        /// Subdirectory inside that repository.
        path: String,
        /// Branch or tag.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        git_ref: Option<String>,
        /// Full commit SHA.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
    },
    /// An npm package.
    Npm {
        /// Package name.
        package: String,
        /// Version or range.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// Registry URL.
        #[serde(skip_serializing_if = "Option::is_none")]
        registry: Option<String>,
    },
    /// A zip archive over HTTPS.
    Archive {
        /// Archive URL.
        url: String,
        /// Expected SHA-256 of the archive.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// A form Trove cannot use (`command`, `pip`, malformed); `raw` keeps what was written.
    Unknown {
        /// The `source` value as written.
        raw: Value,
    },
}

impl Source {
    /// True for sources outside this snapshot that the sync engine must fetch.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Source::Local { .. } | Source::Unknown { .. })
    }

    /// The `kind` string used in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Local { .. } => "local",
            Source::Github { .. } => "github",
            Source::Url { .. } => "url",
            Source::GitSubdir { .. } => "git-subdir",
            Source::Npm { .. } => "npm",
            Source::Archive { .. } => "archive",
            Source::Unknown { .. } => "unknown",
        }
    }
}

/// Plugin metadata merged from `plugin.json` and the marketplace entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// Display label (`displayName`), may contain spaces.
    pub display_name: Option<String>,
    /// Version; `plugin.json` wins over the entry.
    pub version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Author object (`name`, `email`, `url`).
    pub author: Option<Value>,
    /// Homepage URL.
    pub homepage: Option<String>,
    /// Repository URL.
    pub repository: Option<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Marketplace category.
    pub category: Option<String>,
    /// Marketplace tags.
    pub tags: Vec<String>,
}

/// One candidate plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginCandidate {
    /// Stable identity: derived from the manifest path or the marketplace entry, never from a
    /// display name. Examples: `.claude-plugin/marketplace.json#superpowers`,
    /// `manifest:plugins/x/.claude-plugin/plugin.json`, `folder:`, `skills:`.
    pub key: String,
    /// Plugin name (the marketplace entry name wins over `plugin.json`).
    pub name: String,
    /// Plugin folder in this snapshot (`""` = root); `null` for remote sources.
    pub root: Option<String>,
    /// Where the plugin comes from.
    pub source: Source,
    /// The marketplace entry's `strict` (true when absent or not from a marketplace).
    pub strict: bool,
    /// Whether Trove can import it (the source resolves, manifests do not conflict, ...).
    pub supported: bool,
    /// Whether the apply screen preselects it.
    pub selected_by_default: bool,
    /// Components, one item per component as Claude Code would load them.
    pub components: Components,
    /// Problems with this plugin.
    pub warnings: Vec<Warning>,
    /// Metadata for the plugin record.
    pub metadata: Metadata,
    /// `.claude-plugin/plugin.json` read for this plugin, if any.
    pub manifest_path: Option<String>,
    /// The marketplace file this candidate came from, if any.
    pub marketplace_path: Option<String>,
    /// True for remote sources whose components are unknown until the sync engine fetches them.
    pub needs_fetch: bool,
}

/// Components of one plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Components {
    /// Skills (folders with `SKILL.md`).
    pub skills: Vec<Skill>,
    /// Slash commands.
    pub commands: Vec<MarkdownComponent>,
    /// Subagents.
    pub agents: Vec<MarkdownComponent>,
    /// Hook handlers (one item per handler object).
    pub hooks: Vec<Hook>,
    /// MCP servers.
    pub mcp_servers: Vec<Server>,
    /// LSP servers.
    pub lsp_servers: Vec<Server>,
    /// Output styles.
    pub output_styles: Vec<MarkdownComponent>,
}

impl Components {
    /// Total number of components.
    pub fn total(&self) -> usize {
        self.skills.len()
            + self.commands.len()
            + self.agents.len()
            + self.hooks.len()
            + self.mcp_servers.len()
            + self.lsp_servers.len()
            + self.output_styles.len()
    }
}

/// A skill: a folder with `SKILL.md`, and every file in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skill {
    /// Identity inside the plugin: the folder name (the plugin directory name for a root
    /// `SKILL.md`).
    pub name: String,
    /// Path of `SKILL.md`.
    pub path: String,
    /// The skill folder.
    pub folder: String,
    /// Display title: frontmatter `name`, else the folder name.
    pub title: String,
    /// Frontmatter `description`, else the first line of the body.
    pub description: Option<String>,
    /// Every file of the skill folder (SKILL.md, scripts, references, assets), sorted.
    pub files: Vec<String>,
}

/// A command, agent or output style: one Markdown file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkdownComponent {
    /// Identity inside the plugin: the file stem, with sub-folders joined by `:`
    /// (`review/security.md` → `review:security`).
    pub name: String,
    /// Path of the file (for an inline command, the manifest that declares it).
    pub path: String,
    /// Display title.
    pub title: String,
    /// Description from frontmatter, else the first line of the body.
    pub description: Option<String>,
    /// Whether the frontmatter parsed as YAML (`yaml`), needed the line-wise fallback
    /// (`lenient`), or was absent (`none`).
    pub frontmatter: FrontmatterStatus,
}

/// How a file's frontmatter was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontmatterStatus {
    /// No frontmatter block.
    None,
    /// Valid YAML.
    Yaml,
    /// Not valid YAML; read line by line, as Claude Code does.
    Lenient,
    /// Inline definition (no file).
    Inline,
}

/// One hook handler.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hook {
    /// `<event>#<n>`: the event and the handler's position among that event's handlers in its
    /// file, for display and stable identity.
    pub name: String,
    /// Hook event (`PreToolUse`, ...).
    pub event: String,
    /// Matcher of the group, if any.
    pub matcher: Option<String>,
    /// File that declares it (`hooks/hooks.json`, or the manifest for inline hooks).
    pub path: String,
    /// Handler type (`command`, `http`, `prompt`, `agent`, `mcp_tool`, ...).
    #[serde(rename = "type")]
    pub handler_type: String,
    /// The command, URL or prompt the handler runs, when it has one.
    pub command: Option<String>,
}

/// An MCP or LSP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// Server name (map key).
    pub name: String,
    /// Transport: `stdio`, `http`, `sse`, `ws`, `mcpb` (bundle) ...
    #[serde(rename = "type")]
    pub server_type: String,
    /// File that declares it (`.mcp.json`, `.lsp.json`, or the manifest for inline servers).
    pub path: String,
    /// Command for stdio servers.
    pub command: Option<String>,
    /// URL for remote servers and bundles.
    pub url: Option<String>,
}

/// A problem found during discovery. Never fatal: the rest of the snapshot is still judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Machine-readable kind.
    pub code: WarningCode,
    /// What happened and, where possible, what to do.
    pub message: String,
    /// The file concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column in that file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Warning {
    /// A warning about a file.
    pub fn at(code: WarningCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
            path: Some(path.into()),
            line: None,
            column: None,
        }
    }

    /// A warning not tied to one file.
    pub fn general(code: WarningCode, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
            path: None,
            line: None,
            column: None,
        }
    }

    /// Adds a position.
    pub fn with_position(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

/// Kinds of warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// A JSON file could not be parsed at all.
    InvalidJson,
    /// A JSON file was accepted only as JSONC (comments, trailing commas); Claude Code rejects it.
    JsoncAccepted,
    /// A JSON file has the wrong shape (e.g. `plugins` not an array).
    InvalidManifest,
    /// A name that is unsafe or invalid (path separators, `..`, control characters).
    InvalidName,
    /// A name Claude Code reserves or warns about.
    ReservedName,
    /// Two entries with the same name.
    DuplicateName,
    /// A path that is absolute, contains `..`, or otherwise leaves its root.
    PathEscape,
    /// A declared path that does not exist.
    MissingPath,
    /// A declared path that exists only when read from the marketplace root (lenient reading).
    PathRelativeToMarketplaceRoot,
    /// A path without the required `./` prefix.
    PathStyle,
    /// A marketplace source form that cannot be used.
    UnsupportedSource,
    /// The plugin folder does not exist.
    PluginDirNotFound,
    /// `strict: false` entry and a `plugin.json` that both define components.
    ConflictingManifests,
    /// `plugin.json` outside `.claude-plugin/`, or a marketplace file with no manifest.
    MisplacedManifest,
    /// Frontmatter that is not valid YAML (read leniently).
    FrontmatterNotYaml,
    /// Frontmatter over the size or YAML budget.
    FrontmatterTooLarge,
    /// Frontmatter `name` differs from the folder name.
    NameMismatch,
    /// A hooks file problem (duplicate default file, bad handler, unknown event).
    InvalidHook,
    /// An MCP/LSP server problem.
    InvalidServer,
    /// A file over the size limit; not read.
    FileTooLarge,
    /// A file that could not be read.
    ReadFailed,
    /// A symlink that was not followed.
    Symlink,
    /// A submodule whose content is not in the snapshot.
    Submodule,
    /// An entry of the listing that was skipped (bad path, too deep, over limits).
    SkippedEntry,
    /// The listing is incomplete; results may be partial.
    Truncated,
    /// A manifest found but not referenced by the marketplace.
    Unreferenced,
    /// A component or plugin count over a safety limit; the rest was skipped.
    LimitReached,
    /// A plugin or marketplace with nothing in it.
    Empty,
    /// Other informational notes.
    Note,
    /// What to add to make the repository usable.
    Hint,
}
