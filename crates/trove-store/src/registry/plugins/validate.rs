//! Checks and normalises plugin and marketplace metadata typed into the API, so that what Trove
//! later serves as `plugin.json` / `marketplace.json` loads in Claude Code.
//!
//! Names follow the plugin format's rules (`trove_discovery::manifest::check_name`): anything the format
//! rejects is refused, and so is anything it only warns about (not kebab-case), because Claude Desktop
//! refuses such names and a registry should not mint them; reserved names and prefixes are refused too.
//! Connector imports keep the names the repository uses and do not come through here.

use trove_core::names::normalize_email;
use trove_core::{AppError, AppResult};
use trove_discovery::manifest::{
    NameCheck, RESERVED_MARKETPLACE_NAMES, check_name, reserved_plugin_prefix,
};

use super::{NewPlugin, Person, PluginPatch};
use crate::registry::marketplaces::{MarketplacePatch, NewMarketplace};

const MAX_DESCRIPTION: usize = 4096;
const MAX_SHORT: usize = 128;
const MAX_URL: usize = 2048;
const MAX_LIST: usize = 50;
const MAX_WORD: usize = 64;

/// Which kind of name is checked.
#[derive(Clone, Copy)]
enum NameKind {
    Plugin,
    Marketplace,
}

fn name(field: &str, raw: &str, kind: NameKind) -> AppResult<String> {
    let name = raw.trim();
    match check_name(name) {
        NameCheck::Ok => {}
        NameCheck::Reject(why) => return Err(AppError::invalid(field, why)),
        NameCheck::Warn(why) => {
            return Err(AppError::invalid(
                field,
                format!("{why}; use letters, digits, `.`, `_` and `-`, e.g. `code-review`"),
            ));
        }
    }
    let reserved = match kind {
        NameKind::Plugin => reserved_plugin_prefix(name),
        NameKind::Marketplace => RESERVED_MARKETPLACE_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name)),
    };
    if reserved {
        return Err(AppError::invalid(
            field,
            format!("`{name}` is reserved for Anthropic; choose another name"),
        ));
    }
    Ok(name.to_string())
}

fn text(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

/// An optional one-line value: trimmed, `None` when empty.
fn short(field: &str, raw: Option<&str>, max: usize) -> AppResult<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let value = text(field, raw, max)?;
    if value.contains(['\n', '\t']) {
        return Err(AppError::invalid(field, "must be a single line"));
    }
    Ok((!value.is_empty()).then_some(value))
}

/// An optional http(s) URL with a host and no credentials in it.
fn url(field: &str, raw: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = short(field, raw, MAX_URL)? else {
        return Ok(None);
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let ok = authority.is_some_and(|a| !a.is_empty() && !a.contains('@'))
        && !value.chars().any(char::is_whitespace);
    if !ok {
        return Err(AppError::invalid(
            field,
            "must be an http:// or https:// URL with a host and without credentials",
        ));
    }
    Ok(Some(value))
}

fn version(raw: Option<&str>) -> AppResult<Option<String>> {
    let value = short("version", raw, MAX_WORD)?;
    if value.as_deref().is_some_and(|v| v.contains(' ')) {
        return Err(AppError::invalid(
            "version",
            "must not contain spaces, e.g. `1.2.0`",
        ));
    }
    Ok(value)
}

/// A list of words: trimmed, empty entries and repeats dropped, bounded.
fn words(field: &str, raw: &[String]) -> AppResult<Vec<String>> {
    if raw.len() > MAX_LIST {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_LIST} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for w in raw {
        if let Some(w) = short(field, Some(w), MAX_WORD)?
            && !out.contains(&w)
        {
            out.push(w);
        }
    }
    Ok(out)
}

fn person(field: &str, raw: Option<&Person>) -> AppResult<Option<Person>> {
    let Some(p) = raw else { return Ok(None) };
    let name = short(&format!("{field}.name"), Some(&p.name), 255)?
        .ok_or_else(|| AppError::invalid(format!("{field}.name"), "must not be empty"))?;
    let email = match p.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(normalize_email(&format!("{field}.email"), e)?),
        None => None,
    };
    let url = url(&format!("{field}.url"), p.url.as_deref())?;
    Ok(Some(Person { name, email, url }))
}

