use thiserror::Error;

/// Every failure a use case can report. The server maps each variant to an HTTP status and a
/// CipherTrust error body in one place; messages never carry secrets.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// Bad input: the message names the field and what to fix.
    #[error("{0}")]
    InvalidParam(String),
    /// No credentials, bad credentials or a bad token.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the caller's groups do not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// A unique name already taken, or a resource still in use.
    #[error("{0}")]
    Conflict(String),
    /// The resource's state forbids the operation.
    #[error("{0}")]
    Unprocessable(String),
    /// Too many attempts: retry after the given number of seconds.
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_secs: u64,
    },
    /// AWS answered with an error. `context` says what Keyward was doing.
    #[error("{context} : {code}: {message}")]
    Aws {
        context: String,
        code: String,
        message: String,
        kind: AwsErrorKind,
    },
    /// AWS could not be reached (network, DNS, timeout).
    #[error("{context} : AWS is unreachable: {detail}")]
    AwsUnavailable { context: String, detail: String },
    /// A fault inside Keyward (database, vault...). The detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// How an AWS error should be presented to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The request was wrong (validation, malformed policy, limits): 400.
    BadRequest,
    /// The key's state forbids the call (KMSInvalidStateException, DisabledException): 422.
    InvalidState,
    /// Not found in AWS: 404.
    NotFound,
    /// The name is taken in AWS (AlreadyExistsException): 409.
    Conflict,
    /// AWS refused the credentials or the permissions: 502 (our upstream failed us).
    AccessDenied,
    /// Throttled after retries, or AWS's own 5xx: 503.
    Unavailable,
    /// Anything else: 502.
    Other,
}

impl AwsErrorKind {
    /// Classifies an AWS KMS error code (the exception name).
    pub fn from_code(code: &str) -> Self {
        match code {
            "KMSInvalidStateException"
            | "DisabledException"
            | "IncorrectKeyMaterialException"
            | "ExpiredImportTokenException"
            | "IncorrectKeyException"
            | "InvalidImportTokenException"
            | "KeyUnavailableException" => Self::InvalidState,
            "NotFoundException" => Self::NotFound,
            "AlreadyExistsException" => Self::Conflict,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "IncompleteSignature"
            | "InvalidClientTokenId"
            | "MissingAuthenticationToken"
            | "SignatureDoesNotMatch" => Self::AccessDenied,
            "ThrottlingException"
            | "KMSInternalException"
            | "DependencyTimeoutException"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "RequestLimitExceeded" => Self::Unavailable,
            "ValidationException"
            | "InvalidArnException"
            | "MalformedPolicyDocumentException"
            | "InvalidAliasNameException"
            | "TagException"
            | "UnsupportedOperationException"
            | "LimitExceededException"
            | "InvalidKeyUsageException"
            | "InvalidMarkerException"
            | "InvalidGrantTokenException"
            | "InvalidCiphertextException"
            | "CustomKeyStoreInvalidStateException" => Self::BadRequest,
            _ => Self::Other,
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidParam(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_are_classified() {
        assert_eq!(
            AwsErrorKind::from_code("KMSInvalidStateException"),
            AwsErrorKind::InvalidState
        );
        assert_eq!(
            AwsErrorKind::from_code("NotFoundException"),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            AwsErrorKind::from_code("UnrecognizedClientException"),
            AwsErrorKind::AccessDenied
        );
        assert_eq!(
            AwsErrorKind::from_code("ThrottlingException"),
            AwsErrorKind::Unavailable
        );
        assert_eq!(
            AwsErrorKind::from_code("MalformedPolicyDocumentException"),
            AwsErrorKind::BadRequest
        );
        assert_eq!(AwsErrorKind::from_code("SomethingNew"), AwsErrorKind::Other);
    }

    #[test]
    fn aws_errors_render_as_cckm_does() {
        let e = CoreError::Aws {
            context: "Error Creating AWS Key".into(),
            code: "MalformedPolicyDocumentException".into(),
            message: "bad policy".into(),
            kind: AwsErrorKind::BadRequest,
        };
        assert_eq!(
            e.to_string(),
            "Error Creating AWS Key : MalformedPolicyDocumentException: bad policy"
        );
    }
}
