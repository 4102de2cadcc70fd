use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET /api/v1/cckm/aws/kms`, with paging (an empty value is no filter).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KmsListParams {
    /// Resources to skip (0 and up).
    pub skip: Option<i64>,
    /// Page size: 0 or more (10 when absent), or -1 for every resource.
    pub limit: Option<i64>,
    /// Comma-separated fields to sort on, each with a `-` prefix for descending.
    pub sort: Option<String>,
    /// Only the container with this id.
    pub id: Option<String>,
    /// Only the container with this name.
    pub name: Option<String>,
    /// Only the containers of this AWS account.
    pub account_id: Option<String>,
}

/// `POST /api/v1/cckm/aws/kms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct KmsCreate {
    pub name: String,
    pub account_id: String,
    /// Connection name or id.
    pub connection: String,
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
}

/// `PATCH /api/v1/cckm/aws/kms/{id}`. `name` and `account_id` cannot change: Go clients send
/// them back (as `""` or as they are), which changes nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct KmsUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Kms {
    #[serde(flatten)]
    pub resource: crate::resource::Resource,
    pub name: String,
    pub account_id: String,
    /// The connection as it was given (its id or its name).
    pub connection: String,
    pub connection_id: String,
    pub regions: Vec<String>,
    pub arn: String,
    pub assume_role_arn: String,
    pub assume_role_external_id: String,
    pub auto_added: bool,
    pub status: String,
    pub acls: Vec<serde_json::Value>,
}
