//! issue10: the wire types the CLI needs that `keyward_api` does not have yet. Everything here
//! is a stand-in, one section per resource, each marked with the `keyward_api` type that is to
//! replace it; the commands use these names and fields only, so replacing a section is a matter
//! of swapping the `use` (and renaming a field where the api type spells it differently).
//!
//! A response stand-in is a [`Shim`]: the JSON exactly as the server sent it (what `--json`
//! prints, so nothing the CLI does not read is lost) and a typed view of the fields the CLI
//! reads, reached through `Deref` the same way an api type's fields are. Request stand-ins are
//! plain serde structs that write the body the server reads.

use std::ops::Deref;

use keyward_api::keys::CreateKeyAwsParam;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A response as received (`json`) with a typed view of the fields the CLI reads.
#[derive(Debug, Clone)]
pub struct Shim<V> {
    pub json: Value,
    view: V,
}

impl<V> Deref for Shim<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.view
    }
}

impl<'de, V: DeserializeOwned> Deserialize<'de> for Shim<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(d)?;
        let view = V::deserialize(&json).map_err(serde::de::Error::custom)?;
        Ok(Self { json, view })
    }
}

impl<V> Serialize for Shim<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

// --- AWS key records ---------------------------------------------------------------------
// issue10: replace with keyward_api::keys::AwsKey (the key record) once merged.

pub type AwsKey = Shim<AwsKeyView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AwsKeyView {
    pub id: String,
    pub kms: String,
    pub region: String,
    pub gone: bool,
    pub synced_at: Option<String>,
    pub job_config_id: Option<String>,
    pub rotation_status: Option<String>,
    pub rotated_from: Option<String>,
    pub rotated_to: Option<String>,
    pub rotated_at: Option<String>,
    pub local_key_name: Option<String>,
    pub aws_param: AwsKeyParamView,
}

/// `aws_param` of a key record (AWS's spelling).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AwsKeyParamView {
    #[serde(rename = "KeyID")]
    pub key_id: Option<String>,
    #[serde(rename = "Arn")]
    pub arn: Option<String>,
    #[serde(rename = "Alias")]
    pub alias: Vec<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "KeyState")]
    pub key_state: Option<String>,
    #[serde(rename = "CustomerMasterKeySpec")]
    pub customer_master_key_spec: Option<String>,
    #[serde(rename = "KeyUsage")]
    pub key_usage: Option<String>,
    #[serde(rename = "Origin")]
    pub origin: Option<String>,
    #[serde(rename = "MultiRegion")]
    pub multi_region: Option<bool>,
    #[serde(rename = "MultiRegionConfiguration")]
    pub multi_region_configuration: Option<MultiRegionConfigurationView>,
    #[serde(rename = "KeyRotationEnabled")]
    pub key_rotation_enabled: Option<bool>,
    #[serde(rename = "RotationPeriodInDays")]
    pub rotation_period_in_days: Option<i64>,
    #[serde(rename = "DeletionDate")]
    pub deletion_date: Option<String>,
    #[serde(rename = "ValidTo")]
    pub valid_to: Option<String>,
    #[serde(rename = "Tags")]
    pub tags: Vec<TagView>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MultiRegionConfigurationView {
    #[serde(rename = "MultiRegionKeyType")]
    pub multi_region_key_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TagView {
    #[serde(rename = "TagKey")]
    pub tag_key: String,
    #[serde(rename = "TagValue")]
    pub tag_value: String,
}

// issue10: replace with the api type of `GET .../download-public-key` once merged.
pub type PublicKey = Shim<PublicKeyView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PublicKeyView {
    pub public_key: String,
}

// issue10: replace with the api type of `POST .../get-key-rotation-status` once merged
// (printed whole, field by field).
pub type KeyRotationStatus = Value;

// issue10: replace with the api type of `POST /cckm/aws/alias/verify`'s answer once merged
// (printed only with --json).
pub type AliasVerdict = Value;

// --- key action bodies -------------------------------------------------------------------
// issue10: replace with keyward_api::keys::{RotateKey, EnableRotationJob, ImportMaterial,
// UploadKey} once merged.

/// `POST .../rotate`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RotateKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_encrypt: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_encrypt_on_all_accounts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_alias: Option<bool>,
    #[serde(flatten)]
    pub validity: Validity,
}

/// `key_expiration` and `valid_to` of the rotate, import and upload bodies.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_expiration: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
}

/// `POST .../enable-rotation-job`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnableRotationJob {
    pub job_config_id: String,
    pub auto_rotate_disable_encrypt: bool,
    pub auto_rotate_disable_encrypt_on_all_accounts: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rotate_key_source: Option<String>,
}

/// `POST .../import-material`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportMaterial {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_identifier: Option<String>,
    #[serde(flatten)]
    pub validity: Validity,
}

/// `POST /cckm/aws/upload-key`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UploadKey {
    pub kms: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_identifier: Option<String>,
    #[serde(flatten)]
    pub validity: Validity,
    pub aws_param: CreateKeyAwsParam,
}

// --- rotations ---------------------------------------------------------------------------
// issue10: replace with keyward_api::keys::Rotation once merged.

pub type Rotation = Shim<RotationView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RotationView {
    pub id: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    pub rotation_type: String,
    pub status: String,
    pub error: String,
    pub rotated_from: Option<String>,
    pub rotated_to: Option<String>,
    pub aws_param: RotationParamView,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RotationParamView {
    #[serde(rename = "RotationDate")]
    pub rotation_date: Option<String>,
}
