use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::list::PageParams;
use keyward_api::users::{User, UserCreate, UserUpdate};
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
    path = "/usermgmt/users",
    tag = "users",
    operation_id = "create_user",
    summary = "Create a user (admin)",
    request_body = UserCreate,
    responses(
        (status = 201, description = "The user", body = User),
        (status = 409, description = "A user of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = s.keyward.create_user(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(user.to_wire())))
}

#[utoipa::path(
    get,
    path = "/usermgmt/users",
    tag = "users",
    operation_id = "list_users",
    summary = "List users (admin)",
    params(PageParams),
    responses((status = 200, description = "A page of users", body = ListEnvelope<User>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<User>>, ApiError> {
    let (query, users) = s.keyward.list_users(&caller, &page).await?;
    Ok(Json(envelope(&query, users, |u| u.to_wire())))
}

#[utoipa::path(
    get,
    path = "/usermgmt/users/{id}",
    tag = "users",
    operation_id = "get_user",
    summary = "One user (admin, or the user themself)",
    params(("id" = String, Path, description = "The user_id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.keyward.get_user(&caller, &id).await?.to_wire()))
}

#[utoipa::path(
    patch,
    path = "/usermgmt/users/{id}",
    tag = "users",
    operation_id = "update_user",
    summary = "Update a user (admin; a user may change their own password with current_password)",
    params(("id" = String, Path, description = "The user_id")),
    request_body = UserUpdate,
    responses(
        (status = 200, description = "The updated user", body = User),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The change would leave no user in group admin", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    super::auth::ClientAddr(client): super::auth::ClientAddr,
    ApiJson(req): ApiJson<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(
        s.keyward
            .update_user(&caller, &id, req, &client)
            .await?
            .to_wire(),
    ))
}

#[utoipa::path(
    delete,
    path = "/usermgmt/users/{id}",
    tag = "users",
    operation_id = "delete_user",
    summary = "Delete a user (admin)",
    params(("id" = String, Path, description = "The user_id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "The caller themself, or the last user in group admin", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
