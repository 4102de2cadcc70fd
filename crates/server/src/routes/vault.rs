use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyward_api::ListEnvelope;
use keyward_api::vault::{VaultKey, VaultKeyCreate, VaultKeyParams};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/vault/keys2", get(list).post(create))
        .route("/vault/keys2/{id}", get(one).delete(remove))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<VaultKeyCreate>,
) -> Result<(StatusCode, Json<VaultKey>), ApiError> {
    let key = s.keyward.create_local_key(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(key.to_wire(&[]))))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<VaultKeyParams>,
) -> Result<Json<ListEnvelope<VaultKey>>, ApiError> {
    let (query, page) = s.keyward.list_local_keys(&caller, p).await?;
    Ok(Json(envelope(&query, page, |(k, used)| k.to_wire(&used))))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<VaultKey>, ApiError> {
    let (key, used) = s.keyward.get_local_key(&caller, &id).await?;
    Ok(Json(key.to_wire(&used)))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_local_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
