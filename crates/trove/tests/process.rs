//! Runs the real `trove` binary: bootstrap, SIGKILL durability, key rotation, and secrets at rest, on
//! SQLite and PostgreSQL.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trove_store::{Db, KeyRing, Store, sql};
use trove_testkit::{TestDb, TestServer, backend_tests};

backend_tests!(
    bootstrap_prints_exactly_org_user_token,
    killed_server_keeps_every_acknowledged_write,
    key_rotation_reencrypts_through_the_queue,
    database_holds_no_secret_in_clear,
);

/// The environment that points a `trove` process at the test's database.
struct Env {
    data_dir: std::path::PathBuf,
    database_url: Option<String>,
    keys: Option<String>,
}

fn env_for(db: &TestDb) -> Env {
    let data_dir = db.dir.path().join("data");
    match db.engine() {
        "sqlite" => Env {
            data_dir,
            database_url: None,
            keys: None,
        },
        _ => Env {
            data_dir,
            database_url: Some(db.url.clone()),
            keys: Some(KeyRing::generate(1).to_spec().to_string()),
        },
    }
}

fn trove(env: &Env) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trove"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TROVE_DATA_DIR", &env.data_dir)
        .env("RUST_LOG", "warn");
    if let Some(url) = &env.database_url {
        cmd.env("TROVE_DATABASE_URL", url);
    }
    if let Some(keys) = &env.keys {
        cmd.env("TROVE_ENCRYPTION_KEYS", keys);
    }
    cmd
}

