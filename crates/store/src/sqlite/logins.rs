//! The failed-login counters of users and client addresses. Each attempt reads and writes its
//! counters inside one IMMEDIATE transaction under the store's write lock, so concurrent
//! attempts are counted one after the other and none overwrites another's count.

use chrono::{DateTime, Utc};
use keyward_core::CoreError;
use keyward_core::login_limits::{LoginCounters, Refused, SourceBudget};

use super::SqliteStore;
use crate::rows::{db_err, opt_ts, parse_ts, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn opt_time(v: Option<String>) -> Result<Option<DateTime<Utc>>> {
    v.as_deref().map(parse_ts).transpose()
}

impl SqliteStore {
    pub(super) async fn login_admit(
        &self,
        user_id: &str,
        admit: &(
             dyn Fn(LoginCounters) -> std::result::Result<LoginCounters, Refused> + Send + Sync
         ),
    ) -> Result<std::result::Result<LoginCounters, Refused>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let row: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT failed_logins, last_failed_at, locked_until FROM users WHERE id = ?",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((failed_logins, last_failed_at, locked_until)) = row else {
            return Err(CoreError::Unauthorized(
                "Wrong username or password.".into(),
            ));
        };
        let stored = LoginCounters {
            failed_logins,
            last_failed_at: opt_time(last_failed_at)?,
            locked_until: opt_time(locked_until)?,
        };
        let next = match admit(stored) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        sqlx::query(
            "UPDATE users SET failed_logins = ?, last_failed_at = ?, locked_until = ? WHERE id = ?",
        )
        .bind(next.failed_logins)
        .bind(opt_ts(&next.last_failed_at))
        .bind(opt_ts(&next.locked_until))
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(next))
    }

    pub(super) async fn login_success(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
        admitted_count: i64,
    ) -> Result<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        sqlx::query("UPDATE users SET last_login = ? WHERE id = ?")
            .bind(ts(&at))
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Cleared only if no attempt was admitted after this one (compare and set).
        sqlx::query(
            "UPDATE users SET failed_logins = 0, last_failed_at = NULL, locked_until = NULL WHERE id = ? AND failed_logins = ?",
        )
        .bind(user_id)
        .bind(admitted_count)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn login_source(
        &self,
        address: &str,
        now: DateTime<Utc>,
        update: &(dyn Fn(SourceBudget) -> std::result::Result<SourceBudget, Refused> + Send + Sync),
    ) -> Result<std::result::Result<SourceBudget, Refused>> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        // A budget whose tat has passed is full again: the row can go.
        sqlx::query("DELETE FROM login_sources WHERE tat <= ?")
            .bind(ts(&now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let tat: Option<String> =
            sqlx::query_scalar("SELECT tat FROM login_sources WHERE address = ?")
                .bind(address)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let stored = SourceBudget {
            tat: opt_time(tat)?,
        };
        let next = match update(stored) {
            Ok(next) => next,
            Err(refused) => return Ok(Err(refused)),
        };
        match &next.tat {
            Some(tat) => {
                sqlx::query(
                    "INSERT INTO login_sources (address, tat) VALUES (?, ?) ON CONFLICT (address) DO UPDATE SET tat = excluded.tat",
                )
                .bind(address)
                .bind(ts(tat))
            }
            None => sqlx::query("DELETE FROM login_sources WHERE address = ?").bind(address),
        }
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(next))
    }
}
