//! The scheduler's resources: job configs (`/scheduler/job-configs`), starting a run by hand
//! (`/scheduler/job-configs/{id}/run`) and the runs (`/scheduler/job-runs`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_api::scheduler::{JobConfig, JobConfigCreate, JobConfigUpdate, JobRun, JobRunParams};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scheduler/job-configs", get(list).post(create))
        .route(
            "/scheduler/job-configs/{id}",
            get(one).patch(update).delete(remove),
        )
        .route("/scheduler/job-configs/{id}/run", post(run_now))
        .route("/scheduler/job-runs", get(list_runs))
        .route("/scheduler/job-runs/{id}", get(one_run))
}

async fn run_now(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobRun>), ApiError> {
    let run = s.keyward.start_job_run(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(run.to_wire())))
}

async fn list_runs(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(params): ApiQuery<JobRunParams>,
) -> Result<Json<ListEnvelope<JobRun>>, ApiError> {
    let (query, items) = s.keyward.list_job_runs(&caller, params).await?;
    Ok(Json(envelope(&query, items, |r| r.to_wire())))
}

async fn one_run(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<JobRun>, ApiError> {
    Ok(Json(s.keyward.get_job_run(&caller, &id).await?.to_wire()))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<JobConfigCreate>,
) -> Result<(StatusCode, Json<JobConfig>), ApiError> {
    let c = s.keyward.create_job_config(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(c.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<JobConfig>>, ApiError> {
    let (query, items) = s.keyward.list_job_configs(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |c| c.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<JobConfig>, ApiError> {
    Ok(Json(
        s.keyward.get_job_config(&caller, &id).await?.to_wire(),
    ))
}

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

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_job_config(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
