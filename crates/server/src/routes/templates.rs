use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::list::PageParams;
use keyward_api::{ErrorBody, ListEnvelope};
use keyward_core::keys::templates::{TemplateCreate, TemplateUpdate};
use serde_json::Value;

use super::envelope;
use crate::error::ApiError;
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::bodies::{
    Template, TemplateCreate as TemplateCreateBody, TemplateUpdate as TemplateUpdateBody,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, update, remove))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/templates",
    tag = "templates",
    operation_id = "create_template",
    summary = "Create a key template (policy principals)",
    request_body = TemplateCreateBody,
    responses(
        (status = 201, description = "The template", body = Template),
        (status = 409, description = "A template of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<TemplateCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = s.keyward.create_template(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(t.render())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/templates",
    tag = "templates",
    operation_id = "list_templates",
    summary = "List key templates",
    params(PageParams),
    responses((status = 200, description = "A page of templates", body = ListEnvelope<Template>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let (query, items) = s.keyward.list_templates(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |t| t.render())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "get_template",
    summary = "One key template",
    params(("id" = String, Path, description = "The template's id or name")),
    responses(
        (status = 200, description = "The template", body = Template),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(s.keyward.get_template(&caller, &id).await?.render()))
}

#[utoipa::path(
    patch,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "update_template",
    summary = "Update a key template; with auto_push, its policy goes to the keys that use it",
    params(("id" = String, Path, description = "The template's id or name")),
    request_body = TemplateUpdateBody,
    responses(
        (status = 200, description = "The template, with `auto_push_result`", body = Template),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    summary = "Delete a key template no key uses",
    params(("id" = String, Path, description = "The template's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "Keys use it", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_template(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
