use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/usermgmt/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserCreate {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Any of `admin`, `CCKM Admins`, `CCKM Users`.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `PATCH /api/v1/usermgmt/users/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Required when a user changes their own password (an admin resetting another user's
    /// password does not give it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_login: Option<String>,
    pub failed_logins_count: i64,
    pub locked_until: Option<String>,
}

/// `PATCH /api/v1/auth/changepw`: a user changes their own password, proving the current one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChangePassword {
    pub username: String,
    /// The current password.
    pub password: String,
    pub new_password: String,
    /// Accepted as CipherTrust's clients send it; only `local_account` exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_domain: Option<String>,
}
