//! Registry read paths through a real server on loopback, on SQLite (a temp file) and on PostgreSQL
//! (when `TROVE_TEST_POSTGRES_URL` is set).
//!
//! 1. Throughput of `GET /v1/orgs/{org}/marketplaces/{id}/resolved` for a marketplace of 100 plugins
//!    × 20 objects, against `GET /healthz` on the same server (the cost of HTTP + auth-free routing),
//!    as the org owner and as a member who sees the plugins only through a marketplace grant.
//! 2. Keyset paging: the latency of page 1,000 against page 1 of 100,000 rows (100 per page), for the
//!    config object list (`/config-objects?limit=100&cursor=`) and the plugin list. A list that paged
//!    in memory or with OFFSET would grow with the page number; the target ratio is ≤ 1.5.
//!
//! Rows are seeded with bulk INSERTs through `store.db`, not through the API, then `ANALYZE`d, as
//! autovacuum would do shortly after such a load (a planner that believes the tables empty measures
//! the bulk load, not the API). Absolute numbers depend on the machine; the ratios are measured in the
//! same run against the same server.
//!
//! Run: `cargo bench -p trove-server --bench registry`.

// The allocator the `trove` binary runs with, so the figures are those of what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use trove_core::time::now_ms;
use trove_core::{ConfigObjectId, MarketplaceId, OrgId, PluginId};
use trove_store::{Actor, Store, sql};
use trove_testkit::{TestDb, TestOrg, TestServer, bootstrap};
use uuid::Uuid;

/// How long each throughput measurement runs, and with how many concurrent clients.
const THROUGHPUT_FOR: Duration = Duration::from_secs(4);
const CLIENTS: usize = 8;
/// Page-latency samples per page (after a warm-up).
const SAMPLES: usize = 200;
const ROWS: usize = 100_000;
const PAGE: usize = 100;
/// Rows per INSERT statement (well under both engines' parameter limits).
const CHUNK: usize = 500;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let db = TestDb::sqlite().await;
        run(&db).await;
        db.finish().await;
        match TestDb::postgres().await {
            Some(db) => {
                run(&db).await;
                db.finish().await;
            }
            None => println!("postgres: skipped (set TROVE_TEST_POSTGRES_URL to include it)"),
        }
    });
}

