//! AWS key records in SQLite: the record as JSON plus the columns the list filters on.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::{KeyFilter, KeyRecord};
use keyward_core::paging::{ListQuery, Page};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

const COLUMNS: &str = "id, kms_id, region, key_id, arn, record_json, created_at, updated_at, cloud_name, key_state, key_usage, key_spec, origin, enabled, gone, key_material_origin, multi_region, multi_region_key_type, aliases_json, tags_json, job_config_id, synced_at, valid_to, local_key_id";

fn record(row: &SqliteRow) -> Result<KeyRecord> {
    let json: String = row.try_get("record_json").map_err(db_err)?;
    serde_json::from_str(&json)
        .map_err(|_| CoreError::internal("database: stored key record is malformed"))
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the record's values in the order of COLUMNS, `id` excepted.
fn bind_rest<'q>(q: Query<'q>, k: &'q KeyRecord, json: String) -> Query<'q> {
    let m = &k.aws.metadata;
    let tags: serde_json::Map<String, serde_json::Value> = k
        .aws
        .tags
        .iter()
        .map(|(a, b)| (a.clone(), serde_json::Value::String(b.clone())))
        .collect();
    // Expiry: what AWS reports, else what Keyward asked for (the emulator does not keep it);
    // none while the key holds no material (PendingImport: deleted or expired).
    let valid_to = m
        .valid_to
        .or_else(|| k.material.as_ref().and_then(|b| b.valid_to))
        .filter(|_| m.key_state != "PendingImport");
    q.bind(&k.kms_id)
        .bind(&k.region)
        .bind(&m.key_id)
        .bind(&m.arn)
        .bind(json)
        .bind(ts(&k.created_at))
        .bind(ts(&k.updated_at))
        .bind(&k.cloud_name)
        .bind(&m.key_state)
        .bind(&m.key_usage)
        .bind(&m.key_spec)
        .bind(&m.origin)
        .bind(m.enabled)
        .bind(k.gone)
        .bind(k.key_material_origin.as_str())
        .bind(m.multi_region)
        .bind(
            m.multi_region_configuration
                .as_ref()
                .map(|c| c.key_type.clone())
                .unwrap_or_default(),
        )
        .bind(serde_json::to_string(&k.aws.aliases).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::Value::Object(tags).to_string())
        .bind(&k.job_config_id)
        .bind(ts(&k.synced_at))
        .bind(valid_to.as_ref().map(ts))
        .bind(k.material.as_ref().map(|b| b.local_key_id.clone()))
}

/// The UPDATE of every column of a record.
pub(super) fn update_statement(k: &KeyRecord) -> Result<Query<'_>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let sets = COLUMNS
            .split(", ")
            .skip(1)
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("UPDATE aws_keys SET {sets} WHERE id = ?")
    });
    Ok(bind_rest(sqlx::query(sql), k, to_json(k)?).bind(&k.id))
}

/// The INSERT of a record.
pub(super) fn insert_statement(k: &KeyRecord) -> Result<Query<'_>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let placeholders = vec!["?"; COLUMNS.split(',').count()].join(",");
        format!("INSERT INTO aws_keys ({COLUMNS}) VALUES ({placeholders})")
    });
    Ok(bind_rest(sqlx::query(sql).bind(&k.id), k, to_json(k)?))
}

fn to_json(k: &KeyRecord) -> Result<String> {
    serde_json::to_string(k).map_err(|e| CoreError::internal(format!("encoding a key record: {e}")))
}

