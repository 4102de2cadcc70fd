use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use keyward_api::admin::KekRotation;

use crate::error::ApiError;
use crate::extract::Authed;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/rotate-kek", post(rotate_kek))
}

/// Re-seals every stored secret under a new key-encryption key (admin only).
async fn rotate_kek(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<KekRotation>, ApiError> {
    Ok(Json(s.keyward.rotate_kek(&caller).await?))
}
