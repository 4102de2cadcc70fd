//! The create journal (`create_intents`) and the Idempotency-Key entries
//! (`idempotency_keys`) in SQLite.

use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::idempotency::{IdempotencyClaim, IdempotencyEntry};
use keyward_core::keys::KeyRecord;
use keyward_core::keys::create_journal::CreateIntent;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, parse_ts, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn intent(row: &SqliteRow) -> Result<CreateIntent> {
    let json: String = row.try_get("intent_json").map_err(db_err)?;
    serde_json::from_str(&json)
        .map_err(|_| CoreError::internal("database: stored create intent is malformed"))
}

fn entry(row: &SqliteRow) -> Result<IdempotencyEntry> {
    let s = |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(db_err) };
    Ok(IdempotencyEntry {
        user_id: s("user_id")?,
        key: s("idem_key")?,
        route: s("route")?,
        body_digest: s("body_digest")?,
        request_id: s("request_id")?,
        status: row
            .try_get::<Option<i64>, _>("status")
            .map_err(db_err)?
            .map(|v| u16::try_from(v).unwrap_or(500)),
        response_body: row.try_get("response_body").map_err(db_err)?,
        lease_until: parse_ts(&s("lease_until")?)?,
        created_at: parse_ts(&s("created_at")?)?,
        expires_at: parse_ts(&s("expires_at")?)?,
    })
}

impl SqliteStore {
    pub(super) async fn create_intent_insert(&self, i: &CreateIntent) -> Result<()> {
        let json = serde_json::to_string(i)
            .map_err(|e| CoreError::internal(format!("encoding a create intent: {e}")))?;
        let stmt = sqlx::query(
            "INSERT INTO create_intents (id, request_id, intent_json, created_at) VALUES (?,?,?,?)",
        )
        .bind(&i.id)
        .bind(&i.request_id)
        .bind(json)
        .bind(ts(&i.created_at));
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn create_finish(
        &self,
        k: &KeyRecord,
        update: bool,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.save_key_closing_intent(k, update, "create_intents", intent_id, audit)
            .await
    }

    pub(super) async fn create_intent_delete(&self, id: &str) -> Result<()> {
        let stmt = sqlx::query("DELETE FROM create_intents WHERE id = ?").bind(id);
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn create_intents_open(&self) -> Result<Vec<CreateIntent>> {
        let rows = sqlx::query("SELECT intent_json FROM create_intents ORDER BY created_at, id")
            .fetch_all(self.pool())
            .await
            .map_err(db_err)?;
        rows.iter().map(intent).collect()
    }

    pub(super) async fn idempotency_claim(
        &self,
        e: &IdempotencyEntry,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let existing =
            sqlx::query("SELECT * FROM idempotency_keys WHERE user_id = ? AND idem_key = ?")
                .bind(&e.user_id)
                .bind(&e.key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .as_ref()
                .map(entry)
                .transpose()?;
        if let Some(found) = existing
            && found.expires_at > now
        {
            return Ok(IdempotencyClaim::Existing(found));
        }
        sqlx::query("INSERT OR REPLACE INTO idempotency_keys (user_id, idem_key, route, body_digest, request_id, status, response_body, lease_until, created_at, expires_at) VALUES (?,?,?,?,?,NULL,NULL,?,?,?)")
            .bind(&e.user_id)
            .bind(&e.key)
            .bind(&e.route)
            .bind(&e.body_digest)
            .bind(&e.request_id)
            .bind(ts(&e.lease_until))
            .bind(ts(&e.created_at))
            .bind(ts(&e.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(IdempotencyClaim::Claimed)
    }

    pub(super) async fn idempotency_retake(
        &self,
        e: &IdempotencyEntry,
        old_request_id: &str,
    ) -> Result<bool> {
        let stmt = sqlx::query("UPDATE idempotency_keys SET request_id = ?, lease_until = ? WHERE user_id = ? AND idem_key = ? AND request_id = ? AND status IS NULL")
            .bind(&e.request_id)
            .bind(ts(&e.lease_until))
            .bind(&e.user_id)
            .bind(&e.key)
            .bind(old_request_id);
        Ok(self.write_unaudited(stmt).await? == 1)
    }

    pub(super) async fn idempotency_finish(
        &self,
        user_id: &str,
        key: &str,
        request_id: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        let stmt = sqlx::query("UPDATE idempotency_keys SET status = ?, response_body = ? WHERE user_id = ? AND idem_key = ? AND request_id = ? AND status IS NULL")
            .bind(i64::from(status))
            .bind(body)
            .bind(user_id)
            .bind(key)
            .bind(request_id);
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn idempotency_release(
        &self,
        user_id: &str,
        key: &str,
        request_id: &str,
    ) -> Result<()> {
        let stmt = sqlx::query("DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND request_id = ? AND status IS NULL")
            .bind(user_id)
            .bind(key)
            .bind(request_id);
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn idempotency_of(&self, request_id: &str) -> Result<Vec<IdempotencyEntry>> {
        let rows =
            sqlx::query("SELECT * FROM idempotency_keys WHERE request_id = ? AND status IS NULL")
                .bind(request_id)
                .fetch_all(self.pool())
                .await
                .map_err(db_err)?;
        rows.iter().map(entry).collect()
    }

    pub(super) async fn idempotency_purge(&self, now: DateTime<Utc>) -> Result<u64> {
        let stmt = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= ?").bind(ts(&now));
        self.write_unaudited(stmt).await
    }
}
