//! The marketplace API against a real server on a loopback port, on SQLite and PostgreSQL: metadata
//! and validation, lifecycle, ordered plugins (add, remove, reorder, paging), plugin counts, resolution,
//! roles, view inheritance through active marketplaces only, and tenancy.

mod common;

use serde_json::{Value, json};
use trove_testkit::{TestDb, backend_tests, bootstrap};

use common::{World, insert_object, world};

backend_tests!(
    create_read_update_and_validate,
    lifecycle_transitions,
    ordered_plugins_add_remove_reorder,
    counts_and_resolved,
    roles_are_enforced,
    view_inherits_through_active_marketplaces_only,
    other_orgs_are_invisible,
);

async fn create(w: &World, token: &str, kind: &str, name: &str) -> String {
    let r = w
        .server
        .post(&w.path(&format!("/{kind}")), token, json!({"name": name}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["item"]["id"].as_str().unwrap().to_string()
}

/// The plugin ids of a marketplace plugin list (or of a resolved marketplace's `plugins`).
fn plugin_ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.get("plugin").unwrap_or(i)["id"]
                .as_str()
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
            &w.path("/marketplaces"),
            t,
            json!({"name": "acme-tools", "description": "Our tools",
                   "owner": {"name": "Platform", "email": "platform@acme.test", "url": "https://acme.test"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let m = &r.body["item"];
    let id = m["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("mkt_"));
    assert_eq!(m["owner"]["name"], "Platform");
    assert_eq!(m["pluginCount"], 0);
    assert_eq!(m["status"], "active");
    let access = s
        .get(&w.path(&format!("/marketplaces/{id}/access")), t)
        .await;
    assert_eq!(access.body["items"][0]["role"], "manager");

    let r = s
        .patch(
            &w.path(&format!("/marketplaces/{id}")),
            t,
            json!({"description": "All our tools", "owner": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["item"]["description"], "All our tools");
    assert!(r.body["item"]["owner"].is_null());
    assert_eq!(r.body["item"]["name"], "acme-tools");
    let got = s.get(&w.path(&format!("/marketplaces/{id}")), t).await;
    assert_eq!(got.body["item"]["description"], "All our tools");

    for (body, field) in [
        (json!({"name": "claude-plugins-official"}), "name"),
        (json!({"name": "two words"}), "name"),
        (json!({"name": "ok", "owner": {"name": ""}}), "owner.name"),
        (
            json!({"name": "ok", "owner": {"name": "x", "url": "file:///etc"}}),
            "owner.url",
        ),
    ] {
        let r = s.post(&w.path("/marketplaces"), t, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert_eq!(r.body["field"], field, "{body}");
    }
    assert_eq!(
        s.get(
            &w.path("/marketplaces/plg_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"),
            t
        )
        .await
        .status,
        404
    );
}

async fn lifecycle_transitions(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let id = create(&w, t, "marketplaces", "cycle").await;
    let at = |rest: &str| w.path(&format!("/marketplaces/{id}{rest}"));
    let listed = |status: &'static str| {
        let path = w.path(&format!("/marketplaces?status={status}"));
        async move { plugin_ids(&s.get(&path, t).await.body["items"]) }
    };

    let r = s.post(&at("/archive"), t, json!({})).await;
    assert_eq!(r.body["item"]["status"], "archived");
    assert!(listed("active").await.is_empty());
    assert_eq!(listed("archived").await, [id.as_str()]);
    let r = s.delete(&at(""), t).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["item"]["status"], "deleted");
    assert_eq!(listed("deleted").await, [id.as_str()]);
    assert_eq!(s.post(&at("/archive"), t, json!({})).await.status, 409);
    let p = create(&w, t, "plugins", "p").await;
    let r = s.post(&at("/plugins"), t, json!({"pluginId": p})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "resource_deleted");
    let r = s.post(&at("/restore"), t, json!({})).await;
    assert_eq!(r.body["item"]["status"], "active");
    assert!(r.body["item"]["deletedAt"].is_null());
    assert_eq!(listed("active").await, [id.as_str()]);
}

async fn ordered_plugins_add_remove_reorder(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let m = create(&w, t, "marketplaces", "ordered").await;
    let plugins = w.path(&format!("/marketplaces/{m}/plugins"));
    let order = w.path(&format!("/marketplaces/{m}/order"));
    let mut ps = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ps.push(create(&w, t, "plugins", name).await);
    }
    for (i, p) in ps.iter().enumerate() {
        let r = s.post(&plugins, t, json!({"pluginId": p})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert_eq!(r.body["item"]["position"], i);
        assert_eq!(r.body["item"]["plugin"]["id"], p.as_str());
    }
    let r = s.post(&plugins, t, json!({"pluginId": ps[0]})).await;
    assert_eq!(r.status, 200, "adding again changes nothing");
    assert_eq!(r.body["item"]["position"], 0);
    assert_eq!(plugin_ids(&s.get(&plugins, t).await.body["items"]), ps);

    // Reorder: every listed plugin exactly once.
    let wanted = vec![ps[2].clone(), ps[0].clone(), ps[3].clone(), ps[1].clone()];
    let r = s
        .call(
            reqwest::Method::PUT,
            &order,
            Some(t),
            Some(json!({"pluginIds": wanted})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let listed = s.get(&plugins, t).await;
    assert_eq!(plugin_ids(&listed.body["items"]), wanted);
    assert_eq!(listed.body["items"][3]["position"], 3);
    for bad in [
        json!({"pluginIds": [ps[0], ps[1], ps[2]]}),
        json!({"pluginIds": [ps[0], ps[0], ps[1], ps[2], ps[3]]}),
        json!({"pluginIds": [ps[0], ps[1], ps[2], "plg_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"]}),
        json!({"pluginIds": "nope"}),
    ] {
        let r = s
            .call(reqwest::Method::PUT, &order, Some(t), Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }
    assert_eq!(
        plugin_ids(&s.get(&plugins, t).await.body["items"]),
        wanted,
        "a refused reorder changes nothing"
    );

    // Paging follows the order.
    let first = s.get(&format!("{plugins}?limit=3"), t).await;
    assert_eq!(plugin_ids(&first.body["items"]), wanted[..3]);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let rest = s
        .get(&format!("{plugins}?limit=3&cursor={cursor}"), t)
        .await;
    assert_eq!(plugin_ids(&rest.body["items"]), wanted[3..]);
    assert!(rest.body["nextCursor"].is_null());

    // Remove keeps the others' order; re-adding appends.
    let r = s.delete(&format!("{plugins}/{}", ps[0]), t).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        s.delete(&format!("{plugins}/{}", ps[0]), t).await.status,
        404
    );
    assert_eq!(
        plugin_ids(&s.get(&plugins, t).await.body["items"]),
        [ps[2].as_str(), ps[3].as_str(), ps[1].as_str()]
    );
    let r = s.post(&plugins, t, json!({"pluginId": ps[0]})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        plugin_ids(&s.get(&plugins, t).await.body["items"]),
        [
            ps[2].as_str(),
            ps[3].as_str(),
            ps[1].as_str(),
            ps[0].as_str()
        ]
    );
    let history = s.get(&format!("{plugins}?includeRemoved=true"), t).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 5);

    // A deleted plugin cannot join; an unknown one is 404.
    let gone = create(&w, t, "plugins", "gone").await;
    s.delete(&w.path(&format!("/plugins/{gone}")), t).await;
    assert_eq!(
        s.post(&plugins, t, json!({"pluginId": gone})).await.status,
        409
    );
    let r = s
        .post(
            &plugins,
            t,
            json!({"pluginId": "plg_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"}),
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn counts_and_resolved(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let m = create(&w, t, "marketplaces", "counted").await;
    let empty = create(&w, t, "marketplaces", "empty").await;
    let mut ps = Vec::new();
    for (name, objects) in [("one", 1), ("two", 2), ("three", 3)] {
        let p = create(&w, t, "plugins", name).await;
        for i in 0..objects {
            let kind = if i == 0 { "skill" } else { "hook" };
            let o = insert_object(db, &w.org.id, kind, &format!("{name}-{i}")).await;
            let r = s
                .post(
                    &w.path(&format!("/plugins/{p}/config-objects")),
                    t,
                    json!({"configObjectId": o}),
                )
                .await;
            assert_eq!(r.status, 201);
        }
        let r = s
            .post(
                &w.path(&format!("/marketplaces/{m}/plugins")),
                t,
                json!({"pluginId": p}),
            )
            .await;
        assert_eq!(r.status, 201);
        ps.push(p);
    }
    let list = s.get(&w.path("/marketplaces"), t).await;
    assert_eq!(
        plugin_ids(&list.body["items"]),
        [m.as_str(), empty.as_str()]
    );
    assert_eq!(list.body["items"][0]["pluginCount"], 3);
    assert_eq!(list.body["items"][1]["pluginCount"], 0);

    let members = s
        .get(&w.path(&format!("/marketplaces/{m}/plugins")), t)
        .await;
    assert_eq!(members.body["items"][2]["plugin"]["componentCount"], 3);
    assert_eq!(
        members.body["items"][2]["plugin"]["componentCounts"]["hook"],
        2
    );

    // Archived plugins are neither counted nor resolved, but still listed as members.
    let r = s
        .post(
            &w.path(&format!("/plugins/{}/archive", ps[1])),
            t,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    let got = s.get(&w.path(&format!("/marketplaces/{m}")), t).await;
    assert_eq!(got.body["item"]["pluginCount"], 2);
    let resolved = s
        .get(&w.path(&format!("/marketplaces/{m}/resolved")), t)
        .await;
    assert_eq!(resolved.status, 200, "{:?}", resolved.body);
    let item = &resolved.body["item"];
    assert_eq!(item["marketplace"]["id"], m.as_str());
    assert_eq!(
        plugin_ids(&item["plugins"]),
        [ps[0].as_str(), ps[2].as_str()]
    );
    assert_eq!(item["plugins"][1]["componentCounts"]["skill"], 1);
    assert_eq!(item["plugins"][1]["componentCounts"]["hook"], 2);
    assert!(item["source"].is_null(), "hand-made: no source");
    let members = s
        .get(&w.path(&format!("/marketplaces/{m}/plugins")), t)
        .await;
    assert_eq!(members.body["items"].as_array().unwrap().len(), 3);

    let r = s
        .get(&w.path(&format!("/marketplaces/{empty}/resolved")), t)
        .await;
    assert_eq!(r.body["item"]["plugins"], json!([]));
}

async fn roles_are_enforced(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let owner = &w.org.owner_token;
    let (_, ann) = w.member(db, "ann@acme.test", "member").await;
    let (bob_mem, bob) = w.member(db, "bob@acme.test", "member").await;
    let m = create(&w, &ann, "marketplaces", "anns").await;
    let at = |rest: &str| w.path(&format!("/marketplaces/{m}{rest}"));
    let p = create(&w, owner, "plugins", "owners").await;

    assert_eq!(s.get(&at(""), &bob).await.status, 403);
    assert!(plugin_ids(&s.get(&w.path("/marketplaces"), &bob).await.body["items"]).is_empty());
    assert_eq!(
        grant_bob(&w, &at(""), &ann, &bob_mem, "viewer")
            .await
            .status,
        201
    );
    assert_eq!(s.get(&at(""), &bob).await.status, 200);
    assert_eq!(s.get(&at("/resolved"), &bob).await.status, 200);
    assert_eq!(s.get(&at("/plugins"), &bob).await.status, 200);
    let r = s.patch(&at(""), &bob, json!({"description": "x"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");

    assert_eq!(
        grant_bob(&w, &at(""), &ann, &bob_mem, "editor")
            .await
            .status,
        201
    );
    assert_eq!(
        s.patch(&at(""), &bob, json!({"description": "x"}))
            .await
            .status,
        200
    );
    // Editor on the marketplace but no view of the plugin: refused; ann cannot see it either.
    let r = s.post(&at("/plugins"), &bob, json!({"pluginId": p})).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "missing_resource_access");
    let bobs = create(&w, &bob, "plugins", "bobs").await;
    let r = s
        .post(&at("/plugins"), &bob, json!({"pluginId": bobs}))
        .await;
    assert_eq!(r.status, 201);
    let r = s
        .call(
            reqwest::Method::PUT,
            &at("/order"),
            Some(&bob),
            Some(json!({"pluginIds": [bobs]})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.post(&at("/archive"), &bob, json!({})).await.status, 403);
    assert_eq!(s.get(&at("/access"), &bob).await.status, 403);
    let r = s
        .post(
            &at("/access"),
            &ann,
            json!({"orgWide": true, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.error(), "missing_org_capability");
    assert_eq!(s.post(&at("/archive"), &ann, json!({})).await.status, 200);
}

async fn view_inherits_through_active_marketplaces_only(db: &TestDb) {
    let w = world(db).await;
    let s = &w.server;
    let owner = &w.org.owner_token;
    let (bob_mem, bob) = w.member(db, "bob@acme.test", "member").await;
    let m = create(&w, owner, "marketplaces", "shared").await;
    let p = create(&w, owner, "plugins", "inside").await;
    let outside = create(&w, owner, "plugins", "outside").await;
    let r = s
        .post(
            &w.path("/config-objects"),
            owner,
            json!({"type": "command", "pluginIds": [p],
                   "input": {"rawSourceText": "---\ndescription: Ship it\n---\nShip.\n", "path": "commands/ship.md"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let object = r.body["item"]["id"].as_str().unwrap().to_string();
    s.post(
        &w.path(&format!("/marketplaces/{m}/plugins")),
        owner,
        json!({"pluginId": p}),
    )
    .await;
    let r = s
        .post(
            &w.path(&format!("/marketplaces/{m}/access")),
            owner,
            json!({"orgMembershipId": bob_mem, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201);

    let plugin = w.path(&format!("/plugins/{p}"));
    let obj = w.path(&format!("/config-objects/{object}"));
    sees(&w, &bob, &p, &object, true).await;
    // Viewing never becomes editing.
    let r = s.patch(&plugin, &bob, json!({"description": "x"})).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        s.get(&w.path(&format!("/plugins/{outside}")), &bob)
            .await
            .status,
        403
    );

    // An archived marketplace lends nothing; restoring it lends again.
    let mk = |action: &'static str| {
        let path = w.path(&format!("/marketplaces/{m}/{action}"));
        async move { assert_eq!(s.post(&path, owner, json!({})).await.status, 200) }
    };
    mk("archive").await;
    sees(&w, &bob, &p, &object, false).await;
    // The marketplace itself stays visible to its direct viewer, its archived contents filtered.
    let r = s
        .get(&w.path(&format!("/marketplaces/{m}/resolved")), &bob)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["item"]["plugins"], json!([]));
    mk("restore").await;
    sees(&w, &bob, &p, &object, true).await;

    // An archived plugin lends nothing to its objects, even to its direct viewers.
    s.post(
        &w.path(&format!("/plugins/{p}/access")),
        owner,
        json!({"orgMembershipId": bob_mem, "role": "viewer"}),
    )
    .await;
    s.post(&format!("{plugin}/archive"), owner, json!({})).await;
    assert_eq!(s.get(&plugin, &bob).await.status, 200);
    assert_eq!(s.get(&obj, &bob).await.status, 403);
    let r = s.get(&format!("{plugin}/config-objects"), &bob).await;
    assert_eq!(r.body["items"], json!([]), "listing hides what GET refuses");
    // Removed from the marketplace: no longer lent either.
    s.post(&format!("{plugin}/restore"), owner, json!({})).await;
    let r = s.get(&w.path(&format!("/plugins/{p}/access")), owner).await;
    let direct = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["orgMembershipId"] == bob_mem.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.delete(&w.path(&format!("/plugins/{p}/access/{direct}")), owner)
        .await;
    sees(&w, &bob, &p, &object, true).await;
    s.delete(&w.path(&format!("/marketplaces/{m}/plugins/{p}")), owner)
        .await;
    sees(&w, &bob, &p, &object, false).await;
}

async fn other_orgs_are_invisible(db: &TestDb) {
    let w = world(db).await;
    let (s, t) = (&w.server, &w.org.owner_token);
    let other = bootstrap(&db.store, "globex", "owner@globex.test").await;
    let r = s
        .post(
            "/v1/orgs/globex/marketplaces",
            &other.owner_token,
            json!({"name": "theirs"}),
        )
        .await;
    let theirs = r.body["item"]["id"].as_str().unwrap().to_string();
    let r = s
        .post(
            "/v1/orgs/globex/plugins",
            &other.owner_token,
            json!({"name": "their-plugin"}),
        )
        .await;
    let their_plugin = r.body["item"]["id"].as_str().unwrap().to_string();
    let ours = create(&w, t, "marketplaces", "ours").await;
    for path in [
        format!("/marketplaces/{theirs}"),
        format!("/marketplaces/{theirs}/plugins"),
        format!("/marketplaces/{theirs}/resolved"),
        format!("/marketplaces/{theirs}/access"),
    ] {
        assert_eq!(s.get(&w.path(&path), t).await.status, 404, "{path}");
    }
    let r = s
        .post(
            &w.path(&format!("/marketplaces/{ours}/plugins")),
            t,
            json!({"pluginId": their_plugin}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        plugin_ids(&s.get(&w.path("/marketplaces"), t).await.body["items"]),
        [ours.as_str()]
    );
}

/// Grants `role` on the resource at `resource` to the member `membership`, as `token`.
async fn grant_bob(
    w: &World,
    resource: &str,
    token: &str,
    membership: &str,
    role: &str,
) -> trove_testkit::Reply {
    w.server
        .post(
            &format!("{resource}/access"),
            token,
            json!({"orgMembershipId": membership, "role": role}),
        )
        .await
}

/// Checks whether `bob` sees plugin `p` and its object: by id, in the list, its members and resolution.
async fn sees(w: &World, bob: &str, p: &str, object: &str, yes: bool) {
    let s = &w.server;
    let plugin = w.path(&format!("/plugins/{p}"));
    let want = if yes { 200 } else { 403 };
    assert_eq!(s.get(&plugin, bob).await.status, want, "plugin");
    let obj = w.path(&format!("/config-objects/{object}"));
    assert_eq!(s.get(&obj, bob).await.status, want, "object");
    let listed = plugin_ids(&s.get(&w.path("/plugins"), bob).await.body["items"]);
    assert_eq!(listed.iter().any(|i| i == p), yes, "plugin list {listed:?}");
    if yes {
        let r = s.get(&format!("{plugin}/config-objects"), bob).await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
        let r = s.get(&format!("{plugin}/resolved"), bob).await;
        assert_eq!(r.body["item"]["objects"].as_array().unwrap().len(), 1);
    }
}
