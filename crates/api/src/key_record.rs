//! The AWS key record (`/cckm/aws/keys`), in CCKM's shape (seed 004's example response): the
//! resource metadata, Keyward's fields, and `aws_param` (AWS's KeyMetadata with the key's
//! aliases, tags, policy and rotation). Also the small answers of some key actions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::keys::CreateTag;
use crate::principals::KeyPrincipals;
use crate::resource::Resource;

/// Where a key record stands in a rotation to a new key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRotationState {
    /// Never rotated, or a failed in-place rotation was retried.
    #[default]
    #[serde(rename = "")]
    None,
    /// A rotation of the key is running.
    #[serde(rename = "in_progress")]
    InProgress,
    /// The key was replaced by a new one (`rotated_to`).
    #[serde(rename = "rotated")]
    Rotated,
    /// The last rotation failed.
    #[serde(rename = "failed")]
    Failed,
}

impl KeyRotationState {
    pub const ALL: [KeyRotationState; 4] = [
        KeyRotationState::None,
        KeyRotationState::InProgress,
        KeyRotationState::Rotated,
        KeyRotationState::Failed,
    ];

    /// The word on the wire (`""` for none).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRotationState::None => "",
            KeyRotationState::InProgress => "in_progress",
            KeyRotationState::Rotated => "rotated",
            KeyRotationState::Failed => "failed",
        }
    }
}

// Written by hand: utoipa's derive ignores an empty rename, and would list "None".
impl utoipa::PartialSchema for KeyRotationState {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Where the key stands in a rotation to a new key: \"\" (never rotated), in_progress, rotated (replaced by rotated_to), failed",
            ))
            .enum_values(Some(Self::ALL.iter().map(|s| s.as_str())))
            .into()
    }
}

impl ToSchema for KeyRotationState {}

/// Where a key's material comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyMaterialOrigin {
    /// Made by AWS (Origin AWS_KMS).
    Native,
    /// Imported by Keyward (bring your own key).
    Cckm,
    /// EXTERNAL material Keyward did not import.
    Unknown,
}

/// The source of imported key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum KeySourceTier {
    /// Keyward's vault.
    #[serde(rename = "local")]
    Local,
    /// A Luna HSM (through PKCS#11).
    #[serde(rename = "hsm-luna")]
    HsmLuna,
    /// CipherTrust Data Security Manager: accepted as a name of the HSM tier.
    #[serde(rename = "dsm")]
    Dsm,
}

/// The kind of key, from its key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// SYMMETRIC_DEFAULT.
    Symmetric,
    /// RSA_*, ECC_*, SM2.
    Asymmetric,
    /// HMAC_*.
    Hmac,
}

/// One Region's key of a multi-Region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionalKey {
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(rename = "Region")]
    pub region: String,
}

/// AWS's MultiRegionConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MultiRegionConfiguration {
    /// PRIMARY or REPLICA.
    #[serde(rename = "MultiRegionKeyType")]
    pub multi_region_key_type: String,
    #[serde(
        rename = "PrimaryKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub primary_key: Option<RegionalKey>,
    #[serde(rename = "ReplicaKeys", default)]
    pub replica_keys: Vec<RegionalKey>,
}

/// `aws_param` of a key record: AWS's KeyMetadata (DescribeKey) with the key's aliases, tags,
/// policy (GetKeyPolicy) and rotation (GetKeyRotationStatus). Times are RFC 3339, seconds.
/// Keyward always sends every field that is not optional; a reader takes a missing one as
/// its default (CCKM's own example leaves out `Description`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct KeyAwsParam {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    #[serde(rename = "KeyID")]
    pub key_id: String,
    /// The same key id, as AWS spells it (`KeyId`): Thales' newer Terraform provider reads
    /// this one, the older one `KeyID`.
    #[serde(rename = "KeyId")]
    pub key_id_aws: String,
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(
        rename = "CreationDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_date: Option<String>,
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "KeyUsage")]
    pub key_usage: String,
    #[serde(rename = "KeyState")]
    pub key_state: String,
    #[serde(
        rename = "DeletionDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deletion_date: Option<String>,
    /// When imported material expires.
    #[serde(rename = "ValidTo", default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    #[serde(
        rename = "PendingDeletionWindowInDays",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pending_deletion_window_in_days: Option<i32>,
    #[serde(rename = "Origin")]
    pub origin: String,
    #[serde(rename = "KeyManager")]
    pub key_manager: String,
    /// The key spec (AWS's older name for it).
    #[serde(rename = "CustomerMasterKeySpec")]
    pub customer_master_key_spec: String,
    #[serde(rename = "KeySpec")]
    pub key_spec: String,
    #[serde(
        rename = "EncryptionAlgorithms",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub encryption_algorithms: Vec<String>,
    #[serde(
        rename = "SigningAlgorithms",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signing_algorithms: Vec<String>,
    #[serde(
        rename = "MacAlgorithms",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mac_algorithms: Vec<String>,
    #[serde(
        rename = "KeyAgreementAlgorithms",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_agreement_algorithms: Vec<String>,
    #[serde(
        rename = "ExpirationModel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_model: Option<String>,
    #[serde(rename = "MultiRegion")]
    pub multi_region: bool,
    #[serde(
        rename = "MultiRegionConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    /// Full alias names (`alias/<name>`).
    #[serde(rename = "Alias", default)]
    pub alias: Vec<String>,
    #[serde(rename = "Tags", default)]
    pub tags: Vec<CreateTag>,
    /// The key policy document (the text AWS returned when it is not JSON).
    #[serde(rename = "Policy", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub policy: Option<Value>,
    #[serde(rename = "KeyRotationEnabled")]
    pub key_rotation_enabled: bool,
    #[serde(
        rename = "RotationPeriodInDays",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_period_in_days: Option<i32>,
    #[serde(
        rename = "NextRotationDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_rotation_date: Option<String>,
}

