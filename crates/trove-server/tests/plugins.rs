//! The plugin API against a real server on a loopback port, on SQLite and PostgreSQL: metadata and
//! validation, lifecycle, member objects and component counts, roles, paging, tenancy, resolution.

mod common;

use serde_json::{Value, json};
use trove_testkit::{TestDb, backend_tests, bootstrap};

use common::{World, insert_object, set_object_status, world};

backend_tests!(
    create_read_update_and_validate,
    lifecycle_transitions,
    member_objects_and_component_counts,
    roles_are_enforced,
    lists_filter_and_page,
    other_orgs_are_invisible,
    resolved_has_latest_versions_of_active_members,
);

/// Creates a plugin as `token` and returns its id.
async fn plugin(w: &World, token: &str, name: &str) -> String {
    let r = w
        .server
        .post(&w.path("/plugins"), token, json!({"name": name}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["item"]["id"].as_str().unwrap().to_string()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["id"]
                .as_str()
                .or(i["configObjectId"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn create_read_update_and_validate(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let r = s
        .post(
            &w.path("/plugins"),
            t,
            json!({
                "name": " code-review ", "version": "1.2.0", "description": "Reviews code",
                "author": {"name": "Ada", "email": "ADA@example.com", "url": "https://ada.dev"},
                "homepage": "https://example.com/cr", "repository": "https://github.com/acme/cr",
                "license": "MIT", "keywords": ["review", " review ", "lint"], "category": "quality",
                "tags": ["ci"]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["ok"], true);
    let p = &r.body["item"];
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("plg_"));
    assert_eq!(p["name"], "code-review");
    assert_eq!(p["author"]["email"], "ada@example.com");
    assert_eq!(p["keywords"], json!(["review", "lint"]));
    assert_eq!(p["status"], "active");
    assert_eq!(p["componentCount"], 0);
    assert_eq!(p["componentCounts"]["skill"], 0);
    assert_eq!(p["componentCounts"]["output_style"], 0);
    assert!(p["sourceKey"].is_null());
    assert!(p["createdAt"].as_str().unwrap().ends_with('Z'));

    // The creator is a manager through an explicit member grant.
    let access = s.get(&w.path(&format!("/plugins/{id}/access")), t).await;
    assert_eq!(access.status, 200);
    assert_eq!(access.body["items"][0]["role"], "manager");
    assert_eq!(access.body["items"][0]["granteeType"], "member");

    let got = s.get(&w.path(&format!("/plugins/{id}")), t).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["item"]["homepage"], "https://example.com/cr");

    // Patch: set some fields, clear others, leave the rest.
    let r = s
        .patch(
            &w.path(&format!("/plugins/{id}")),
            t,
            json!({"description": "Better reviews", "version": null, "homepage": null, "tags": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let p = &r.body["item"];
    assert_eq!(p["description"], "Better reviews");
    assert!(p["version"].is_null());
    assert!(p["homepage"].is_null());
    assert_eq!(p["tags"], json!([]));
    assert_eq!(p["license"], "MIT");
    assert_eq!(p["name"], "code-review");

    // Identity is the id: a second plugin may share the name.
    let twin = plugin(&w, t, "code-review").await;
    assert_ne!(twin, id);

    for (body, field) in [
        (json!({"name": "a/b"}), "name"),
        (json!({"name": "Has Space"}), "name"),
        (json!({"name": "claude-helper"}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "ok", "homepage": "ftp://x"}), "homepage"),
        (
            json!({"name": "ok", "repository": "https://u:p@github.com/x"}),
            "repository",
        ),
        (json!({"name": "ok", "version": "1 2"}), "version"),
        (
            json!({"name": "ok", "author": {"name": " "}}),
            "author.name",
        ),
        (
            json!({"name": "ok", "author": {"name": "x", "email": "nope"}}),
            "author.email",
        ),
        (json!({"name": "ok", "keywords": vec!["k"; 51]}), "keywords"),
        (
            json!({"name": "ok", "description": "x".repeat(5000)}),
            "description",
        ),
    ] {
        let r = s.post(&w.path("/plugins"), t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.body["field"], field, "{body}: {:?}", r.body);
    }
    let r = s
        .post(&w.path("/plugins"), t, json!({"name": "ok", "extra": 1}))
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .patch(
            &w.path(&format!("/plugins/{id}")),
            t,
            json!({"name": "../x"}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Ids that do not parse, or of the wrong kind, are 404.
    for bad in ["nope", "mkt_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"] {
        let r = s.get(&w.path(&format!("/plugins/{bad}")), t).await;
        assert_eq!(r.status, 404, "{bad}");
    }
    let r = s
        .get(&w.path("/plugins/plg_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"), t)
        .await;
    assert_eq!(r.status, 404);
}

async fn lifecycle_transitions(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = plugin(&w, t, "cycle").await;
    let at = |rest: &str| w.path(&format!("/plugins/{id}{rest}"));

    let r = s.post(&at("/archive"), t, json!({})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["item"]["status"], "archived");
    assert!(r.body["item"]["deletedAt"].is_null());
    // Repeating a transition is harmless.
    let r = s.post(&at("/archive"), t, json!({})).await;
    assert_eq!(r.status, 200);

    let active = s.get(&w.path("/plugins"), t).await;
    assert!(ids(&active.body).is_empty());
    let archived = s.get(&w.path("/plugins?status=archived"), t).await;
    assert_eq!(ids(&archived.body), [id.as_str()]);

    let r = s.delete(&at(""), t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["item"]["status"], "deleted");
    assert!(r.body["item"]["deletedAt"].is_string());
    let deleted = s.get(&w.path("/plugins?status=deleted"), t).await;
    assert_eq!(ids(&deleted.body), [id.as_str()]);
    // Still readable by id, so it can be restored.
    assert_eq!(s.get(&at(""), t).await.status, 200);

    let r = s.post(&at("/archive"), t, json!({})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "invalid_transition");
    let r = s.patch(&at(""), t, json!({"description": "x"})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "resource_deleted");

    let r = s.post(&at("/restore"), t, json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["item"]["status"], "active");
    assert!(r.body["item"]["deletedAt"].is_null());
    assert_eq!(
        ids(&s.get(&w.path("/plugins"), t).await.body),
        [id.as_str()]
    );

    // Every transition is audited.
    let audit = s.get(&w.path("/audit"), t).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "plugin.create",
        "plugin.archive",
        "plugin.delete",
        "plugin.restore",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

async fn member_objects_and_component_counts(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = plugin(&w, t, "bundle").await;
    let empty = plugin(&w, t, "empty").await;
    let skill_a = insert_object(db, &w.org.id, "skill", "a").await;
    let skill_b = insert_object(db, &w.org.id, "skill", "b").await;
    let agent = insert_object(db, &w.org.id, "agent", "c").await;
    let mcp = insert_object(db, &w.org.id, "mcp", "d").await;
    let members = w.path(&format!("/plugins/{id}/config-objects"));

    for o in [&skill_a, &skill_b, &agent, &mcp] {
        let r = s.post(&members, t, json!({"configObjectId": o})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["item"]["configObjectId"], o.as_str());
    }
    // Adding again changes nothing.
    let r = s
        .post(&members, t, json!({"configObjectId": skill_a}))
        .await;
    assert_eq!(r.status, 200);

    let listed = s.get(&members, t).await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        ids(&listed.body),
        [skill_a.clone(), skill_b.clone(), agent.clone(), mcp.clone()]
    );
    assert_eq!(listed.body["items"][2]["type"], "agent");

    let counts = |body: &Value, at: usize| body["items"][at].clone();
    let list = s.get(&w.path("/plugins"), t).await;
    let first = counts(&list.body, 0);
    assert_eq!(first["id"], id.as_str());
    assert_eq!(first["componentCount"], 4);
    assert_eq!(first["componentCounts"]["skill"], 2);
    assert_eq!(first["componentCounts"]["agent"], 1);
    assert_eq!(first["componentCounts"]["mcp"], 1);
    assert_eq!(first["componentCounts"]["hook"], 0);
    let second = counts(&list.body, 1);
    assert_eq!(second["id"], empty.as_str());
    assert_eq!(second["componentCount"], 0);

    // Only active objects count; removed memberships do not.
    set_object_status(db, &skill_b, "archived").await;
    let r = s
        .delete(&w.path(&format!("/plugins/{id}/config-objects/{mcp}")), t)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s
        .delete(&w.path(&format!("/plugins/{id}/config-objects/{mcp}")), t)
        .await;
    assert_eq!(r.status, 404);
    let got = s.get(&w.path(&format!("/plugins/{id}")), t).await;
    assert_eq!(got.body["item"]["componentCount"], 2);
    assert_eq!(got.body["item"]["componentCounts"]["skill"], 1);
    assert_eq!(got.body["item"]["componentCounts"]["mcp"], 0);

    // History: removed memberships on request, re-adding makes a new one.
    let r = s.post(&members, t, json!({"configObjectId": mcp})).await;
    assert_eq!(r.status, 201);
    let history = s.get(&format!("{members}?includeRemoved=true"), t).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 5);
    assert!(history.body["items"][3]["removedAt"].is_string());
    assert_eq!(ids(&s.get(&members, t).await.body).len(), 4);

    // Paging by membership.
    let page = s.get(&format!("{members}?limit=3"), t).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let rest = s
        .get(&format!("{members}?limit=3&cursor={cursor}"), t)
        .await;
    assert_eq!(ids(&rest.body), [mcp.as_str()]);
    assert!(rest.body["nextCursor"].is_null());

    // A deleted object cannot join; an unknown one is 404.
    let gone = insert_object(db, &w.org.id, "command", "gone").await;
    set_object_status(db, &gone, "deleted").await;
    let r = s.post(&members, t, json!({"configObjectId": gone})).await;
    assert_eq!(r.status, 409);
    let r = s
        .post(
            &members,
            t,
            json!({"configObjectId": "cob_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s.post(&members, t, json!({"configObjectId": "x"})).await;
    assert_eq!(r.status, 400);
}

async fn roles_are_enforced(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let owner = &w.org.owner_token;
    let (ann_mem, ann) = w.member(db, "ann@acme.test", "member").await;
    let (bob_mem, bob) = w.member(db, "bob@acme.test", "member").await;

    // Any member may create; the creator manages it and others cannot see it.
    let id = plugin(&w, &ann, "anns").await;
    let at = |rest: &str| w.path(&format!("/plugins/{id}{rest}"));
    let r = s.get(&at(""), &bob).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");
    assert!(ids(&s.get(&w.path("/plugins"), &bob).await.body).is_empty());
    assert_eq!(
        ids(&s.get(&w.path("/plugins"), &ann).await.body),
        [id.as_str()]
    );
    // Admins see everything.
    assert_eq!(
        ids(&s.get(&w.path("/plugins"), owner).await.body),
        [id.as_str()]
    );

    // Viewer: read only.
    let r = s
        .post(
            &at("/access"),
            &ann,
            json!({"orgMembershipId": bob_mem, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let grant = r.body["item"]["id"].as_str().unwrap().to_string();
    assert_eq!(s.get(&at(""), &bob).await.status, 200);
    assert_eq!(s.get(&at("/config-objects"), &bob).await.status, 200);
    assert_eq!(s.get(&at("/resolved"), &bob).await.status, 200);
    let r = s.patch(&at(""), &bob, json!({"description": "x"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");

    // Editor: may change and add objects it can view, but not manage.
    let r = s
        .post(
            &at("/access"),
            &ann,
            json!({"orgMembershipId": bob_mem, "role": "editor"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["item"]["id"],
        grant.as_str(),
        "one grant per grantee"
    );
    let r = s.patch(&at(""), &bob, json!({"description": "x"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.post(&at("/archive"), &bob, json!({})).await.status, 403);
    assert_eq!(s.delete(&at(""), &bob).await.status, 403);
    assert_eq!(s.get(&at("/access"), &bob).await.status, 403);

    let hidden = insert_object(db, &w.org.id, "skill", "hidden").await;
    let r = s
        .post(
            &at("/config-objects"),
            &bob,
            json!({"configObjectId": hidden}),
        )
        .await;
    assert_eq!(r.status, 403, "viewer on the object is needed");
    // Once the object is in a plugin bob can view, bob can view it, so may add it elsewhere.
    let r = s
        .post(
            &at("/config-objects"),
            owner,
            json!({"configObjectId": hidden}),
        )
        .await;
    assert_eq!(r.status, 201);
    let bobs = plugin(&w, &bob, "bobs").await;
    let r = s
        .post(
            &w.path(&format!("/plugins/{bobs}/config-objects")),
            &bob,
            json!({"configObjectId": hidden}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Org-wide grants need an org admin, even for a plugin's manager.
    let r = s
        .post(
            &at("/access"),
            &ann,
            json!({"orgWide": true, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_org_capability");
    let r = s
        .post(
            &at("/access"),
            owner,
            json!({"orgWide": true, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201);

    // Revoking bob's grant leaves the org-wide viewer role.
    let r = s.delete(&at(&format!("/access/{grant}")), &ann).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        s.delete(&at(&format!("/access/{grant}")), &ann)
            .await
            .status,
        404
    );
    assert_eq!(s.get(&at(""), &bob).await.status, 200);
    assert_eq!(
        s.patch(&at(""), &bob, json!({"description": "y"}))
            .await
            .status,
        403
    );
    let _ = ann_mem;
}

async fn lists_filter_and_page(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let mut made = Vec::new();
    for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        made.push(plugin(&w, t, name).await);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = s
            .get(&w.path(&format!("/plugins?limit=2&cursor={cursor}")), t)
            .await;
        assert_eq!(r.status, 200);
        seen.extend(ids(&r.body));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, made);

    let r = s.get(&w.path("/plugins?q=ALP"), t).await;
    assert_eq!(ids(&r.body), [made[0].clone()]);
    let r = s.get(&w.path("/plugins?q=%25"), t).await;
    assert!(ids(&r.body).is_empty(), "wildcards are literal");

    for bad in [
        "limit=0",
        "limit=201",
        "cursor=nope",
        "status=gone",
        "other=1",
    ] {
        let r = s.get(&w.path(&format!("/plugins?{bad}")), t).await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

async fn other_orgs_are_invisible(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let other = bootstrap(&db.store, "globex", "owner@globex.test").await;
    let theirs = {
        let r = s
            .post(
                "/v1/orgs/globex/plugins",
                &other.owner_token,
                json!({"name": "x"}),
            )
            .await;
        assert_eq!(r.status, 201);
        r.body["item"]["id"].as_str().unwrap().to_string()
    };
    let their_object = insert_object(db, &other.id, "skill", "theirs").await;
    let ours = plugin(&w, t, "ours").await;

    assert_eq!(
        s.get(&w.path(&format!("/plugins/{theirs}")), t)
            .await
            .status,
        404
    );
    assert_eq!(
        s.patch(
            &w.path(&format!("/plugins/{theirs}")),
            t,
            json!({"name": "y"})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        s.get(&w.path(&format!("/plugins/{theirs}/access")), t)
            .await
            .status,
        404
    );
    let r = s
        .post(
            &w.path(&format!("/plugins/{ours}/config-objects")),
            t,
            json!({"configObjectId": their_object}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(ids(&s.get(&w.path("/plugins"), t).await.body), [ours]);
    // Nor through the other org's path.
    assert_eq!(
        s.get(&format!("/v1/orgs/globex/plugins/{theirs}"), t)
            .await
            .status,
        404
    );
}

async fn resolved_has_latest_versions_of_active_members(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = plugin(&w, t, "resolved").await;
    let mut objects = Vec::new();
    for name in ["deploy", "release", "rollback"] {
        let r = s
            .post(
                &w.path("/config-objects"),
                t,
                json!({
                    "type": "command",
                    "pluginIds": [id],
                    "input": {
                        "rawSourceText": format!("---\ndescription: {name} things\n---\nDo {name}.\n"),
                        "path": format!("commands/{name}.md")
                    }
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        objects.push(r.body["item"]["id"].as_str().unwrap().to_string());
    }
    // A second version of the first one.
    let r = s
        .post(
            &w.path(&format!("/config-objects/{}/versions", objects[0])),
            t,
            json!({"input": {"rawSourceText": "---\ndescription: deploy v2\n---\nDo it twice.\n", "path": "commands/deploy.md"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    set_object_status(db, &objects[2], "archived").await;

    let r = s.get(&w.path(&format!("/plugins/{id}/resolved")), t).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let item = &r.body["item"];
    assert_eq!(item["plugin"]["id"], id.as_str());
    assert_eq!(item["plugin"]["componentCounts"]["command"], 2);
    let resolved = item["objects"].as_array().unwrap();
    assert_eq!(resolved.len(), 2, "{resolved:?}");
    assert_eq!(resolved[0]["object"]["id"], objects[0].as_str());
    assert_eq!(resolved[1]["object"]["id"], objects[1].as_str());
    assert!(
        resolved[0]["version"].to_string().contains("twice"),
        "{}",
        resolved[0]["version"]
    );
}
