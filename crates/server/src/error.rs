//! The one place where errors become HTTP responses in CipherTrust's shape:
//! `{"code", "codeDesc": "NCERR<Name>: <short text>", "message"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_api::ErrorBody;
use keyward_core::CoreError;
use keyward_core::error::AwsErrorKind;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub CoreError);

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        Self(e)
    }
}

/// Status, numeric code and `codeDesc` for an error.
fn classify(e: &CoreError) -> (StatusCode, i32, &'static str) {
    match e {
        CoreError::InvalidParam(_) => (
            StatusCode::BAD_REQUEST,
            9,
            "NCERRInvalidParamValue: Invalid parameter value",
        ),
        CoreError::Unauthorized(_) => (
            StatusCode::UNAUTHORIZED,
            5,
            "NCERRUnauthorizedAccess: Unauthorized",
        ),
        CoreError::Forbidden(_) => (
            StatusCode::FORBIDDEN,
            7,
            "NCERRForbidden: Operation not permitted",
        ),
        CoreError::NotFound(_) => (
            StatusCode::NOT_FOUND,
            16,
            "NCERRResourceNotFound: Resource not found",
        ),
        CoreError::Conflict(_) => (StatusCode::CONFLICT, 11, "NCERRConflict: Resource conflict"),
        CoreError::Unprocessable(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            12,
            "NCERRUnprocessableEntity: Operation not allowed in this state",
        ),
        CoreError::TooManyAttempts { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            15,
            "NCERRTooManyRequests: Too many attempts",
        ),
        CoreError::Aws { kind, .. } => match kind {
            AwsErrorKind::BadRequest => (
                StatusCode::BAD_REQUEST,
                4,
                "NCERRBadRequest: Bad HTTP request",
            ),
            AwsErrorKind::InvalidState => (
                StatusCode::UNPROCESSABLE_ENTITY,
                12,
                "NCERRUnprocessableEntity: Operation not allowed in this state",
            ),
            AwsErrorKind::Conflict => {
                (StatusCode::CONFLICT, 11, "NCERRConflict: Resource conflict")
            }
            AwsErrorKind::NotFound => (
                StatusCode::NOT_FOUND,
                16,
                "NCERRResourceNotFound: Resource not found",
            ),
            AwsErrorKind::AccessDenied | AwsErrorKind::Other => (
                StatusCode::BAD_GATEWAY,
                18,
                "NCERRBadGateway: AWS refused the request",
            ),
            AwsErrorKind::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                17,
                "NCERRServiceUnavailable: AWS is unavailable",
            ),
        },
        CoreError::AwsUnavailable { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            17,
            "NCERRServiceUnavailable: AWS is unavailable",
        ),
        CoreError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            14,
            "NCERRInternalServerError: Internal server error",
        ),
    }
}

/// A response with CipherTrust's error body.
pub fn error_response(status: StatusCode, code: i32, code_desc: &str, message: String) -> Response {
    let body = ErrorBody {
        code,
        code_desc: code_desc.to_string(),
        message,
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, desc) = classify(&self.0);
        let message = match &self.0 {
            CoreError::Internal(detail) => {
                // The detail stays in the log; the client gets nothing of the internals.
                tracing::error!(error = %detail, "internal error");
                "An internal error occurred; the server log has the details under this request's id.".to_string()
            }
            other => other.to_string(),
        };
        let mut response = error_response(status, code, desc, message);
        if let CoreError::TooManyAttempts {
            retry_after_secs, ..
        } = &self.0
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// 400 for a body or query the server cannot read.
pub fn bad_request(message: impl Into<String>) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        4,
        "NCERRBadRequest: Bad HTTP request",
        message.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_design() {
        let cases = [
            (CoreError::invalid("x"), 400),
            (CoreError::Unauthorized("x".into()), 401),
            (CoreError::Forbidden("x".into()), 403),
            (CoreError::not_found("x"), 404),
            (CoreError::conflict("x"), 409),
            (CoreError::Unprocessable("x".into()), 422),
            (
                CoreError::TooManyAttempts {
                    message: "x".into(),
                    retry_after_secs: 2,
                },
                429,
            ),
            (CoreError::internal("db broke at /secret/path"), 500),
            (
                CoreError::AwsUnavailable {
                    context: "c".into(),
                    detail: "d".into(),
                },
                503,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(ApiError(err).into_response().status().as_u16(), status);
        }
        for (kind, status) in [
            (AwsErrorKind::BadRequest, 400),
            (AwsErrorKind::InvalidState, 422),
            (AwsErrorKind::NotFound, 404),
            (AwsErrorKind::AccessDenied, 502),
            (AwsErrorKind::Unavailable, 503),
        ] {
            let e = CoreError::Aws {
                context: "c".into(),
                code: "X".into(),
                message: "m".into(),
                kind,
            };
            assert_eq!(ApiError(e).into_response().status().as_u16(), status);
        }
    }
}