/// An AWS key as Keyward records it (`GET /cckm/aws/keys/{id}`, and what every key action
/// returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyRecord {
    #[serde(flatten)]
    pub resource: Resource,
    /// CipherTrust's labels of the key, every value a string: with a rotation job attached,
    /// `job_config_id` and `auto_rotate_key_source` (what Thales' Terraform provider reads).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The KMS container's id.
    pub kms_id: String,
    /// The KMS container's name.
    pub kms: String,
    /// When Keyward last read the key from AWS (RFC 3339, microseconds).
    pub synced_at: String,
    pub rotation_status: KeyRotationState,
    /// `aws`, `aws-us-gov` or `aws-cn`.
    pub cloud_name: String,
    pub key_type: KeyType,
    /// Always false.
    pub basic_view_enabled: bool,
    pub region: String,
    /// AWS no longer has the key.
    pub gone: bool,
    pub key_material_origin: KeyMaterialOrigin,
    pub aws_param: KeyAwsParam,
    /// The rotation job config the key is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_config_id: Option<String>,
    /// With a rotation job: where the new material comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_key_source: Option<String>,
    /// With a rotation job: deny encryption with the old key (its account's principals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_disable_encrypt: Option<bool>,
    /// With a rotation job: deny encryption with the old key to every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rotate_disable_encrypt_on_all_accounts: Option<bool>,
    /// When AWS deletes the key (RFC 3339, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// The record id of the key this one replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_from: Option<String>,
    /// The record id of the key that replaced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
    /// When this key was replaced (RFC 3339, microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
    #[serde(flatten)]
    pub principals: KeyPrincipals,
    /// BYOK: the id of the key whose material the key holds (vault key id or HSM key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_key_id: Option<String>,
    /// BYOK: that key's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_key_name: Option<String>,
    /// BYOK: where that key is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySourceTier>,
}

/// `POST .../get-key-rotation-status`: AWS's answer (times RFC 3339, milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyRotationStatus {
    /// The key's ARN.
    #[serde(rename = "KeyId")]
    pub key_id: String,
    #[serde(rename = "KeyRotationEnabled")]
    pub key_rotation_enabled: bool,
    #[serde(
        rename = "RotationPeriodInDays",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_period_in_days: Option<i32>,
    #[serde(
        rename = "NextRotationDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_rotation_date: Option<String>,
    #[serde(
        rename = "OnDemandRotationStartDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_demand_rotation_start_date: Option<String>,
}

/// `GET .../download-public-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// The public key, PEM (SubjectPublicKeyInfo).
    pub public_key: String,
    /// The key's ARN.
    #[serde(rename = "KeyId")]
    pub key_id: String,
    #[serde(rename = "KeySpec")]
    pub key_spec: String,
}

/// `POST /cckm/aws/alias/verify` when the alias is free (a taken alias is a 409).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AliasAvailable {
    /// `Alias available`.
    pub message: String,
}

#[cfg(test)]
mod schema_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use utoipa::PartialSchema;

    /// The document lists the words the record really carries, the empty one included.
    #[test]
    fn the_rotation_state_schema_has_the_serde_words() {
        let schema = serde_json::to_value(KeyRotationState::schema()).unwrap();
        let words: Vec<String> = serde_json::from_value(schema["enum"].clone()).unwrap();
        let serde_words: Vec<String> = KeyRotationState::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(words, serde_words);
    }
}
