#![allow(dead_code)]
//! The shared setup: a Trove server whose GitHub App is a fake GitHub, and request helpers.

use serde_json::{Value, json};
use trove_sources::{GitHubApp, GitHubConfig};
use trove_testkit::github::FakeGitHub;
use trove_testkit::{Reply, TestDb, TestOrg, TestServer, bootstrap};

use crate::common;

/// A Trove server whose GitHub App is the fake's, with org `acme` and GitHub user `alice`, who can
/// manage installation `installation` on account `acme-gh`.
pub struct World {
    pub fake: FakeGitHub,
    pub app: GitHubApp,
    pub base: common::World,
    pub installation: u64,
}

pub async fn world(db: &TestDb) -> World {
    let fake = FakeGitHub::start().await;
    let app = GitHubApp::new(GitHubConfig {
        api_url: fake.url(),
        web_url: fake.url(),
        app_id: fake.app_id(),
        private_key_pem: fake.private_key_pem(),
        client_id: Some(fake.client_id().to_owned()),
        client_secret: Some(fake.client_secret().to_owned()),
    })
    .expect("the fake's App settings");
    let org = bootstrap(&db.store, "acme", "owner@acme.test").await;
    let server = TestServer::start_with_github(db.store.clone(), app.clone()).await;
    fake.set_setup_url(&format!("{}/v1/connectors/github/callback", server.base));
    fake.add_user("alice");
    let installation = fake.add_installation("acme-gh", "Organization", &["alice"]);
    World {
        fake,
        app,
        base: common::World { server, org },
        installation,
    }
}

impl World {
    pub fn path(&self, org: &TestOrg, rest: &str) -> String {
        format!("/v1/orgs/{}{rest}", org.slug)
    }

    /// `install/start` for `org` as `token`; returns the state.
    pub async fn start(&self, org: &TestOrg, token: &str) -> String {
        let reply = self
            .base
            .server
            .post(
                &self.path(org, "/connectors/github/install/start"),
                token,
                json!({}),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["state"].as_str().unwrap().to_owned()
    }

    /// Follows GitHub's redirect to the Setup URL (an absolute URL on the server) as `token`.
    pub async fn follow(&self, url: &str, token: &str) -> Reply {
        let response = self
            .base
            .server
            .client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("callback request");
        TestServer::reply(response).await
    }

    /// A browser with a cookie jar; signed in as the org's owner when `signed_in`.
    pub async fn browser(&self, signed_in: bool) -> reqwest::Client {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        if signed_in {
            self.sign_in(&browser).await;
        }
        browser
    }

    /// Signs `browser` in as the org's owner (the session cookie the callback reads).
    pub async fn sign_in(&self, browser: &reqwest::Client) {
        let login = browser
            .post(format!("{}/v1/auth/login", self.base.server.base))
            .json(&json!({"email": "owner@acme.test", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert!(login.status().is_success());
    }

    /// `install/complete` for `org` as `token`.
    pub async fn complete(&self, org: &TestOrg, token: &str, body: Value) -> Reply {
        self.base
            .server
            .post(
                &self.path(org, "/connectors/github/install/complete"),
                token,
                body,
            )
            .await
    }

    /// Installs through the whole flow for `org`: start, GitHub's redirect for `alice`, callback.
    pub async fn install(&self, org: &TestOrg) -> String {
        let state = self.start(org, &org.owner_token).await;
        let url = self.fake.install("alice", &state, self.installation);
        let reply = self.follow(&url, &org.owner_token).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["item"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn accounts(&self, org: &TestOrg) -> Vec<Value> {
        let reply = self
            .base
            .server
            .get(&self.path(org, "/connector-accounts"), &org.owner_token)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["items"].as_array().unwrap().clone()
    }
}

/// A state error: 400 on `state`.
pub fn assert_state_refused(reply: &Reply) {
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(reply.body["field"], "state", "{:?}", reply.body);
}

/// Percent-encodes a query value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
