use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keyward_api::ListEnvelope;
use keyward_api::sync::{StartSync, SyncJob, SyncJobParams};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

const BASE: &str = "/cckm/aws/synchronization-jobs";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(start))
        .route(&format!("{BASE}/{{id}}"), get(one))
        .route(&format!("{BASE}/{{id}}/cancel"), post(cancel))
}

async fn start(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<StartSync>,
) -> Result<(StatusCode, Json<SyncJob>), ApiError> {
    let job = s.keyward.start_sync_job(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(job.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<SyncJobParams>,
) -> Result<Json<ListEnvelope<SyncJob>>, ApiError> {
    let (query, page) = s.keyward.list_sync_jobs(&caller, p).await?;
    Ok(Json(envelope(&query, page, |j| j.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<SyncJob>, ApiError> {
    Ok(Json(s.keyward.get_sync_job(&caller, &id).await?.to_wire()))
}

async fn cancel(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<SyncJob>, ApiError> {
    Ok(Json(
        s.keyward.cancel_sync_job(&caller, &id).await?.to_wire(),
    ))
}
