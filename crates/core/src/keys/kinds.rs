//! The status and kind words of key records and rotations, as enums. Their serde names are
//! the words stored (and shown) before they were enums, so stored JSON reads unchanged.

use keyward_api::key_record as wire;
use keyward_api::rotations as rot_wire;
use serde::{Deserialize, Serialize};

/// Where a key record stands in a rotation to a new key (`rotation_status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordRotationStatus {
    #[default]
    #[serde(rename = "")]
    None,
    #[serde(rename = "in_progress")]
    InProgress,
    #[serde(rename = "rotated")]
    Rotated,
    #[serde(rename = "failed")]
    Failed,
}

impl RecordRotationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::InProgress => "in_progress",
            Self::Rotated => "rotated",
            Self::Failed => "failed",
        }
    }

    pub fn to_wire(self) -> wire::KeyRotationState {
        match self {
            Self::None => wire::KeyRotationState::None,
            Self::InProgress => wire::KeyRotationState::InProgress,
            Self::Rotated => wire::KeyRotationState::Rotated,
            Self::Failed => wire::KeyRotationState::Failed,
        }
    }
}

/// Where a key's material comes from (`key_material_origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaterialOrigin {
    /// Made by AWS.
    Native,
    /// Imported by Keyward.
    Cckm,
    /// EXTERNAL material Keyward did not import.
    Unknown,
}

impl MaterialOrigin {
    /// The word stored in the key index (and filtered on).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Cckm => "cckm",
            Self::Unknown => "unknown",
        }
    }

    pub fn to_wire(self) -> wire::KeyMaterialOrigin {
        match self {
            Self::Native => wire::KeyMaterialOrigin::Native,
            Self::Cckm => wire::KeyMaterialOrigin::Cckm,
            Self::Unknown => wire::KeyMaterialOrigin::Unknown,
        }
    }
}

/// Where imported material comes from: Keyward's vault or an HSM (`dsm` is accepted as a
/// name of the HSM tier and kept as given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeySource {
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "hsm-luna")]
    HsmLuna,
    #[serde(rename = "dsm")]
    Dsm,
}

impl KeySource {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "local" => Some(Self::Local),
            "hsm-luna" => Some(Self::HsmLuna),
            "dsm" => Some(Self::Dsm),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::HsmLuna => "hsm-luna",
            Self::Dsm => "dsm",
        }
    }

    pub fn to_wire(self) -> wire::KeySourceTier {
        match self {
            Self::Local => wire::KeySourceTier::Local,
            Self::HsmLuna => wire::KeySourceTier::HsmLuna,
            Self::Dsm => wire::KeySourceTier::Dsm,
        }
    }
}

/// The kind of key, from its key spec (`key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Symmetric,
    Asymmetric,
    Hmac,
}

impl KeyKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Symmetric => "symmetric",
            Self::Asymmetric => "asymmetric",
            Self::Hmac => "hmac",
        }
    }

    pub fn to_wire(self) -> wire::KeyType {
        match self {
            Self::Symmetric => wire::KeyType::Symmetric,
            Self::Asymmetric => wire::KeyType::Asymmetric,
            Self::Hmac => wire::KeyType::Hmac,
        }
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationType {
    /// A new AWS key replaced the old one.
    NewKey,
    /// AWS rotated the key's material in place (RotateKeyOnDemand).
    Material,
}

impl RotationType {
    /// The word stored in the rotations table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewKey => "new_key",
            Self::Material => "material",
        }
    }

    pub fn to_wire(self) -> rot_wire::RotationType {
        match self {
            Self::NewKey => rot_wire::RotationType::NewKey,
            Self::Material => rot_wire::RotationType::Material,
        }
    }
}

/// Where a rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationState {
    InProgress,
    Completed,
    Failed,
}

impl RotationState {
    /// The word stored in the rotations table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn to_wire(self) -> rot_wire::RotationState {
        match self {
            Self::InProgress => rot_wire::RotationState::InProgress,
            Self::Completed => rot_wire::RotationState::Completed,
            Self::Failed => rot_wire::RotationState::Failed,
        }
    }
}

/// Compares with a stored word (`COMPLETED`...), as the scheduler's code does.
impl PartialEq<&str> for RotationState {
    fn eq(&self, word: &&str) -> bool {
        self.as_str() == *word
    }
}

/// Compares with a stored word (`"rotated"`...).
impl PartialEq<&str> for RecordRotationStatus {
    fn eq(&self, word: &&str) -> bool {
        self.as_str() == *word
    }
}
