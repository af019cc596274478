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
