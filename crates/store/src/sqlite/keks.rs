//! Key-encryption keys and the re-sealing of every stored secret.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::ports::{SealedPlace, SealedValue};

use super::SqliteStore;
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

impl SqliteStore {
    pub(super) async fn keks_list(&self) -> Result<Vec<(u32, Vec<u8>, bool)>> {
        let rows: Vec<(i64, Vec<u8>, bool)> =
            sqlx::query_as("SELECT id, sealed, active FROM keks ORDER BY id")
                .fetch_all(self.pool())
                .await
                .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, s, a)| (id as u32, s, a))
            .collect())
    }

    pub(super) async fn kek_insert(&self, id: u32, sealed: &[u8]) -> Result<()> {
        let stmt =
            sqlx::query("INSERT INTO keks (id, sealed, active, created_at) VALUES (?, ?, 0, ?)")
                .bind(i64::from(id))
                .bind(sealed)
                .bind(ts(&chrono::Utc::now()));
        self.write_unaudited(stmt).await.map(|_| ())
    }

    pub(super) async fn kek_activate(&self, id: u32, audit: &AuditDraft) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.pool().begin().await.map_err(db_err)?;
        sqlx::query("UPDATE keks SET active = (id = ?)")
            .bind(i64::from(id))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn sealed_list(&self) -> Result<Vec<SealedValue>> {
        let mut out = Vec::new();
        let system: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT name, sealed FROM system_secrets")
                .fetch_all(self.pool())
                .await
                .map_err(db_err)?;
        out.extend(system.into_iter().map(|(n, s)| SealedValue {
            place: SealedPlace::SystemSecret(n),
            sealed: s,
        }));
        let conns: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, secret_sealed FROM aws_connections WHERE secret_sealed IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_err)?;
        out.extend(conns.into_iter().map(|(i, s)| SealedValue {
            place: SealedPlace::ConnectionSecret(i),
            sealed: s,
        }));
        let keys: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, material_sealed FROM local_keys")
                .fetch_all(self.pool())
                .await
                .map_err(db_err)?;
        out.extend(keys.into_iter().map(|(i, s)| SealedValue {
            place: SealedPlace::LocalKeyMaterial(i),
            sealed: s,
        }));
        Ok(out)
    }

    pub(super) async fn sealed_replace(
        &self,
        place: &SealedPlace,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool> {
        let (sql, key) = match place {
            SealedPlace::SystemSecret(n) => (
                "UPDATE system_secrets SET sealed = ? WHERE name = ? AND sealed = ?",
                n,
            ),
            SealedPlace::ConnectionSecret(i) => (
                "UPDATE aws_connections SET secret_sealed = ? WHERE id = ? AND secret_sealed = ?",
                i,
            ),
            SealedPlace::LocalKeyMaterial(i) => (
                "UPDATE local_keys SET material_sealed = ? WHERE id = ? AND material_sealed = ?",
                i,
            ),
        };
        let stmt = sqlx::query(sql).bind(new).bind(key).bind(old);
        Ok(self.write_unaudited(stmt).await? == 1)
    }
}
