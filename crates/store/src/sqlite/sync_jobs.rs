//! Synchronisation jobs in SQLite.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::sync::{SyncJob, SyncStatus};
use keyward_core::paging::{ListQuery, Page};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, json, opt_ts, parse_ts, to_json, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn job(row: &SqliteRow) -> Result<SyncJob> {
    let get_s = |c: &str| -> Result<String> { row.try_get::<String, _>(c).map_err(db_err) };
    Ok(SyncJob {
        id: get_s("id")?,
        created_at: parse_ts(&get_s("created_at")?)?,
        updated_at: parse_ts(&get_s("updated_at")?)?,
        completed_at: row
            .try_get::<Option<String>, _>("completed_at")
            .map_err(db_err)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        overall_status: {
            let s = get_s("overall_status")?;
            SyncStatus::parse(&s).ok_or_else(|| {
                CoreError::Internal(format!("sync_jobs: unknown overall_status '{s}'"))
            })?
        },
        detailed_status: json(row, "detailed_status_json")?,
        kms: json(row, "kms_json")?,
        regions: json(row, "regions_json")?,
        synchronize_all: row.try_get("synchronize_all").map_err(db_err)?,
        abort: row.try_get("abort").map_err(db_err)?,
        created_by: get_s("created_by")?,
        keys_seen: row.try_get("keys_seen").map_err(db_err)?,
        keys_added: row.try_get("keys_added").map_err(db_err)?,
        keys_gone: row.try_get("keys_gone").map_err(db_err)?,
    })
}

impl SqliteStore {
    pub(super) async fn sync_job_insert(&self, j: &SyncJob, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO sync_jobs (id, created_at, updated_at, completed_at, overall_status, detailed_status_json, kms_json, regions_json, synchronize_all, abort, created_by, keys_seen, keys_added, keys_gone) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&j.id)
            .bind(ts(&j.created_at))
            .bind(ts(&j.updated_at))
            .bind(opt_ts(&j.completed_at))
            .bind(j.overall_status.as_str())
            .bind(to_json(&j.detailed_status))
            .bind(to_json(&j.kms))
            .bind(to_json(&j.regions))
            .bind(j.synchronize_all)
            .bind(j.abort)
            .bind(&j.created_by)
            .bind(j.keys_seen)
            .bind(j.keys_added)
            .bind(j.keys_gone);
        self.write(stmt, audit).await.map(|_| ())
    }

    /// Saves a job's progress. `abort` only ever goes from false to true here, so a runner's
    /// save never undoes a cancel that arrived meanwhile.
    pub(super) async fn sync_job_update(
        &self,
        j: &SyncJob,
        audit: Option<&AuditDraft>,
    ) -> Result<()> {
        let stmt = sqlx::query("UPDATE sync_jobs SET updated_at = ?, completed_at = ?, overall_status = ?, detailed_status_json = ?, abort = (abort OR ?), keys_seen = ?, keys_added = ?, keys_gone = ? WHERE id = ?")
            .bind(ts(&j.updated_at))
            .bind(opt_ts(&j.completed_at))
            .bind(j.overall_status.as_str())
            .bind(to_json(&j.detailed_status))
            .bind(j.abort)
            .bind(j.keys_seen)
            .bind(j.keys_added)
            .bind(j.keys_gone)
            .bind(&j.id);
        match audit {
            Some(a) => self.write(stmt, a).await.map(|_| ()),
            None => self.write_unaudited(stmt).await.map(|_| ()),
        }
    }

    pub(super) async fn sync_job_get(&self, id: &str) -> Result<Option<SyncJob>> {
        let row = sqlx::query("SELECT * FROM sync_jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        row.as_ref().map(job).transpose()
    }

    pub(super) async fn sync_job_list(
        &self,
        id: Option<&str>,
        status: Option<&str>,
        kms_id: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<SyncJob>> {
        let mut conds = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(v) = id {
            conds.push("id = ?");
            binds.push(v.into());
        }
        if let Some(v) = status {
            conds.push("overall_status = ?");
            binds.push(v.into());
        }
        if let Some(v) = kms_id {
            conds.push(
                "EXISTS (SELECT 1 FROM json_each(sync_jobs.kms_json) WHERE json_each.value = ?)",
            );
            binds.push(v.into());
        }
        let clause = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let count_sql = format!("SELECT COUNT(*) FROM sync_jobs{clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in &binds {
            count = count.bind(b);
        }
        let total = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let sql = format!(
            "SELECT * FROM sync_jobs{clause}{}",
            super::order_and_page(query, "created_at DESC, id ASC")
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(job).collect::<Result<Vec<_>>>()?,
        })
    }
}
