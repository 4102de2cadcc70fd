use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use keyward_api::ListEnvelope;
use keyward_api::connections::{
    AwsConnection, AwsConnectionCreate, AwsConnectionUpdate, ConnectionTestResult,
};
use keyward_api::list::PageParams;

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

const BASE: &str = "/connectionmgmt/services/aws/connections";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(
            &format!("{BASE}/{{id}}"),
            get(one).patch(update).delete(remove),
        )
        .route(&format!("{BASE}/{{id}}/test"), post(test))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<AwsConnectionCreate>,
) -> Result<(StatusCode, Json<AwsConnection>), ApiError> {
    let conn = s.keyward.create_connection(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(conn.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<AwsConnection>>, ApiError> {
    let (query, conns) = s.keyward.list_connections(&caller, &page).await?;
    Ok(Json(envelope(&query, conns, |c| c.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<AwsConnection>, ApiError> {
    Ok(Json(
        s.keyward.get_connection(&caller, &id).await?.to_wire(),
    ))
}

async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AwsConnectionUpdate>,
) -> Result<Json<AwsConnection>, ApiError> {
    Ok(Json(
        s.keyward
            .update_connection(&caller, &id, req)
            .await?
            .to_wire(),
    ))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_connection(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestResult>, ApiError> {
    Ok(Json(s.keyward.test_connection(&caller, &id).await?))
}