/// A WHERE clause and its values.
fn where_clause(f: &KeyFilter) -> (String, Vec<String>) {
    let mut conds: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut eq = |col: &str, v: &Option<String>| {
        if let Some(v) = v {
            conds.push(format!("{col} = ?"));
            binds.push(v.clone());
        }
    };
    eq("id", &f.id);
    eq("key_id", &f.key_id);
    eq("arn", &f.arn);
    eq("kms_id", &f.kms_id);
    eq("region", &f.region);
    eq("cloud_name", &f.cloud_name);
    eq("origin", &f.origin);
    eq("key_state", &f.key_state);
    eq("key_usage", &f.key_usage);
    eq("key_spec", &f.key_spec);
    eq("key_material_origin", &f.key_material_origin);
    eq("multi_region_key_type", &f.multi_region_key_type);
    eq("job_config_id", &f.job_config_id);
    if let Some(name) = &f.kms_name {
        // Container names are unique: one id or none, so the page walks (kms_id, created_at, id).
        conds.push("kms_id = (SELECT id FROM kms_containers WHERE name = ?)".into());
        binds.push(name.clone());
    }
    // Aliases and tags are looked up in their tables (migration 0016, kept by triggers).
    if let Some(alias) = &f.alias {
        conds.push("id IN (SELECT key_record_id FROM aws_key_aliases WHERE alias = ?)".into());
        binds.push(alias.clone());
    }
    for (k, v) in &f.tags {
        match v {
            Some(v) => {
                conds.push("id IN (SELECT key_record_id FROM aws_key_tags WHERE tag_key = ? AND tag_value = ?)".into());
                binds.push(k.clone());
                binds.push(v.clone());
            }
            None => {
                conds.push(
                    "id IN (SELECT key_record_id FROM aws_key_tags WHERE tag_key = ?)".into(),
                );
                binds.push(k.clone());
            }
        }
    }
    for (col, v) in [
        ("enabled", f.enabled),
        ("gone", f.gone),
        ("multi_region", f.multi_region),
    ] {
        if let Some(b) = v {
            conds.push(format!("{col} = {}", i32::from(b)));
        }
    }
    if let Some(before) = &f.expiring_before {
        conds.push("valid_to IS NOT NULL AND valid_to <= ?".into());
        binds.push(ts(before));
    }
    if let Some(b) = f.rotation_job_enabled {
        conds.push(if b {
            "job_config_id IS NOT NULL".into()
        } else {
            "job_config_id IS NULL".into()
        });
    }
    if conds.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), binds)
    }
}

/// The key list's two statements for a filter and page, with the filter's values: the
/// total's COUNT and the page's ids in order (for `EXPLAIN QUERY PLAN` in the benchmarks).
pub fn key_list_sql(f: &KeyFilter, query: &ListQuery) -> [(String, Vec<String>); 2] {
    let (clause, binds) = where_clause(f);
    [
        (
            format!("SELECT COUNT(*) FROM aws_keys{clause}"),
            binds.clone(),
        ),
        (
            format!(
                "SELECT id FROM aws_keys{clause}{}",
                super::order_and_page(query, "created_at ASC, id ASC")
            ),
            binds,
        ),
    ]
}

impl SqliteStore {
    pub(super) async fn key_insert(&self, k: &KeyRecord, audit: &AuditDraft) -> Result<()> {
        self.write(insert_statement(k)?, audit).await.map(|_| ())
    }

