//! Key records written a batch at a time by a synchronisation: one transaction per batch (a
//! ListKeys page's worth of keys) instead of one per key, and the gone marking in bounded
//! batches, so that neither the number of fsyncs nor the memory grows with each key.

use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::KeyRecord;

use super::SqliteStore;
use super::keys::{insert_statement, update_statement};
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

/// Records one gone-marking transaction changes at most.
const GONE_BATCH: i64 = 500;

fn parse(json: &str) -> Result<KeyRecord> {
    serde_json::from_str(json)
        .map_err(|_| CoreError::internal("database: stored key record is malformed"))
}

impl SqliteStore {
    pub(super) async fn keys_upsert_synced(
        &self,
        records: &[KeyRecord],
        audits: &[AuditDraft],
    ) -> Result<u64> {
        if records.len() != audits.len() {
            return Err(CoreError::internal(
                "upsert_synced_keys: one audit draft per record",
            ));
        }
        if records.is_empty() {
            return Ok(0);
        }
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let mut added = 0u64;
        for (fresh, audit) in records.iter().zip(audits) {
            let stored: Option<String> = sqlx::query_scalar(
                "SELECT record_json FROM aws_keys WHERE kms_id = ? AND region = ? AND key_id = ?",
            )
            .bind(&fresh.kms_id)
            .bind(&fresh.region)
            .bind(&fresh.aws.metadata.key_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            match stored {
                Some(json) => {
                    let mut rec = parse(&json)?;
                    rec.absorb_sync(fresh);
                    update_statement(&rec)?
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                None => {
                    insert_statement(fresh)?
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    self.append_in(&mut tx, audit).await?;
                    added += 1;
                }
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(added)
    }

    pub(super) async fn keys_mark_unsynced_gone(
        &self,
        kms_id: &str,
        region: &str,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut marked = 0u64;
        loop {
            let _guard = self.write_lock.lock().await;
            let mut tx = self.begin_read_then_write().await?;
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT record_json FROM aws_keys \
                 WHERE kms_id = ? AND region = ? AND gone = 0 AND synced_at < ? LIMIT ?",
            )
            .bind(kms_id)
            .bind(region)
            .bind(ts(&before))
            .bind(GONE_BATCH)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            let n = rows.len();
            for json in rows {
                let mut rec = parse(&json)?;
                rec.gone = true;
                rec.synced_at = now;
                rec.updated_at = now;
                update_statement(&rec)?
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            marked += n as u64;
            if (n as i64) < GONE_BATCH {
                return Ok(marked);
            }
        }
    }
}
