//! Write transactions and reads on the pool, on both engines: concurrent writers all commit (on
//! SQLite they queue for its one writer connection), and reads are never held up by an open write.

use std::time::Duration;

use trove_store::sql;
use trove_testkit::{TestDb, backend_tests};

backend_tests!(
    concurrent_write_transactions_all_commit,
    reads_go_on_while_a_write_transaction_is_open
);

/// Longer than any wait here should take; only a writer blocking a read would reach it.
const DEADLOCK: Duration = Duration::from_secs(10);

async fn counter_table(db: &TestDb) {
    db.store
        .db
        .execute(sql("CREATE TABLE test_counter (n BIGINT NOT NULL)"))
        .await
        .unwrap();
    db.store
        .db
        .execute(sql("INSERT INTO test_counter (n) VALUES (0)"))
        .await
        .unwrap();
}

async fn count(db: &TestDb) -> i64 {
    db.store
        .db
        .scalar::<i64>(sql("SELECT n FROM test_counter"))
        .await
        .unwrap()
        .unwrap()
}

async fn concurrent_write_transactions_all_commit(db: &TestDb) {
    counter_table(db).await;
    let writers: Vec<_> = (0..24)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut tx = store.db.begin().await.unwrap();
                tx.execute(sql("UPDATE test_counter SET n = n + 1"))
                    .await
                    .unwrap();
                // Hold the transaction across an await, as real writers do between statements.
                tokio::task::yield_now().await;
                tx.execute(sql("UPDATE test_counter SET n = n + 1"))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(count(db).await, 48);
}

async fn reads_go_on_while_a_write_transaction_is_open(db: &TestDb) {
    counter_table(db).await;
    let mut tx = db.store.db.begin().await.unwrap();
    tx.execute(sql("UPDATE test_counter SET n = 7"))
        .await
        .unwrap();
    // Several reads at once, each on a pool connection: they see what was committed before.
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move {
                store
                    .db
                    .scalar::<i64>(sql("SELECT n FROM test_counter"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for read in reads {
        let seen = tokio::time::timeout(DEADLOCK, read)
            .await
            .expect("a read waited for the open write transaction")
            .unwrap();
        assert_eq!(seen, Some(0));
    }
    tx.commit().await.unwrap();
    assert_eq!(count(db).await, 7);
}
