//! Validation of names people type: org slugs, emails, display names.

use crate::{AppError, AppResult};

/// Checks an org slug: 2–63 characters of lower-case letters, digits and single dashes, starting and
/// ending with a letter or digit (so it is safe in URLs and never looks like an id).
pub fn validate_slug(field: &str, slug: &str) -> AppResult<()> {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            format!(
                "`{}` is not a valid slug: use 2-63 lower-case letters, digits and single dashes, e.g. `platform-team`",
                truncate(slug)
            ),
        ))
    }
}

/// Normalises and checks an email address (trimmed, lower-cased, one `@`, at most 254 characters).
pub fn normalize_email(field: &str, email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid(
            field,
            format!("`{}` is not a valid email address", truncate(&email)),
        ))
    }
}

/// Checks a display name: 1–255 characters after trimming, no control characters.
pub fn validate_name(field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must be 1-255 characters without control characters",
        ));
    }
    Ok(name.to_string())
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for good in ["default", "ab", "platform-team", "a1"] {
            assert!(validate_slug("slug", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "-a",
            "a-",
            "a--b",
            "Upper",
            "with space",
            "org_x",
            &"a".repeat(64),
        ] {
            assert!(validate_slug("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(normalize_email("email", bad).is_err(), "{bad}");
        }
    }
}
