use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyward_api::ListEnvelope;
use keyward_api::kms::{Kms, KmsCreate, KmsUpdate};
use keyward_api::list::PageParams;

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cckm/aws/kms", get(list).post(create))
        .route("/cckm/aws/kms/{id}", get(one).patch(update).delete(remove))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<KmsCreate>,
) -> Result<(StatusCode, Json<Kms>), ApiError> {
    let (kms, conn) = s.keyward.create_kms(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(kms.to_wire(&conn))))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Kms>>, ApiError> {
    let (query, items) = s.keyward.list_kms(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |(k, c)| k.to_wire(&c))))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Kms>, ApiError> {
    let (kms, conn) = s.keyward.get_kms(&caller, &id).await?;
    Ok(Json(kms.to_wire(&conn)))
}

async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<KmsUpdate>,
) -> Result<Json<Kms>, ApiError> {
    let (kms, conn) = s.keyward.update_kms(&caller, &id, req).await?;
    Ok(Json(kms.to_wire(&conn)))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_kms(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
