//! The HTTP API. Routes parse, call one use case and render; they hold no rules.

mod accounts;
mod admin;
mod audit;
mod auth;
mod connections;
mod health;
mod keys;
mod kms;
mod scheduler;
mod sync;
mod templates;
mod users;
mod vault;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use keyward_api::ListEnvelope;
use keyward_core::paging::{ListQuery, Page};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::error_response;
use crate::state::AppState;

/// Every documented route, and the document made from them (see `crate::openapi`).
pub fn api() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(crate::openapi::openapi_json))
        .merge(auth::routes())
        .merge(users::routes())
        .merge(connections::routes())
        .merge(kms::routes())
        .merge(accounts::routes())
        .merge(keys::routes())
        .merge(sync::routes())
        .merge(templates::routes())
        .merge(scheduler::routes())
        .merge(vault::routes())
        .merge(audit::routes())
        .merge(admin::routes());
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .nest("/api/v1", api)
        .merge(health::routes())
}

pub fn router() -> Router<AppState> {
    let (routes, _) = api().split_for_parts();
    routes
        .merge(crate::openapi::swagger_ui())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        16,
        "NCERRResourceNotFound: Resource not found",
        "no such route; the API lives under /api/v1".into(),
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        4,
        "NCERRBadRequest: Method not allowed",
        "this route does not accept that HTTP method".into(),
    )
}

/// The list envelope for a page.
pub(crate) fn envelope<T, W>(
    query: &ListQuery,
    page: Page<T>,
    render: impl FnMut(T) -> W,
) -> ListEnvelope<W> {
    ListEnvelope {
        skip: query.skip,
        limit: query.limit_for_envelope(),
        total: page.total,
        resources: page.items.into_iter().map(render).collect(),
    }
}
