//! Key rotations in SQLite: the journal of rotations in progress and their history.

use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::KeyRecord;
use keyward_core::keys::rotate::{COMPLETED, IN_PROGRESS, KeyRotation, TYPE_NEW_KEY};
use keyward_core::paging::{ListQuery, Page};
use keyward_core::ports::Lease;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn rotation(row: &SqliteRow) -> Result<KeyRotation> {
    crate::rows::json(row, "record_json")
}

fn enc(v: &KeyRotation) -> Result<String> {
    crate::rows::encode(v, "key rotation")
}

impl SqliteStore {
    pub(super) async fn rotation_begin(
        &self,
        r: &KeyRotation,
        old: &KeyRecord,
        lease: &Lease,
        audit: &AuditDraft,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_rotations WHERE key_record_id = ? AND status = ?",
        )
        .bind(&r.key_record_id)
        .bind(IN_PROGRESS)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if open > 0 {
            return Err(CoreError::conflict(format!(
                "rotate: a rotation of key {} is in progress",
                r.key_record_id
            )));
        }
        if r.rotation_type.as_str() == TYPE_NEW_KEY {
            let replaced: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM key_rotations WHERE key_record_id = ? AND status = ? AND rotation_type = ?",
            )
            .bind(&r.key_record_id)
            .bind(COMPLETED)
            .bind(TYPE_NEW_KEY)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            if replaced > 0 {
                return Err(CoreError::Unprocessable(format!(
                    "rotate: key {} was rotated already; rotate its successor instead",
                    r.key_record_id
                )));
            }
        }
        sqlx::query(
            "INSERT INTO key_rotations (id, key_record_id, new_key_record_id, rotation_type, status, record_json, lease_owner, lease_until, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&r.id)
        .bind(&r.key_record_id)
        .bind(&r.new_key_record_id)
        .bind(r.rotation_type.as_str())
        .bind(r.status.as_str())
        .bind(enc(r)?)
        .bind(&lease.owner)
        .bind(ts(&lease.until))
        .bind(ts(&r.created_at))
        .bind(ts(&r.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            // Another node began one between the check above and this insert.
            CoreError::Conflict(_) => CoreError::conflict(format!(
                "rotate: a rotation of key {} is in progress",
                r.key_record_id
            )),
            other => other,
        })?;
        super::keys::update_statement(old)?
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn rotation_update(&self, r: &KeyRotation, lease: &Lease) -> Result<bool> {
        let stmt = sqlx::query(
            "UPDATE key_rotations SET new_key_record_id = ?, record_json = ?, lease_until = ?, updated_at = ? WHERE id = ? AND status = ? AND lease_owner = ?",
        )
        .bind(&r.new_key_record_id)
        .bind(enc(r)?)
        .bind(ts(&lease.until))
        .bind(ts(&r.updated_at))
        .bind(&r.id)
        .bind(IN_PROGRESS)
        .bind(&lease.owner);
        Ok(self.write_unaudited(stmt).await? > 0)
    }

    pub(super) async fn rotation_finish(
        &self,
        r: &KeyRotation,
        keys: &[&KeyRecord],
        lease: &Lease,
        audit: &AuditDraft,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool().begin().await.map_err(db_err)?;
        let closed = sqlx::query(
            "UPDATE key_rotations SET new_key_record_id = ?, status = ?, record_json = ?, updated_at = ? WHERE id = ? AND status = ? AND lease_owner = ?",
        )
        .bind(&r.new_key_record_id)
        .bind(r.status.as_str())
        .bind(enc(r)?)
        .bind(ts(&r.updated_at))
        .bind(&r.id)
        .bind(IN_PROGRESS)
        .bind(&lease.owner)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if closed == 0 {
            return Err(CoreError::conflict(format!(
                "rotation {} is no longer in progress under this node (taken over or closed)",
                r.id
            )));
        }
        for k in keys {
            super::keys::update_statement(k)?
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn rotation_get(&self, id: &str) -> Result<Option<KeyRotation>> {
        self.fetch_one_opt(
            "SELECT record_json FROM key_rotations WHERE id = ?",
            id,
            rotation,
        )
        .await
    }

    pub(super) async fn rotation_list(
        &self,
        key_record_id: &str,
        query: &ListQuery,
    ) -> Result<Page<KeyRotation>> {
        let clause = " WHERE key_record_id = ? OR new_key_record_id = ?";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM key_rotations{clause}"))
            .bind(key_record_id)
            .bind(key_record_id)
            .fetch_one(self.pool())
            .await
            .map_err(db_err)?;
        let sql = format!(
            "SELECT record_json FROM key_rotations{clause}{}",
            super::order_and_page(query, "created_at DESC, id ASC")
        );
        let rows = sqlx::query(&sql)
            .bind(key_record_id)
            .bind(key_record_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(rotation).collect::<Result<Vec<_>>>()?,
        })
    }

    pub(super) async fn rotations_stale(&self, now: DateTime<Utc>) -> Result<Vec<KeyRotation>> {
        self.stale_leased("key_rotations", IN_PROGRESS, now, rotation)
            .await
    }

    pub(super) async fn rotation_take(
        &self,
        id: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.take_leased("key_rotations", IN_PROGRESS, id, lease, now)
            .await
    }
}
