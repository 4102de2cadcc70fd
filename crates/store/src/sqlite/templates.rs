//! Policy templates in SQLite (the template as JSON, its name unique).

use keyward_core::CoreError;
use keyward_core::audit::AuditDraft;
use keyward_core::keys::templates::PolicyTemplate;
use keyward_core::paging::{ListQuery, Page};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::rows::{db_err, ts};

type Result<T> = std::result::Result<T, CoreError>;

fn template(row: &SqliteRow) -> Result<PolicyTemplate> {
    let json: String = row.try_get("record_json").map_err(db_err)?;
    serde_json::from_str(&json)
        .map_err(|_| CoreError::internal("database: stored policy template is malformed"))
}

fn enc(t: &PolicyTemplate) -> Result<String> {
    serde_json::to_string(t)
        .map_err(|e| CoreError::internal(format!("encoding a policy template: {e}")))
}

impl SqliteStore {
    pub(super) async fn template_insert(
        &self,
        t: &PolicyTemplate,
        audit: &AuditDraft,
    ) -> Result<()> {
        let stmt = sqlx::query("INSERT INTO policy_templates (id, name, record_json, created_at, updated_at) VALUES (?,?,?,?,?)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(enc(t)?)
            .bind(ts(&t.created_at))
            .bind(ts(&t.updated_at));
        self.write(stmt, audit).await.map(|_| ())
    }

    pub(super) async fn template_update(
        &self,
        t: &PolicyTemplate,
        audit: &AuditDraft,
    ) -> Result<()> {
        let stmt =
            sqlx::query("UPDATE policy_templates SET record_json = ?, updated_at = ? WHERE id = ?")
                .bind(enc(t)?)
                .bind(ts(&t.updated_at))
                .bind(&t.id);
        self.write(stmt, audit).await.map(|_| ())
    }

    pub(super) async fn template_get(
        &self,
        col: &'static str,
        v: &str,
    ) -> Result<Option<PolicyTemplate>> {
        let sql = format!("SELECT record_json FROM policy_templates WHERE {col} = ?");
        let row = sqlx::query(&sql)
            .bind(v)
            .fetch_optional(self.pool())
            .await
            .map_err(db_err)?;
        row.as_ref().map(template).transpose()
    }

    pub(super) async fn template_list(&self, query: &ListQuery) -> Result<Page<PolicyTemplate>> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_templates")
            .fetch_one(self.pool())
            .await
            .map_err(db_err)?;
        let sql = format!(
            "SELECT record_json FROM policy_templates{}",
            super::order_and_page(query, "created_at ASC, id ASC")
        );
        let rows = sqlx::query(&sql)
            .fetch_all(self.pool())
            .await
            .map_err(db_err)?;
        Ok(Page {
            total,
            items: rows.iter().map(template).collect::<Result<Vec<_>>>()?,
        })
    }

    pub(super) async fn template_mark_verified(&self, id: &str) -> Result<()> {
        let Some(mut t) = self.template_get("id", id).await? else {
            return Ok(());
        };
        if t.is_verified {
            return Ok(());
        }
        t.is_verified = true;
        let stmt = sqlx::query("UPDATE policy_templates SET record_json = ? WHERE id = ?")
            .bind(enc(&t)?)
            .bind(&t.id);
        self.write_unaudited(stmt).await.map(|_| ())
    }
}
