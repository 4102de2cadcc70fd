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
];

pub async fn apply_sqlite(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for (version, name, sql) in SQLITE {
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
}
