//! AWS key requests, spelled as CCKM spells them (PascalCase inside `aws_param`, snake_case
//! in the action bodies). Key records are rendered by core as JSON in CCKM's shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    #[serde(rename = "TagKey")]
    pub tag_key: String,
    #[serde(rename = "TagValue", default)]
    pub tag_value: String,
}

/// `aws_param` of `POST /cckm/aws/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyAwsParam {
    #[serde(rename = "Alias", default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(
        rename = "CustomerMasterKeySpec",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_master_key_spec: Option<String>,
    #[serde(rename = "KeySpec", default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<String>,
    #[serde(rename = "KeyUsage", default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<String>,
    #[serde(rename = "Origin", default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(
        rename = "MultiRegion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub multi_region: Option<bool>,
    /// A JSON object (a JSON string holding one is accepted too).
    #[serde(rename = "Policy", default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    #[serde(rename = "Tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<CreateTag>>,
    #[serde(
        rename = "BypassPolicyLockoutSafetyCheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// The ways to give a key policy; at most one of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyHelpers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policytemplate: Option<String>,
}

/// `POST /cckm/aws/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub kms: String,
    pub region: String,
    #[serde(default)]
    pub aws_param: CreateKeyAwsParam,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policytemplate: Option<String>,
}

/// `POST .../schedule-deletion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDeletion {
    pub days: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDescription {
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActionTag {
    pub tag_key: String,
    #[serde(default)]
    pub tag_value: String,
}

/// `POST .../add-tags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddTags {
    pub tags: Vec<ActionTag>,
}

/// `POST .../remove-tags`: tag keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveTags {
    pub tags: Vec<String>,
}

/// `POST .../add-alias` and `.../delete-alias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    pub alias: String,
}

/// `POST .../policy`: `policy` (or `Policy`), the key_* lists, or `policytemplate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[serde(default, alias = "Policy", skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policytemplate: Option<String>,
    #[serde(
        rename = "BypassPolicyLockoutSafetyCheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// `POST .../enable-auto-rotation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnableAutoRotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i64>,
}

/// `POST .../replicate-key`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateKey {
    pub replica_region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<String>,
    #[serde(default)]
    pub aws_param: CreateKeyAwsParam,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<ActionTag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_admins_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_users_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policytemplate: Option<String>,
}

/// `POST .../update-primary-region`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrimaryRegion {
    #[serde(rename = "PrimaryRegion")]
    pub primary_region: String,
}

/// `POST /cckm/aws/alias/verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyAlias {
    pub alias: String,
    pub region: String,
    pub kms: String,
}

/// Filters of `GET /cckm/aws/keys` (spec 1.4a), with paging.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyListParams {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    pub sort: Option<String>,
    pub id: Option<String>,
    pub keyid: Option<String>,
    pub arn: Option<String>,
    pub alias: Option<String>,
    pub kms: Option<String>,
    pub kms_id: Option<String>,
    pub region: Option<String>,
    pub cloud_name: Option<String>,
    pub origin: Option<String>,
    pub keystate: Option<String>,
    pub keyusage: Option<String>,
    pub enabled: Option<bool>,
    pub gone: Option<bool>,
    pub key_material_origin: Option<String>,
    pub multi_region: Option<bool>,
    pub multi_region_key_type: Option<String>,
    pub rotation_job_enabled: Option<bool>,
    pub job_config_id: Option<String>,
    #[serde(rename = "CustomerMasterKeySpec")]
    pub customer_master_key_spec: Option<String>,
    /// `key` or `key=value` (several separated by commas): keys that carry these tags.
    pub tags: Option<String>,
    /// `30d` or `12h`: keys whose imported material expires within that window.
    pub expiring_within: Option<String>,
}
