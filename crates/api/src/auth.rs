use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/auth/tokens`, as JSON or form-encoded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password` (the default when absent) or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Accepted for compatibility; only `local_account` exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_domain: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub jwt: String,
    pub duration: i64,
    pub token_type: String,
    pub client_id: String,
    pub refresh_token_id: String,
    pub refresh_token: String,
    pub refresh_token_expires_in: i64,
}

/// `PATCH /api/v1/auth/changepw`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub username: String,
    pub password: String,
    pub new_password: String,
}
