//! Extractors that turn a request into typed input, and every rejection into CipherTrust's
//! error body: the bearer token, JSON bodies, query strings.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use keyward_core::CoreError;
use keyward_core::audit::Caller;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, bad_request, error_response};
use crate::request_id::RequestId;
use crate::state::AppState;

/// The authenticated caller (from `Authorization: Bearer <jwt>`).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = RequestId::of(parts);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError(CoreError::Unauthorized(
                    "Unauthorised: no bearer token; get one from POST /api/v1/auth/tokens".into(),
                ))
                .into_response()
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError(CoreError::Unauthorized(
                    "Unauthorised: the Authorization header must be 'Bearer <token>'".into(),
                ))
                .into_response()
            })?;
        let principal = state
            .keyward
            .authenticate(token)
            .await
            .map_err(|e| ApiError(e).into_response())?;
        Ok(Authed(Caller::new(principal, request_id)))
    }
}

/// A JSON body; its rejections in CipherTrust's shape (400 malformed, 413 too large, 415).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // axum checks the content type, reads the body and parses the JSON; the one decoding
        // rule (`decode.rs`) turns it into `T`.
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        crate::decode::decode_value(&value)
            .map(ApiJson)
            .map_err(invalid_body)
    }
}

/// A body that is JSON but does not decode into its type: a 400 naming the field at fault.
pub fn invalid_body(message: String) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        9,
        "NCERRInvalidParamValue: Invalid parameter value",
        bounded(&message, 1024),
    )
}

pub fn json_rejection(rejection: JsonRejection) -> Response {
    match rejection {
        JsonRejection::JsonDataError(e) => error_response(
            StatusCode::BAD_REQUEST,
            9,
            "NCERRInvalidParamValue: Invalid parameter value",
            format!("request body: {}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => {
            bad_request(format!("request body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            4,
            "NCERRBadRequest: Bad HTTP request",
            "send the body as JSON with Content-Type: application/json".into(),
        ),
        JsonRejection::BytesRejection(e) => body_read_rejection(e.status()),
        other => bad_request(other.body_text()),
    }
}

pub fn body_read_rejection(status: StatusCode) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            4,
            "NCERRBadRequest: Request body too large",
            "the request body is larger than the server accepts (max_body_bytes, 1 MiB by default)"
                .into(),
        )
    } else {
        bad_request("the request body could not be read")
    }
}

/// A query string; a malformed one is a 400 that names the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(error_response(
                StatusCode::BAD_REQUEST,
                9,
                "NCERRInvalidParamValue: Invalid parameter value",
                format!("query string: {}", bounded(&e.body_text(), 512)),
            )),
            Err(other) => Err(bad_request(bounded(&other.body_text(), 512))),
        }
    }
}

/// Path parameters (ids, names, action names); a rejection (a segment that is not UTF-8 once
/// percent-decoded, for example) in CipherTrust's shape, saying what to fix.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(error_response(
                StatusCode::BAD_REQUEST,
                9,
                "NCERRInvalidParamValue: Invalid parameter value",
                format!(
                    "path: {}; an id or name in the path must be UTF-8, percent-encoded",
                    bounded(&e.body_text(), 256)
                ),
            )),
            Err(other) => Err(bad_request(format!(
                "path: {}",
                bounded(&other.body_text(), 256)
            ))),
        }
    }
}

/// At most `max` characters of a text, for a message.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}
