//! Re-encryption of stored values under one key, after a rotation.
//!
//! Every encrypted column is listed in [`ENCRYPTED_COLUMNS`]; each such table has `id` and `org_id`
//! columns that the associated data binds. The pass walks each table by id in small batches, so it
//! holds no long transaction, and swaps each value only if it is unchanged since it was read, so a
//! concurrent write is never overwritten with an older value. Running it twice is harmless.

use trove_core::{AppError, AppResult};
use uuid::Uuid;

use crate::Store;
use crate::crypto::{Aad, KeyRing};
use crate::db::sql;

/// A column holding encrypted envelopes.
#[derive(Debug, Clone, Copy)]
pub struct EncryptedColumn {
    /// The table (with `id` and `org_id` columns).
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
}

/// Every encrypted column of the schema.
pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[
    EncryptedColumn {
        table: crate::audit::DETAIL_COLUMN.0,
        column: crate::audit::DETAIL_COLUMN.1,
    },
    EncryptedColumn {
        table: crate::registry::objects::VERSIONS_TABLE,
        column: crate::registry::objects::PAYLOAD_COLUMN,
    },
    EncryptedColumn {
        table: crate::registry::objects::VERSIONS_TABLE,
        column: crate::registry::objects::RAW_SOURCE_COLUMN,
    },
    EncryptedColumn {
        table: crate::connectors::accounts::CREDENTIALS_COLUMN.0,
        column: crate::connectors::accounts::CREDENTIALS_COLUMN.1,
    },
];

const BATCH: i64 = 200;

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Values looked at.
    pub scanned: u64,
    /// Values re-encrypted.
    pub rewritten: u64,
}

#[derive(sqlx::FromRow)]
struct Sealed {
    id: Uuid,
    org_id: Uuid,
    value: Vec<u8>,
}

impl Store {
    /// Re-encrypts every value not sealed with `target`'s active key. `target` must hold every key the
    /// stored values use. `should_stop` is checked between batches.
    pub async fn rekey(
        &self,
        target: &KeyRing,
        should_stop: impl Fn() -> bool,
    ) -> AppResult<RekeyReport> {
        let mut report = RekeyReport::default();
        let active = target.active_id();
        for col in ENCRYPTED_COLUMNS {
            let mut after = Uuid::nil();
            loop {
                if should_stop() {
                    return Err(AppError::Unavailable(
                        "re-encryption interrupted; it resumes on retry".into(),
                    ));
                }
                let rows: Vec<Sealed> = self
                    .db
                    .fetch_all(
                        sql(format!(
                            "SELECT id, org_id, {c} AS value FROM {t} WHERE {c} IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                            c = col.column,
                            t = col.table
                        ))
                        .bind(after)
                        .bind(BATCH),
                    )
                    .await?;
                let Some(last) = rows.last() else { break };
                after = last.id;
                for row in &rows {
                    report.scanned += 1;
                    if KeyRing::key_id_of(&row.value) == Some(active) {
                        continue;
                    }
                    let aad = Aad {
                        table: col.table,
                        column: col.column,
                        row: row.id,
                        org: row.org_id,
                    };
                    let plain = target.decrypt(&row.value, aad)?;
                    let sealed = target.encrypt(&plain, aad)?;
                    let changed = self
                        .db
                        .execute(
                            sql(format!(
                                "UPDATE {t} SET {c} = $1 WHERE id = $2 AND {c} = $3",
                                c = col.column,
                                t = col.table
                            ))
                            .bind(sealed)
                            .bind(row.id)
                            .bind(row.value.clone()),
                        )
                        .await?;
                    report.rewritten += changed;
                }
            }
        }
        Ok(report)
    }

    /// How many stored values are sealed with a key other than `key_id` (0 once a rotation is done).
    pub async fn values_not_under(&self, key_id: u32) -> AppResult<u64> {
        let mut count = 0;
        for col in ENCRYPTED_COLUMNS {
            let values: Vec<(Vec<u8>,)> = self
                .db
                .fetch_all(sql(format!(
                    "SELECT {c} FROM {t} WHERE {c} IS NOT NULL",
                    c = col.column,
                    t = col.table
                )))
                .await?;
            count += values
                .iter()
                .filter(|(v,)| KeyRing::key_id_of(v) != Some(key_id))
                .count() as u64;
        }
        Ok(count)
    }
}
