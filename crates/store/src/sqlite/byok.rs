//! Local (vault) keys and the import journal in SQLite.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::KeyRecord;
use keyward_core::keys::import::ImportIntent;
use keyward_core::local_keys::LocalKey;
use keyward_core::paging::{ListQuery, Page};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, opt_ts, parse_ts, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn local_key(row: &SqliteRow) -> Result<LocalKey> {
    let s = |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(db_err) };
    Ok(LocalKey {
        id: s("id")?,
        name: s("name")?,
        algorithm: s("algorithm")?,
        size: row.try_get("size").map_err(db_err)?,
        material_sealed: row.try_get("material_sealed").map_err(db_err)?,
        created_at: parse_ts(&s("created_at")?)?,
        updated_at: parse_ts(&s("updated_at")?)?,
        description: s("description")?,
        labels: serde_json::from_str(&s("labels_json")?)
            .map_err(|_| CoreError::internal("database: stored vault key labels are malformed"))?,
        curve: s("curve")?,
    })
}

fn labels_json(k: &LocalKey) -> Result<String> {
    serde_json::to_string(&k.labels)
        .map_err(|e| CoreError::internal(format!("encoding vault key labels: {e}")))
}

fn intent(row: &SqliteRow) -> Result<ImportIntent> {
    let s = |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(db_err) };
    Ok(ImportIntent {
        id: s("id")?,
        key_record_id: s("key_record_id")?,
        local_key_id: s("local_key_id")?,
        valid_to: row
            .try_get::<Option<String>, _>("valid_to")
            .map_err(db_err)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        created_at: parse_ts(&s("created_at")?)?,
    })
}

impl SqliteStore {
    pub(super) async fn local_key_insert(&self, k: &LocalKey, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO local_keys (id, name, algorithm, size, material_sealed, created_at, updated_at, description, labels_json, curve) VALUES (?,?,?,?,?,?,?,?,?,?)")
            .bind(&k.id)
            .bind(&k.name)
            .bind(&k.algorithm)
            .bind(k.size)
            .bind(&k.material_sealed)
            .bind(ts(&k.created_at))
            .bind(ts(&k.updated_at))
            .bind(&k.description)
            .bind(labels_json(k)?)
            .bind(&k.curve);
        self.write(stmt, audit).await.map(|_| ())
    }

    pub(super) async fn local_key_update(&self, k: &LocalKey, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query(
            "UPDATE local_keys SET description = ?, labels_json = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&k.description)
        .bind(labels_json(k)?)
        .bind(ts(&k.updated_at))
        .bind(&k.id);
        if self.write(stmt, audit).await? == 0 {
            return Err(CoreError::not_found(format!(
                "vault key {} not found",
                k.id
            )));
        }
        Ok(())
    }

    pub(super) async fn local_key_get(
        &self,
        col: &'static str,
        v: &str,
    ) -> Result<Option<LocalKey>> {
        let sql = format!("SELECT * FROM local_keys WHERE {col} = ?");
        let row = sqlx::query(&sql)
            .bind(v)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        row.as_ref().map(local_key).transpose()
    }

    pub(super) async fn local_key_list(
        &self,
        name: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<LocalKey>> {
        let clause = if name.is_some() {
            " WHERE name = ?"
        } else {
            ""
        };
        let count_sql = format!("SELECT COUNT(*) FROM local_keys{clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        if let Some(n) = name {
            count = count.bind(n);
        }
        let total = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let sql = format!(
            "SELECT * FROM local_keys{clause}{}",
            super::order_and_page(query, "created_at ASC, id ASC")
        );
        let mut q = sqlx::query(&sql);
        if let Some(n) = name {
            q = q.bind(n);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(local_key).collect::<Result<Vec<_>>>()?,
        })
    }

    /// Detaches the vault key from the records `detach` names (each still using it, gone
    /// or scheduled for deletion, else a conflict), then deletes it, with every audit, in
    /// one transaction; a conflict, with nothing written, while another record uses it.
    pub(super) async fn local_key_delete(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        for (key_id, key_audit) in detach {
            self.let_go_in(
                &mut tx,
                key_id,
                (
                    "local_key_id = ? AND (gone = 1 OR key_state IN ('PendingDeletion', 'PendingReplicaDeletion'))",
                    Some(id),
                ),
                |k| k.material = None,
                key_audit,
            )
            .await?;
        }
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aws_keys WHERE local_key_id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if users > 0 {
            return Err(CoreError::conflict(format!(
                "the vault key is the material of {users} AWS key record(s) not scheduled for deletion"
            )));
        }
        self.delete_row_and_commit(tx, ("local_keys", "vault key"), id, audit)
            .await
    }

    pub(super) async fn local_key_users(&self, id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT id FROM aws_keys WHERE local_key_id = ? ORDER BY created_at")
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(db_err)
    }

    pub(super) async fn intent_insert(&self, i: &ImportIntent) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO import_intents (id, key_record_id, local_key_id, valid_to, created_at) VALUES (?,?,?,?,?)")
            .bind(&i.id)
            .bind(&i.key_record_id)
            .bind(&i.local_key_id)
            .bind(opt_ts(&i.valid_to))
            .bind(ts(&i.created_at));
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn intent_finish(
        &self,
        k: &KeyRecord,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.save_key_closing_intent(k, true, "import_intents", intent_id, audit)
            .await
    }

    pub(super) async fn intent_delete(&self, id: &str) -> Result<()> {
        let stmt = sqlx::query("DELETE FROM import_intents WHERE id = ?").bind(id);
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn intents_open(&self) -> Result<Vec<ImportIntent>> {
        let rows = sqlx::query("SELECT * FROM import_intents ORDER BY created_at")
            .fetch_all(self.pool())
            .await
            .map_err(db_err)?;
        rows.iter().map(intent).collect()
    }
}
