//! Rotations of AWS keys: the request (`POST /cckm/aws/keys/{id}/rotate`) and the history
//! records (`GET /cckm/aws/keys/{id}/rotations`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::key_record::{KeyMaterialOrigin, KeySourceTier};
use crate::resource::Resource;

/// `POST /cckm/aws/keys/{id}/rotate` (spec 1.3.8): a new AWS key replaces the key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RotateKey {
    /// BYOK keys: where the new material comes from (`local`, the default, or `hsm-luna`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    /// BYOK keys: the key holding the new material (a new one is made when absent).
    #[serde(
        default,
        alias = "source_key_identifier",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_key_id: Option<String>,
    /// Deny encryption with the old key to its account's principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_encrypt: Option<bool>,
    /// Deny encryption with the old key to every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_encrypt_on_all_accounts: Option<bool>,
    /// The new key's description (default: the old key's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// BYOK keys: the new material expires (at `valid_to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expiration: Option<bool>,
    /// BYOK keys: when the new material expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    /// The old key keeps a timestamped copy of each alias moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_alias: Option<bool>,
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RotationType {
    /// A new AWS key replaced the old one.
    NewKey,
    /// AWS rotated the key's material in place (RotateKeyOnDemand).
    Material,
}

/// Where a rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RotationState {
    InProgress,
    Completed,
    Failed,
}

/// AWS's name of an in-place rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AwsRotationType {
    OnDemand,
}

/// `aws_param` of a rotation, as AWS's ListKeyRotations shows one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotationAwsParam {
    /// The new key's ARN (the old key's for an in-place rotation or one without a new key).
    #[serde(rename = "KeyId")]
    pub key_id: String,
    /// When the rotation ended (or began, while it runs); RFC 3339, seconds.
    #[serde(rename = "RotationDate")]
    pub rotation_date: String,
    /// `ON_DEMAND` for an in-place rotation.
    #[serde(
        rename = "RotationType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_type: Option<AwsRotationType>,
    /// When the new material expires.
    #[serde(rename = "ValidTo", default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    /// `KEY_MATERIAL_EXPIRES` with `ValidTo`.
    #[serde(
        rename = "ExpirationModel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_model: Option<String>,
}

/// One rotation of a key (`GET /cckm/aws/keys/{id}/rotations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rotation {
    #[serde(flatten)]
    pub resource: Resource,
    pub rotation_type: RotationType,
    pub status: RotationState,
    /// Why the rotation failed (empty otherwise).
    pub error: String,
    /// The record id of the key rotated.
    pub rotated_from: String,
    /// The ARN of the key rotated.
    pub rotated_from_arn: String,
    /// `cckm` for a BYOK key's rotation, else `native`.
    pub key_material_origin: KeyMaterialOrigin,
    /// The user who asked for the rotation (or the job's owner).
    pub created_by: String,
    pub aws_param: RotationAwsParam,
    /// The new key's record id (a completed rotation to a new key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to: Option<String>,
    /// The new key's ARN (a completed rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_to_arn: Option<String>,
    /// A failed rotation's new key, scheduled for deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned_key_arn: Option<String>,
    /// The job run that made the rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_run_id: Option<String>,
    /// BYOK: where the new material came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<KeySourceTier>,
    /// BYOK: the same as `source_key_tier` (the key record's name for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySourceTier>,
    /// BYOK: the key that holds the new material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_identifier: Option<String>,
    /// BYOK: the same as `source_key_identifier` (the key record's name for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_key_id: Option<String>,
    /// BYOK: that key's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_name: Option<String>,
    /// Aliases the old key kept (`retain_alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retained_aliases: Vec<String>,
}
