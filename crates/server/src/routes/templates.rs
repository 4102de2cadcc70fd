use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_api::templates::{PolicyTemplate, TemplateCreate, TemplateUpdate, TemplateUpdated};

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cckm/aws/templates", get(list).post(create))
        .route(
            "/cckm/aws/templates/{id}",
            get(one).patch(update).delete(remove),
        )
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<TemplateCreate>,
) -> Result<(StatusCode, Json<PolicyTemplate>), ApiError> {
    let t = s.keyward.create_template(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(t.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<PolicyTemplate>>, ApiError> {
    let (query, items) = s.keyward.list_templates(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |t| t.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<PolicyTemplate>, ApiError> {
    Ok(Json(s.keyward.get_template(&caller, &id).await?.to_wire()))
}

async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TemplateUpdate>,
) -> Result<Json<TemplateUpdated>, ApiError> {
    let (t, push) = s.keyward.update_template(&caller, &id, req).await?;
    Ok(Json(TemplateUpdated {
        template: t.to_wire(),
        auto_push_result: push.to_wire(),
    }))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_template(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
