//! The two migration folders must produce the same tables and columns.

use std::collections::BTreeMap;

use trove_store::sql;
use trove_testkit::TestDb;

type Schema = BTreeMap<String, Vec<String>>;

async fn schema(db: &TestDb) -> Schema {
    let q = match db.engine() {
        "sqlite" => sql(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
             ORDER BY m.name, p.name",
        ),
        _ => sql(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY 1, 2",
        ),
    };
    let rows: Vec<(String, String)> = db.store.db.fetch_all(q).await.unwrap();
    let mut out = Schema::new();
    for (table, column) in rows {
        out.entry(table).or_default().push(column);
    }
    out
}

#[tokio::test]
async fn both_engines_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().await;
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let (a, b) = (schema(&sqlite).await, schema(&pg).await);
    assert!(!a.is_empty());
    assert_eq!(
        a, b,
        "migrations/sqlite and migrations/postgres have drifted"
    );
    let versions = |dir: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| {
                    e.unwrap()
                        .file_name()
                        .to_string_lossy()
                        .split('_')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect();
        v.sort();
        v
    };
    assert_eq!(
        versions("sqlite"),
        versions("postgres"),
        "migration version numbers differ"
    );
    sqlite.finish().await;
    pg.finish().await;
}
