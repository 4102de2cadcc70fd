use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_api::ErrorBody;
use keyward_api::auth::{TokenRequest, TokenResponse};
use keyward_api::users::ChangePassword;

use crate::error::{ApiError, bad_request};
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, Authed, body_read_rejection};
use crate::request_id::RequestId;
use crate::state::AppState;
use crate::tls::Peer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue))
        .routes(routes!(revoke))
        .routes(routes!(change_password))
}

/// The client's network address: the TCP peer (the limit on failed logins per address).
/// `unknown` when the router runs without connection info (in-process tests).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<Peer>>()
                .map(|ConnectInfo(Peer(addr))| addr.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

/// `POST /auth/tokens`, JSON or form-encoded.
#[utoipa::path(
    post,
    path = "/auth/tokens",
    tag = "auth",
    operation_id = "issue_token",
    summary = "Log in (grant_type password) or refresh a token (grant_type refresh_token)",
    security(()),
    request_body(
        content(
            (TokenRequest = "application/json"),
            (TokenRequest = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "A body that is not a token request", body = ErrorBody),
        (status = 401, description = "Wrong user name, password or refresh token", body = ErrorBody),
        (status = 429, description = "Too many failed logins: retry after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn issue(
    State(state): State<AppState>,
    axum::Extension(request_id): axum::Extension<RequestId>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_read_rejection(e.status()),
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parsed: Result<TokenRequest, String> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(&body).map_err(|e| format!("form body: {e}"))
        } else {
            crate::decode::decode(&body).map_err(|e| {
                format!(
                    "request body is not a valid token request: {}",
                    e.trim_start_matches("request body: ")
                )
            })
        };
    let req = match parsed {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    match state.keyward.issue_token(req, &client, &request_id.0).await {
        Ok(tokens) => (StatusCode::OK, axum::Json(tokens)).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// `DELETE /auth/tokens/{id}`: revokes a refresh token.
#[utoipa::path(
    delete,
    path = "/auth/tokens/{id}",
    tag = "auth",
    operation_id = "revoke_token",
    summary = "Revoke a refresh token (by its refresh_token_id)",
    params(("id" = String, Path, description = "The `refresh_token_id`")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such refresh token", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.keyward.revoke_refresh_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /auth/changepw`: CipherTrust's own-password change (no token; the current password).
#[utoipa::path(
    patch,
    path = "/auth/changepw",
    tag = "auth",
    operation_id = "change_password",
    summary = "Change one's own password, proving the current one (no token)",
    security(()),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "Wrong user name or current password", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 429, description = "Too many failed attempts: retry after `Retry-After` seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    axum::Extension(request_id): axum::Extension<RequestId>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    state
        .keyward
        .change_password(req, &client, &request_id.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