    /// Saves a record. Where the record stands in a rotation (rotation_status, rotated_from,
    /// rotated_to, rotated_at) is written only by the rotation journal's own transactions
    /// (`begin_rotation`, `finish_rotation`): here it is kept as stored, so that a write from a
    /// copy read before a rotation ended (a sync, an action) cannot undo what it recorded.
    pub(super) async fn key_update(&self, k: &KeyRecord, audit: Option<&AuditDraft>) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let stored = sqlx::query("SELECT record_json FROM aws_keys WHERE id = ?")
            .bind(&k.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(record)
            .transpose()?;
        let merged;
        let k = match stored {
            Some(s) => {
                merged = KeyRecord {
                    rotation_status: s.rotation_status,
                    rotated_from: s.rotated_from,
                    rotated_to: s.rotated_to,
                    rotated_at: s.rotated_at,
                    ..k.clone()
                };
                &merged
            }
            None => k,
        };
        update_statement(k)?
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if let Some(a) = audit {
            self.append_in(&mut tx, a).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    /// A record by id; from memory when it was read since the last write (`read_cache`).
    pub(super) async fn key_get(&self, id: &str) -> Result<Option<KeyRecord>> {
        if let Some(found) = self.cache.key(id) {
            return Ok(Some(found.as_ref().clone()));
        }
        let read_at = self.cache.generation();
        let row = sqlx::query("SELECT record_json FROM aws_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        let Some(rec) = row.as_ref().map(record).transpose()? else {
            return Ok(None);
        };
        let rec = std::sync::Arc::new(rec);
        self.cache.put_key(read_at, std::sync::Arc::clone(&rec));
        Ok(Some(std::sync::Arc::unwrap_or_clone(rec)))
    }

    pub(super) async fn key_find(
        &self,
        kms_id: &str,
        region: &str,
        key_id: &str,
    ) -> Result<Option<KeyRecord>> {
        let row = sqlx::query(
            "SELECT record_json FROM aws_keys WHERE kms_id = ? AND region = ? AND key_id = ?",
        )
        .bind(kms_id)
        .bind(region)
        .bind(key_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_err)?;
        row.as_ref().map(record).transpose()
    }

    /// A page of records: its ids first (from the indexes of migration 0016), then the records
    /// not remembered since the last write (`read_cache`), read and parsed once.
    pub(super) async fn key_list(
        &self,
        f: &KeyFilter,
        query: &ListQuery,
    ) -> Result<Page<KeyRecord>> {
        let [(count_sql, binds), (ids_sql, _)] = key_list_sql(f, query);
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).persistent(false);
        for b in &binds {
            count = count.bind(b);
        }
        let total = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let mut q = sqlx::query_scalar::<_, String>(&ids_sql).persistent(false);
        for b in &binds {
            q = q.bind(b);
        }
        let ids = q.fetch_all(self.pool()).await.map_err(db_err)?;
        let mut found: Vec<Option<std::sync::Arc<KeyRecord>>> =
            ids.iter().map(|id| self.cache.key(id)).collect();
        let missing: Vec<&String> = ids
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(id, _)| id)
            .collect();
        if !missing.is_empty() {
            let read_at = self.cache.generation();
            let mut read = std::collections::HashMap::with_capacity(missing.len());
            for chunk in missing.chunks(500) {
                let sql = format!(
                    "SELECT record_json FROM aws_keys WHERE id IN ({})",
                    vec!["?"; chunk.len()].join(",")
                );
                let mut q = sqlx::query(&sql).persistent(false);
                for id in chunk {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(self.pool()).await.map_err(db_err)? {
                    let rec = std::sync::Arc::new(record(&row)?);
                    self.cache.put_key(read_at, std::sync::Arc::clone(&rec));
                    read.insert(rec.id.clone(), rec);
                }
            }
            for (slot, id) in found.iter_mut().zip(&ids) {
                if slot.is_none() {
                    *slot = read.remove(id);
                }
            }
        }
        // A record deleted between the two reads is left out.
        let items = found
            .into_iter()
            .flatten()
            .map(std::sync::Arc::unwrap_or_clone)
            .collect();
        Ok(Page { total, items })
    }

    pub(super) async fn key_delete(&self, id: &str, audit: &AuditDraft) -> Result<bool> {
        let stmt = sqlx::query("DELETE FROM aws_keys WHERE id = ?").bind(id);
        Ok(self.write(stmt, audit).await? > 0)
    }
}

impl SqliteStore {
    /// Stores a key record (inserted or updated) and closes the journal row that was open for
    /// it (`import_intents` or `create_intents`), with the audit record, in one transaction.
    pub(super) async fn save_key_closing_intent(
        &self,
        k: &KeyRecord,
        update: bool,
        journal: &'static str,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let stmt = if update {
            update_statement(k)?
        } else {
            insert_statement(k)?
        };
        stmt.execute(&mut *tx).await.map_err(db_err)?;
        sqlx::query(&format!("DELETE FROM {journal} WHERE id = ?"))
            .bind(intent_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }
}

impl SqliteStore {
    /// Within `tx` (a delete that lets go of the key records still naming what it deletes):
    /// changes the stored record `key_id` with `change` and audits it, if `condition` (SQL
    /// over `aws_keys`; its `?`, if any, bound to `arg`) still holds for it. Else a conflict
    /// naming the key: the caller returns it, and its transaction writes nothing.
    pub(super) async fn let_go_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        key_id: &str,
        (condition, arg): (&str, Option<&str>),
        change: impl FnOnce(&mut KeyRecord),
        draft: &AuditDraft,
    ) -> Result<()> {
        let sql = format!("SELECT record_json FROM aws_keys WHERE id = ? AND ({condition})");
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(key_id);
        if let Some(arg) = arg {
            query = query.bind(arg);
        }
        let Some(json) = query.fetch_optional(&mut **tx).await.map_err(db_err)? else {
            return Err(CoreError::conflict(format!(
                "key record {key_id} changed meanwhile (it is no longer gone or pending deletion); nothing was deleted"
            )));
        };
        let mut rec: KeyRecord = serde_json::from_str(&json)
            .map_err(|_| CoreError::internal("database: stored key record is malformed"))?;
        change(&mut rec);
        rec.updated_at = draft.at;
        update_statement(&rec)?
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        self.append_in(tx, draft).await
    }
}

impl SqliteStore {
    /// Ends a delete that let go of key records (`let_go_in`): deletes row `id` of `table`,
    /// audits and commits; if another request deleted the row meanwhile, a 404 and nothing of
    /// this transaction is kept.
    pub(super) async fn delete_row_and_commit(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        (table, what): (&'static str, &str),
        id: &str,
        audit: &AuditDraft,
    ) -> Result<bool> {
        let deleted = sqlx::query(&format!("DELETE FROM {table} WHERE id = ?"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(CoreError::not_found(format!(
                "the {what} {id} was deleted meanwhile"
            )));
        }
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
