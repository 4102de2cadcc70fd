use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_core::keys::templates::{TemplateCreate, TemplateUpdate};
use serde_json::Value;

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
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = s.keyward.create_template(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(t.render())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let (query, items) = s.keyward.list_templates(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |t| t.render())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.keyward.get_template(&caller, &id).await?.render()))
}

async fn update(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TemplateUpdate>,
) -> Result<Json<Value>, ApiError> {
    let (t, push) = s.keyward.update_template(&caller, &id, req).await?;
    let mut v = t.render();
    if let Some(o) = v.as_object_mut() {
        o.insert("auto_push_result".into(), push);
    }
    Ok(Json(v))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_template(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
