//! Inventory synchronization jobs (`/cckm/aws/synchronization-jobs`): read every key of the
//! chosen KMS containers from AWS into Keyward's records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::resource::Resource;

/// The state of a synchronization job as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    InProgress,
    /// Every container was read (or the job was cancelled).
    Completed,
    /// At least one container failed, or the server stopped during the job.
    Failed,
}

impl SyncStatus {
    pub const ALL: [SyncStatus; 3] = [Self::InProgress, Self::Completed, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A synchronization job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncJob {
    #[serde(flatten)]
    pub resource: Resource,
    /// When the job ended (RFC 3339 with microseconds); null while it runs.
    pub completed_at: Option<String>,
    pub overall_status: SyncStatus,
    /// Per KMS container name: `in_progress`, `completed`, `failed: <reason>` or `aborted`.
    pub detailed_status: BTreeMap<String, String>,
    /// Always `aws`.
    pub cloud: String,
    /// The KMS containers' ids.
    pub kms: Vec<String>,
    /// The Regions asked for; empty: every Region of each container.
    pub regions: Vec<String>,
    pub synchronize_all: bool,
    /// A cancel was asked for.
    pub abort: bool,
    pub keys_seen: i64,
    pub keys_added: i64,
    pub keys_gone: i64,
}

/// `POST /cckm/aws/synchronization-jobs`: `kms` (optionally narrowed to `regions`) or
/// `synchronize_all`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StartSync {
    /// KMS containers, by name or id.
    #[serde(default)]
    pub kms: Vec<String>,
    /// Regions of those containers (default: all of each).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Every KMS container (then neither `kms` nor `regions`).
    #[serde(default)]
    pub synchronize_all: bool,
    /// Only `aws`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

/// Filters of `GET /cckm/aws/synchronization-jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SyncJobParams {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    /// `createdAt` or `updatedAt`, `-` first for descending.
    pub sort: Option<String>,
    pub id: Option<String>,
    #[schema(value_type = Option<SyncStatus>)]
    pub overall_status: Option<String>,
    /// A KMS container's name or id.
    pub kms: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_match_serde() {
        for s in SyncStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(SyncStatus::parse(s.as_str()), Some(s));
        }
    }
}
