//! AWS SDK errors to core errors. The classification of codes lives in core; this only
//! extracts the code and message, and tells network failures apart.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use keyward_core::CoreError;
use keyward_core::error::AwsErrorKind;

pub fn map_sdk_error<E, R>(context: &str, err: SdkError<E, R>) -> CoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("UnknownError").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            CoreError::Aws {
                context: context.to_string(),
                kind: AwsErrorKind::from_code(&code),
                code,
                message,
            }
        }
        SdkError::TimeoutError(_) => CoreError::AwsUnavailable {
            context: context.to_string(),
            detail: "the request timed out".into(),
        },
        SdkError::DispatchFailure(d) => CoreError::AwsUnavailable {
            context: context.to_string(),
            detail: if d.is_timeout() {
                "the request timed out".into()
            } else if d.is_io() {
                "the connection failed".into()
            } else {
                "the connection closed without an answer (AWS may have carried out the request)"
                    .into()
            },
        },
        SdkError::ResponseError(_) => CoreError::Aws {
            context: context.to_string(),
            code: "InvalidResponse".into(),
            message: "AWS's response could not be read".into(),
            kind: AwsErrorKind::Other,
        },
        _ => CoreError::Aws {
            context: context.to_string(),
            code: "RequestFailed".into(),
            message: "the request could not be built".into(),
            kind: AwsErrorKind::BadRequest,
        },
    }
}
