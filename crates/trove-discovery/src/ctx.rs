//! Shared state for one discovery run: the snapshot, its index, and caches of parsed files.
//!
//! Several plugins can share a file (every `source: "./"` entry reads the root `.mcp.json` and the
//! same `SKILL.md` files), so each blob is read and parsed at most once per run. Every read is
//! bounded: JSON files by size (larger ones are skipped with a warning), Markdown files by a prefix
//! long enough for any accepted frontmatter.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::frontmatter::{self, MAX_FRONTMATTER_BYTES, YamlProblem};
use crate::index::TreeIndex;
use crate::jsonc;
use crate::model::{FrontmatterStatus, Warning, WarningCode};
use crate::reuse::Reuse;
use crate::snapshot::Snapshot;

/// Largest JSON file read (manifests, hooks, servers).
pub const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes read from the start of a Markdown file: the largest frontmatter plus room for the
/// closing line and the first body lines.
pub const MARKDOWN_PREFIX_BYTES: usize = MAX_FRONTMATTER_BYTES + 16 * 1024;

/// A parsed JSON file, or why it could not be used.
pub type JsonResult = Result<JsonFile, Warning>;

/// A JSON file that parsed.
#[derive(Debug)]
pub struct JsonFile {
    /// Its value.
    pub value: Value,
    /// Set when the file needed JSONC: the warning to attach wherever the file is used.
    pub jsonc_warning: Option<Warning>,
}

/// What discovery keeps of a Markdown file.
#[derive(Debug, Clone)]
pub struct DocInfo {
    /// Frontmatter fields.
    pub fields: Map<String, Value>,
    /// How the frontmatter was read.
    pub status: FrontmatterStatus,
    /// Why YAML failed or the block was ignored.
    pub problem: Option<YamlProblem>,
    /// First meaningful body line.
    pub first_line: Option<String>,
    /// A read error, if the file could not be read at all.
    pub read_error: Option<Warning>,
}

/// One discovery run's context.
pub struct Ctx<'a> {
    /// The snapshot.
    pub snap: &'a dyn Snapshot,
    /// Its index.
    pub index: &'a TreeIndex<'a>,
    /// Earlier candidates offered for reuse, when the caller has any.
    pub(crate) reuse: Option<&'a Reuse<'a>>,
    json: RefCell<HashMap<String, Rc<JsonResult>>>,
    docs: RefCell<HashMap<String, Arc<DocInfo>>>,
}

impl<'a> Ctx<'a> {
    /// A context over a snapshot and its index.
    pub(crate) fn new(
        snap: &'a dyn Snapshot,
        index: &'a TreeIndex<'a>,
        reuse: Option<&'a Reuse<'a>>,
    ) -> Self {
        Ctx {
            snap,
            index,
            reuse,
            json: RefCell::new(HashMap::new()),
            docs: RefCell::new(HashMap::new()),
        }
    }

    /// Reads and parses a JSON file (cached).
    pub fn json(&self, path: &str) -> Rc<JsonResult> {
        // Noted before the cache: a file another plugin read first is still a dependency.
        self.index.touch(path);
        if let Some(hit) = self.json.borrow().get(path) {
            return Rc::clone(hit);
        }
        let result = Rc::new(self.load_json(path));
        self.json
            .borrow_mut()
            .insert(path.to_owned(), Rc::clone(&result));
        result
    }

