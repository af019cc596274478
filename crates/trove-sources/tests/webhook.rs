//! Webhook verification and routing against every fixture in
//! `shared/fixtures/github-webhooks/` (see its SOURCES.md for where each file comes from).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use trove_sources::webhook::{Delivery, RepoRef, Route, SignatureError, verify_signature};

const ZERO_SHA: &str = "0000000000000000000000000000000000000000";
const CTBUR_SECRET: &[u8] = b"sLBCQgxE29C1mgA0EVt4n2RMBPdH6iq1";

fn shared_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        dir.join("fixtures/github-webhooks/signature-vectors.json")
            .is_file(),
        "webhook fixtures missing: expected {}/fixtures/github-webhooks/signature-vectors.json",
        dir.display()
    );
    dir
}

fn fixtures() -> PathBuf {
    shared_dir().join("fixtures/github-webhooks")
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn fixture(rel: &str) -> Vec<u8> {
    read(&fixtures().join(rel))
}

fn vectors() -> Vec<Value> {
    let raw = fixture("signature-vectors.json");
    let doc: Value = serde_json::from_slice(&raw).expect("signature-vectors.json is JSON");
    doc["vectors"].as_array().expect("`vectors` array").clone()
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The body a vector describes, in whichever of its forms it is given.
fn vector_body(v: &Value) -> Vec<u8> {
    let name = str_field(v, "name").unwrap_or("?");
    if let Some(hex_body) = str_field(v, "payload_utf8_hex") {
        let body = hex::decode(hex_body).expect("payload_utf8_hex is hex");
        assert_eq!(
            Some(body.as_slice()),
            str_field(v, "payload").map(str::as_bytes)
        );
        return body;
    }
    if let Some(payload) = str_field(v, "payload").or(str_field(v, "payload_as_reserialized")) {
        return payload.as_bytes().to_vec();
    }
    if let Some(file) = str_field(v, "body_file") {
        let body = read(&shared_dir().join(file));
        if let Some(len) = v.get("body_bytes").and_then(Value::as_u64) {
            assert_eq!(body.len() as u64, len, "{name}: body length");
        }
        if let Some(sum) = str_field(v, "body_sha256_of_file") {
            assert_eq!(
                hex::encode(Sha256::digest(&body)),
                sum,
                "{name}: body sha256"
            );
        }
        return body;
    }
    if let Some(spec) = str_field(v, "body") {
        let (file, transform) = spec
            .split_once(" transformed: ")
            .unwrap_or_else(|| panic!("{name}: unknown body spec {spec:?}"));
        let original = fixture(file);
        return match transform {
            "trailing-newline-added" => [original.as_slice(), b"\n"].concat(),
            "reserialized-pretty" => {
                let parsed: Value = serde_json::from_slice(&original).unwrap();
                serde_json::to_vec_pretty(&parsed).unwrap()
            }
            other => panic!("{name}: unknown transform {other:?}"),
        };
    }
    panic!("{name}: vector has no body");
}

fn vector_secrets(v: &Value) -> Vec<Vec<u8>> {
    if let Some(s) = str_field(v, "secret") {
        return vec![s.as_bytes().to_vec()];
    }
    v["secrets"]
        .as_array()
        .expect("`secret` or `secrets`")
        .iter()
        .map(|s| s.as_str().expect("secret string").as_bytes().to_vec())
        .collect()
}

/// The `X-Hub-Signature-256` value a receiver would see (`None` when the vector only has the
/// legacy header).
fn vector_signature(v: &Value) -> Option<String> {
    str_field(v, "expected_x_hub_signature_256")
        .or(str_field(v, "presented_x_hub_signature_256"))
        .or_else(|| str_field(&v["headers"], "X-Hub-Signature-256"))
        .map(str::to_owned)
}

#[test]
fn every_signature_vector_verifies_or_fails_as_it_says() {
    let vectors = vectors();
    assert!(vectors.len() >= 16, "expected the full vector set");
    for v in &vectors {
        let name = str_field(v, "name").expect("vector name");
        let valid = v["valid"].as_bool().expect("`valid` bool");
        let body = vector_body(v);
        let signature = vector_signature(v);
        // Rotation: a delivery is accepted when any configured secret verifies it.
        let accepted = vector_secrets(v).iter().any(|secret| {
            verify_signature(secret, signature.as_deref().map(str::as_bytes), &body).is_ok()
        });
        assert_eq!(accepted, valid, "vector {name}");

        // Where the vector records the MAC of the altered body, our HMAC must agree with it,
        // which proves the refusal above is the byte change and not a broken computation.
        let actual = str_field(v, "actual_hmac_of_reserialized")
            .or(str_field(v, "actual_hmac_of_transformed_body"));
        let deterministic = !str_field(v, "body").is_some_and(|b| b.ends_with("pretty"));
        if let (Some(actual), true) = (actual, deterministic) {
            let secret = &vector_secrets(v)[0];
            assert_eq!(
                verify_signature(secret, Some(actual.as_bytes()), &body),
                Ok(()),
                "vector {name}: recorded MAC of the altered body"
            );
        }
    }
}

const DELIVERIES: [(&str, &str); 4] = [
    (
        "push/delivery.app.branch-push.json",
        "sha256=0387235249a69255fdc2eb64205892f619ecf4cffdf87895366f808ab7516a41",
    ),
    (
        "push/delivery.app.branch-deleted.json",
        "sha256=4f697a0572e015fe5e2a125ce6fde8f0005d1bdb7a710b0d1aab44a800835f9d",
    ),
    (
        "push/delivery.repo-hook.branch-push.json",
        "sha256=58184ed0308095db0c9a28d70722aabf748bca18a843d4733baf9ca248a0aeac",
    ),
    (
        "push/delivery.repo-hook.branch-deleted.json",
        "sha256=80aed69e909cc9a5d6bd5db81eb062f9c2c6af6e0f3c40cf9aef7d5369b48209",
    ),
];

#[test]
fn real_deliveries_verify_and_any_tampered_byte_fails() {
    for (file, sig) in DELIVERIES {
        let body = fixture(file);
        assert_eq!(
            verify_signature(CTBUR_SECRET, Some(sig.as_bytes()), &body),
            Ok(()),
            "{file}"
        );
        for at in [0, body.len() / 2, body.len() - 1] {
            let mut tampered = body.clone();
            tampered[at] ^= 0x01;
            assert_eq!(
                verify_signature(CTBUR_SECRET, Some(sig.as_bytes()), &tampered),
                Err(SignatureError::Invalid),
                "{file}: byte {at} flipped"
            );
        }
        assert_eq!(
            verify_signature(b"another secret", Some(sig.as_bytes()), &body),
            Err(SignatureError::Invalid),
            "{file}: wrong secret"
        );
    }
}

#[test]
fn header_shapes() {
    let (file, sig) = DELIVERIES[2];
    let body = fixture(file);
    let check =
        |header: Option<&str>| verify_signature(CTBUR_SECRET, header.map(str::as_bytes), &body);

    // No X-Hub-Signature-256 at all, e.g. a delivery carrying only legacy SHA-1.
    assert_eq!(check(None), Err(SignatureError::Missing));
    // The correct SHA-1 MAC of this body, presented where SHA-256 is expected.
    assert_eq!(
        check(Some("sha1=4786d04e00b7e096196f1aea84542e08295e8c7c")),
        Err(SignatureError::Invalid)
    );
    let digits = sig.strip_prefix("sha256=").unwrap();
    for bad in [
        String::new(),
        "sha256=".to_owned(),
        digits.to_owned(),
        format!("SHA256={digits}"),
        format!("sha256={}", digits.to_uppercase()),
        format!("sha256={}", &digits[..62]),
        format!("sha256={digits}00"),
        format!("sha256={}zz", &digits[..62]),
        format!(" {sig}"),
        format!("{sig} "),
    ] {
        assert_eq!(check(Some(&bad)), Err(SignatureError::Invalid), "{bad:?}");
    }
    assert_eq!(check(Some(sig)), Ok(()));
    // An unconfigured (empty) secret fails closed even against its own MAC.
    let empty_mac = "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad";
    assert_eq!(
        verify_signature(b"", Some(empty_mac.as_bytes()), b""),
        Err(SignatureError::Invalid)
    );
    assert_eq!(SignatureError::Missing.to_string(), "missing signature");
    assert_eq!(SignatureError::Invalid.to_string(), "invalid signature");
}

/// Every `<event>/<name>.json` file, with its event.
fn payload_files() -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in fs::read_dir(fixtures()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let event = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for file in fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                out.push((event.clone(), name, read(&path)));
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn parse(rel: &str) -> Delivery {
    let (event, _) = rel.split_once('/').unwrap();
    Delivery::parse(event, "test-delivery", &fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_payload_parses_and_routes_by_its_event() {
    let files = payload_files();
    assert!(
        files.len() >= 40,
        "expected every fixture, found {}",
        files.len()
    );
    for (event, name, body) in &files {
        let d = Delivery::parse(event, "guid-1", body)
            .unwrap_or_else(|e| panic!("{event}/{name}: {e}"));
        let raw: Value = serde_json::from_slice(body).unwrap();
        let at = format!("{event}/{name}");
        assert_eq!(d.delivery_id, "guid-1");
        assert_eq!(&d.event, event);
        assert_eq!(d.payload, raw, "{at}: payload kept whole");
        assert_eq!(d.action.as_deref(), raw["action"].as_str(), "{at}: action");
        assert_eq!(
            d.installation_id,
            raw["installation"]["id"].as_i64(),
            "{at}: installation"
        );
        assert_eq!(
            d.repository_id,
            raw["repository"]["id"].as_i64(),
            "{at}: repository id"
        );
        assert_eq!(
            d.repository_full_name.as_deref(),
            raw["repository"]["full_name"].as_str(),
            "{at}: repository full name"
        );
        match (event.as_str(), d.route()) {
            (
                "push",
                Route::Push {
                    branch,
                    deleted,
                    created,
                    forced,
                    head_sha,
                },
            ) => {
                let r#ref = raw["ref"].as_str().unwrap();
                let after = raw["after"].as_str().unwrap();
                assert_eq!(d.ref_name.as_deref(), Some(r#ref), "{at}");
                assert_eq!(branch.as_deref(), r#ref.strip_prefix("refs/heads/"), "{at}");
                assert_eq!(*deleted, after == ZERO_SHA, "{at}");
                assert_eq!(*deleted, raw["deleted"].as_bool().unwrap(), "{at}");
                assert_eq!(*created, raw["created"].as_bool().unwrap(), "{at}");
                assert_eq!(*forced, raw["forced"].as_bool().unwrap(), "{at}");
                let expected_head = (!*deleted).then_some(after);
                assert_eq!(head_sha.as_deref(), expected_head, "{at}");
                assert_eq!(d.head_sha.as_deref(), expected_head, "{at}");
            }
            ("installation", Route::Installation { action, .. })
            | ("installation_repositories", Route::InstallationRepositories { action, .. })
            | ("repository", Route::Repository { action }) => {
                assert_eq!(Some(action.as_str()), raw["action"].as_str(), "{at}");
            }
            ("ping", Route::Ping) => {}
            ("issues" | "pull_request", Route::Ignored { reason }) => {
                assert!(reason.contains(event.as_str()), "{at}: {reason}");
            }
            (_, route) => panic!("{at}: routed as {route:?}"),
        }
        if event != "push" {
            assert_eq!(d.ref_name, None, "{at}");
            assert_eq!(d.head_sha, None, "{at}");
        }
    }
}

fn push_route(rel: &str) -> (Delivery, Route) {
    let d = parse(rel);
    let route = d.route().clone();
    (d, route)
}

#[test]
fn push_variants() {
    let (d, route) = push_route("push/delivery.app.branch-push.json");
    assert_eq!(d.installation_id, Some(92907551));
    assert_eq!(d.repository_id, Some(926103085));
    assert_eq!(d.repository_full_name.as_deref(), Some("ctbur/ci-server"));
    assert_eq!(
        route,
        Route::Push {
            branch: Some("main".into()),
            deleted: false,
            created: false,
            forced: false,
            head_sha: Some("8caeb971b6ffa0e1d3049baeefc17226ebc4e6d4".into()),
        }
    );

    // Repository hooks carry no installation.
    let (d, route) = push_route("push/delivery.repo-hook.branch-deleted.json");
    assert_eq!(d.installation_id, None);
    assert_eq!(
        (d.repository_id, d.repository_full_name.as_deref()),
        (Some(758176159), Some("ctbur/ctbur.net"))
    );
    assert_eq!(
        route,
        Route::Push {
            branch: Some(
                "dependabot/github_actions/actions/setup-go-c0137caad775660c0844396c52da96e560aba63d".into()
            ),
            deleted: true,
            created: false,
            forced: false,
            head_sha: None,
        }
    );

    let (_, route) = push_route("push/delivery.app.branch-deleted.json");
    assert!(
        matches!(route, Route::Push { ref branch, deleted: true, head_sha: None, .. } if branch.as_deref() == Some("fix-installation-token"))
    );

    let (d, route) = push_route("push/force-push.with-installation.json");
    assert_eq!(
        (d.installation_id, d.repository_id),
        (Some(47030689), Some(700724239))
    );
    assert_eq!(
        d.repository_full_name.as_deref(),
        Some("flightctl/flightctl")
    );
    assert_eq!(
        route,
        Route::Push {
            branch: Some("EDM-1179".into()),
            deleted: false,
            created: false,
            forced: true,
            head_sha: Some("1f65bfd479dddb9453466feeaf4ac9249a2ac9df".into()),
        }
    );

    let (d, route) = push_route("push/branch-created.with-commits.json");
    assert_eq!(
        d.repository_full_name.as_deref(),
        Some("packit-service/hello-world")
    );
    assert!(
        matches!(route, Route::Push { ref branch, created: true, deleted: false, .. } if branch.as_deref() == Some("build-branch"))
    );

    let (d, route) = push_route("push/branch-push.json");
    assert_eq!((d.installation_id, d.repository_id), (None, Some(63933911)));
    assert!(
        matches!(route, Route::Push { ref branch, created: false, deleted: false, forced: false, .. } if branch.as_deref() == Some("master"))
    );

    // Tags: no branch, whether created or deleted.
    let (d, route) = push_route("push/tag-created.ghes-35.json");
    assert_eq!(d.ref_name.as_deref(), Some("refs/tags/simple-tag"));
    assert_eq!((d.installation_id, d.repository_id), (Some(5), Some(118)));
    assert_eq!(
        route,
        Route::Push {
            branch: None,
            deleted: false,
            created: true,
            forced: false,
            head_sha: Some("6113728f27ae82c7b1a177c8d03f9e96e0adf246".into()),
        }
    );
    for rel in [
        "push/tag-deleted.json",
        "push/tag-deleted.1.json",
        "push/tag-deleted.with-organization.json",
        "push/tag-deleted.with-installation.json",
    ] {
        let (d, route) = push_route(rel);
        assert_eq!(d.repository_id, Some(186853002), "{rel}");
        assert!(
            matches!(
                route,
                Route::Push {
                    branch: None,
                    deleted: true,
                    head_sha: None,
                    ..
                }
            ),
            "{rel}: {route:?}"
        );
    }
}

#[test]
fn push_deleted_by_zero_sha_alone() {
    let body = br#"{"ref":"refs/heads/x","after":"0000000000000000000000000000000000000000","deleted":false,"repository":{"id":7,"full_name":"o/r"}}"#;
    let d = Delivery::parse("push", "g", body).unwrap();
    assert!(matches!(
        d.route(),
        Route::Push {
            deleted: true,
            head_sha: None,
            ..
        }
    ));
}

#[test]
fn installation_actions() {
    for (rel, action, id, repos) in [
        (
            "installation/created.json",
            "created",
            957387,
            vec![(186853002, "Codertocat/Hello-World")],
        ),
        (
            "installation/created.with-requester.json",
            "created",
            957387,
            vec![(186853002, "Codertocat/Hello-World")],
        ),
        (
            "installation/deleted.json",
            "deleted",
            2,
            vec![(1296269, "octocat/Hello-World")],
        ),
        ("installation/suspend.json", "suspend", 16598467, vec![]),
        ("installation/unsuspend.json", "unsuspend", 16598467, vec![]),
        (
            "installation/new_permissions_accepted.json",
            "new_permissions_accepted",
            957387,
            vec![(186853002, "Codertocat/Hello-World")],
        ),
    ] {
        let d = parse(rel);
        assert_eq!(d.installation_id, Some(id), "{rel}");
        let expected: Vec<RepoRef> = repos
            .into_iter()
            .map(|(id, n)| RepoRef {
                id,
                full_name: n.into(),
            })
            .collect();
        assert_eq!(
            d.route(),
            &Route::Installation {
                action: action.into(),
                repositories: expected
            },
            "{rel}"
        );
    }
}

#[test]
fn installation_repositories_added_and_removed() {
    let d = parse("installation_repositories/added.json");
    assert_eq!(d.installation_id, Some(957387));
    assert_eq!(
        d.route(),
        &Route::InstallationRepositories {
            action: "added".into(),
            added: vec![RepoRef {
                id: 186853007,
                full_name: "Codertocat/Space".into()
            }],
            removed: vec![],
        }
    );
    let d = parse("installation_repositories/removed.json");
    assert_eq!(d.installation_id, Some(2));
    assert_eq!(
        d.route(),
        &Route::InstallationRepositories {
            action: "removed".into(),
            added: vec![],
            removed: vec![RepoRef {
                id: 1296269,
                full_name: "octocat/Hello-World".into()
            }],
        }
    );
}

#[test]
fn repository_actions() {
    for (rel, action, id, name) in [
        (
            "repository/renamed.json",
            "renamed",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/transferred.json",
            "transferred",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/transferred.with-installation.json",
            "transferred",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/archived.derived.json",
            "archived",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/deleted.ghes-35.json",
            "deleted",
            120,
            "Octocoders/Hello-World",
        ),
        (
            "repository/deleted.github-ae.json",
            "deleted",
            120,
            "Octocoders/Hello-World",
        ),
        (
            "repository/created.json",
            "created",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/edited.json",
            "edited",
            186853261,
            "Octocoders/Hello-World",
        ),
        (
            "repository/privatized.json",
            "privatized",
            186853002,
            "Codertocat/Hello-World",
        ),
        (
            "repository/publicized.json",
            "publicized",
            186853002,
            "Codertocat/Hello-World",
        ),
    ] {
        let d = parse(rel);
        assert_eq!(
            d.route(),
            &Route::Repository {
                action: action.into()
            },
            "{rel}"
        );
        assert_eq!(d.repository_id, Some(id), "{rel}");
        assert_eq!(d.repository_full_name.as_deref(), Some(name), "{rel}");
    }
}

#[test]
fn ping_and_ignored_events() {
    for rel in [
        "ping/ping.json",
        "ping/with-app_id.json",
        "ping/with-organization.json",
    ] {
        assert_eq!(parse(rel).route(), &Route::Ping, "{rel}");
    }
    let d = parse("ping/ping.json");
    assert_eq!(
        (d.repository_id, d.repository_full_name.as_deref()),
        (Some(186853261), Some("Octocoders/Hello-World"))
    );

    for rel in [
        "issues/opened.json",
        "pull_request/opened.json",
        "pull_request/synchronize.json",
    ] {
        let d = parse(rel);
        assert!(matches!(d.route(), Route::Ignored { .. }), "{rel}");
        assert_eq!(d.repository_id, Some(186853002), "{rel}");
    }
    // An event this code has never heard of is ignored, not an error, whatever its body.
    let d = Delivery::parse("workflow_run", "g", br#"{"action":"completed"}"#).unwrap();
    assert!(matches!(d.route(), Route::Ignored { reason } if reason.contains("workflow_run")));
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(Delivery::parse("push", "g", b"not json").is_err());
    // A push without `ref`/`after` cannot be routed.
    assert!(Delivery::parse("push", "g", br#"{"repository":{"id":1,"full_name":"o/r"}}"#).is_err());
    assert!(Delivery::parse("installation", "g", b"{}").is_err());
    assert!(Delivery::parse("repository", "g", b"[]").is_err());
}
