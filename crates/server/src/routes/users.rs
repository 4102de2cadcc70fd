use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_api::users::{User, UserCreate, UserUpdate};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usermgmt/users", get(list).post(create))
        .route(
            "/usermgmt/users/{id}",
            get(one).patch(update).delete(remove),
        )
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = s.keyward.create_user(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(user.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<User>>, ApiError> {
    let (query, users) = s.keyward.list_users(&caller, &page).await?;
    Ok(Json(envelope(&query, users, |u| u.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.keyward.get_user(&caller, &id).await?.to_wire()))
}

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

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_user(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
