use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
}

/// `GET /healthz`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "healthz",
    summary = "Liveness",
    security(()),
    responses((status = 200, description = "The server answers", body = Health))
)]
async fn healthz() -> impl IntoResponse {
    axum::Json(Health { status: "ok" })
}

/// The window of `keyward_byok_keys_expiring`.
const EXPIRY_WATCH_DAYS: i64 = 30;

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    security(()),
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // A gauge computed per scrape: one COUNT over the key records.
    match state
        .keyward
        .count_keys_expiring_within(chrono::Duration::days(EXPIRY_WATCH_DAYS))
        .await
    {
        Ok(n) => {
            metrics::describe_gauge!(
                "keyward_byok_keys_expiring",
                "AWS keys whose imported material expires within 30 days"
            );
            metrics::gauge!("keyward_byok_keys_expiring").set(n as f64);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the keys whose imported material expires soon")
        }
    }
    metrics::describe_counter!(
        "keyward_login_refused_total",
        "Login attempts refused before their password was checked, by reason (not audited one by one)"
    );
    for (reason, n) in state.keyward.login_refusals() {
        metrics::counter!("keyward_login_refused_total", "reason" => reason.as_str()).absolute(n);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
