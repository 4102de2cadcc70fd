//! Schema migrations, applied in order at start; each runs once, in its own transaction.

use sqlx::SqlitePool;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "aws_keys",
        include_str!("../migrations/sqlite/0002_aws_keys.sql"),
    ),
    (
        3,
        "sync_jobs",
        include_str!("../migrations/sqlite/0003_sync_jobs.sql"),
    ),
    (
        4,
        "policy_templates",
        include_str!("../migrations/sqlite/0004_policy_templates.sql"),
    ),
    (
        5,
        "byok",
        include_str!("../migrations/sqlite/0005_byok.sql"),
    ),
    (
        6,
        "keks",
        include_str!("../migrations/sqlite/0006_keks.sql"),
    ),
    (
        7,
        "hsm_import_intents",
        include_str!("../migrations/sqlite/0007_hsm_import_intents.sql"),
    ),
    (
        8,
        "job_configs",
        include_str!("../migrations/sqlite/0008_job_configs.sql"),
    ),
    (
        9,
        "runs_and_rotations",
        include_str!("../migrations/sqlite/0009_runs_and_rotations.sql"),
    ),
    (
        10,
        "job_config_reference",
        include_str!("../migrations/sqlite/0010_job_config_reference.sql"),
    ),
    (
        11,
        "login_limits",
        include_str!("../migrations/sqlite/0011_login_limits.sql"),
    ),
    (
        12,
        "keyed_audit_chain",
        include_str!("../migrations/sqlite/0012_keyed_audit_chain.sql"),
    ),
    (
        13,
        "create_intents_idempotency",
        include_str!("../migrations/sqlite/0013_create_intents_idempotency.sql"),
    ),
    (
        14,
        "kms_connection_ref",
        include_str!("../migrations/sqlite/0014_kms_connection_ref.sql"),
    ),
    (
        15,
        "vault_key_names",
        include_str!("../migrations/sqlite/0015_vault_key_names.sql"),
    ),
    (
        16,
        "key_list_indexes",
        include_str!("../migrations/sqlite/0016_key_list_indexes.sql"),
    ),
];

pub async fn apply_sqlite(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    apply_sqlite_up_to(pool, i64::MAX).await
}

/// The migrations up to `last` (tests build databases of an older schema with it).
pub(crate) async fn apply_sqlite_up_to(pool: &SqlitePool, last: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, name, sql) in SQLITE.iter().filter(|(v, _, _)| *v <= last) {
        let mut tx = pool.begin().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied database migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(files.len(), SQLITE.len(), "{files:?}");
        for (i, (version, name, _)) in SQLITE.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
            assert_eq!(files[i], format!("{version:04}_{name}.sql"));
        }
    }

    /// Migration 0015 keeps the vault keys stored before it, lets a name repeat, and keeps
    /// the two triggers of 0007 (an intent names an existing vault key; a key named by an
    /// open intent stays).
    #[tokio::test]
    async fn vault_keys_keep_their_rows_and_triggers_and_names_may_repeat() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        apply_sqlite_up_to(&pool, 14).await.unwrap();
        let insert = "INSERT INTO local_keys (id, name, algorithm, size, material_sealed, created_at, updated_at) VALUES (?, ?, 'aes', 256, x'01', 't', 't')";
        sqlx::query(insert)
            .bind("k1")
            .bind("n")
            .execute(&pool)
            .await
            .unwrap();
        assert!(
            sqlx::query(insert)
                .bind("k2")
                .bind("n")
                .execute(&pool)
                .await
                .is_err()
        );
        sqlx::query("INSERT INTO import_intents (id, key_record_id, local_key_id, created_at) VALUES ('i1', 'r', 'k1', 't')")
            .execute(&pool)
            .await
            .unwrap();
        apply_sqlite(&pool).await.unwrap();
        let (name, description, labels, curve): (String, String, String, String) = sqlx::query_as(
            "SELECT name, description, labels_json, curve FROM local_keys WHERE id = 'k1'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (
                name.as_str(),
                description.as_str(),
                labels.as_str(),
                curve.as_str()
            ),
            ("n", "", "{}", "")
        );
        sqlx::query(insert)
            .bind("k2")
            .bind("n")
            .execute(&pool)
            .await
            .unwrap();
        let err = sqlx::query("DELETE FROM local_keys WHERE id = 'k1'")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        let err = sqlx::query("INSERT INTO import_intents (id, key_record_id, local_key_id, created_at) VALUES ('i2', 'r', 'nope', 't')")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        sqlx::query("DELETE FROM local_keys WHERE id = 'k2'")
            .execute(&pool)
            .await
            .unwrap();
    }

    /// A key refers only to a job config that exists (migration 0010), whatever the order of
    /// a concurrent delete and attach; foreign keys are off so that only the triggers act.
    #[tokio::test]
    async fn a_key_cannot_refer_to_a_missing_job_config() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        apply_sqlite(&pool).await.unwrap();
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&pool)
            .await
            .unwrap();
        let insert = "INSERT INTO aws_keys (id, kms_id, region, key_id, arn, record_json, created_at, updated_at, job_config_id) VALUES (?, 'k', 'r', ?, 'a', '{}', 't', 't', ?)";
        let err = sqlx::query(insert)
            .bind("1")
            .bind("kid1")
            .bind("no-such-config")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
        sqlx::query("INSERT INTO job_configs (id, name, operation, record_json, created_at, updated_at) VALUES ('c1', 'n', 'cckm_key_rotation', '{}', 't', 't')")
            .execute(&pool)
            .await
            .unwrap();
        for (id, config) in [("1", Some("c1")), ("2", None)] {
            sqlx::query(insert)
                .bind(id)
                .bind(format!("kid{id}"))
                .bind(config)
                .execute(&pool)
                .await
                .unwrap();
        }
        let attach = "UPDATE aws_keys SET job_config_id = ? WHERE id = ?";
        assert!(
            sqlx::query(attach)
                .bind("gone-config")
                .bind("2")
                .execute(&pool)
                .await
                .is_err()
        );
        sqlx::query(attach)
            .bind("c1")
            .bind("2")
            .execute(&pool)
            .await
            .unwrap();
        // A key left referring to a deleted config (a gone key) can still be saved unchanged.
        sqlx::query("DELETE FROM job_configs WHERE id = 'c1'")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(attach)
            .bind("c1")
            .bind("1")
            .execute(&pool)
            .await
            .unwrap();
    }
}
