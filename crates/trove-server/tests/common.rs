//! Shared setup for the API tests.
#![allow(dead_code)]

use serde_json::json;
use trove_core::{OrgId, UserId};
use trove_store::Actor;
use trove_testkit::{TestDb, TestOrg, TestServer, bootstrap};

/// A server with org `acme` (owner token) ready.
pub struct World {
    pub server: TestServer,
    pub org: TestOrg,
}

pub async fn world(db: &TestDb) -> World {
    let org = bootstrap(&db.store, "acme", "owner@acme.test").await;
    let server = TestServer::start(db.store.clone()).await;
    World { server, org }
}

impl World {
    pub fn path(&self, rest: &str) -> String {
        format!("/v1/orgs/{}{rest}", self.org.slug)
    }

    /// Adds a member with `role` through the API and returns (membership id, their token).
    pub async fn member(&self, db: &TestDb, email: &str, role: &str) -> (String, String) {
        let reply = self
            .server
            .post(
                &self.path("/members"),
                &self.org.owner_token,
                json!({"email": email, "role": role}),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let membership = reply.body["item"]["id"].as_str().unwrap().to_string();
        let user: UserId = reply.body["item"]["userId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let org: OrgId = self.org.id.parse().unwrap();
        let (_, secret) = db
            .store
            .create_token(org, user, "test", None, Actor::default())
            .await
            .unwrap();
        (membership, secret)
    }
}

/// Inserts a config object row straight into the database (no version), for tests that only need
/// its identity, type and status. Returns its `cob_…` id.
pub async fn insert_object(db: &TestDb, org_id: &str, object_type: &str, name: &str) -> String {
    let org: OrgId = org_id.parse().unwrap();
    let id = trove_core::ConfigObjectId::new();
    let now = trove_core::time::now_ms();
    db.store
        .db
        .execute(
            trove_store::sql(
                "INSERT INTO config_objects (id, org_id, type, source_mode, status, name, title, description, \
                 search_text, created_at, updated_at) VALUES ($1, $2, $3, 'manual', 'active', $4, $4, '', $4, $5, $5)",
            )
            .bind(id.uuid())
            .bind(org.uuid())
            .bind(object_type)
            .bind(name)
            .bind(now),
        )
        .await
        .unwrap();
    id.to_string()
}

/// Sets a config object's status straight in the database.
pub async fn set_object_status(db: &TestDb, object_id: &str, status: &str) {
    let id: trove_core::ConfigObjectId = object_id.parse().unwrap();
    db.store
        .db
        .execute(
            trove_store::sql("UPDATE config_objects SET status = $1 WHERE id = $2")
                .bind(status)
                .bind(id.uuid()),
        )
        .await
        .unwrap();
}
