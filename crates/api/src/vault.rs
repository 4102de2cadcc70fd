//! Keys in Keyward's own vault (`/vault/keys2`): AES, HMAC, RSA and EC keys whose material never
//! leaves except wrapped for an AWS import. No body carries material out. The responses have
//! the field names and JSON types of CipherTrust's keys (`CMKeyJSON` in Thales' Terraform
//! provider), which decodes them strictly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::resource::Resource;

/// An alias of a vault key (CipherTrust's shape; Keyward's vault keys have none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyAlias {
    pub alias: String,
    pub index: i64,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A vault key's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultKey {
    #[serde(flatten)]
    pub resource: Resource,
    pub name: String,
    /// `aes`, `rsa`, `ec` or `hmac-sha256|384|512`, written as it was given at create
    /// (`AES`, `RSA` stay upper case).
    pub algorithm: String,
    /// Bits: AES 128, 192 or 256; RSA 2048, 3072 or 4096; EC the curve's (256, 384, 521);
    /// HMAC the key's length.
    pub size: i64,
    /// `Symmetric Key` (AES, HMAC) or `Private Key` (RSA, EC).
    #[serde(rename = "objectType")]
    pub object_type: String,
    /// The KMIP usage mask: 12 (encrypt, decrypt) for AES, 384 (MAC generate, verify) for HMAC,
    /// 15 for RSA, 3 (sign, verify) for EC.
    #[serde(rename = "usageMask")]
    pub usage_mask: i64,
    /// EC keys: the curve (`secp384r1`, `secp521r1`, `secp256k1`, `prime256v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curveid: Option<String>,
    /// `raw` (AES, HMAC) or `pkcs8` (RSA, EC): how the material is kept.
    pub format: String,
    /// Always `Active`.
    pub state: String,
    /// Always 0 (vault keys have one version).
    pub version: i64,
    pub description: String,
    /// Always true: the material is never returned.
    pub unexportable: bool,
    /// Always false.
    pub undeletable: bool,
    /// Free-form labels (given at create, changed with PATCH).
    #[schema(value_type = Object)]
    pub labels: BTreeMap<String, Value>,
    /// Always empty.
    pub aliases: Vec<VaultKeyAlias>,
    /// The AWS key records whose imported material this is (such a key cannot be deleted
    /// while one of them is not scheduled for deletion).
    pub used_by_aws_keys: Vec<String>,
}

/// `POST /vault/keys2`. CipherTrust's other fields are ignored (`assignSelfAsOwner`: a
/// Keyward vault has one owner).
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyCreate {
    /// Names need not be unique (as in CipherTrust); a name that several keys have cannot
    /// stand for a key in a path.
    pub name: String,
    /// `aes` (the default), `rsa`, `ec`, `hmac-sha256`, `hmac-sha384` or `hmac-sha512`, in
    /// any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// AES 128, 192 or 256 (the default); RSA 2048 (the default), 3072 or 4096; HMAC 128 to
    /// 1024, a multiple of 8 (the hash's length by default); EC: the curve's, or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// EC keys: `secp384r1` (the default), `secp521r1`, `secp256k1`, `prime256v1` (or
    /// `secp256r1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curveid: Option<String>,
    /// Known material, hex (optional, AES and HMAC only; generated otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<BTreeMap<String, Value>>,
    /// Accepted and ignored.
    #[serde(
        default,
        rename = "assignSelfAsOwner",
        skip_serializing_if = "Option::is_none"
    )]
    pub assign_self_as_owner: Option<bool>,
}

impl std::fmt::Debug for VaultKeyCreate {
    /// Never shows the material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyCreate")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("size", &self.size)
            .field("curveid", &self.curveid)
            .field("material", &self.material.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `PATCH /vault/keys2/{id}`: the fields given change; `labels` is merged (a label set to
/// null is removed). `unexportable`, `undeletable` and `usageMask` may be sent only with the
/// values the key has.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexportable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeletable: Option<bool>,
    #[serde(default, rename = "usageMask", skip_serializing_if = "Option::is_none")]
    pub usage_mask: Option<i64>,
}

/// Filters of `GET /vault/keys2`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyParams {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    /// `name`, `createdAt` or `updatedAt`, `-` first for descending.
    pub sort: Option<String>,
    pub name: Option<String>,
}
