//! The committed `openapi.json` must be exactly what the server serves. After changing the API, run
//! `TROVE_UPDATE_OPENAPI=1 cargo test -p trove-server --test openapi` (or `trove openapi > openapi.json`).

use std::path::PathBuf;

#[test]
fn committed_openapi_matches_the_server() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let generated = trove_server::openapi_json();
    if std::env::var_os("TROVE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is out of date: run `TROVE_UPDATE_OPENAPI=1 cargo test -p trove-server --test openapi`"
    );
}

#[test]
fn every_operation_is_documented() {
    let spec: serde_json::Value = serde_json::from_str(&trove_server::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{} paths", paths.len());
    for (path, item) in paths {
        for (verb, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{verb} {path} has no responses"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{verb} {path} has no tag"
            );
            if path.starts_with("/v1/orgs") {
                assert!(
                    op["responses"]["403"].is_object(),
                    "{verb} {path} lacks the 403 response"
                );
            }
        }
    }
}
