//! Manifest JSON: strict JSON first, then JSONC (comments and trailing commas, nothing else).
//!
//! Claude Code reads manifests as plain JSON, so a file that needs the JSONC fallback still loads
//! in Trove but carries a warning saying Claude Code would refuse it. Anything else is an error
//! with a line and column. Nesting depth is checked before either parser runs, so a file of a
//! million `[` cannot exhaust the stack.

use jsonc_parser::ParseOptions;
use serde_json::Value;

/// Deepest nesting accepted (serde_json's own recursion limit is 128).
pub const MAX_JSON_DEPTH: usize = 128;

/// A JSON syntax problem with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What is wrong.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub struct ParsedJson {
    /// The value.
    pub value: Value,
    /// When the strict parse failed and JSONC succeeded: the strict error (what Claude Code
    /// would report).
    pub needed_jsonc: Option<JsonError>,
}

/// Parses manifest bytes.
pub fn parse(bytes: &[u8]) -> Result<ParsedJson, JsonError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(bytes, e.valid_up_to());
            return Err(JsonError {
                message: "the file is not valid UTF-8".into(),
                line,
                column,
            });
        }
    };
    if let Some((line, column)) = too_deep(text.as_bytes()) {
        return Err(JsonError {
            message: format!("nesting deeper than {MAX_JSON_DEPTH} levels"),
            line,
            column,
        });
    }
    let strict_err = match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            return Ok(ParsedJson {
                value,
                needed_jsonc: None,
            });
        }
        Err(e) => JsonError {
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        },
    };
    // Only the two JSONC relaxations; the crate's defaults would also accept single quotes,
    // unquoted keys, missing commas, hex numbers and more, which Claude Code never would.
    let opts = ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    // A leading BOM is something Node's JSON.parse also refuses; JSONC tolerates it here.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    match jsonc_parser::parse_to_serde_value::<Value>(body, &opts) {
        Ok(value) => Ok(ParsedJson {
            value,
            needed_jsonc: Some(strict_err),
        }),
        Err(e) => {
            let jsonc_err = JsonError {
                message: e.kind().to_string(),
                line: e.line_display(),
                column: e.column_display(),
            };
            // JSONC accepts a superset, so it fails at or after the strict failure point; the
            // two parsers place the same mistake slightly differently (after the last good
            // token vs at the offending one). Report whichever is further into the file: for a
            // comment followed by a real error that is the real error, for a missing comma it
            // is the token where the comma was expected.
            if (jsonc_err.line, jsonc_err.column) > (strict_err.line, strict_err.column) {
                Err(jsonc_err)
            } else {
                Err(strict_err)
            }
        }
    }
}

/// serde_json appends " at line L column C"; the position is reported separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let upto = &bytes[..offset.min(bytes.len())];
    let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
    let col = upto.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, col)
}

/// Finds the first point where `[`/`{` nesting exceeds [`MAX_JSON_DEPTH`], skipping strings and
/// comments. Returns its line and column.
fn too_deep(b: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Some(line_col(b, i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json() {
        let p = parse(br#"{"a": [1, 2]}"#).unwrap();
        assert!(p.needed_jsonc.is_none());
        assert_eq!(p.value["a"][1], 2);
    }

    #[test]
    fn jsonc_is_accepted_with_the_strict_error() {
        let p = parse(b"{\n  // c\n  \"a\": [1, 2,],\n}").unwrap();
        let e = p.needed_jsonc.unwrap();
        assert_eq!(e.line, 2);
        assert_eq!(p.value["a"][1], 2);
    }

    #[test]
    fn other_relaxations_are_refused() {
        for bad in [
            "{'a': 1}",
            "{a: 1}",
            "{\"a\": 1 \"b\": 2}",
            "{\"a\": 0x10}",
            "{\"a\": +1}",
            "{\"a\": .5}",
            "{\"a\": NaN}",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_comma_has_position() {
        let e = parse(b"{\n  \"a\": 1\n  \"b\": 2\n}").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(100_000);
        let e = parse(s.as_bytes()).unwrap_err();
        assert!(e.message.contains("nesting"));
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
    }
}
