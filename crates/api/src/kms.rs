use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// `PATCH /api/v1/cckm/aws/kms/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct KmsUpdate {
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
    /// The connection's name, as CCKM returns it.
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
