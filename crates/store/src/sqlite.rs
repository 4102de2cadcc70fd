//! The `Store` port over SQLite. Writes are serialised through one lock (SQLite has one
//! writer anyway), and every change commits together with its audit record.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use std::sync::Arc;

use keyward_core::audit::{
    AuditDraft, AuditEntry, AuditMac, AuditVerification, GENESIS_HASH, Outcome,
};
use keyward_core::auth::RefreshToken;
use keyward_core::connections::{AwsConnection, ConnectionFilter};
use keyward_core::idempotency::{IdempotencyClaim, IdempotencyEntry};
use keyward_core::keys::create_journal::CreateIntent;
use keyward_core::keys::import::ImportIntent;
use keyward_core::keys::rotate::KeyRotation;
use keyward_core::keys::sync::SyncJob;
use keyward_core::keys::templates::PolicyTemplate;
use keyward_core::keys::{KeyFilter, KeyRecord};
use keyward_core::kms::{KmsContainer, KmsFilter};
use keyward_core::local_keys::LocalKey;
use keyward_core::login_limits::{LoginCounters, Refused, SourceBudget};
use keyward_core::paging::{ListQuery, Page};
use keyward_core::ports::{Lease, SealedPlace, SealedValue, Store};
use keyward_core::scheduler::JobConfig;
use keyward_core::scheduler::runs::JobRun;
use keyward_core::users::User;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool, Transaction};

mod bench_seed;
mod byok;
mod containers;
mod creates;
mod job_configs;
mod job_runs;
mod keks;
mod key_batches;
mod keys;
pub use keys::key_list_sql;
mod logins;
mod read_cache;
mod rotations;
mod sync_jobs;
mod templates;

#[cfg(test)]
mod audit_tests;

use crate::audit_chain;
use crate::migrations;
use crate::rows::{self, db_err, opt_ts, to_json, ts};

type Result<T> = std::result::Result<T, CoreError>;

/// The database holds sealed secrets, password hashes and the audit trail: its file is made
/// 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm` files the database file's
/// mode), and an existing file, `-wal` or `-shm` that others may read is narrowed to 0600.
fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |what: &str, p: &Path, e: std::io::Error| {
        CoreError::internal(format!("{what} {}: {e}", p.display()))
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("create", path, e)),
    }
    let name = path.as_os_str().to_owned();
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut n = name.clone();
        n.push(suffix);
        files.push(n.into());
    }
    for f in files {
        match std::fs::metadata(&f) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("chmod 0600", &f, e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("stat", &f, e)),
        }
    }
    Ok(())
}

pub struct SqliteStore {
    pool: SqlitePool,
    /// Every write holds it; releasing it forgets `cache`.
    write_lock: read_cache::WriteLock,
    /// Key records by id and users' names and groups, between writes (see `read_cache`).
    cache: read_cache::ReadCache,
    /// Seals the audit chain (the store never sees the root key itself).
    audit_mac: Arc<dyn AuditMac>,
}

/// What [`SqliteStore::rekey_unkeyed_chain`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRekey {
    /// Records re-sealed with the MAC.
    pub records: i64,
    /// What the old SHA-256 chain's check found before re-keying (empty: it was intact).
    pub problems: Vec<String>,
}

/// Maps the API's sort fields to columns.
fn column(field: &str) -> &'static str {
    match field {
        "createdAt" => "created_at",
        "updatedAt" => "updated_at",
        "username" => "username",
        "name" => "name",
        "account_id" => "account_id",
        "seq" => "seq",
        "actor" => "actor",
        "action" => "action",
        "region" => "region",
        "synced_at" => "synced_at",
        "keystate" => "key_state",
        _ => "rowid",
    }
}