    fn load_json(&self, path: &str) -> JsonResult {
        let Some(entry) = self.index.blob(path) else {
            return Err(Warning::at(
                WarningCode::MissingPath,
                path,
                "file not found",
            ));
        };
        if entry.size > MAX_JSON_BYTES {
            return Err(Warning::at(
                WarningCode::FileTooLarge,
                path,
                format!(
                    "{} bytes is over the {MAX_JSON_BYTES}-byte limit for JSON files; not read",
                    entry.size
                ),
            ));
        }
        // Read one byte more than allowed, so a source that under-reports sizes is caught.
        let bytes = self
            .snap
            .read(path, MAX_JSON_BYTES as usize + 1)
            .map_err(|e| Warning::at(WarningCode::ReadFailed, path, e.to_string()))?;
        if bytes.len() as u64 > MAX_JSON_BYTES {
            return Err(Warning::at(
                WarningCode::FileTooLarge,
                path,
                format!("over the {MAX_JSON_BYTES}-byte limit for JSON files; not read"),
            ));
        }
        match jsonc::parse(&bytes) {
            Ok(parsed) => Ok(JsonFile {
                value: parsed.value,
                jsonc_warning: parsed.needed_jsonc.map(|e| {
                    Warning::at(
                        WarningCode::JsoncAccepted,
                        path,
                        format!(
                            "not valid JSON ({}); read as JSON with comments/trailing commas, but Claude Code will refuse this file until it is fixed",
                            e.message
                        ),
                    )
                    .with_position(e.line, e.column)
                }),
            }),
            Err(e) => Err(Warning::at(
                WarningCode::InvalidJson,
                path,
                format!("invalid JSON: {}", e.message),
            )
            .with_position(e.line, e.column)),
        }
    }

    /// Reads a Markdown file's frontmatter and first body line (cached for the run, and across
    /// runs by blob id when the caller shares a [`crate::DocCache`]).
    pub fn doc(&self, path: &str) -> Arc<DocInfo> {
        self.index.touch(path);
        if let Some(hit) = self.docs.borrow().get(path) {
            return Arc::clone(hit);
        }
        let shared = self
            .reuse
            .and_then(|r| r.docs)
            .zip(self.index.blob(path).and_then(|e| e.oid.as_deref()));
        let info = match shared {
            Some(((cache, generation), oid)) => match cache.get(oid, generation) {
                Some(hit) => hit,
                None => {
                    let (info, text_bytes) = self.load_doc(path);
                    let info = Arc::new(info);
                    cache.insert(oid, Arc::clone(&info), text_bytes, generation);
                    info
                }
            },
            None => Arc::new(self.load_doc(path).0),
        };
        self.docs
            .borrow_mut()
            .insert(path.to_owned(), Arc::clone(&info));
        info
    }

    /// What is kept of the Markdown file at `path`, and the size of the text that is kept
    /// (frontmatter and first line: what a shared cache counts it as).
    fn load_doc(&self, path: &str) -> (DocInfo, usize) {
        let bytes = match self.snap.read(path, MARKDOWN_PREFIX_BYTES) {
            // A misbehaving source may return more than asked; never parse more than the prefix.
            Ok(mut b) => {
                b.truncate(MARKDOWN_PREFIX_BYTES);
                b
            }
            Err(e) => {
                let info = DocInfo {
                    fields: Map::new(),
                    status: FrontmatterStatus::None,
                    problem: None,
                    first_line: None,
                    read_error: Some(Warning::at(WarningCode::ReadFailed, path, e.to_string())),
                };
                return (info, 0);
            }
        };
        let cut = bytes.len() >= MARKDOWN_PREFIX_BYTES;
        // Lossy: a prefix may end inside a multi-byte character, and a non-UTF-8 file still
        // loads in Claude Code.
        let text = String::from_utf8_lossy(&bytes);
        let doc = frontmatter::parse_document(&text);
        let mut problem = doc.problem;
        if doc.status == FrontmatterStatus::None
            && cut
            && text.starts_with("---")
            && problem.is_none()
        {
            problem = Some(YamlProblem {
                message: format!(
                    "frontmatter not closed within the first {MAX_FRONTMATTER_BYTES} bytes"
                ),
                line: None,
                column: None,
            });
        }
        let first_line = frontmatter::first_body_line(doc.body)
            .map(|l| frontmatter::clamp(&l, frontmatter::MAX_DESCRIPTION_CHARS));
        let text_bytes =
            text.len().saturating_sub(doc.body.len()) + first_line.as_ref().map_or(0, String::len);
        let info = DocInfo {
            first_line,
            fields: doc.fields,
            status: doc.status,
            problem,
            read_error: None,
        };
        (info, text_bytes)
    }
}
