//! Config objects over the REST API, on SQLite and PostgreSQL: create, versions, compare, lifecycle,
//! access, plugin membership, typed views, validation, and content encrypted at rest.

mod common;

use serde_json::{Value, json};
use trove_core::{ConfigObjectId, OrgId, ResourceRole};
use trove_store::registry::access::{NewGrant, ResourceKind};
use trove_store::{Actor, KeyRing, Store, sql};
use trove_testkit::{TestDb, backend_tests, bootstrap};

use common::{World, world};

backend_tests!(
    create_get_and_versions,
    compare_versions,
    lists_filter_search_and_page,
    validation_errors_store_nothing,
    lifecycle_transitions,
    access_grants_and_roles,
    plugin_membership_and_inheritance,
    typed_views,
    skill_content_is_encrypted_at_rest,
    large_versions_are_stored_compressed,
    resolve_objects_returns_latest_active,
    rekey_covers_versions,
);

fn skill(name: &str, description: &str, body: &str) -> String {
    format!("---\nname: {name}\ndescription: {description}\n---\n# {name}\n\n{body}\n")
}

fn create_skill_body(name: &str, description: &str, body: &str) -> Value {
    json!({"type": "skill", "input": {"rawSourceText": skill(name, description, body)}})
}

/// Creates an object as `token` and returns its id.
async fn create(w: &World, token: &str, body: Value) -> String {
    let r = w.server.post(&w.path("/config-objects"), token, body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["item"]["id"].as_str().unwrap().to_string()
}

fn org_id(w: &World) -> OrgId {
    w.org.id.parse().unwrap()
}

/// A plugin row, written directly (plugins have their own routes and tests).
async fn insert_plugin(store: &Store, org: OrgId, name: &str) -> String {
    let id = uuid::Uuid::now_v7();
    store
        .db
        .execute(
            sql("INSERT INTO plugins (id, org_id, name, description, metadata, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, '', '{}', 'active', 1, 1)")
            .bind(id)
            .bind(org.uuid())
            .bind(name),
        )
        .await
        .unwrap();
    trove_core::PluginId::from(id).to_string()
}

async fn count(store: &Store, table: &str) -> i64 {
    store
        .db
        .scalar(sql(format!("SELECT COUNT(*) FROM {table}")))
        .await
        .unwrap()
        .unwrap_or(0)
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn create_get_and_versions(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let r = s
        .post(
            &w.path("/config-objects"),
            t,
            create_skill_body("pdf-tools", "Work with PDFs", "Use pdftotext."),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    let item = &r.body["item"];
    let id = item["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cob_"));
    assert_eq!(item["type"], "skill");
    assert_eq!(item["sourceMode"], "manual");
    assert_eq!(item["status"], "active");
    assert_eq!(item["name"], "pdf-tools");
    assert_eq!(item["title"], "pdf-tools");
    assert_eq!(item["description"], "Work with PDFs");
    assert_eq!(item["latestVersionNumber"], 1);
    assert!(item["deletedAt"].is_null());
    assert!(item["connectorInstanceId"].is_null());

    let got = s.get(&w.path(&format!("/config-objects/{id}")), t).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["item"]["id"], id.as_str());

    let latest = s
        .get(&w.path(&format!("/config-objects/{id}/versions/latest")), t)
        .await;
    assert_eq!(latest.status, 200);
    let v1 = latest.body["item"].clone();
    assert!(v1["id"].as_str().unwrap().starts_with("cov_"));
    assert_eq!(v1["versionNumber"], 1);
    assert_eq!(v1["files"][0]["path"], "SKILL.md");
    assert!(
        v1["files"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Use pdftotext.")
    );
    assert_eq!(
        v1["payload"]["frontmatter"]["description"],
        "Work with PDFs"
    );

    // Same content: no new version, and the flag says so.
    let same = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("pdf-tools", "Work with PDFs", "Use pdftotext.")}}),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.body);
    assert_eq!(same.body["item"]["created"], false);
    assert_eq!(same.body["item"]["version"]["id"], v1["id"]);

    // Changed content: version 2, projection follows.
    let files = json!([
        {"path": "SKILL.md", "content": skill("pdf-tools", "Read and fill PDFs", "Use pdftotext.")},
        {"path": "scripts/fill.py", "content": "print('fill')\n"},
        {"path": "assets/logo.png", "content": "iVBORw0KGgo=", "encoding": "base64"}
    ]);
    let v2 = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"files": files}, "reason": "add a script"}),
        )
        .await;
    assert_eq!(v2.status, 201, "{:?}", v2.body);
    assert_eq!(v2.body["item"]["created"], true);
    assert_eq!(v2.body["item"]["version"]["versionNumber"], 2);
    assert_eq!(v2.body["item"]["version"]["reason"], "add a script");
    assert!(v2.body["item"]["version"]["sourceRevision"].is_null());
    assert_eq!(
        v2.body["item"]["object"]["description"],
        "Read and fill PDFs"
    );
    assert_eq!(v2.body["item"]["object"]["latestVersionNumber"], 2);
    let paths: Vec<&str> = v2.body["item"]["version"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["SKILL.md", "assets/logo.png", "scripts/fill.py"]);

    let long = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("pdf-tools", "Other", "x")}, "reason": "r".repeat(1001)}),
        )
        .await;
    assert_eq!(long.status, 400);
    assert_eq!(long.body["field"], "reason");
    let list = s
        .get(&w.path(&format!("/config-objects/{id}/versions")), t)
        .await;
    assert_eq!(list.status, 200);
    let numbers: Vec<i64> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["versionNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");
    assert!(
        list.body["items"][0].get("files").is_none(),
        "lists carry no content"
    );

    let by_number = s
        .get(&w.path(&format!("/config-objects/{id}/versions/1")), t)
        .await;
    assert_eq!(by_number.body["item"]["id"], v1["id"]);
    let by_id = s
        .get(
            &w.path(&format!(
                "/config-objects/{id}/versions/{}",
                v1["id"].as_str().unwrap()
            )),
            t,
        )
        .await;
    assert_eq!(by_id.body["item"]["versionNumber"], 1);
    for bad in ["99", "cov_nope", "0"] {
        let r = s
            .get(&w.path(&format!("/config-objects/{id}/versions/{bad}")), t)
            .await;
        assert_eq!(r.status, 404, "{bad}");
    }
    // Ids that do not parse, or do not exist, are 404s.
    let r = s.get(&w.path("/config-objects/not-an-id"), t).await;
    assert_eq!(r.status, 404);
    let r = s
        .get(
            &w.path(&format!("/config-objects/{}", ConfigObjectId::new())),
            t,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
}

