//! Scheduler job configs in SQLite (the config as JSON, its name unique).

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::paging::{ListQuery, Page};
use keyward_core::scheduler::{JobConfig, JobConfigFilter};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn job_config(row: &SqliteRow) -> Result<JobConfig> {
    crate::rows::json(row, "record_json")
}

fn enc(v: &JobConfig) -> Result<String> {
    crate::rows::encode(v, "job config")
}

impl SqliteStore {
    pub(super) async fn job_config_insert(&self, c: &JobConfig, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO job_configs (id, name, operation, record_json, created_at, updated_at) VALUES (?,?,?,?,?,?)")
            .bind(&c.id)
            .bind(&c.name)
            .bind(c.operation.as_str())
            .bind(enc(c)?)
            .bind(ts(&c.created_at))
            .bind(ts(&c.updated_at));
        self.write(stmt, audit).await.map(|_| ())
    }

    pub(super) async fn job_config_update(&self, c: &JobConfig, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query(
            "UPDATE job_configs SET name = ?, operation = ?, record_json = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&c.name)
        .bind(c.operation.as_str())
        .bind(enc(c)?)
        .bind(ts(&c.updated_at))
        .bind(&c.id);
        self.write(stmt, audit).await.map(|_| ())
    }

    pub(super) async fn job_config_get(
        &self,
        col: &'static str,
        v: &str,
    ) -> Result<Option<JobConfig>> {
        let sql = format!("SELECT record_json FROM job_configs WHERE {col} = ?");
        let row = sqlx::query(&sql)
            .bind(v)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        row.as_ref().map(job_config).transpose()
    }

    pub(super) async fn job_config_list(
        &self,
        filter: &JobConfigFilter,
        query: &ListQuery,
    ) -> Result<Page<JobConfig>> {
        let mut conds: Vec<&str> = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(op) = filter.operation {
            conds.push("operation = ?");
            values.push(op.as_str().to_string());
        }
        if let Some(name) = &filter.name {
            conds.push("name = ?");
            values.push(name.clone());
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) FROM job_configs{clause}");
        let mut count = sqlx::query_scalar(&count_sql);
        for v in &values {
            count = count.bind(v);
        }
        let total: i64 = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let sql = format!(
            "SELECT record_json FROM job_configs{clause}{}",
            super::order_and_page(query, "created_at ASC, id ASC")
        );
        let mut rows = sqlx::query(&sql);
        for v in &values {
            rows = rows.bind(v);
        }
        let rows = rows.fetch_all(self.pool()).await.map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(job_config).collect::<Result<Vec<_>>>()?,
        })
    }

    /// Detaches the config from the keys `detach` names (each must still be attached and
    /// scheduled for deletion, else a conflict), then deletes the config, with every audit,
    /// in one transaction; a conflict, with nothing written, while another key that is not
    /// gone is attached to it.
    pub(super) async fn job_config_delete(
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
                    "job_config_id = ? AND (gone = 1 OR key_state IN ('PendingDeletion', 'PendingReplicaDeletion'))",
                    Some(id),
                ),
                |k| {
                    k.job_config_id = None;
                    k.rotation_job = None;
                },
                key_audit,
            )
            .await?;
        }
        let attached: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM aws_keys WHERE job_config_id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        if attached > 0 {
            return Err(CoreError::conflict(format!(
                "the job config is attached to {attached} key(s) not scheduled for deletion; disable-rotation-job on them first"
            )));
        }
        self.delete_row_and_commit(tx, ("job_configs", "job config"), id, audit)
            .await
    }
}
