//! Instance-wide settings kept in the database (small key/value pairs).

use trove_core::AppResult;
use trove_core::time::now_ms;

use crate::Store;
use crate::db::sql;

impl Store {
    /// Reads a setting.
    pub async fn setting(&self, key: &str) -> AppResult<Option<String>> {
        self.db
            .scalar(sql("SELECT value FROM settings WHERE key = $1").bind(key))
            .await
    }

    /// Writes a setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> AppResult<()> {
        self.db
            .execute(
                sql("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
                .bind(key)
                .bind(value)
                .bind(now_ms()),
            )
            .await?;
        Ok(())
    }
}
