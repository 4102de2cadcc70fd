//! Keys in Keyward's own vault (`/vault/keys2`): AES keys whose material never leaves except
//! wrapped for an AWS import. No body carries material out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::resource::Resource;

/// A vault key's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VaultKey {
    #[serde(flatten)]
    pub resource: Resource,
    pub name: String,
    /// Always `aes`.
    pub algorithm: String,
    /// Bits: 128, 192 or 256.
    pub size: i64,
    /// Always `Symmetric Key`.
    #[serde(rename = "objectType")]
    pub object_type: String,
    /// Always true: the material is never returned.
    pub unexportable: bool,
    /// The AWS key records whose imported material this is (such a key cannot be deleted).
    pub used_by_aws_keys: Vec<String>,
}

/// `POST /vault/keys2`.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VaultKeyCreate {
    pub name: String,
    /// Only `aes` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// 128, 192 or 256 (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Known material, hex (optional; generated otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
}

impl std::fmt::Debug for VaultKeyCreate {
    /// Never shows the material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultKeyCreate")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("size", &self.size)
            .field("material", &self.material.as_ref().map(|_| "<redacted>"))
            .finish()
    }
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
