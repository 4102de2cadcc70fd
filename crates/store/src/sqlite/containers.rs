//! Connection and KMS container lists with filters, and the deletes that forget or detach the
//! key records still pointing at what goes (KMS containers, policy templates), each in one
//! transaction.

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::connections::{AwsConnection, ConnectionFilter};
use keyward_core::kms::{KmsContainer, KmsFilter};
use keyward_core::paging::{ListQuery, Page};
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, order_and_page};
use crate::rows::{self, db_err};

type Result<T> = std::result::Result<T, CoreError>;

/// SQL for "the key is live": AWS has it, and it is not pending deletion.
pub(super) const LIVE: &str =
    "gone = 0 AND key_state NOT IN ('PendingDeletion', 'PendingReplicaDeletion')";

/// ` WHERE a = ? AND b = ?` over the given (column, value) pairs; empty values are no filter.
fn where_eq(pairs: &[(&str, &Option<String>)]) -> (String, Vec<String>) {
    let mut conds = Vec::new();
    let mut binds = Vec::new();
    for (col, v) in pairs {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            conds.push(format!("{col} = ?"));
            binds.push(v.clone());
        }
    }
    if conds.is_empty() {
        (String::new(), binds)
    } else {
        (format!(" WHERE {}", conds.join(" AND ")), binds)
    }
}

impl SqliteStore {
    async fn page_where<T>(
        &self,
        table: &str,
        (clause, binds): (String, Vec<String>),
        query: &ListQuery,
        map: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let count_sql = format!("SELECT COUNT(*) FROM {table}{clause}");
        let mut count = sqlx::query_scalar(&count_sql);
        for b in &binds {
            count = count.bind(b);
        }
        let total: i64 = count.fetch_one(self.pool()).await.map_err(db_err)?;
        let sql = format!(
            "SELECT * FROM {table}{clause}{}",
            order_and_page(query, "created_at ASC, id ASC")
        );
        let mut select = sqlx::query(&sql);
        for b in &binds {
            select = select.bind(b);
        }
        let rows = select.fetch_all(self.pool()).await.map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(map).collect::<Result<Vec<T>>>()?,
        })
    }

    pub(super) async fn connections_where(
        &self,
        f: &ConnectionFilter,
        query: &ListQuery,
    ) -> Result<Page<AwsConnection>> {
        let clause = where_eq(&[
            ("id", &f.id),
            ("name", &f.name),
            ("cloud_name", &f.cloud_name),
        ]);
        self.page_where("aws_connections", clause, query, rows::connection)
            .await
    }

    pub(super) async fn kms_where(
        &self,
        f: &KmsFilter,
        query: &ListQuery,
    ) -> Result<Page<KmsContainer>> {
        let clause = where_eq(&[
            ("id", &f.id),
            ("name", &f.name),
            ("account_id", &f.account_id),
        ]);
        self.page_where("kms_containers", clause, query, rows::kms)
            .await
    }

    pub(super) async fn kms_delete_forgetting(
        &self,
        id: &str,
        forget: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        for (key, draft) in forget {
            let gone = sqlx::query(&format!(
                "DELETE FROM aws_keys WHERE id = ? AND kms_id = ? AND NOT ({LIVE})"
            ))
            .bind(key)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
            if gone == 0 {
                tx.rollback().await.map_err(db_err)?;
                return Err(CoreError::conflict(format!(
                    "key record {key} changed meanwhile (it is no longer pending deletion); nothing was deleted"
                )));
            }
            self.append_in(&mut tx, draft).await?;
        }
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM aws_keys WHERE kms_id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if left > 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(CoreError::conflict(format!(
                "the KMS container got {left} other key record(s) meanwhile; nothing was deleted"
            )));
        }
        self.delete_row_and_commit(tx, ("kms_containers", "KMS container"), id, audit)
            .await
    }

    pub(super) async fn template_delete_detaching(
        &self,
        id: &str,
        tag: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> Result<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_read_then_write().await?;
        let not_live = format!("NOT ({LIVE})");
        for (key, draft) in detach {
            self.let_go_in(
                &mut tx,
                key,
                (&not_live, None),
                |rec| rec.policy_template_id = None,
                draft,
            )
            .await?;
        }
        let live: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM aws_keys WHERE {LIVE} AND EXISTS (SELECT 1 FROM json_each(aws_keys.tags_json) WHERE json_each.key = ? AND json_each.value = ?)"
        ))
        .bind(tag)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if live > 0 {
            tx.rollback().await.map_err(db_err)?;
            return Err(CoreError::conflict(format!(
                "the policy template got applied to {live} other key(s) meanwhile; nothing was deleted"
            )));
        }
        self.delete_row_and_commit(tx, ("policy_templates", "policy template"), id, audit)
            .await
    }
}
