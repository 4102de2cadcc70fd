use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_api::list::PageParams;
use keyward_api::templates::{PolicyTemplate, TemplateCreate, TemplateUpdate, TemplateUpdated};
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
    path = "/cckm/aws/templates",
    tag = "templates",
    operation_id = "create_template",
    summary = "Create a key template (policy principals)",
    request_body = TemplateCreate,
    responses(
        (status = 201, description = "The template", body = PolicyTemplate),
        (status = 409, description = "A template of that name exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<TemplateCreate>,
) -> Result<(StatusCode, Json<PolicyTemplate>), ApiError> {
    let t = s.keyward.create_template(&caller, req).await?;
    Ok((StatusCode::CREATED, Json(t.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/templates",
    tag = "templates",
    operation_id = "list_templates",
    summary = "List key templates",
    params(PageParams),
    responses((status = 200, description = "A page of templates", body = ListEnvelope<PolicyTemplate>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<PolicyTemplate>>, ApiError> {
    let (query, items) = s.keyward.list_templates(&caller, &page).await?;
    Ok(Json(envelope(&query, items, |t| t.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "get_template",
    summary = "One key template",
    params(("id" = String, Path, description = "The template's id or name")),
    responses(
        (status = 200, description = "The template", body = PolicyTemplate),
        (status = 404, description = "No such template", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<PolicyTemplate>, ApiError> {
    Ok(Json(s.keyward.get_template(&caller, &id).await?.to_wire()))
}

#[utoipa::path(
    patch,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "update_template",
    summary = "Update a key template; with auto_push, its policy goes to the keys that use it",
    params(("id" = String, Path, description = "The template's id or name")),
    request_body = TemplateUpdate,
    responses(
        (status = 200, description = "The template, with `auto_push_result`", body = TemplateUpdated),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/cckm/aws/templates/{id}",
    tag = "templates",
    operation_id = "delete_template",
    summary = "Delete a key template no live key uses (keys pending deletion are detached from it)",
    params(("id" = String, Path, description = "The template's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 409, description = "A key that is not pending deletion uses it", body = ErrorBody),
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
