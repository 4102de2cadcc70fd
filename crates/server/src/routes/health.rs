use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The window of `keyward_byok_keys_expiring`.
const EXPIRY_WATCH_DAYS: i64 = 30;

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
