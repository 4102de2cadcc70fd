//! Scheduler job runs in SQLite: the run as JSON, claimed once per (config, scheduled time),
//! held by a lease.

use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::paging::{ListQuery, Page};
use keyward_core::ports::Lease;
use keyward_core::scheduler::runs::{JobRun, RunStatus};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, opt_ts, parse_ts, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn job_run(row: &SqliteRow) -> Result<JobRun> {
    crate::rows::json(row, "record_json")
}

fn enc(v: &JobRun) -> Result<String> {
    crate::rows::encode(v, "job run")
}

impl SqliteStore {
    pub(super) async fn job_run_claim(
        &self,
        r: &JobRun,
        lease: &Lease,
        audit: &AuditDraft,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool().begin().await.map_err(db_err)?;
        let inserted = sqlx::query(
            "INSERT INTO job_runs (id, job_config_id, scheduled_for, status, record_json, lease_owner, lease_until, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (job_config_id, scheduled_for) DO NOTHING",
        )
        .bind(&r.id)
        .bind(&r.job_config_id)
        .bind(opt_ts(&r.scheduled_for))
        .bind(r.status.as_str())
        .bind(enc(r)?)
        .bind(&lease.owner)
        .bind(ts(&lease.until))
        .bind(ts(&r.created_at))
        .bind(ts(&r.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if inserted {
            self.append_in(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(inserted)
    }

    pub(super) async fn job_run_update(
        &self,
        r: &JobRun,
        lease: &Lease,
        audit: Option<&AuditDraft>,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool().begin().await.map_err(db_err)?;
        let updated = sqlx::query(
            "UPDATE job_runs SET status = ?, record_json = ?, lease_until = ?, updated_at = ? WHERE id = ? AND lease_owner = ?",
        )
        .bind(r.status.as_str())
        .bind(enc(r)?)
        .bind(ts(&lease.until))
        .bind(ts(&r.updated_at))
        .bind(&r.id)
        .bind(&lease.owner)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected()
            > 0;
        if updated && let Some(a) = audit {
            self.append_in(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(updated)
    }

    pub(super) async fn job_run_get(&self, id: &str) -> Result<Option<JobRun>> {
        self.fetch_one_opt("SELECT record_json FROM job_runs WHERE id = ?", id, job_run)
            .await
    }

    pub(super) async fn job_run_list(
        &self,
        config_id: Option<&str>,
        status: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<JobRun>> {
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(c) = config_id {
            conds.push("job_config_id = ?");
            binds.push(c);
        }
        if let Some(s) = status {
            conds.push("status = ?");
            binds.push(s);
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) FROM job_runs{clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in &binds {
            count = count.bind(*b);
        }
        let total = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let sql = format!(
            "SELECT record_json FROM job_runs{clause}{}",
            super::order_and_page(query, "created_at DESC, id ASC")
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(job_run).collect::<Result<Vec<_>>>()?,
        })
    }

    pub(super) async fn job_run_last_scheduled(
        &self,
        config_id: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        let last: Option<String> =
            sqlx::query_scalar("SELECT MAX(scheduled_for) FROM job_runs WHERE job_config_id = ?")
                .bind(config_id)
                .fetch_one(self.pool())
                .await
                .map_err(db_err)?;
        last.as_deref().map(parse_ts).transpose()
    }

    pub(super) async fn job_runs_stale(&self, now: DateTime<Utc>) -> Result<Vec<JobRun>> {
        self.stale_leased("job_runs", RunStatus::Running.as_str(), now, job_run)
            .await
    }

    pub(super) async fn job_run_take(
        &self,
        id: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.take_leased("job_runs", RunStatus::Running.as_str(), id, lease, now)
            .await
    }
}
