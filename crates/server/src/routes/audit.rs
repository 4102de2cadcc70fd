use axum::Json;
use axum::extract::State;
use keyward_api::ListEnvelope;
use keyward_api::audit::AuditRecord;
use keyward_api::list::PageParams;
use keyward_core::audit::AuditEntry;

use super::envelope;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Authed};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

fn render(e: AuditEntry) -> AuditRecord {
    AuditRecord {
        seq: e.seq,
        id: e.id,
        created_at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actor: e.actor,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        detail: e.detail,
        request_id: e.request_id,
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}

#[utoipa::path(
    get,
    path = "/audit/records",
    tag = "audit",
    operation_id = "list_audit_records",
    summary = "The audit trail, a hash chain (admin)",
    params(PageParams),
    responses((status = 200, description = "A page of audit records", body = ListEnvelope<AuditRecord>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<AuditRecord>>, ApiError> {
    let (query, entries) = s.keyward.list_audit(&caller, &page).await?;
    Ok(Json(envelope(&query, entries, render)))
}
