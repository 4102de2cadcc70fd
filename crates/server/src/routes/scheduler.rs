//! The scheduler's resources: job configs (`/scheduler/job-configs`), starting a run by hand
//! (`/scheduler/job-configs/{id}/run`) and the runs (`/scheduler/job-runs`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_core::scheduler::runs::JobRunParams;
use keyward_core::scheduler::{JobConfigCreate, JobConfigUpdate};
use serde_json::Value;

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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run = s.keyward.start_job_run(&caller, &id).await?;
    Ok((StatusCode::CREATED, Json(run.render())))
}

async fn list_runs(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(params): ApiQuery<JobRunParams>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let (query, items) = s.keyward.list_job_runs(&caller, params).await?;
    Ok(Json(envelope(&query, items, |r| r.render())))
}

async fn one_run(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.keyward.get_job_run(&caller, &id).await?.render()))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<JobConfigCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = s.keyward.create_job_config(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(c.render())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let (query, items) = s.keyward.list_job_configs(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |c| c.render())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.keyward.get_job_config(&caller, &id).await?.render()))
}

async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<JobConfigUpdate>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        s.keyward
            .update_job_config(&caller, &id, req)
            .await?
            .render(),
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
