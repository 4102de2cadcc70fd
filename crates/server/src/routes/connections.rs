use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::connections::{
    AwsConnection, AwsConnectionCreate, AwsConnectionUpdate, ConnectionListParams,
    ConnectionTestResult,
};
use keyward_api::list::PageParams;
use keyward_api::{ErrorBody, ListEnvelope};
use keyward_core::connections::ConnectionFilter;

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
        .routes(routes!(test))
}

#[utoipa::path(
    post,
    path = "/connectionmgmt/services/aws/connections",
    tag = "connections",
    operation_id = "create_connection",
    summary = "Create an AWS connection",
    request_body = AwsConnectionCreate,
    responses(
        (status = 201, description = "The connection (never its secret)", body = AwsConnection),
        (status = 409, description = "A connection of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<AwsConnectionCreate>,
) -> Result<(StatusCode, Json<AwsConnection>), ApiError> {
    let conn = s.keyward.create_connection(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(conn.to_wire())))
}

#[utoipa::path(
    get,
    path = "/connectionmgmt/services/aws/connections",
    tag = "connections",
    operation_id = "list_connections",
    summary = "List AWS connections",
    params(ConnectionListParams),
    responses((status = 200, description = "A page of connections", body = ListEnvelope<AwsConnection>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<ConnectionListParams>,
) -> Result<Json<ListEnvelope<AwsConnection>>, ApiError> {
    let page = PageParams {
        skip: p.skip,
        limit: p.limit,
        sort: p.sort,
    };
    let filter = ConnectionFilter {
        id: p.id,
        name: p.name,
        cloud_name: p.cloud_name,
    };
    let (query, conns) = s.keyward.list_connections(&caller, &page, &filter).await?;
    Ok(Json(envelope(&query, conns, |c| c.to_wire())))
}

#[utoipa::path(
    get,
    path = "/connectionmgmt/services/aws/connections/{id}",
    tag = "connections",
    operation_id = "get_connection",
    summary = "One AWS connection",
    params(("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, description = "The connection", body = AwsConnection),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<AwsConnection>, ApiError> {
    Ok(Json(
        s.keyward.get_connection(&caller, &id).await?.to_wire(),
    ))
}

#[utoipa::path(
    patch,
    path = "/connectionmgmt/services/aws/connections/{id}",
    tag = "connections",
    operation_id = "update_connection",
    summary = "Update an AWS connection (its name cannot change)",
    params(("id" = String, Path, description = "The connection's id or name")),
    request_body = AwsConnectionUpdate,
    responses(
        (status = 200, description = "The updated connection", body = AwsConnection),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/connectionmgmt/services/aws/connections/{id}",
    tag = "connections",
    operation_id = "delete_connection",
    summary = "Delete an AWS connection no KMS container uses",
    params(("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "A KMS container uses it", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_connection(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/connectionmgmt/services/aws/connections/{id}/test",
    tag = "connections",
    operation_id = "test_connection",
    summary = "Try the connection's credentials against AWS (STS GetCallerIdentity)",
    params(("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, description = "The outcome; an AWS refusal is `connection_ok: false`", body = ConnectionTestResult),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
async fn test(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTestResult>, ApiError> {
    Ok(Json(s.keyward.test_connection(&caller, &id).await?))
}