async fn compare_versions(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = create(
        &w,
        t,
        create_skill_body(
            "diffy",
            "First description",
            "line one\nline two\nline three",
        ),
    )
    .await;
    let r = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("diffy", "Second description", "line one\nline 2\nline three")}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let c = s
        .get(
            &w.path(&format!(
                "/config-objects/{id}/versions/compare?from=1&to=2"
            )),
            t,
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let item = &c.body["item"];
    assert_eq!(item["from"]["versionNumber"], 1);
    assert_eq!(item["to"]["versionNumber"], 2);
    assert_eq!(item["identical"], false);
    let diff = item["diff"].as_str().unwrap();
    assert!(
        diff.starts_with("--- a/SKILL.md\n+++ b/SKILL.md\n@@ "),
        "{diff}"
    );
    assert!(
        diff.contains("-description: First description\n+description: Second description\n"),
        "{diff}"
    );
    assert!(diff.contains("-line two\n+line 2\n"), "{diff}");
    let fields: Vec<&str> = item["changedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // `files` lists the files with their sizes, and SKILL.md grew.
    assert_eq!(fields, ["description", "files", "frontmatter.description"]);
    assert_eq!(item["changedFields"][0]["from"], "First description");
    assert_eq!(item["changedFields"][0]["to"], "Second description");

    // Defaults: the latest against its predecessor; ids work too.
    let d = s
        .get(
            &w.path(&format!("/config-objects/{id}/versions/compare")),
            t,
        )
        .await;
    assert_eq!(d.body["item"]["diff"], item["diff"]);
    let same = s
        .get(
            &w.path(&format!(
                "/config-objects/{id}/versions/compare?from=2&to=2"
            )),
            t,
        )
        .await;
    assert_eq!(same.body["item"]["identical"], true);
    assert_eq!(same.body["item"]["diff"], "");
    let bad = s
        .get(
            &w.path(&format!(
                "/config-objects/{id}/versions/compare?from=yesterday"
            )),
            t,
        )
        .await;
    assert_eq!(bad.status, 400);
    let missing = s
        .get(
            &w.path(&format!("/config-objects/{id}/versions/compare?from=7")),
            t,
        )
        .await;
    assert_eq!(missing.status, 404);
}

async fn lists_filter_search_and_page(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let a = create(
        &w,
        t,
        create_skill_body("alpha-skill", "Reads Alpha reports", "x"),
    )
    .await;
    let b = create(
        &w,
        t,
        create_skill_body("beta-skill", "Writes beta 100%_done", "x"),
    )
    .await;
    let c = create(
        &w,
        t,
        json!({"type": "mcp", "input": {"normalizedPayload": {"mcpServers": {"gamma": {"command": "gamma"}}}}}),
    )
    .await;
    let all = s.get(&w.path("/config-objects"), t).await;
    assert_eq!(ids(&all.body), [a.clone(), b.clone(), c.clone()]);
    assert!(all.body["nextCursor"].is_null());

    let p1 = s.get(&w.path("/config-objects?limit=2"), t).await;
    assert_eq!(ids(&p1.body), [a.clone(), b.clone()]);
    let cursor = p1.body["nextCursor"].as_str().unwrap().to_string();
    let p2 = s
        .get(
            &w.path(&format!("/config-objects?limit=2&cursor={cursor}")),
            t,
        )
        .await;
    assert_eq!(ids(&p2.body), [c.as_str()]);
    assert!(p2.body["nextCursor"].is_null());

    let skills = s.get(&w.path("/config-objects?type=skill"), t).await;
    assert_eq!(ids(&skills.body), [a.clone(), b.clone()]);
    let q = s.get(&w.path("/config-objects?q=ALPHA"), t).await;
    assert_eq!(ids(&q.body), [a.as_str()]);
    // LIKE wildcards in the query are literal.
    let pct = s.get(&w.path("/config-objects?q=100%25_"), t).await;
    assert_eq!(ids(&pct.body), [b.as_str()]);
    let none = s.get(&w.path("/config-objects?q=%25"), t).await;
    assert_eq!(ids(&none.body), [b.as_str()]);
    let by_path = s.get(&w.path("/config-objects?q=.mcp.json"), t).await;
    assert_eq!(ids(&by_path.body), [c.as_str()]);
    let manual = s
        .get(&w.path("/config-objects?sourceMode=connector"), t)
        .await;
    assert!(ids(&manual.body).is_empty());
    for bad in [
        "type=widget",
        "limit=0",
        "cursor=zzz",
        "pluginId=nope",
        "sort=name",
    ] {
        let r = s.get(&w.path(&format!("/config-objects?{bad}")), t).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
}

async fn validation_errors_store_nothing(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let cases = [
        (
            json!({"type": "skill", "input": {"rawSourceText": "---\nname: Bad Name\ndescription: x\n---\nbody\n"}}),
            "SKILL.md.frontmatter.name",
        ),
        (
            json!({"type": "skill", "input": {"rawSourceText": "---\nname: ok\n---\nbody\n"}}),
            "SKILL.md.frontmatter.description",
        ),
        (
            json!({"type": "skill", "input": {"rawSourceText": "just text"}}),
            "SKILL.md.frontmatter",
        ),
        (
            json!({"type": "skill", "input": {"files": [{"path": "../SKILL.md", "content": "x"}]}}),
            "input.files[0].path",
        ),
        (
            json!({"type": "agent", "input": {"rawSourceText": "---\nname: a\n---\nprompt\n"}}),
            "frontmatter.description",
        ),
        (
            json!({"type": "mcp", "input": {"normalizedPayload": {"mcpServers": {"db": {"type": "stdio"}}}}}),
            "input.normalizedPayload.mcpServers.db.command",
        ),
        (
            json!({"type": "mcp", "input": {"normalizedPayload": {"mcpServers": {"api": {"type": "http"}}}}}),
            "input.normalizedPayload.mcpServers.api.url",
        ),
        (
            json!({"type": "hook", "input": {"rawSourceText": "{\"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\"}]}]}}"}}),
            "hooks.json.hooks.Stop[0].hooks[0].command",
        ),
        (
            json!({"type": "lsp", "input": {"rawSourceText": "{\"rust\": {\"command\": \"ra\"}}"}}),
            ".lsp.json.lspServers.rust.extensionToLanguage",
        ),
        (
            json!({"type": "skill", "input": {"rawSourceText": "x", "normalizedPayload": {}}}),
            "input",
        ),
        (
            json!({"type": "skill", "sourceMode": "connector", "input": {"rawSourceText": skill("a", "b", "c")}}),
            "sourceMode",
        ),
        (
            json!({"type": "skill", "pluginIds": ["plg_nope"], "input": {"rawSourceText": skill("a", "b", "c")}}),
            "pluginIds[0]",
        ),
    ];
    for (body, field) in cases {
        let r = s.post(&w.path("/config-objects"), t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.error(), "invalid_request");
        assert_eq!(r.body["field"], field, "{:?}", r.body);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{:?}",
            r.body
        );
    }
    // A plugin that does not exist is a 404, and nothing is written either.
    let missing = format!("{}", trove_core::PluginId::new());
    let r = s
        .post(
            &w.path("/config-objects"),
            t,
            json!({"type": "skill", "pluginIds": [missing], "input": {"rawSourceText": skill("a", "b", "c")}}),
        )
        .await;
    assert_eq!(r.status, 404);
    // Validation endpoints report without writing.
    let ok = s
        .post(
            &w.path("/skills/validate"),
            t,
            json!({"input": {"rawSourceText": skill("fine", "Fine", "body")}}),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["valid"], true);
    assert_eq!(ok.body["preview"]["name"], "fine");
    let bad = s
        .post(
            &w.path("/config-objects/validate"),
            t,
            json!({"type": "skill", "input": {"rawSourceText": "---\nname: X\n---\n"}}),
        )
        .await;
    assert_eq!(bad.status, 200);
    assert_eq!(bad.body["valid"], false);
    assert_eq!(
        bad.body["problems"].as_array().unwrap().len(),
        3,
        "{:?}",
        bad.body
    );
    assert!(bad.body["preview"].is_null());
    for table in ["config_objects", "config_object_versions", "plugin_objects"] {
        assert_eq!(count(&db.store, table).await, 0, "{table}");
    }
    // The only grants are none: no creator grant for a failed create.
    assert_eq!(count(&db.store, "access_grants").await, 0);
}

async fn lifecycle_transitions(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = create(&w, t, create_skill_body("cycle", "Goes round", "x")).await;
    let at = |action: &str| w.path(&format!("/config-objects/{id}/{action}"));
    let listed = |body: &Value| ids(body).contains(&id);

    let r = s.post(&at("archive"), t, json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["item"]["status"], "archived");
    assert!(listed(&s.get(&w.path("/config-objects"), t).await.body));
    assert!(listed(
        &s.get(&w.path("/config-objects?status=archived"), t)
            .await
            .body
    ));
    assert!(!listed(
        &s.get(&w.path("/config-objects?status=active"), t)
            .await
            .body
    ));
    let r = s.post(&at("restore"), t, json!({})).await;
    assert_eq!(r.body["item"]["status"], "active");

    let r = s.post(&at("delete"), t, json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["item"]["status"], "deleted");
    assert!(r.body["item"]["deletedAt"].as_str().unwrap().ends_with('Z'));
    assert!(!listed(&s.get(&w.path("/config-objects"), t).await.body));
    assert!(listed(
        &s.get(&w.path("/config-objects?includeDeleted=true"), t)
            .await
            .body
    ));
    assert!(listed(
        &s.get(&w.path("/config-objects?status=deleted"), t)
            .await
            .body
    ));
    // Still readable by id, not writable, not archivable.
    assert_eq!(
        s.get(&w.path(&format!("/config-objects/{id}")), t)
            .await
            .status,
        200
    );
    let v = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("cycle", "Changed", "x")}}),
        )
        .await;
    assert_eq!(v.status, 409);
    assert_eq!(s.post(&at("archive"), t, json!({})).await.status, 409);

    let r = s.post(&at("restore"), t, json!({})).await;
    assert_eq!(r.body["item"]["status"], "active");
    assert!(r.body["item"]["deletedAt"].is_null());
    assert!(listed(&s.get(&w.path("/config-objects"), t).await.body));

    // Lifecycle needs manager: a viewer gets 403.
    let (member, token) = w.member(db, "viewer@acme.test", "member").await;
    let g = s
        .post(
            &w.path(&format!("/config-objects/{id}/access")),
            t,
            json!({"orgMembershipId": member, "role": "editor"}),
        )
        .await;
    assert_eq!(g.status, 201);
    let r = s.post(&at("archive"), &token, json!({})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");
}

