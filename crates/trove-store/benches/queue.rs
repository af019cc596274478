//! Queue throughput: enqueue + claim + complete cycles per second, on SQLite (a temp file) and on
//! PostgreSQL (when `TROVE_TEST_POSTGRES_URL` is set; the bench creates and drops its own database).
//!
//! Absolute numbers depend on the machine, so each engine is also compared with a baseline measured in
//! the same process on the same database: a bare single-statement `UPDATE … RETURNING` of a one-row
//! counter, the cheapest durable write round trip there is. One queue cycle is several statements
//! (PostgreSQL's enqueue also sends a notification), so the ratio says how many "bare writes" a job
//! costs.
//!
//! Run: `cargo bench -p trove-store --bench queue`.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use trove_store::queue::{NewJob, Queue};
use trove_store::{Db, sql};

/// Measured iterations per engine (after a warm-up of a tenth of that).
const ITERATIONS: u32 = 2_000;
const LEASE_MS: i64 = 60_000;

struct Figures {
    baseline: Duration,
    cycles: Duration,
    enqueue: Duration,
    claim: Duration,
    complete: Duration,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::open_sqlite(&dir.path().join("bench.db"))
            .await
            .expect("open sqlite");
        db.migrate().await.expect("migrate sqlite");
        report("sqlite", &measure(&db).await);
        db.close().await;

        match std::env::var("TROVE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => postgres(&url).await,
            _ => println!("postgres: skipped (set TROVE_TEST_POSTGRES_URL to include it)"),
        }
    });
}

async fn postgres(url: &str) {
    let admin = trove_store::postgres_options(url).expect("valid TROVE_TEST_POSTGRES_URL");
    let name = format!("trove_bench_{}", std::process::id());
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .expect("connect to PostgreSQL");
    let drop_db = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
    sqlx::query(AssertSqlSafe(drop_db.clone()))
        .execute(&mut conn)
        .await
        .expect("drop old bench database");
    sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let db = Db::connect_postgres(admin.clone().database(&name), 4)
        .await
        .expect("connect bench database");
    db.migrate().await.expect("migrate postgres");
    let figures = measure(&db).await;
    db.close().await;
    sqlx::query(AssertSqlSafe(drop_db))
        .execute(&mut conn)
        .await
        .expect("drop bench database");
    conn.close().await.ok();
    report("postgres", &figures);
}

async fn measure(db: &Db) -> Figures {
    db.execute(sql(
        "CREATE TABLE bench_counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)",
    ))
    .await
    .expect("create counter");
    db.execute(sql("INSERT INTO bench_counter (id, n) VALUES (1, 0)"))
        .await
        .expect("seed counter");
    let queue = Queue::new(db.clone());

    // Warm up both loops (connections, prepared statements, caches), then measure each.
    baseline(db, ITERATIONS / 10).await;
    cycles(&queue, ITERATIONS / 10).await;
    let start = Instant::now();
    baseline(db, ITERATIONS).await;
    let baseline = start.elapsed();
    let (enqueue, claim, complete) = cycles(&queue, ITERATIONS).await;
    Figures {
        baseline,
        cycles: enqueue + claim + complete,
        enqueue,
        claim,
        complete,
    }
}

/// The baseline: one `UPDATE … RETURNING` round trip per iteration.
async fn baseline(db: &Db, n: u32) {
    for _ in 0..n {
        let value: Option<i64> = db
            .scalar(sql(
                "UPDATE bench_counter SET n = n + 1 WHERE id = 1 RETURNING n",
            ))
            .await
            .expect("bump counter");
        assert!(value.is_some());
    }
}

/// `n` enqueue → claim → complete cycles; returns the time spent in each step.
async fn cycles(queue: &Queue, n: u32) -> (Duration, Duration, Duration) {
    let (mut enqueue, mut claim, mut complete) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let t = Instant::now();
        let job = NewJob::new("bench", serde_json::json!({ "i": i }));
        let id = queue.enqueue(job).await.expect("enqueue").id;
        let t2 = Instant::now();
        let claimed = queue
            .claim("bench", LEASE_MS, None)
            .await
            .expect("claim")
            .expect("a runnable job");
        let t3 = Instant::now();
        assert_eq!(claimed.id, id);
        assert!(queue.complete(id, "bench").await.expect("complete"));
        let t4 = Instant::now();
        enqueue += t2 - t;
        claim += t3 - t2;
        complete += t4 - t3;
    }
    (enqueue, claim, complete)
}

fn per_second(n: u32, d: Duration) -> f64 {
    f64::from(n) / d.as_secs_f64().max(1e-9)
}

fn report(engine: &str, f: &Figures) {
    let base = per_second(ITERATIONS, f.baseline);
    let cycle = per_second(ITERATIONS, f.cycles);
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(ITERATIONS);
    println!(
        "{engine:>8}: queue {cycle:>9.0} jobs/s (enqueue+claim+complete), baseline {base:>9.0} \
         UPDATE…RETURNING/s, ratio {ratio:.3} (per job: enqueue {e:.0} µs, claim {c:.0} µs, \
         complete {d:.0} µs; baseline {b:.0} µs)",
        ratio = cycle / base,
        e = micros(f.enqueue),
        c = micros(f.claim),
        d = micros(f.complete),
        b = micros(f.baseline),
    );
}
