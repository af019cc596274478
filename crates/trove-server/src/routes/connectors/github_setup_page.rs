//! The page a browser sees at the end of a GitHub App install (the App's Setup URL), instead of
//! the JSON envelope an API client gets: what was connected, or what went wrong and what to do.
//!
//! The URL that led here carries the install's state and OAuth code, so the page loads nothing,
//! links nowhere, is never cached and sends no referrer; every text on it is escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trove_core::AppError;
use trove_store::connectors::accounts::Account;

/// The installation is bound: which GitHub account, and where to go on.
pub(super) fn connected(account: &Account) -> Response {
    page(
        StatusCode::OK,
        "GitHub connected",
        &format!(
            "The GitHub App installation on <strong>{}</strong> is now a connector account of \
             this organization. Its repositories can be connected from Trove; you can close \
             this tab.",
            escape(&account.name)
        ),
    )
}

/// The install did not complete: the reason, as the API would give it.
pub(super) fn failed(error: &AppError) -> Response {
    if let AppError::Internal(source) = error {
        // As for API errors: the detail goes to the log only.
        tracing::error!(error = %source, "GitHub install callback failed");
    }
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            " Sign in to Trove in this browser, then start the installation again."
        }
        _ => "",
    };
    page(
        status,
        "GitHub was not connected",
        &format!(
            "The installation could not be completed: {}.{hint}",
            escape(error.public_message().trim_end_matches('.'))
        ),
    )
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Trove</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}}\
         h1{{font-size:1.4rem}}</style></head>\
         <body><h1>{title}</h1><p>{message}</p></body></html>\n",
        title = escape(title),
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
