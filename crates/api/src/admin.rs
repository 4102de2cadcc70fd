//! Server administration (`/admin/...`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The answer of `POST /admin/rotate-kek`: the new key-encryption key and what was re-sealed
/// under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KekRotation {
    /// The id of the new, now active, key-encryption key.
    pub kek_id: u32,
    /// Stored secrets re-sealed under it by the rotation.
    pub resealed: u64,
    /// Stored secrets changed by their writer during the rotation (already sealed under the
    /// new key by that writer, so left alone).
    pub changed_meanwhile: u64,
}
