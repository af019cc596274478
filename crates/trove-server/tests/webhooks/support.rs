//! Helpers of the webhook tests: signing and posting deliveries, GitHub instances made through the
//! store (as the GitHub setup flow will), push bodies, row counts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;
use trove_core::{ConnectorAccountId, ConnectorInstanceId, ConnectorTargetId, OrgId, OrgRole};
use trove_store::connectors::accounts::GithubInstallation;
use trove_store::connectors::events::NewSyncEvent;
use trove_store::connectors::instances::{GithubRepository, ValidInstance};
use trove_store::connectors::model::{SyncEvent, Trigger};
use trove_store::registry::access::Principal;
use trove_store::{Actor, PageRequest, Store, sql};
use trove_testkit::server::WEBHOOK_SECRET;
use trove_testkit::{Reply, TestDb, TestServer};

pub const PATH: &str = "/v1/webhooks/connectors/github";

/// The id of a test org.
pub fn org_id(org: &trove_testkit::TestOrg) -> OrgId {
    org.id.parse().unwrap()
}

/// `sha256=` + hex HMAC-SHA256 of `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `body` with exactly `headers` (nothing added but the content type).
pub async fn post(s: &TestServer, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    let mut req = s
        .client
        .post(format!("{}{PATH}", s.base))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    TestServer::reply(req.send().await.expect("request sent")).await
}

/// Posts a delivery signed with the test server's secret.
pub async fn deliver(s: &TestServer, event: &str, delivery_id: &str, body: &[u8]) -> Reply {
    let signature = sign(WEBHOOK_SECRET.as_bytes(), body);
    post(
        s,
        &[
            ("x-github-event", event),
            ("x-github-delivery", delivery_id),
            ("x-hub-signature-256", &signature),
        ],
        body.to_vec(),
    )
    .await
}

pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// A file of `shared/fixtures/github-webhooks/`.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = shared_dir().join("fixtures/github-webhooks").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A compact push body like GitHub's.
pub fn push_body(
    installation: i64,
    repository: i64,
    full_name: &str,
    branch: &str,
    after: &str,
) -> Vec<u8> {
    let deleted = after.bytes().all(|b| b == b'0');
    serde_json::to_vec(&json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "1111111111111111111111111111111111111111",
        "after": after,
        "created": false,
        "deleted": deleted,
        "forced": false,
        "repository": {"id": repository, "full_name": full_name, "clone_url": format!("https://github.com/{full_name}.git")},
        "installation": {"id": installation},
        "commits": [],
    }))
    .unwrap()
}

/// A 40-hex SHA made from `n`.
pub fn sha(n: u64) -> String {
    format!("{n:040x}")
}

/// The org owner as a principal (the store calls of the setup flow take one).
pub async fn owner(store: &Store, org: OrgId) -> Principal {
    let owner = store
        .members(org, PageRequest::first(200))
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.role == OrgRole::Owner)
        .expect("an owner");
    Principal {
        org_id: org,
        membership_id: owner.id,
        is_admin: true,
    }
}

/// A GitHub instance made as the setup flow makes one.
#[derive(Debug, Clone)]
pub struct GhTarget {
    pub org: OrgId,
    pub account: ConnectorAccountId,
    pub instance: ConnectorInstanceId,
    pub target: ConnectorTargetId,
    pub initial: SyncEvent,
}

/// Binds `installation` to `org` (again, if already bound) and connects `branch` of `repository`
/// through it, queuing the initial sync in the same transaction.
pub async fn github_target(
    store: &Store,
    org: OrgId,
    installation: i64,
    repository: i64,
    full_name: &str,
    branch: &str,
    url: Option<&str>,
) -> GhTarget {
    let account = store
        .bind_github_installation(
            org,
            &GithubInstallation {
                installation_id: installation,
                name: full_name.split('/').next().unwrap().to_string(),
                metadata: json!({"accountLogin": full_name.split('/').next().unwrap()}),
                suspended: false,
            },
            Actor::default(),
        )
        .await
        .expect("bind installation");
    let default_url = format!("https://github.com/{full_name}.git");
    let valid = ValidInstance::github(
        account.id,
        GithubRepository {
            repository_id: repository,
            repository_name: full_name.to_string(),
        },
        url.unwrap_or(&default_url),
        branch,
        Some(&format!("{full_name}@{branch}#{installation}")),
        true,
    )
    .expect("valid instance");
    let principal = owner(store, org).await;
    let mut tx = store.db.begin().await.unwrap();
    let (instance, target) = store
        .create_instance_in(&mut tx, &principal, &valid, Actor::default())
        .await
        .expect("create instance");
    let (initial, _) = trove_sync::jobs::enqueue_sync_in(
        store,
        &mut tx,
        NewSyncEvent {
            org,
            instance,
            target,
            trigger: Trigger::Initial,
            delivery_id: None,
            requested_sha: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    GhTarget {
        org,
        account: account.id,
        instance,
        target,
        initial,
    }
}

/// `SELECT COUNT(*) FROM <table>`.
pub async fn count(db: &TestDb, table: &str) -> i64 {
    db.store
        .db
        .scalar::<i64>(sql(format!("SELECT COUNT(*) FROM {table}")))
        .await
        .unwrap()
        .unwrap()
}

/// The row counts a delivery could change.
pub async fn counts(db: &TestDb) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "webhook_deliveries",
        "sync_events",
        "jobs",
        "audit_log",
        "connector_accounts",
        "connector_instances",
        "connector_targets",
    ] {
        out.push((table, count(db, table).await));
    }
    out
}

/// Every account, instance and target, as text rows (to compare whole states).
pub async fn state(db: &TestDb) -> Vec<String> {
    let accounts: Vec<(uuid::Uuid, String)> = db
        .store
        .db
        .fetch_all(sql("SELECT id, status FROM connector_accounts ORDER BY id"))
        .await
        .unwrap();
    let instances: Vec<(uuid::Uuid, String, Option<String>)> = db
        .store
        .db
        .fetch_all(sql(
            "SELECT id, status, status_reason FROM connector_instances ORDER BY id",
        ))
        .await
        .unwrap();
    let targets: Vec<(uuid::Uuid, String, Option<String>, String)> = db
        .store
        .db
        .fetch_all(sql(
            "SELECT id, status, repository_name, url FROM connector_targets ORDER BY id",
        ))
        .await
        .unwrap();
    let mut out: Vec<String> = accounts
        .into_iter()
        .map(|(id, s)| format!("account {id} {s}"))
        .collect();
    out.extend(
        instances
            .into_iter()
            .map(|(id, s, r)| format!("instance {id} {s} {r:?}")),
    );
    out.extend(
        targets
            .into_iter()
            .map(|(id, s, n, u)| format!("target {id} {s} {n:?} {u}")),
    );
    out
}

/// The dedupe key of the queued reconcile job of a sync event.
pub async fn job_of(db: &TestDb, event: &str) -> (String, Option<String>) {
    let id: trove_core::SyncEventId = event.parse().unwrap();
    let row: Option<(String, Option<String>)> = db
        .store
        .db
        .fetch_optional(
            sql("SELECT j.kind, j.dedupe_key FROM jobs j JOIN sync_events e ON e.job_id = j.id WHERE e.id = $1")
                .bind(id.uuid()),
        )
        .await
        .unwrap();
    row.expect("the event has a job")
}

/// `body["syncEventIds"]` as strings.
pub fn event_ids(reply: &Reply) -> Vec<String> {
    reply.body["syncEventIds"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}