fn run_json(env: &Env, args: &[&str]) -> Value {
    let out = trove(env).args(args).output().expect("run trove");
    assert!(
        out.status.success(),
        "trove {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `trove serve` process, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(env: &Env) -> Served {
    let port = free_port();
    let child = trove(env)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trove serve");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "trove serve did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Served { child, base }
}

async fn bootstrap_prints_exactly_org_user_token(db: &TestDb) {
    let env = env_for(db);
    let out = run_json(
        &env,
        &[
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "Owner@Acme.test",
            "--json",
        ],
    );
    let keys: Vec<&str> = out
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["org", "token", "user"]);
    assert_eq!(out["org"]["slug"], "acme");
    assert_eq!(out["user"]["email"], "owner@acme.test");
    let token = out["token"].as_str().unwrap();
    assert!(token.starts_with("trove_"));
    // The same slug twice is refused with a clear error and changes nothing.
    let again = trove(&env)
        .args(["admin", "bootstrap", "--org", "acme", "--email", "x@y.z"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // A second token for the owner.
    let created = run_json(
        &env,
        &[
            "admin",
            "token",
            "create",
            "--org",
            "acme",
            "--email",
            "owner@acme.test",
            "--json",
        ],
    );
    assert!(created["token"].as_str().unwrap().starts_with("trove_"));
    // Both tokens work against a server over the same database.
    let served = serve(&env).await;
    for t in [token, created["token"].as_str().unwrap()] {
        let me = reqwest::Client::new()
            .get(format!("{}/v1/me", served.base))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }
}

async fn killed_server_keeps_every_acknowledged_write(db: &TestDb) {
    let env = env_for(db);
    let out = run_json(
        &env,
        &[
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "o@acme.test",
            "--json",
        ],
    );
    let token = out["token"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    {
        let served = serve(&env).await;
        // Writes race the kill: every one that got its 201 must survive.
        let writer = {
            let (client, base, token) = (client.clone(), served.base.clone(), token.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0..10_000 {
                    let name = format!("team-{i}");
                    match client
                        .post(format!("{base}/v1/orgs/acme/teams"))
                        .bearer_auth(&token)
                        .json(&json!({"name": name}))
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 201 => done.push(name),
                        _ => break,
                    }
                }
                done
            })
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        drop(served); // SIGKILL
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "no write was acknowledged before the kill"
    );
    let served = serve(&env).await;
    let mut names = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let r: Value = client
            .get(format!(
                "{}/v1/orgs/acme/teams?limit=200&cursor={cursor}",
                served.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in r["items"].as_array().unwrap() {
            names.insert(item["name"].as_str().unwrap().to_string());
        }
        match r["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost after SIGKILL: {lost:?}",
        lost.len()
    );
}

async fn open_store(db: &TestDb, env: &Env) -> Store {
    let database = match &env.database_url {
        Some(url) => Db::connect(url).await.unwrap(),
        None => Db::open_sqlite(&env.data_dir.join("trove.db"))
            .await
            .unwrap(),
    };
    let keys = match &env.keys {
        Some(spec) => KeyRing::parse(spec).unwrap(),
        None => {
            KeyRing::parse(&std::fs::read_to_string(env.data_dir.join("encryption-keys")).unwrap())
                .unwrap()
        }
    };
    let _ = db;
    Store::new(database, keys)
}

async fn key_rotation_reencrypts_through_the_queue(db: &TestDb) {
    let mut env = env_for(db);
    let out = run_json(
        &env,
        &[
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "o@acme.test",
            "--json",
        ],
    );
    let token = out["token"].as_str().unwrap().to_string();
    let mut served = Some(serve(&env).await);
    let base = served.as_ref().unwrap().base.clone();
    let client = reqwest::Client::new();
    for i in 0..30 {
        let r = client
            .post(format!("{base}/v1/orgs/acme/teams"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("t{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // With env keys the operator first puts a new key in front; with the key file the command adds it.
    if let Some(spec) = &env.keys {
        let mut ring = KeyRing::parse(spec).unwrap();
        ring.rotate();
        env.keys = Some(ring.to_spec().to_string());
        served = None;
    }
    let rotate = trove(&env)
        .args(["admin", "keys", "rotate"])
        .output()
        .unwrap();
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    let served = match served {
        Some(running) => running,
        None => serve(&env).await,
    };
    let store = open_store(db, &env).await;
    let active = store.keys().active_id();
    assert_eq!(active, 2);
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.values_not_under(active).await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "values were not re-encrypted under key {active}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Everything still reads, with the old key still in the ring and after it is gone.
    let log = client
        .get(format!("{}/v1/orgs/acme/audit?limit=200", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    let only_new = store.keys().with_active(active).unwrap();
    let stripped = KeyRing::parse(only_new.to_spec().split(',').next().unwrap()).unwrap();
    let reader = Store::new(store.db.clone(), stripped);
    let org = reader.org_by_slug("acme").await.unwrap();
    let entries = reader
        .audit_log(org.id, trove_store::PageRequest::first(200))
        .await
        .unwrap();
    assert!(entries.len() >= 30);
    store.db.close().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

async fn all_rows_as_bytes(store: &Store, data_dir: &Path) -> Vec<u8> {
    match store.db.backend() {
        trove_store::Backend::Sqlite => {
            let mut bytes = Vec::new();
            for name in ["trove.db", "trove.db-wal", "trove.db-shm"] {
                bytes.extend(std::fs::read(data_dir.join(name)).unwrap_or_default());
            }
            bytes
        }
        trove_store::Backend::Postgres => {
            let tables: Vec<(String,)> = store
                .db
                .fetch_all(sql("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"))
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

async fn database_holds_no_secret_in_clear(db: &TestDb) {
    let env = env_for(db);
    let password = "Sup3r-Secret-Passw0rd-Marker";
    let mut child = trove(&env)
        .args([
            "admin",
            "bootstrap",
            "--org",
            "acme",
            "--email",
            "o@acme.test",
            "--password-stdin",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let token = serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let store = open_store(db, &env).await;
    // A session secret too.
    let server = TestServer::start(store.clone()).await;
    let login = server
        .client
        .post(format!("{}/v1/auth/login", server.base))
        .json(&json!({"email": "o@acme.test", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let keys = store.keys().to_spec().to_string();
    let key_b64 = keys
        .split(',')
        .next()
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_string();
    use base64::Engine as _;
    let key_raw = base64::engine::general_purpose::STANDARD
        .decode(&key_b64)
        .unwrap();
    let bytes = all_rows_as_bytes(&store, &env.data_dir).await;
    assert!(bytes.len() > 1000, "read the database");
    assert!(
        contains(&bytes, b"o@acme.test"),
        "sanity: clear columns are visible to this scan"
    );
    for (what, needle) in [
        ("password", password.as_bytes().to_vec()),
        ("API token", token.as_bytes().to_vec()),
        (
            "API token secret part",
            token.trim_start_matches("trove_").as_bytes().to_vec(),
        ),
        ("session secret", session.as_bytes().to_vec()),
        ("encryption key (base64)", key_b64.as_bytes().to_vec()),
        ("encryption key (raw)", key_raw),
    ] {
        assert!(
            !contains(&bytes, &needle),
            "the database holds the {what} in clear"
        );
    }
    store.db.close().await;
}