async fn run(db: &TestDb) {
    let engine = db.engine();
    println!("== {engine}");
    let org = bootstrap(&db.store, "bench", "owner@bench.test").await;
    let server = Arc::new(TestServer::start(db.store.clone()).await);
    let org_id: OrgId = org.id.parse().expect("org id");

    // 1. Resolved marketplace vs /healthz.
    let started = Instant::now();
    let marketplace = seed_marketplace(&db.store, org_id, 100, 20).await;
    analyze(&db.store).await;
    let member = member_with_marketplace_grant(&db.store, &server, &org, marketplace).await;
    println!(
        "seeded a marketplace of 100 plugins x 20 objects in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let resolved = format!("/v1/orgs/bench/marketplaces/{marketplace}/resolved");
    let check = server.get(&resolved, &org.owner_token).await;
    assert_eq!(check.status, 200, "{:?}", check.body);
    assert_eq!(
        check.body["item"]["plugins"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(check.body["item"]["plugins"][0]["componentCount"], 20);
    let check = server.get(&resolved, &member).await;
    assert_eq!(
        check.body["item"]["plugins"].as_array().map(Vec::len),
        Some(100)
    );

    let (serial, _) = page_latency(&server, &org.owner_token, &resolved, &resolved).await;
    println!(
        "GET …/resolved one at a time: median {:.2} ms, p95 {:.2} ms",
        ms(serial.0),
        ms(serial.1)
    );
    let health = throughput(&server, "/healthz", None).await;
    let owner_rps = throughput(&server, &resolved, Some(&org.owner_token)).await;
    let member_rps = throughput(&server, &resolved, Some(&member)).await;
    println!("GET /healthz                         {health:>9.0} req/s");
    println!(
        "GET …/resolved (owner)               {owner_rps:>9.0} req/s  = {:.3} of /healthz ({:.1}x slower)",
        owner_rps / health,
        health / owner_rps
    );
    println!(
        "GET …/resolved (member via grant)    {member_rps:>9.0} req/s  = {:.3} of /healthz ({:.1}x slower)",
        member_rps / health,
        health / member_rps
    );

    // 2. Page 1,000 vs page 1 of 100,000 rows.
    let started = Instant::now();
    let objects = seed_objects(&db.store, org_id, ROWS).await;
    let plugins = seed_plugins(&db.store, org_id, ROWS).await;
    analyze(&db.store).await;
    println!(
        "seeded {ROWS} config objects and {ROWS} plugins in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let last_page = ROWS / PAGE;
    for (what, path, ids) in [
        ("config objects", "config-objects", &objects),
        ("plugins", "plugins", &plugins),
    ] {
        let base = format!("/v1/orgs/bench/{path}?limit={PAGE}&cursor=");
        let first = base.clone();
        // The cursor of page N is the id of the last row of page N-1.
        let last = format!("{base}{}", ids[(last_page - 1) * PAGE - 1]);
        let r = server.get(&last, &org.owner_token).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(PAGE));
        assert!(
            r.body["nextCursor"].is_null(),
            "page {last_page} is the last"
        );
        let (p1, pn) = page_latency(&server, &org.owner_token, &first, &last).await;
        println!(
            "{what:<15} page 1: median {:>7.2} ms p95 {:>7.2} ms | page {last_page}: median {:>7.2} ms p95 {:>7.2} ms | ratio {:.2} (target <= 1.5)",
            ms(p1.0),
            ms(p1.1),
            ms(pn.0),
            ms(pn.1),
            pn.0.as_secs_f64() / p1.0.as_secs_f64()
        );
    }
}

/// Refreshes the planner statistics after a bulk load.
async fn analyze(store: &Store) {
    store.db.execute(sql("ANALYZE")).await.expect("analyze");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Requests per second of `path` with [`CLIENTS`] concurrent clients for [`THROUGHPUT_FOR`].
async fn throughput(server: &Arc<TestServer>, path: &str, token: Option<&str>) -> f64 {
    // Warm-up.
    for _ in 0..20 {
        let r = server.call(reqwest::Method::GET, path, token, None).await;
        assert_eq!(r.status, 200);
    }
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + THROUGHPUT_FOR;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (server, done) = (server.clone(), done.clone());
        let url = format!("{}{path}", server.base);
        let token = token.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let mut req = server.client.get(&url);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.expect("request");
                assert!(res.status().is_success());
                res.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for t in tasks {
        t.await.expect("client task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// (median, p95) of each of two paths, sampled alternately so both see the same conditions.
async fn page_latency(
    server: &TestServer,
    token: &str,
    a: &str,
    b: &str,
) -> ((Duration, Duration), (Duration, Duration)) {
    let mut xs = Vec::with_capacity(SAMPLES);
    let mut ys = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 20 {
        for (path, out) in [(a, &mut xs), (b, &mut ys)] {
            let started = Instant::now();
            let r = server.get(path, token).await;
            let took = started.elapsed();
            assert_eq!(r.status, 200);
            if i >= 20 {
                out.push(took);
            }
        }
    }
    (stats(&mut xs), stats(&mut ys))
}

fn stats(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

/// Sorted new ids: UUIDv7 order is creation order, and the lists page by id.
fn new_ids(n: usize) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    ids
}

/// Inserts `rows` (each a list of values for `columns`) in chunks, in one transaction.
async fn bulk_insert(store: &Store, table: &str, columns: &str, rows: Vec<Vec<seed::V>>) {
    let width = columns.split(',').count();
    let mut tx = store.db.begin().await.expect("begin");
    for chunk in rows.chunks(CHUNK) {
        let mut q = sql("");
        let mut tuples = Vec::with_capacity(chunk.len());
        for row in chunk {
            assert_eq!(row.len(), width);
            let ps: Vec<String> = row.iter().map(|v| v.push(&mut q)).collect();
            tuples.push(format!("({})", ps.join(", ")));
        }
        q.push(&format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            tuples.join(", ")
        ));
        tx.execute(q).await.expect("bulk insert");
    }
    tx.commit().await.expect("commit");
}

/// Values of the seed rows.
mod seed {
    use trove_store::Sql;
    use uuid::Uuid;

    /// One value to bind.
    pub enum V {
        Id(Uuid),
        Text(String),
        Int(i64),
    }

    impl V {
        pub fn push(&self, q: &mut Sql) -> String {
            match self {
                V::Id(u) => q.push_arg(*u),
                V::Text(t) => q.push_arg(t.clone()),
                V::Int(i) => q.push_arg(*i),
            }
        }
    }
}

use seed::V;

async fn seed_objects(store: &Store, org: OrgId, n: usize) -> Vec<String> {
    let ids = new_ids(n);
    let now = now_ms();
    let types = ["skill", "agent", "command", "hook", "mcp"];
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let name = format!("object-{i}");
            vec![
                V::Id(*id),
                V::Id(org.uuid()),
                V::Text(types[i % types.len()].into()),
                V::Text("manual".into()),
                V::Text("active".into()),
                V::Text(name.clone()),
                V::Text(name.clone()),
                V::Text(String::new()),
                V::Text(name),
                V::Int(now),
                V::Int(now),
            ]
        })
        .collect();
    bulk_insert(
        store,
        "config_objects",
        "id, org_id, type, source_mode, status, name, title, description, search_text, created_at, updated_at",
        rows,
    )
    .await;
    ids.into_iter()
        .map(|u| ConfigObjectId::from(u).to_string())
        .collect()
}

async fn seed_plugins(store: &Store, org: OrgId, n: usize) -> Vec<String> {
    let ids = new_ids(n);
    let now = now_ms();
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            vec![
                V::Id(*id),
                V::Id(org.uuid()),
                V::Text(format!("plugin-{i}")),
                V::Text(String::new()),
                V::Text("{}".into()),
                V::Text("active".into()),
                V::Int(now),
                V::Int(now),
            ]
        })
        .collect();
    bulk_insert(
        store,
        "plugins",
        "id, org_id, name, description, metadata, status, created_at, updated_at",
        rows,
    )
    .await;
    ids.into_iter()
        .map(|u| PluginId::from(u).to_string())
        .collect()
}

/// A marketplace listing `plugins` plugins of `objects` objects each.
async fn seed_marketplace(
    store: &Store,
    org: OrgId,
    plugins: usize,
    objects: usize,
) -> MarketplaceId {
    let now = now_ms();
    let marketplace = MarketplaceId::new();
    bulk_insert(
        store,
        "marketplaces",
        "id, org_id, name, description, owner, status, created_at, updated_at",
        vec![vec![
            V::Id(marketplace.uuid()),
            V::Id(org.uuid()),
            V::Text("bench".into()),
            V::Text(String::new()),
            V::Text("null".into()),
            V::Text("active".into()),
            V::Int(now),
            V::Int(now),
        ]],
    )
    .await;
    let plugin_ids = seed_plugins(store, org, plugins).await;
    let object_ids = seed_objects(store, org, plugins * objects).await;
    let mut memberships = Vec::new();
    let mut listings = Vec::new();
    for (p, plugin) in plugin_ids.iter().enumerate() {
        let plugin: PluginId = plugin.parse().expect("plugin id");
        listings.push(vec![
            V::Id(Uuid::now_v7()),
            V::Id(org.uuid()),
            V::Id(marketplace.uuid()),
            V::Id(plugin.uuid()),
            V::Int(p as i64),
            V::Int(now),
        ]);
        for object in &object_ids[p * objects..(p + 1) * objects] {
            let object: ConfigObjectId = object.parse().expect("object id");
            memberships.push(vec![
                V::Id(Uuid::now_v7()),
                V::Id(org.uuid()),
                V::Id(plugin.uuid()),
                V::Id(object.uuid()),
                V::Int(now),
            ]);
        }
    }
    bulk_insert(
        store,
        "plugin_objects",
        "id, org_id, plugin_id, object_id, created_at",
        memberships,
    )
    .await;
    bulk_insert(
        store,
        "marketplace_plugins",
        "id, org_id, marketplace_id, plugin_id, position, created_at",
        listings,
    )
    .await;
    marketplace
}

/// A plain member with a viewer grant on the marketplace (through the API); returns their token.
async fn member_with_marketplace_grant(
    store: &Store,
    server: &TestServer,
    org: &TestOrg,
    marketplace: MarketplaceId,
) -> String {
    let r = server
        .post(
            "/v1/orgs/bench/members",
            &org.owner_token,
            json!({"email": "viewer@bench.test", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let membership = r.body["item"]["id"]
        .as_str()
        .expect("membership")
        .to_string();
    let user: trove_core::UserId = r.body["item"]["userId"]
        .as_str()
        .expect("user")
        .parse()
        .expect("user id");
    let r = server
        .post(
            &format!("/v1/orgs/bench/marketplaces/{marketplace}/access"),
            &org.owner_token,
            json!({"orgMembershipId": membership, "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let org_id: OrgId = org.id.parse().expect("org id");
    let (_, token) = store
        .create_token(org_id, user, "bench", None, Actor::default())
        .await
        .expect("token");
    token
}
