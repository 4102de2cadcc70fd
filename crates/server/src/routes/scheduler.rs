//! The scheduler's resources: job configs (`/scheduler/job-configs`), starting a run by hand
//! (`/scheduler/job-configs/{id}/run`) and the runs (`/scheduler/job-runs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::scheduler::{
    JobConfig, JobConfigCreate, JobConfigListParams, JobConfigUpdate, JobRun, JobRunParams,
};
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
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
        .routes(routes!(run_now))
        .routes(routes!(list_runs))
        .routes(routes!(one_run))
}

#[utoipa::path(
    post,
    path = "/scheduler/job-configs/{id}/run",
    tag = "scheduler",
    operation_id = "run_job_config",
    summary = "Start a run of a job config now",
    params(("id" = String, Path, description = "The job config's id")),
    responses(
        (status = 201, description = "The run", body = JobRun),
        (status = 404, description = "No such job config", body = ErrorBody),
        (status = 409, description = "A run of that config is under way", body = ErrorBody),
        (status = 422, description = "The job config is disabled", body = ErrorBody),
    )
)]
async fn run_now(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobRun>), ApiError> {
    let run = s.keyward.start_job_run(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(run.to_wire())))
}

#[utoipa::path(
    get,
    path = "/scheduler/job-runs",
    tag = "scheduler",
    operation_id = "list_job_runs",
    summary = "List job runs",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Resources to skip (0 and up)"),
        ("limit" = Option<i64>, Query, minimum = -1, description = "Page size: 0 or more (10 when absent), or -1 for every resource"),
        ("sort" = Option<String>, Query, description = "Comma-separated fields to sort on, each with a `-` prefix for descending"),
        ("job_config_id" = Option<String>, Query, description = "Runs of that job config"),
        ("status" = Option<String>, Query, description = "Runs in that status"),
    ),
    responses((status = 200, description = "A page of runs", body = ListEnvelope<JobRun>))
)]
async fn list_runs(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(params): ApiQuery<JobRunParams>,
) -> Result<Json<ListEnvelope<JobRun>>, ApiError> {
    let (query, items) = s.keyward.list_job_runs(&caller, params).await?;
    Ok(Json(envelope(&query, items, |r| r.to_wire())))
}

#[utoipa::path(
    get,
    path = "/scheduler/job-runs/{id}",
    tag = "scheduler",
    operation_id = "get_job_run",
    summary = "One job run",
    params(("id" = String, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = JobRun),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
async fn one_run(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<JobRun>, ApiError> {
    Ok(Json(s.keyward.get_job_run(&caller, &id).await?.to_wire()))
}

#[utoipa::path(
    post,
    path = "/scheduler/job-configs",
    tag = "scheduler",
    operation_id = "create_job_config",
    summary = "Create a job config (a rotation schedule)",
    request_body = JobConfigCreate,
    responses(
        (status = 201, description = "The job config", body = JobConfig),
        (status = 409, description = "A job config of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<JobConfigCreate>,
) -> Result<(StatusCode, Json<JobConfig>), ApiError> {
    let c = s.keyward.create_job_config(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(c.to_wire())))
}

#[utoipa::path(
    get,
    path = "/scheduler/job-configs",
    tag = "scheduler",
    operation_id = "list_job_configs",
    summary = "List job configs",
    params(JobConfigListParams),
    responses((status = 200, description = "A page of job configs", body = ListEnvelope<JobConfig>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<JobConfigListParams>,
) -> Result<Json<ListEnvelope<JobConfig>>, ApiError> {
    let (query, items) = s.keyward.list_job_configs(&caller, p).await?;
    Ok(Json(envelope(&query, items, |c| c.to_wire())))
}

#[utoipa::path(
    get,
    path = "/scheduler/job-configs/{id}",
    tag = "scheduler",
    operation_id = "get_job_config",
    summary = "One job config",
    params(("id" = String, Path, description = "The job config's id")),
    responses(
        (status = 200, description = "The job config", body = JobConfig),
        (status = 404, description = "No such job config", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<JobConfig>, ApiError> {
    Ok(Json(
        s.keyward.get_job_config(&caller, &id).await?.to_wire(),
    ))
}

#[utoipa::path(
    patch,
    path = "/scheduler/job-configs/{id}",
    tag = "scheduler",
    operation_id = "update_job_config",
    summary = "Update a job config",
    params(("id" = String, Path, description = "The job config's id")),
    request_body = JobConfigUpdate,
    responses(
        (status = 200, description = "The job config", body = JobConfig),
        (status = 404, description = "No such job config", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<JobConfigUpdate>,
) -> Result<Json<JobConfig>, ApiError> {
    Ok(Json(
        s.keyward
            .update_job_config(&caller, &id, req)
            .await?
            .to_wire(),
    ))
}

#[utoipa::path(
    delete,
    path = "/scheduler/job-configs/{id}",
    tag = "scheduler",
    operation_id = "delete_job_config",
    summary = "Delete a job config no live key uses (keys scheduled for deletion are detached)",
    params(("id" = String, Path, description = "The job config's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such job config", body = ErrorBody),
        (status = 409, description = "Keys not scheduled for deletion use it", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_job_config(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
