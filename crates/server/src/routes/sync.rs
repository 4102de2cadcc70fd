use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::sync::{StartSync, SyncJob, SyncJobParams};
use keyward_api::{ErrorBody, ListEnvelope};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(one))
        .routes(routes!(cancel))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/synchronization-jobs",
    tag = "sync",
    operation_id = "start_sync_job",
    summary = "Start reading the keys of KMS containers from AWS",
    request_body = StartSync,
    responses(
        (status = 201, description = "The job", body = SyncJob),
        (status = 404, description = "No such KMS container", body = ErrorBody),
        (status = 409, description = "A job is under way for that container", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn start(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<StartSync>,
) -> Result<(StatusCode, Json<SyncJob>), ApiError> {
    let job = s.keyward.start_sync_job(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(job.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/synchronization-jobs",
    tag = "sync",
    operation_id = "list_sync_jobs",
    summary = "List synchronization jobs",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Resources to skip (0 and up)"),
        ("limit" = Option<i64>, Query, minimum = -1, description = "Page size: 0 or more (10 when absent), or -1 for every resource"),
        ("sort" = Option<String>, Query, description = "Comma-separated fields to sort on, each with a `-` prefix for descending"),
        ("id" = Option<String>, Query, description = "The job's id"),
        ("overall_status" = Option<String>, Query, description = "Jobs in that status"),
        ("kms" = Option<String>, Query, description = "Jobs over that KMS container (name or id)"),
    ),
    responses((status = 200, description = "A page of jobs", body = ListEnvelope<SyncJob>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<SyncJobParams>,
) -> Result<Json<ListEnvelope<SyncJob>>, ApiError> {
    let (query, page) = s.keyward.list_sync_jobs(&caller, p).await?;
    Ok(Json(envelope(&query, page, |j| j.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/synchronization-jobs/{id}",
    tag = "sync",
    operation_id = "get_sync_job",
    summary = "One synchronization job",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = SyncJob),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<SyncJob>, ApiError> {
    Ok(Json(s.keyward.get_sync_job(&caller, &id).await?.to_wire()))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/synchronization-jobs/{id}/cancel",
    tag = "sync",
    operation_id = "cancel_sync_job",
    summary = "Cancel a synchronization job under way",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = SyncJob),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 422, description = "The job is already over", body = ErrorBody),
    )
)]
async fn cancel(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<SyncJob>, ApiError> {
    Ok(Json(
        s.keyward.cancel_sync_job(&caller, &id).await?.to_wire(),
    ))
}