async fn access_grants_and_roles(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = create(&w, t, create_skill_body("secret-skill", "Owner only", "x")).await;
    let (member, token) = w.member(db, "m@acme.test", "member").await;
    let obj = w.path(&format!("/config-objects/{id}"));

    // Private by default.
    assert!(ids(&s.get(&w.path("/config-objects"), &token).await.body).is_empty());
    let r = s.get(&obj, &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");
    assert_eq!(s.get(&format!("{obj}/access"), &token).await.status, 403);

    // Viewer: sees, cannot write.
    let g = s
        .post(
            &format!("{obj}/access"),
            t,
            json!({"orgMembershipId": member, "role": "viewer"}),
        )
        .await;
    assert_eq!(g.status, 201, "{:?}", g.body);
    let grant = g.body["item"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&s.get(&w.path("/config-objects"), &token).await.body),
        [id.as_str()]
    );
    assert_eq!(s.get(&obj, &token).await.status, 200);
    assert_eq!(
        s.get(&format!("{obj}/versions/latest"), &token)
            .await
            .status,
        200
    );
    let new = json!({"input": {"rawSourceText": skill("secret-skill", "Edited", "y")}});
    let r = s
        .post(&format!("{obj}/versions"), &token, new.clone())
        .await;
    assert_eq!(r.status, 403);

    // Editor: writes versions, but cannot manage access.
    let g = s
        .post(
            &format!("{obj}/access"),
            t,
            json!({"orgMembershipId": member, "role": "editor"}),
        )
        .await;
    assert_eq!(
        g.body["item"]["id"],
        grant.as_str(),
        "the grant is updated in place"
    );
    assert_eq!(
        s.post(&format!("{obj}/versions"), &token, new).await.status,
        201
    );
    assert_eq!(s.get(&format!("{obj}/access"), &token).await.status, 403);

    // The owner lists and revokes.
    let list = s.get(&format!("{obj}/access"), t).await;
    assert_eq!(list.status, 200);
    // The creator's manager grant and the member's.
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    let r = s.delete(&format!("{obj}/access/{grant}"), t).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(s.get(&obj, &token).await.status, 403);
    assert_eq!(
        s.delete(&format!("{obj}/access/{grant}"), t).await.status,
        404
    );

    // A member's own object: they are its manager, but org-wide grants need an org admin.
    let mine = create(&w, &token, create_skill_body("mine", "Mine", "x")).await;
    let mine_path = w.path(&format!("/config-objects/{mine}"));
    let grants = s.get(&format!("{mine_path}/access"), &token).await;
    assert_eq!(grants.status, 200);
    assert_eq!(grants.body["items"][0]["role"], "manager");
    assert_eq!(grants.body["items"][0]["orgMembershipId"], member.as_str());
    let r = s
        .post(
            &format!("{mine_path}/access"),
            &token,
            json!({"orgWide": true, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_org_capability");
    assert_eq!(
        s.post(&format!("{mine_path}/archive"), &token, json!({}))
            .await
            .status,
        200
    );
    // Admins see everything.
    assert_eq!(
        ids(&s.get(&w.path("/config-objects"), t).await.body).len(),
        2
    );

    // Another org's object is a 404, whatever the caller's role there.
    let other = bootstrap(&db.store, "globex", "owner@globex.test").await;
    let r = s
        .get(
            &format!("/v1/orgs/globex/config-objects/{id}"),
            &other.owner_token,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .post(
            &format!("/v1/orgs/globex/config-objects/{id}/archive"),
            &other.owner_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        ids(&s
            .get("/v1/orgs/globex/config-objects", &other.owner_token)
            .await
            .body)
        .is_empty()
    );
}

async fn plugin_membership_and_inheritance(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let org = org_id(&w);
    let plugin = insert_plugin(&db.store, org, "toolkit").await;
    let id = create(&w, t, create_skill_body("member-skill", "In a plugin", "x")).await;
    let obj = w.path(&format!("/config-objects/{id}"));

    let r = s
        .post(&format!("{obj}/plugins"), t, json!({"pluginId": plugin}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["item"]["pluginId"], plugin.as_str());
    assert_eq!(r.body["item"]["name"], "toolkit");
    // Attaching twice is harmless.
    assert_eq!(
        s.post(&format!("{obj}/plugins"), t, json!({"pluginId": plugin}))
            .await
            .status,
        201
    );
    let list = s.get(&format!("{obj}/plugins"), t).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let filtered = s
        .get(&w.path(&format!("/config-objects?pluginId={plugin}")), t)
        .await;
    assert_eq!(ids(&filtered.body), [id.as_str()]);

    // A viewer of the plugin views its objects, but never edits them through it.
    let (member, token) = w.member(db, "p@acme.test", "member").await;
    assert_eq!(s.get(&obj, &token).await.status, 403);
    let plugin_uuid: trove_core::PluginId = plugin.parse().unwrap();
    db.store
        .grant(
            org,
            ResourceKind::Plugin,
            plugin_uuid.uuid(),
            &NewGrant {
                org_membership_id: Some(member.parse().unwrap()),
                team_id: None,
                org_wide: None,
                role: ResourceRole::Viewer,
            },
            Actor::default(),
        )
        .await
        .unwrap();
    assert_eq!(s.get(&obj, &token).await.status, 200);
    assert_eq!(
        ids(&s.get(&w.path("/config-objects"), &token).await.body),
        [id.as_str()]
    );
    let r = s
        .post(
            &format!("{obj}/versions"),
            &token,
            json!({"input": {"rawSourceText": skill("member-skill", "Edited", "x")}}),
        )
        .await;
    assert_eq!(r.status, 403);
    let visible = s.get(&format!("{obj}/plugins"), &token).await;
    assert_eq!(visible.body["items"].as_array().unwrap().len(), 1);
    // Detaching needs editor on the plugin.
    let r = s.delete(&format!("{obj}/plugins/{plugin}"), &token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");
    // A member's own object can join only plugins they edit.
    let mine = create(&w, &token, create_skill_body("mine", "Mine", "x")).await;
    let r = s
        .post(
            &w.path(&format!("/config-objects/{mine}/plugins")),
            &token,
            json!({"pluginId": plugin}),
        )
        .await;
    assert_eq!(r.status, 403);

    // An archived plugin lends no visibility.
    db.store
        .db
        .execute(
            sql("UPDATE plugins SET status = 'archived' WHERE id = $1").bind(plugin_uuid.uuid()),
        )
        .await
        .unwrap();
    assert_eq!(s.get(&obj, &token).await.status, 403);
    db.store
        .db
        .execute(sql("UPDATE plugins SET status = 'active' WHERE id = $1").bind(plugin_uuid.uuid()))
        .await
        .unwrap();

    // The owner detaches; the inherited view goes with the membership.
    let r = s.delete(&format!("{obj}/plugins/{plugin}"), t).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["item"]["id"], plugin.as_str());
    assert!(
        s.get(&format!("{obj}/plugins"), t).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get(&obj, &token).await.status, 403);
    assert_eq!(
        s.delete(&format!("{obj}/plugins/{plugin}"), t).await.status,
        404
    );
    assert_eq!(
        s.delete(&format!("{obj}/plugins/plg_bad"), t).await.status,
        404
    );

    // Creating straight into a plugin needs editor on it; the owner may.
    let r = s
        .post(
            &w.path("/config-objects"),
            t,
            json!({"type": "command", "pluginIds": [plugin], "input": {"path": "deploy.md", "rawSourceText": "Deploy it\n"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let cmd = r.body["item"]["id"].as_str().unwrap().to_string();
    let filtered = s
        .get(&w.path(&format!("/config-objects?pluginId={plugin}")), t)
        .await;
    assert_eq!(ids(&filtered.body), [cmd]);
}

async fn typed_views(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let created = [
        (
            "skills",
            json!({"rawSourceText": skill("typed", "A typed skill", "x")}),
            "typed",
        ),
        (
            "agents",
            json!({"rawSourceText": "---\nname: reviewer\ndescription: Reviews diffs\n---\nReview.\n"}),
            "reviewer",
        ),
        (
            "commands",
            json!({"path": "commands/ship.md", "rawSourceText": "---\ndescription: Ship\n---\nShip it\n"}),
            "ship",
        ),
        (
            "hooks",
            json!({"normalizedPayload": {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "check"}]}]}}}),
            "hooks",
        ),
        (
            "mcps",
            json!({"rawSourceText": "{\"mcpServers\": {\"db\": {\"command\": \"db-mcp\"}}}"}),
            "db",
        ),
        (
            "lsps",
            json!({"normalizedPayload": {"rust": {"command": "rust-analyzer", "extensionToLanguage": {".rs": "rust"}}}}),
            "rust",
        ),
    ];
    let mut by_view = Vec::new();
    for (view, input, name) in created {
        let r = s
            .post(&w.path(&format!("/{view}")), t, json!({"input": input}))
            .await;
        assert_eq!(r.status, 201, "{view}: {:?}", r.body);
        assert_eq!(r.body["item"]["name"], name, "{view}");
        by_view.push((view, r.body["item"]["id"].as_str().unwrap().to_string()));
    }
    for (view, id) in &by_view {
        let list = s.get(&w.path(&format!("/{view}")), t).await;
        assert_eq!(list.status, 200);
        assert_eq!(ids(&list.body), [id.as_str()], "{view}");
        assert_eq!(
            s.get(&w.path(&format!("/{view}/{id}")), t).await.status,
            200
        );
    }
    // Another type's object is not found through a view.
    let (_, skill_id) = &by_view[0];
    assert_eq!(
        s.get(&w.path(&format!("/agents/{skill_id}")), t)
            .await
            .status,
        404
    );
    let r = s
        .post(
            &w.path(&format!("/mcps/{skill_id}/versions")),
            t,
            json!({"input": {"normalizedPayload": {"mcpServers": {"x": {"command": "x"}}}}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .post(
            &w.path(&format!("/skills/{skill_id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("typed", "Now v2", "x")}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["item"]["version"]["versionNumber"], 2);
    let (_, mcp_id) = &by_view[4];
    let r = s
        .post(
            &w.path(&format!("/mcps/{mcp_id}/versions")),
            t,
            json!({"input": {"normalizedPayload": {"mcpServers": {"db": {"type": "sse", "url": "https://db/sse"}}}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["item"]["version"]["payload"]["mcpServers"]["db"]["type"],
        "sse"
    );
    for (view, input) in [
        ("agents", json!({"rawSourceText": "no frontmatter"})),
        ("commands", json!({"rawSourceText": "no path"})),
        ("hooks", json!({"rawSourceText": "[]"})),
        ("mcps", json!({"normalizedPayload": {"mcpServers": {}}})),
        (
            "lsps",
            json!({"rawSourceText": "{\"x\": {\"extensionToLanguage\": {}}}"}),
        ),
    ] {
        let v = s
            .post(
                &w.path(&format!("/{view}/validate")),
                t,
                json!({"input": input.clone()}),
            )
            .await;
        assert_eq!(v.status, 200, "{view}");
        assert_eq!(v.body["valid"], false, "{view}: {:?}", v.body);
        let r = s
            .post(&w.path(&format!("/{view}")), t, json!({"input": input}))
            .await;
        assert_eq!(r.status, 400, "{view}: {:?}", r.body);
    }
    assert_eq!(count(&db.store, "config_objects").await, 6);
}

async fn skill_content_is_encrypted_at_rest(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let body_marker = format!("BODY-MARKER-{}", uuid::Uuid::now_v7().simple());
    let script_marker = format!("SCRIPT-MARKER-{}", uuid::Uuid::now_v7().simple());
    let files = json!([
        {"path": "SKILL.md", "content": skill("marker-skill", "Finds markers", &format!("Say {body_marker}."))},
        {"path": "scripts/run.sh", "content": format!("echo {script_marker}\n")}
    ]);
    let r = s
        .post(
            &w.path("/config-objects"),
            t,
            json!({"type": "skill", "input": {"files": files}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["item"]["id"].as_str().unwrap().to_string();
    let v2 = s
        .post(
            &w.path(&format!("/config-objects/{id}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("marker-skill", "Finds markers", &format!("Now {body_marker}!"))}}),
        )
        .await;
    assert_eq!(v2.status, 201);
    // The API still shows the content, and search by title finds the skill.
    let latest = s
        .get(&w.path(&format!("/config-objects/{id}/versions/latest")), t)
        .await;
    assert!(
        latest.body["item"]["files"][0]["content"]
            .as_str()
            .unwrap()
            .contains(&body_marker)
    );
    assert_eq!(
        ids(&s
            .get(&w.path("/config-objects?q=marker-skill"), t)
            .await
            .body),
        [id.as_str()]
    );
    assert!(
        ids(&s
            .get(&w.path(&format!("/config-objects?q={body_marker}")), t)
            .await
            .body)
        .is_empty()
    );

    let bytes = all_rows_as_bytes(db).await;
    assert!(
        contains(&bytes, b"marker-skill"),
        "sanity: the scan sees clear columns"
    );
    for marker in [&body_marker, &script_marker] {
        assert!(
            !contains(&bytes, marker.as_bytes()),
            "{marker} is stored in clear"
        );
    }
}

/// Content is compressed before it is encrypted (ciphertext does not compress, so the database
/// cannot), and reads back exactly.
async fn large_versions_are_stored_compressed(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let body: String = (0..400)
        .map(|i| format!("- Step {i}: read the files, follow the conventions, make the change.\n"))
        .collect();
    let text = skill("long-skill", "Has a long body", &body);
    let r = s
        .post(
            &w.path("/config-objects"),
            t,
            json!({"type": "skill", "input": {"files": [{"path": "SKILL.md", "content": text}]}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["item"]["id"].as_str().unwrap().to_string();
    let latest = s
        .get(&w.path(&format!("/config-objects/{id}/versions/latest")), t)
        .await;
    assert_eq!(latest.body["item"]["files"][0]["content"], json!(text));
    let (payload, raw): (i64, i64) = db
        .store
        .db
        .fetch_one(
            sql(
                "SELECT CAST(LENGTH(payload) AS BIGINT), CAST(LENGTH(raw_source) AS BIGINT) \
                 FROM config_object_versions WHERE object_id = $1",
            )
            .bind(id.parse::<ConfigObjectId>().unwrap().uuid()),
            "version",
        )
        .await
        .unwrap();
    // Both columns hold the body (the payload as parsed, the files as written).
    for stored in [payload, raw] {
        assert!(
            (stored as usize) * 4 < body.len(),
            "{stored} bytes stored for a {}-byte body",
            body.len()
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte the database holds: the SQLite files, or every PostgreSQL row as text.
async fn all_rows_as_bytes(db: &TestDb) -> Vec<u8> {
    let store = &db.store;
    match store.db.backend() {
        trove_store::Backend::Sqlite => {
            let mut bytes = Vec::new();
            for name in ["trove.db", "trove.db-wal", "trove.db-shm"] {
                bytes.extend(std::fs::read(db.dir.path().join(name)).unwrap_or_default());
            }
            bytes
        }
        trove_store::Backend::Postgres => {
            let tables: Vec<(String,)> = store
                .db
                .fetch_all(sql(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                ))
                .await
                .unwrap();
            let mut bytes = Vec::new();
            for (table,) in tables {
                let rows: Vec<(String,)> = store
                    .db
                    .fetch_all(sql(format!("SELECT t::text FROM \"{table}\" t")))
                    .await
                    .unwrap();
                for (row,) in rows {
                    bytes.extend(row.into_bytes());
                }
            }
            bytes
        }
    }
}

async fn resolve_objects_returns_latest_active(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let a = create(&w, t, create_skill_body("res-a", "A", "v1")).await;
    let b = create(&w, t, create_skill_body("res-b", "B", "v1")).await;
    let c = create(&w, t, create_skill_body("res-c", "C", "v1")).await;
    let r = s
        .post(
            &w.path(&format!("/config-objects/{a}/versions")),
            t,
            json!({"input": {"rawSourceText": skill("res-a", "A", "v2")}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        s.post(
            &w.path(&format!("/config-objects/{b}/archive")),
            t,
            json!({})
        )
        .await
        .status,
        200
    );
    let other = bootstrap(&db.store, "globex", "owner@globex.test").await;
    let org = org_id(&w);
    let ids: Vec<ConfigObjectId> = [&c, &a, &b].iter().map(|i| i.parse().unwrap()).collect();
    let resolved = db.store.resolve_objects(org, &ids).await.unwrap();
    let names: Vec<&str> = resolved.iter().map(|r| r.object.name.as_str()).collect();
    assert_eq!(names, ["res-c", "res-a"], "input order, archived left out");
    assert_eq!(resolved[1].version.version_number, 2);
    assert!(resolved[1].version.files[0].content.contains("v2"));
    assert_eq!(resolved[1].object.latest_version_number, Some(2));
    // Another org resolves nothing of this one.
    let globex: OrgId = other.id.parse().unwrap();
    assert!(
        db.store
            .resolve_objects(globex, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(db.store.resolve_objects(org, &[]).await.unwrap().is_empty());
}

async fn rekey_covers_versions(db: &TestDb) {
    let w = world(db).await;
    let t = &w.org.owner_token;
    let id = create(
        &w,
        t,
        create_skill_body("rekeyed", "Survives rotation", "content"),
    )
    .await;
    let mut ring: KeyRing = db.store.keys();
    let new_key = ring.rotate();
    db.store.rekey(&ring, || false).await.unwrap();
    db.store.set_keys(ring);
    assert_eq!(db.store.values_not_under(new_key).await.unwrap(), 0);
    let latest = w
        .server
        .get(&w.path(&format!("/config-objects/{id}/versions/latest")), t)
        .await;
    assert_eq!(latest.status, 200, "{:?}", latest.body);
    assert!(
        latest.body["item"]["files"][0]["content"]
            .as_str()
            .unwrap()
            .contains("content")
    );
}