/// ` ORDER BY ... LIMIT ... OFFSET ...` for a list query; `default` breaks ties.
fn order_and_page(query: &ListQuery, default: &str) -> String {
    let mut order: Vec<String> = query
        .sort
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                column(k.field),
                if k.descending { "DESC" } else { "ASC" }
            )
        })
        .collect();
    order.push(default.to_string());
    format!(
        " ORDER BY {} LIMIT {} OFFSET {}",
        order.join(", "),
        query.limit.unwrap_or(-1),
        query.skip
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, owner-only, and applies the migrations.
    /// `audit_mac` seals the audit chain (derived from the root key: `keyward_crypto::AuditKeys`).
    pub async fn open(path: &Path, audit_mac: Arc<dyn AuditMac>) -> Result<Self> {
        owner_only(path)?;
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db_err)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let cache = read_cache::ReadCache::default();
        let hooked = cache.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(move |conn, _| {
                let cache = hooked.clone();
                Box::pin(async move {
                    conn.lock_handle().await?.set_update_hook(move |change| {
                        if change.table == "aws_keys" || change.table == "users" {
                            cache.forget();
                        }
                    });
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(db_err)?;
        migrations::apply_sqlite(&pool).await.map_err(db_err)?;
        Ok(Self {
            pool,
            write_lock: read_cache::WriteLock::new(cache.clone()),
            cache,
            audit_mac,
        })
    }

    /// A transaction that reads before it writes: BEGIN IMMEDIATE takes SQLite's write lock at
    /// once (waiting up to the busy timeout), so that what it reads is still current when it
    /// writes; a deferred one would fail with "database is locked" if another connection wrote
    /// in between.
    async fn begin_read_then_write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Every audit record in `seq` order, the head, and whether the chain still awaits
    /// re-keying, read in one snapshot (a live server may append meanwhile).
    async fn audit_snapshot(
        &self,
        tx: &mut Transaction<'_, Sqlite>,
    ) -> Result<(Vec<AuditEntry>, Option<(i64, String)>, bool)> {
        let rows = sqlx::query("SELECT * FROM audit_records ORDER BY seq ASC")
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
        let entries = rows.iter().map(rows::audit).collect::<Result<Vec<_>>>()?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE one = 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        let pending: Option<i64> =
            sqlx::query_scalar("SELECT records FROM audit_rekey_pending WHERE one = 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        Ok((entries, head, pending.is_some()))
    }

    /// Re-walks the chain; with `expect` (from a signed checkpoint), also checks that record
    /// `expect.0` is still there with MAC `expect.1`.
    pub async fn verify_audit_expecting(
        &self,
        expect: Option<&(i64, String)>,
    ) -> Result<AuditVerification> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (entries, head, pending) = self.audit_snapshot(&mut tx).await?;
        tx.rollback().await.map_err(db_err)?;
        if pending {
            // Never fall back to checking plain SHA-256 here: whoever can write the database
            // could set the mark and recompute the hashes.
            let mut report = audit_chain::verify_unkeyed(&entries, head);
            report.problems.insert(
                0,
                "the trail was written before the audit chain was keyed and has not been re-keyed yet: start the server once (it re-keys the chain at start), then verify again".into(),
            );
            return Ok(report);
        }
        Ok(audit_chain::verify(
            self.audit_mac.as_ref(),
            &entries,
            head,
            expect,
        ))
    }

    /// The chain's head: the last record's seq and MAC (None while the trail is empty).
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE one = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Re-keys a chain written before the chain was keyed (migration 0012 marks such a
    /// database), in one transaction: checks the old SHA-256 chain, replaces every record's
    /// hash with its MAC (re-linking prev_hash), moves the head, removes the mark and appends
    /// an `audit.rekey` record saying how many records were re-keyed and what the check of the
    /// old chain found. A gap stays a gap (later checks still report it); an edit the old chain
    /// showed is named in the `audit.rekey` record. Returns None when there is nothing to do.
    pub async fn rekey_unkeyed_chain(&self, at: DateTime<Utc>) -> Result<Option<AuditRekey>> {
        let pending: Option<i64> =
            sqlx::query_scalar("SELECT records FROM audit_rekey_pending WHERE one = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        if pending.is_none() {
            return Ok(None);
        }
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let (mut entries, head, pending) = self.audit_snapshot(&mut tx).await?;
        if !pending {
            tx.rollback().await.map_err(db_err)?;
            return Ok(None);
        }
        let old = audit_chain::verify_unkeyed(&entries, head);
        let mut prev = GENESIS_HASH.to_string();
        for e in &mut entries {
            e.prev_hash = prev;
            e.hash = audit_chain::mac_entry(self.audit_mac.as_ref(), e);
            sqlx::query("UPDATE audit_records SET prev_hash = ?, hash = ? WHERE seq = ?")
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .bind(e.seq)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            prev = e.hash.clone();
        }
        match entries.last() {
            Some(last) => {
                sqlx::query(
                    "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                )
                .bind(last.seq)
                .bind(&last.hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            None => {
                sqlx::query("DELETE FROM audit_head")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        sqlx::query("DELETE FROM audit_rekey_pending")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let records = entries.len() as i64;
        let detail = if old.is_intact() {
            format!(
                "re-keyed {records} records written before the audit chain was keyed (HMAC-SHA256); their SHA-256 chain was intact"
            )
        } else {
            format!(
                "re-keyed {records} records written before the audit chain was keyed (HMAC-SHA256); their SHA-256 chain was NOT intact: {}",
                old.problems.join("; ")
            )
        };
        let draft = AuditDraft {
            at,
            actor: keyward_core::audit::Caller::system().principal.username,
            action: "audit.rekey".into(),
            target: "audit-chain".into(),
            outcome: if old.is_intact() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            detail,
            request_id: "system".into(),
        };
        self.append_in(&mut tx, &draft).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(AuditRekey {
            records,
            problems: old.problems,
        }))
    }

    async fn append_in(&self, tx: &mut Transaction<'_, Sqlite>, draft: &AuditDraft) -> Result<()> {
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE one = 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        let (seq, prev_hash) = match head {
            Some((s, h)) => (s + 1, h),
            None => (1, GENESIS_HASH.to_string()),
        };
        let mut entry = AuditEntry {
            seq,
            id: uuid::Uuid::new_v4().to_string(),
            at: draft.at,
            actor: draft.actor.clone(),
            action: draft.action.clone(),
            target: draft.target.clone(),
            outcome: draft.outcome.as_str().to_string(),
            detail: draft.detail.clone(),
            request_id: draft.request_id.clone(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = audit_chain::mac_entry(self.audit_mac.as_ref(), &entry);
        sqlx::query(
            "INSERT INTO audit_records (seq, id, at, actor, action, target, outcome, detail, request_id, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(entry.seq)
        .bind(&entry.id)
        .bind(ts(&entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(&entry.outcome)
        .bind(&entry.detail)
        .bind(&entry.request_id)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(entry.seq)
        .bind(&entry.hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Runs one write statement and its audit record in one transaction; returns rows affected.
    async fn write<'q>(
        &self,
        stmt: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        audit: &AuditDraft,
    ) -> Result<u64> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let affected = stmt
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(affected)
    }

    /// Runs one write statement without an audit record (background refreshes).
    async fn write_unaudited<'q>(
        &self,
        stmt: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<u64> {
        let _guard = self.write_lock.lock().await;
        Ok(stmt
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected())
    }

    async fn fetch_one_opt<T>(
        &self,
        sql: &str,
        bind: &str,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = sqlx::query(sql)
            .bind(bind)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(map).transpose()
    }

    async fn page<T>(
        &self,
        table: &str,
        query: &ListQuery,
        default_order: &str,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let sql = format!(
            "SELECT * FROM {table}{}",
            order_and_page(query, default_order)
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(map).collect::<Result<Vec<T>>>()?;
        Ok(Page { total, items })
    }

    /// The rows of a leased table (job runs, rotations) still in `working` status whose lease
    /// expired before `now`, oldest first.
    async fn stale_leased<T>(
        &self,
        table: &str,
        working: &str,
        now: DateTime<Utc>,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let sql = format!(
            "SELECT record_json FROM {table} WHERE status = ? AND lease_until < ? ORDER BY created_at"
        );
        let rows = sqlx::query(&sql)
            .bind(working)
            .bind(ts(&now))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(map).collect()
    }

    /// Takes over a row of a leased table still in `working` status whose lease expired
    /// before `now` (a conditional UPDATE, so only one node wins); true if `lease` holds it.
    async fn take_leased(
        &self,
        table: &str,
        working: &str,
        id: &str,
        lease: &keyward_core::ports::Lease,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {table} SET lease_owner = ?, lease_until = ? WHERE id = ? AND status = ? AND lease_until < ?"
        );
        let stmt = sqlx::query(&sql)
            .bind(&lease.owner)
            .bind(ts(&lease.until))
            .bind(id)
            .bind(working)
            .bind(ts(&now));
        Ok(self.write_unaudited(stmt).await? > 0)
    }

    async fn count(&self, sql: &str, bind: &str) -> Result<i64> {
        sqlx::query_scalar(sql)
            .bind(bind)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }
}

/// The login counters are not written here: only the atomic login paths change them (and a
/// password change clears them, in `update_user`).
const USER_UPDATE: &str = "UPDATE users SET username = ?, name = ?, email = ?, groups_json = ?, password_hash = ?, updated_at = ? WHERE id = ?";
const CONN_UPDATE: &str = "UPDATE aws_connections SET description = ?, access_key_id = ?, secret_sealed = ?, assume_role_arn = ?, assume_role_external_id = ?, aws_region = ?, aws_sts_regional_endpoints = ?, cloud_name = ?, endpoint_url = ?, labels_json = ?, meta_json = ?, products_json = ?, updated_at = ?, last_connection_ok = ?, last_connection_error = ?, last_connection_at = ? WHERE id = ?";

fn bind_user_update<'q>(
    u: &'q User,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    sqlx::query(USER_UPDATE)
        .bind(&u.username)
        .bind(&u.name)
        .bind(&u.email)
        .bind(to_json(&u.groups))
        .bind(&u.password_hash)
        .bind(ts(&u.updated_at))
        .bind(&u.id)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_system_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT sealed FROM system_secrets WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn put_system_secret_if_absent(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let _guard = self.write_lock.lock().await;
        sqlx::query("INSERT INTO system_secrets (name, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(sealed)
            .bind(ts(&Utc::now()))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        sqlx::query_scalar("SELECT sealed FROM system_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn list_keks(&self) -> Result<Vec<(u32, Vec<u8>, bool)>> {
        self.keks_list().await
    }

    async fn insert_kek(&self, id: u32, sealed: &[u8]) -> Result<()> {
        self.kek_insert(id, sealed).await
    }

    async fn set_active_kek(&self, id: u32, audit: &AuditDraft) -> Result<()> {
        self.kek_activate(id, audit).await
    }

    async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        self.sealed_list().await
    }

    async fn reseal_value(&self, place: &SealedPlace, old: &[u8], new: &[u8]) -> Result<bool> {
        self.sealed_replace(place, old, new).await
    }

    async fn count_users(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn insert_user(&self, u: &User, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO users (id, username, name, email, groups_json, password_hash, created_at, updated_at, last_login, failed_logins, last_failed_at, locked_until) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.name)
            .bind(&u.email)
            .bind(to_json(&u.groups))
            .bind(&u.password_hash)
            .bind(ts(&u.created_at))
            .bind(ts(&u.updated_at))
            .bind(opt_ts(&u.last_login))
            .bind(u.failed_logins)
            .bind(opt_ts(&u.last_failed_at))
            .bind(opt_ts(&u.locked_until));
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        self.fetch_one_opt("SELECT * FROM users WHERE id = ?", id, rows::user)
            .await
    }

    async fn user_identity(&self, id: &str) -> Result<Option<(String, Vec<String>)>> {
        if let Some(found) = self.cache.identity(id) {
            return Ok(Some(found.as_ref().clone()));
        }
        let read_at = self.cache.generation();
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT username, groups_json FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some((username, groups_json)) = row else {
            return Ok(None);
        };
        let groups: Vec<String> = serde_json::from_str(&groups_json)
            .map_err(|_| CoreError::internal("database: a user's groups are malformed"))?;
        let identity = Arc::new((username, groups));
        self.cache.put_identity(read_at, id, Arc::clone(&identity));
        Ok(Some(identity.as_ref().clone()))
    }

    async fn get_user_by_name(&self, username: &str) -> Result<Option<User>> {
        self.fetch_one_opt(
            "SELECT * FROM users WHERE username = ? COLLATE NOCASE",
            username,
            rows::user,
        )
        .await
    }

    async fn list_users(&self, query: &ListQuery) -> Result<Page<User>> {
        self.page("users", query, "created_at ASC, id ASC", rows::user)
            .await
    }

    async fn update_user(
        &self,
        u: &User,
        revoke_refresh_tokens: bool,
        audit: &AuditDraft,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        bind_user_update(u)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if revoke_refresh_tokens {
            // A new password: the failures before it no longer count.
            sqlx::query(
                "UPDATE users SET failed_logins = 0, last_failed_at = NULL, locked_until = NULL WHERE id = ?",
            )
            .bind(&u.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(ts(&u.updated_at))
            .bind(&u.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn admit_login(
        &self,
        user_id: &str,
        admit: &(
             dyn Fn(LoginCounters) -> std::result::Result<LoginCounters, Refused> + Send + Sync
         ),
    ) -> Result<std::result::Result<LoginCounters, Refused>> {
        self.login_admit(user_id, admit).await
    }

    async fn login_succeeded(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
        admitted_count: i64,
    ) -> Result<()> {
        self.login_success(user_id, at, admitted_count).await
    }

    async fn unlock_user(&self, user_id: &str, audit: &AuditDraft) -> Result<bool> {
        let stmt = sqlx::query(
            "UPDATE users SET failed_logins = 0, last_failed_at = NULL, locked_until = NULL WHERE id = ?",
        )
        .bind(user_id);
        Ok(self.write(stmt, audit).await? > 0)
    }

    async fn update_login_source(
        &self,
        address: &str,
        now: DateTime<Utc>,
        update: &(dyn Fn(SourceBudget) -> std::result::Result<SourceBudget, Refused> + Send + Sync),
    ) -> Result<std::result::Result<SourceBudget, Refused>> {
        self.login_source(address, now, update).await
    }

    async fn delete_user(&self, id: &str, audit: &AuditDraft) -> Result<bool> {
        let stmt = sqlx::query("DELETE FROM users WHERE id = ?").bind(id);
        Ok(self.write(stmt, audit).await? > 0)
    }

    async fn insert_refresh_token(&self, t: &RefreshToken, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO refresh_tokens (id, user_id, digest, client_id, created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?)")
            .bind(&t.id)
            .bind(&t.user_id)
            .bind(&t.digest)
            .bind(&t.client_id)
            .bind(ts(&t.created_at))
            .bind(ts(&t.expires_at))
            .bind(opt_ts(&t.revoked_at));
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn get_refresh_token_by_digest(&self, digest: &str) -> Result<Option<RefreshToken>> {
        self.fetch_one_opt(
            "SELECT * FROM refresh_tokens WHERE digest = ?",
            digest,
            rows::refresh_token,
        )
        .await
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>> {
        self.fetch_one_opt(
            "SELECT * FROM refresh_tokens WHERE id = ?",
            id,
            rows::refresh_token,
        )
        .await
    }

    async fn revoke_refresh_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditDraft,
    ) -> Result<bool> {
        let stmt = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(&at))
        .bind(id);
        Ok(self.write(stmt, audit).await? > 0)
    }

    async fn insert_connection(&self, c: &AwsConnection, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO aws_connections (id, name, description, access_key_id, secret_sealed, assume_role_arn, assume_role_external_id, aws_region, aws_sts_regional_endpoints, cloud_name, endpoint_url, labels_json, meta_json, products_json, created_at, updated_at, last_connection_ok, last_connection_error, last_connection_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.access_key_id)
            .bind(&c.secret_sealed)
            .bind(&c.assume_role_arn)
            .bind(&c.assume_role_external_id)
            .bind(&c.aws_region)
            .bind(&c.aws_sts_regional_endpoints)
            .bind(&c.cloud_name)
            .bind(&c.endpoint_url)
            .bind(to_json(&c.labels))
            .bind(to_json(&c.meta))
            .bind(to_json(&c.products))
            .bind(ts(&c.created_at))
            .bind(ts(&c.updated_at))
            .bind(c.last_connection_ok)
            .bind(&c.last_connection_error)
            .bind(opt_ts(&c.last_connection_at));
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn get_connection(&self, id: &str) -> Result<Option<AwsConnection>> {
        self.fetch_one_opt(
            "SELECT * FROM aws_connections WHERE id = ?",
            id,
            rows::connection,
        )
        .await
    }

    async fn get_connection_by_name(&self, name: &str) -> Result<Option<AwsConnection>> {
        self.fetch_one_opt(
            "SELECT * FROM aws_connections WHERE name = ?",
            name,
            rows::connection,
        )
        .await
    }

    async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        query: &ListQuery,
    ) -> Result<Page<AwsConnection>> {
        self.connections_where(filter, query).await
    }

    async fn update_connection(&self, c: &AwsConnection, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query(CONN_UPDATE)
            .bind(&c.description)
            .bind(&c.access_key_id)
            .bind(&c.secret_sealed)
            .bind(&c.assume_role_arn)
            .bind(&c.assume_role_external_id)
            .bind(&c.aws_region)
            .bind(&c.aws_sts_regional_endpoints)
            .bind(&c.cloud_name)
            .bind(&c.endpoint_url)
            .bind(to_json(&c.labels))
            .bind(to_json(&c.meta))
            .bind(to_json(&c.products))
            .bind(ts(&c.updated_at))
            .bind(c.last_connection_ok)
            .bind(&c.last_connection_error)
            .bind(opt_ts(&c.last_connection_at))
            .bind(&c.id);
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn delete_connection(&self, id: &str, audit: &AuditDraft) -> Result<bool> {
        let stmt = sqlx::query("DELETE FROM aws_connections WHERE id = ?").bind(id);
        Ok(self.write(stmt, audit).await? > 0)
    }

    async fn record_connection_test(
        &self,
        id: &str,
        ok: bool,
        error: &str,
        at: DateTime<Utc>,
        audit: &AuditDraft,
    ) -> Result<()> {
        let stmt = sqlx::query("UPDATE aws_connections SET last_connection_ok = ?, last_connection_error = ?, last_connection_at = ? WHERE id = ?")
            .bind(ok)
            .bind(error)
            .bind(ts(&at))
            .bind(id);
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn insert_kms(&self, k: &KmsContainer, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO kms_containers (id, name, account_id, connection_id, connection_ref, regions_json, assume_role_arn, assume_role_external_id, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&k.id)
            .bind(&k.name)
            .bind(&k.account_id)
            .bind(&k.connection_id)
            .bind(&k.connection_ref)
            .bind(to_json(&k.regions))
            .bind(&k.assume_role_arn)
            .bind(&k.assume_role_external_id)
            .bind(&k.status)
            .bind(ts(&k.created_at))
            .bind(ts(&k.updated_at));
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn get_kms(&self, id: &str) -> Result<Option<KmsContainer>> {
        self.fetch_one_opt("SELECT * FROM kms_containers WHERE id = ?", id, rows::kms)
            .await
    }

    async fn get_kms_by_name(&self, name: &str) -> Result<Option<KmsContainer>> {
        self.fetch_one_opt(
            "SELECT * FROM kms_containers WHERE name = ?",
            name,
            rows::kms,
        )
        .await
    }

    async fn list_kms(&self, query: &ListQuery) -> Result<Page<KmsContainer>> {
        self.page("kms_containers", query, "created_at ASC, id ASC", rows::kms)
            .await
    }

    async fn list_kms_where(
        &self,
        filter: &KmsFilter,
        query: &ListQuery,
    ) -> Result<Page<KmsContainer>> {
        self.kms_where(filter, query).await
    }

    async fn count_kms_using_connection(&self, connection_id: &str) -> Result<i64> {
        self.count(
            "SELECT COUNT(*) FROM kms_containers WHERE connection_id = ?",
            connection_id,
        )
        .await
    }

    async fn count_live_keys_in_kms(&self, kms_id: &str) -> Result<i64> {
        self.count(
            &format!(
                "SELECT COUNT(*) FROM aws_keys WHERE kms_id = ? AND {}",
                containers::LIVE
            ),
            kms_id,
        )
        .await
    }

    async fn update_kms(&self, k: &KmsContainer, audit: &AuditDraft) -> Result<()> {
        let stmt = sqlx::query("UPDATE kms_containers SET connection_id = ?, connection_ref = ?, regions_json = ?, assume_role_arn = ?, assume_role_external_id = ?, status = ?, updated_at = ? WHERE id = ?")
            .bind(&k.connection_id)
            .bind(&k.connection_ref)
            .bind(to_json(&k.regions))
            .bind(&k.assume_role_arn)
            .bind(&k.assume_role_external_id)
            .bind(&k.status)
            .bind(ts(&k.updated_at))
            .bind(&k.id);
        self.write(stmt, audit).await.map(|_| ())
    }

    async fn delete_kms(
        &self,
        id: &str,
        forget: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        self.kms_delete_forgetting(id, forget, audit).await
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditDraft) -> Result<()> {
        self.key_insert(key, audit).await
    }

    async fn update_key(&self, key: &KeyRecord, audit: Option<&AuditDraft>) -> Result<()> {
        self.key_update(key, audit).await
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>> {
        self.key_get(id).await
    }

    async fn find_key(
        &self,
        kms_id: &str,
        region: &str,
        key_id: &str,
    ) -> Result<Option<KeyRecord>> {
        self.key_find(kms_id, region, key_id).await
    }

    async fn list_keys(&self, filter: &KeyFilter, query: &ListQuery) -> Result<Page<KeyRecord>> {
        self.key_list(filter, query).await
    }

    async fn delete_key(&self, id: &str, audit: &AuditDraft) -> Result<bool> {
        self.key_delete(id, audit).await
    }

    async fn upsert_synced_keys(
        &self,
        records: &[KeyRecord],
        audits: &[AuditDraft],
    ) -> Result<u64> {
        self.keys_upsert_synced(records, audits).await
    }

    async fn mark_unsynced_gone(
        &self,
        kms_id: &str,
        region: &str,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.keys_mark_unsynced_gone(kms_id, region, before, now)
            .await
    }

    async fn insert_local_key(&self, key: &LocalKey, audit: &AuditDraft) -> Result<()> {
        self.local_key_insert(key, audit).await
    }

    async fn get_local_key(&self, id: &str) -> Result<Option<LocalKey>> {
        self.local_key_get("id", id).await
    }

    async fn list_local_keys(
        &self,
        name: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<LocalKey>> {
        self.local_key_list(name, query).await
    }

    async fn update_local_key(&self, key: &LocalKey, audit: &AuditDraft) -> Result<()> {
        self.local_key_update(key, audit).await
    }

    async fn delete_local_key_detaching(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        self.local_key_delete(id, detach, audit).await
    }

    async fn aws_keys_using_local_key(&self, local_key_id: &str) -> Result<Vec<String>> {
        self.local_key_users(local_key_id).await
    }

    async fn insert_import_intent(&self, intent: &ImportIntent) -> Result<()> {
        self.intent_insert(intent).await
    }

    async fn finish_import(
        &self,
        key: &KeyRecord,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.intent_finish(key, intent_id, audit).await
    }

    async fn delete_import_intent(&self, id: &str) -> Result<()> {
        self.intent_delete(id).await
    }

    async fn open_import_intents(&self) -> Result<Vec<ImportIntent>> {
        self.intents_open().await
    }

    async fn insert_create_intent(&self, intent: &CreateIntent) -> Result<()> {
        self.create_intent_insert(intent).await
    }

    async fn finish_create(
        &self,
        key: &KeyRecord,
        update: bool,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.create_finish(key, update, intent_id, audit).await
    }

    async fn delete_create_intent(&self, id: &str) -> Result<()> {
        self.create_intent_delete(id).await
    }

    async fn open_create_intents(&self) -> Result<Vec<CreateIntent>> {
        self.create_intents_open().await
    }

    async fn claim_idempotency(
        &self,
        entry: &IdempotencyEntry,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyClaim> {
        self.idempotency_claim(entry, now).await
    }

    async fn retake_idempotency(
        &self,
        entry: &IdempotencyEntry,
        old_request_id: &str,
    ) -> Result<bool> {
        self.idempotency_retake(entry, old_request_id).await
    }

    async fn finish_idempotency(
        &self,
        user_id: &str,
        key: &str,
        request_id: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        self.idempotency_finish(user_id, key, request_id, status, body)
            .await
    }

    async fn release_idempotency(&self, user_id: &str, key: &str, request_id: &str) -> Result<()> {
        self.idempotency_release(user_id, key, request_id).await
    }

    async fn idempotency_of_request(&self, request_id: &str) -> Result<Vec<IdempotencyEntry>> {
        self.idempotency_of(request_id).await
    }

    async fn purge_idempotency(&self, now: DateTime<Utc>) -> Result<u64> {
        self.idempotency_purge(now).await
    }

    async fn insert_job_config(&self, c: &JobConfig, audit: &AuditDraft) -> Result<()> {
        self.job_config_insert(c, audit).await
    }

    async fn update_job_config(&self, c: &JobConfig, audit: &AuditDraft) -> Result<()> {
        self.job_config_update(c, audit).await
    }

    async fn get_job_config(&self, id: &str) -> Result<Option<JobConfig>> {
        self.job_config_get("id", id).await
    }

    async fn get_job_config_by_name(&self, name: &str) -> Result<Option<JobConfig>> {
        self.job_config_get("name", name).await
    }

    async fn list_job_configs(
        &self,
        filter: &keyward_core::scheduler::JobConfigFilter,
        query: &ListQuery,
    ) -> Result<Page<JobConfig>> {
        self.job_config_list(filter, query).await
    }

    async fn delete_job_config_detaching(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        self.job_config_delete(id, detach, audit).await
    }

    async fn claim_job_run(&self, run: &JobRun, lease: &Lease, audit: &AuditDraft) -> Result<bool> {
        self.job_run_claim(run, lease, audit).await
    }

    async fn update_job_run(
        &self,
        run: &JobRun,
        lease: &Lease,
        audit: Option<&AuditDraft>,
    ) -> Result<bool> {
        self.job_run_update(run, lease, audit).await
    }

    async fn get_job_run(&self, id: &str) -> Result<Option<JobRun>> {
        self.job_run_get(id).await
    }

    async fn list_job_runs(
        &self,
        job_config_id: Option<&str>,
        status: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<JobRun>> {
        self.job_run_list(job_config_id, status, query).await
    }

    async fn last_scheduled_run(&self, job_config_id: &str) -> Result<Option<DateTime<Utc>>> {
        self.job_run_last_scheduled(job_config_id).await
    }

    async fn stale_job_runs(&self, now: DateTime<Utc>) -> Result<Vec<JobRun>> {
        self.job_runs_stale(now).await
    }

    async fn take_job_run(&self, id: &str, lease: &Lease, now: DateTime<Utc>) -> Result<bool> {
        self.job_run_take(id, lease, now).await
    }

    async fn begin_rotation(
        &self,
        r: &KeyRotation,
        old: &KeyRecord,
        lease: &Lease,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.rotation_begin(r, old, lease, audit).await
    }

    async fn update_rotation(&self, r: &KeyRotation, lease: &Lease) -> Result<bool> {
        self.rotation_update(r, lease).await
    }

    async fn finish_rotation(
        &self,
        r: &KeyRotation,
        keys: &[&KeyRecord],
        lease: &Lease,
        audit: &AuditDraft,
    ) -> Result<()> {
        self.rotation_finish(r, keys, lease, audit).await
    }

    async fn get_rotation(&self, id: &str) -> Result<Option<KeyRotation>> {
        self.rotation_get(id).await
    }

    async fn list_rotations(
        &self,
        key_record_id: &str,
        query: &ListQuery,
    ) -> Result<Page<KeyRotation>> {
        self.rotation_list(key_record_id, query).await
    }

    async fn stale_rotations(&self, now: DateTime<Utc>) -> Result<Vec<KeyRotation>> {
        self.rotations_stale(now).await
    }

    async fn take_rotation(&self, id: &str, lease: &Lease, now: DateTime<Utc>) -> Result<bool> {
        self.rotation_take(id, lease, now).await
    }

    async fn insert_template(&self, t: &PolicyTemplate, audit: &AuditDraft) -> Result<()> {
        self.template_insert(t, audit).await
    }

    async fn update_template(&self, t: &PolicyTemplate, audit: &AuditDraft) -> Result<()> {
        self.template_update(t, audit).await
    }

    async fn get_template(&self, id: &str) -> Result<Option<PolicyTemplate>> {
        self.template_get("id", id).await
    }

    async fn get_template_by_name(&self, name: &str) -> Result<Option<PolicyTemplate>> {
        self.template_get("name", name).await
    }

    async fn list_templates(&self, query: &ListQuery) -> Result<Page<PolicyTemplate>> {
        self.template_list(query).await
    }

    async fn delete_template(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        self.template_delete_detaching(
            id,
            keyward_core::keys::templates::TEMPLATE_TAG,
            detach,
            audit,
        )
        .await
    }

    async fn mark_template_verified(&self, id: &str) -> Result<()> {
        self.template_mark_verified(id).await
    }

    async fn insert_sync_job(&self, job: &SyncJob, audit: &AuditDraft) -> Result<()> {
        self.sync_job_insert(job, audit).await
    }

    async fn update_sync_job(&self, job: &SyncJob, audit: Option<&AuditDraft>) -> Result<()> {
        self.sync_job_update(job, audit).await
    }

    async fn get_sync_job(&self, id: &str) -> Result<Option<SyncJob>> {
        self.sync_job_get(id).await
    }

    async fn list_sync_jobs(
        &self,
        id: Option<&str>,
        overall_status: Option<&str>,
        kms_id: Option<&str>,
        query: &ListQuery,
    ) -> Result<Page<SyncJob>> {
        self.sync_job_list(id, overall_status, kms_id, query).await
    }

    async fn append_audit(&self, audit: &AuditDraft) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn list_audit(&self, query: &ListQuery) -> Result<Page<AuditEntry>> {
        self.page("audit_records", query, "seq DESC", rows::audit)
            .await
    }

    async fn verify_audit(&self) -> Result<AuditVerification> {
        self.verify_audit_expecting(None).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// The database was created 0644 (and so were its -wal and -shm).
    #[tokio::test]
    async fn the_database_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        let store = SqliteStore::open(&db, super::audit_tests::mac(b"k"))
            .await
            .unwrap();
        sqlx::query("SELECT count(*) FROM schema_migrations")
            .execute(store.pool())
            .await
            .unwrap();
        for f in ["k.db", "k.db-wal", "k.db-shm"] {
            assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
        }
        store.close().await;
        // An older, readable database is narrowed when opened.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteStore::open(&db, super::audit_tests::mac(b"k"))
            .await
            .unwrap();
        assert_eq!(mode(&db), 0o600);
        store.close().await;
    }
}
