use axum::Json;
use axum::extract::State;
use keyward_api::admin::KekRotation;

use crate::error::ApiError;
use crate::extract::Authed;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rotate_kek))
}

/// Re-seals every stored secret under a new key-encryption key (admin only).
#[utoipa::path(
    post,
    path = "/admin/rotate-kek",
    tag = "admin",
    operation_id = "rotate_kek",
    summary = "Re-seal every stored secret under a new key-encryption key (admin)",
    responses((status = 200, description = "What was re-sealed", body = KekRotation))
)]
async fn rotate_kek(
    State(s): State<AppState>,
    Authed(caller): Authed,
) -> Result<Json<KekRotation>, ApiError> {
    Ok(Json(s.keyward.rotate_kek(&caller).await?))
}
