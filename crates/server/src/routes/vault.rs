use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::vault::{VaultKey, VaultKeyCreate, VaultKeyParams, VaultKeyUpdate};
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
}

#[utoipa::path(
    post,
    path = "/vault/keys2",
    tag = "vault",
    operation_id = "create_vault_key",
    summary = "Create a key in Keyward's vault (the source of BYOK uploads)",
    request_body = VaultKeyCreate,
    responses(
        (status = 201, description = "The key (never its material)", body = VaultKey),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<VaultKeyCreate>,
) -> Result<(StatusCode, Json<VaultKey>), ApiError> {
    let key = s.keyward.create_local_key(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(key.to_wire(&[]))))
}

#[utoipa::path(
    get,
    path = "/vault/keys2",
    tag = "vault",
    operation_id = "list_vault_keys",
    summary = "List vault keys",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Resources to skip (0 and up)"),
        ("limit" = Option<i64>, Query, minimum = -1, description = "Page size: 0 or more (10 when absent), or -1 for every resource"),
        ("sort" = Option<String>, Query, description = "Comma-separated fields to sort on, each with a `-` prefix for descending"),
        ("name" = Option<String>, Query, description = "The key's name"),
    ),
    responses((status = 200, description = "A page of vault keys", body = ListEnvelope<VaultKey>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(p): ApiQuery<VaultKeyParams>,
) -> Result<Json<ListEnvelope<VaultKey>>, ApiError> {
    let (query, page) = s.keyward.list_local_keys(&caller, p).await?;
    Ok(Json(envelope(&query, page, |(k, used)| k.to_wire(&used))))
}

#[utoipa::path(
    get,
    path = "/vault/keys2/{id}",
    tag = "vault",
    operation_id = "get_vault_key",
    summary = "One vault key",
    params(("id" = String, Path, description = "The key's id or name")),
    responses(
        (status = 200, description = "The key", body = VaultKey),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<VaultKey>, ApiError> {
    let (key, used) = s.keyward.get_local_key(&caller, &id).await?;
    Ok(Json(key.to_wire(&used)))
}

#[utoipa::path(
    delete,
    path = "/vault/keys2/{id}",
    tag = "vault",
    operation_id = "delete_vault_key",
    summary = "Delete a vault key no live AWS key was made from (AWS keys gone or scheduled for deletion are detached)",
    params(("id" = String, Path, description = "The key's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 409, description = "AWS keys not scheduled for deletion were made from it", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_local_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/vault/keys2/{id}",
    tag = "vault",
    operation_id = "update_vault_key",
    summary = "Change a vault key's description or labels",
    params(("id" = String, Path, description = "The key's id or name")),
    request_body = VaultKeyUpdate,
    responses(
        (status = 200, description = "The key", body = VaultKey),
        (status = 400, description = "A field that cannot change", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<VaultKeyUpdate>,
) -> Result<Json<VaultKey>, ApiError> {
    let (key, used) = s.keyward.update_local_key(&caller, &id, req).await?;
    Ok(Json(key.to_wire(&used)))
}
