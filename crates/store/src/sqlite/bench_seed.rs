//! For benchmarks only (`keyward admin seed-bench-records`): many key records in one
//! transaction, written with the same INSERT as every other key record.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::KeyRecord;

use super::SqliteStore;
use crate::rows::db_err;

impl SqliteStore {
    /// Inserts `keys` and one audit record for them all, in one transaction.
    pub async fn insert_keys_batch(
        &self,
        keys: &[KeyRecord],
        audit: &AuditDraft,
    ) -> Result<(), CoreError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for k in keys {
            super::keys::insert_statement(k)?
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }
}
