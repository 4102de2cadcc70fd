use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::kms::{Kms, KmsCreate, KmsListParams, KmsUpdate};
use keyward_api::list::PageParams;
use keyward_api::{ErrorBody, ListEnvelope};
use keyward_core::kms::KmsFilter;

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
}

#[utoipa::path(
    post,
    path = "/cckm/aws/kms",
    tag = "kms",
    operation_id = "create_kms",
    summary = "Create a KMS container: an AWS account and its Regions, through a connection",
    request_body = KmsCreate,
    responses(
        (status = 201, description = "The KMS container", body = Kms),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "A KMS container of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<KmsCreate>,
) -> Result<(StatusCode, Json<Kms>), ApiError> {
    let (kms, conn) = s.keyward.create_kms(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(kms.to_wire(&conn))))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/kms",
    tag = "kms",
    operation_id = "list_kms",
    summary = "List KMS containers",
    params(KmsListParams),
    responses((status = 200, description = "A page of KMS containers", body = ListEnvelope<Kms>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<KmsListParams>,
) -> Result<Json<ListEnvelope<Kms>>, ApiError> {
    let page = PageParams {
        skip: p.skip,
        limit: p.limit,
        sort: p.sort,
    };
    let filter = KmsFilter {
        id: p.id,
        name: p.name,
        account_id: p.account_id,
    };
    let (query, items) = s.keyward.list_kms(&caller, &page, &filter).await?;
    Ok(Json(envelope(&query, items, |(k, c)| k.to_wire(&c))))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/kms/{id}",
    tag = "kms",
    operation_id = "get_kms",
    summary = "One KMS container",
    params(("id" = String, Path, description = "The KMS container's id or name")),
    responses(
        (status = 200, description = "The KMS container", body = Kms),
        (status = 404, description = "No such KMS container", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Kms>, ApiError> {
    let (kms, conn) = s.keyward.get_kms(&caller, &id).await?;
    Ok(Json(kms.to_wire(&conn)))
}

#[utoipa::path(
    patch,
    path = "/cckm/aws/kms/{id}",
    tag = "kms",
    operation_id = "update_kms",
    summary = "Update a KMS container",
    params(("id" = String, Path, description = "The KMS container's id or name")),
    request_body = KmsUpdate,
    responses(
        (status = 200, description = "The updated KMS container", body = Kms),
        (status = 404, description = "No such KMS container or connection", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<KmsUpdate>,
) -> Result<Json<Kms>, ApiError> {
    let (kms, conn) = s.keyward.update_kms(&caller, &id, req).await?;
    Ok(Json(kms.to_wire(&conn)))
}

#[utoipa::path(
    delete,
    path = "/cckm/aws/kms/{id}",
    tag = "kms",
    operation_id = "delete_kms",
    summary = "Delete a KMS container none of whose keys is live (records of keys pending deletion are forgotten with it)",
    params(("id" = String, Path, description = "The KMS container's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such KMS container", body = ErrorBody),
        (status = 409, description = "A key that is not pending deletion is in it", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_kms(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
