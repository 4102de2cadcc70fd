//! AWS key requests, spelled as CCKM spells them (PascalCase inside `aws_param`, snake_case
//! in the action bodies). The key record is in [`crate::key_record`], rotations in
//! [`crate::rotations`]. The principal lists come from [`crate::with_principals!`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct CreateTag {
    #[serde(rename = "TagKey")]
    pub tag_key: String,
    #[serde(rename = "TagValue", default)]
    pub tag_value: String,
}

/// `aws_param` of `POST /cckm/aws/keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
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
    #[schema(value_type = Option<Object>)]
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

crate::with_principals! { lists_and_template;
    /// `POST /cckm/aws/keys`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct CreateKey {
        pub kms: String,
        pub region: String,
        #[serde(default)]
        pub aws_param: CreateKeyAwsParam,
    }
}

/// `POST .../schedule-deletion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ScheduleDeletion {
    pub days: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateDescription {
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ActionTag {
    pub tag_key: String,
    #[serde(default)]
    pub tag_value: String,
}

/// `POST .../add-tags`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AddTags {
    pub tags: Vec<ActionTag>,
}

/// `POST .../remove-tags`: tag keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RemoveTags {
    pub tags: Vec<String>,
}

/// `POST .../add-alias` and `.../delete-alias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AliasBody {
    pub alias: String,
}

crate::with_principals! { lists_and_template;
    /// `POST .../policy`: `policy` (or `Policy`), the key_* lists, or `policytemplate`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct PolicyBody {
        /// A key policy document (a JSON object, or a string holding one).
        #[serde(default, alias = "Policy", skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        pub policy: Option<Value>,
        #[serde(
            rename = "BypassPolicyLockoutSafetyCheck",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        pub bypass_policy_lockout_safety_check: Option<bool>,
    }
}

/// `POST .../enable-auto-rotation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EnableAutoRotation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i64>,
}

crate::with_principals! { lists_and_template;
    /// `POST .../replicate-key`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct ReplicateKey {
        pub replica_region: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kms: Option<String>,
        #[serde(default)]
        pub aws_param: CreateKeyAwsParam,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tags: Option<Vec<ActionTag>>,
    }
}

/// `POST .../update-primary-region`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdatePrimaryRegion {
    #[serde(rename = "PrimaryRegion")]
    pub primary_region: String,
}

/// `POST /cckm/aws/alias/verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VerifyAlias {
    pub alias: String,
    pub region: String,
    pub kms: String,
}

/// Filters of `GET /cckm/aws/keys` (spec 1.4a), with paging.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
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

/// `POST .../import-material`: imports material (a vault or HSM key) into an EXTERNAL key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ImportMaterial {
    /// `local` (the default) or `hsm-luna`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    /// The key holding the material (a new one is made when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_identifier: Option<String>,
    /// The material expires (at `valid_to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expiration: Option<bool>,
    /// When the material expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
}

/// `POST .../delete-material`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DeleteMaterial {
    /// Accepted for CCKM's sake; a key has one material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

crate::with_principals! { lists_and_template;
    /// `POST /cckm/aws/upload-key`: creates an EXTERNAL key and imports material into it.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct UploadKey {
        /// KMS container, name or id.
        pub kms: String,
        pub region: String,
        /// The key holding the material (a new one is made when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source_key_identifier: Option<String>,
        /// `local` (the default) or `hsm-luna`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source_key_tier: Option<String>,
        /// The material expires (at `valid_to`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub key_expiration: Option<bool>,
        /// When the material expires (RFC 3339).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub valid_to: Option<String>,
        /// `aws_param` of a create (`Origin`, if given, must be EXTERNAL), plus `ValidTo`.
        /// Read by the server (not here) so that a refused upload is audited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        pub aws_param: Option<Value>,
    }
}

/// `POST .../enable-rotation-job`: attaches the key to a `cckm_key_rotation` job config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct EnableRotationJob {
    /// The job config's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_config_id: Option<String>,
    /// BYOK keys: `local` (the default) or `hsm-luna`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_key_source: Option<String>,
    /// Deny encryption with the old key to its account's principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_disable_encrypt: Option<bool>,
    /// Deny encryption with the old key to every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_disable_encrypt_on_all_accounts: Option<bool>,
}

/// `POST .../rotate-material`: no body, or the body of the newer Terraform provider
/// (`RotateMaterialPayloadJSON`, its fields omitted when unset, so `{"key_expiration":false}`).
/// New imported material is not taken here (use import-material); the fields exist so that a
/// body asking for it is refused by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RotateMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expiration: Option<bool>,
}