impl NewPlugin {
    /// The checked, normalised plugin (400 naming the first field at fault).
    pub fn validate(&self) -> AppResult<NewPlugin> {
        Ok(NewPlugin {
            name: name("name", &self.name, NameKind::Plugin)?,
            version: version(self.version.as_deref())?,
            description: text("description", &self.description, MAX_DESCRIPTION)?,
            author: person("author", self.author.as_ref())?,
            homepage: url("homepage", self.homepage.as_deref())?,
            repository: url("repository", self.repository.as_deref())?,
            license: short("license", self.license.as_deref(), MAX_SHORT)?,
            keywords: words("keywords", &self.keywords)?,
            category: short("category", self.category.as_deref(), MAX_WORD)?,
            tags: words("tags", &self.tags)?,
        })
    }
}

/// Checks a field of a patch that may be cleared with `null`.
fn clearable<T, F>(value: &Option<Option<T>>, check: F) -> AppResult<Option<Option<String>>>
where
    T: AsRef<str>,
    F: Fn(Option<&str>) -> AppResult<Option<String>>,
{
    value
        .as_ref()
        .map(|v| check(v.as_ref().map(AsRef::as_ref)))
        .transpose()
}

impl PluginPatch {
    /// The checked, normalised patch (400 naming the first field at fault).
    pub fn validate(&self) -> AppResult<PluginPatch> {
        Ok(PluginPatch {
            name: self
                .name
                .as_deref()
                .map(|n| name("name", n, NameKind::Plugin))
                .transpose()?,
            version: clearable(&self.version, version)?,
            description: self
                .description
                .as_deref()
                .map(|d| text("description", d, MAX_DESCRIPTION))
                .transpose()?,
            author: self
                .author
                .as_ref()
                .map(|a| person("author", a.as_ref()))
                .transpose()?,
            homepage: clearable(&self.homepage, |v| url("homepage", v))?,
            repository: clearable(&self.repository, |v| url("repository", v))?,
            license: clearable(&self.license, |v| short("license", v, MAX_SHORT))?,
            keywords: self
                .keywords
                .as_deref()
                .map(|k| words("keywords", k))
                .transpose()?,
            category: clearable(&self.category, |v| short("category", v, MAX_WORD))?,
            tags: self.tags.as_deref().map(|t| words("tags", t)).transpose()?,
        })
    }
}

impl NewMarketplace {
    /// The checked, normalised marketplace (400 naming the first field at fault).
    pub fn validate(&self) -> AppResult<NewMarketplace> {
        Ok(NewMarketplace {
            name: name("name", &self.name, NameKind::Marketplace)?,
            description: text("description", &self.description, MAX_DESCRIPTION)?,
            owner: person("owner", self.owner.as_ref())?,
        })
    }
}

impl MarketplacePatch {
    /// The checked, normalised patch (400 naming the first field at fault).
    pub fn validate(&self) -> AppResult<MarketplacePatch> {
        Ok(MarketplacePatch {
            name: self
                .name
                .as_deref()
                .map(|n| name("name", n, NameKind::Marketplace))
                .transpose()?,
            description: self
                .description
                .as_deref()
                .map(|d| text("description", d, MAX_DESCRIPTION))
                .transpose()?,
            owner: self
                .owner
                .as_ref()
                .map(|o| person("owner", o.as_ref()))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("name", " code-review ", NameKind::Plugin).is_ok());
        for bad in ["", "a/b", "..", "Has Space", "claude-helper"] {
            assert!(name("name", bad, NameKind::Plugin).is_err(), "{bad}");
        }
        assert!(name("name", "claude-plugins-official", NameKind::Marketplace).is_err());
        assert!(name("name", "acme-tools", NameKind::Marketplace).is_ok());
    }

    #[test]
    fn urls() {
        assert_eq!(
            url("u", Some("https://example.com/x")).unwrap().as_deref(),
            Some("https://example.com/x")
        );
        assert_eq!(url("u", Some("  ")).unwrap(), None);
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@host/",
            "javascript:alert(1)",
            "https://a b",
        ] {
            assert!(url("u", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_are_trimmed_and_deduplicated() {
        let w = words("k", &[" a ".into(), "a".into(), "".into(), "b".into()]).unwrap();
        assert_eq!(w, ["a", "b"]);
        assert!(words("k", &vec!["x".to_string(); 51]).is_err());
    }
}
