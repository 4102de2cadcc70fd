use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// Filters of `GET .../aws/connections`, with paging (an empty value is no filter).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectionListParams {
    /// Resources to skip (0 and up).
    pub skip: Option<i64>,
    /// Page size: 0 or more (10 when absent), or -1 for every resource.
    pub limit: Option<i64>,
    /// Comma-separated fields to sort on, each with a `-` prefix for descending.
    pub sort: Option<String>,
    /// Only the connection with this id.
    pub id: Option<String>,
    /// Only the connection with this name.
    pub name: Option<String>,
    /// Only the connections to this cloud (`aws`, `aws-us-gov`, `aws-cn`).
    pub cloud_name: Option<String>,
}

/// `POST /api/v1/connectionmgmt/services/aws/connections`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AwsConnectionCreate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_sts_regional_endpoints: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_role_anywhere: Option<bool>,
    /// Override of the AWS endpoint (VPC or FIPS endpoints, or an emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// `PATCH .../connections/{id}`: every field optional; `name` cannot change (it may be sent
/// unchanged, or as `""`). `labels` and `meta` are merge patches: a member set to `null` is
/// removed, the others are set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AwsConnectionUpdate {
    /// Only the connection's own name (Go clients send the whole struct back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_sts_regional_endpoints: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<String>>,
}

/// A connection as returned: never carries the secret access key. It has no `application` or
/// `devAccount` member: Thales' Terraform provider decodes connection lists into a struct whose
/// own `Application`/`DevAccount` fields (not strings) would match them case-insensitively.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AwsConnection {
    pub id: String,
    pub uri: String,
    pub account: String,
    pub dev_account: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    pub name: String,
    pub category: String,
    pub service: String,
    pub resource_url: String,
    pub description: String,
    pub access_key_id: String,
    pub assume_role_arn: String,
    pub assume_role_external_id: String,
    pub aws_region: String,
    pub aws_sts_regional_endpoints: String,
    pub cloud_name: String,
    pub is_role_anywhere: bool,
    pub endpoint_url: String,
    pub labels: Map<String, Value>,
    pub meta: Value,
    pub products: Vec<String>,
    /// False until a test of the connection succeeds.
    pub last_connection_ok: bool,
    pub last_connection_error: String,
    pub last_connection_at: Option<String>,
}

/// `POST .../connections/{id}/test` result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionTestResult {
    pub connection_ok: bool,
    pub error: String,
}
