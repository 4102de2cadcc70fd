//! The scheduler: job configs (`/scheduler/job-configs`), their runs (`/scheduler/job-runs`),
//! and the bodies that attach a key to a rotation job config
//! (`/cckm/aws/keys/{id}/enable-rotation-job`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::resource::Resource;

/// What a job config does when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum JobOperation {
    /// Rotates the keys attached to the config (`enable-rotation-job`).
    #[serde(rename = "cckm_key_rotation")]
    KeyRotation,
    /// Runs an inventory synchronization job.
    #[serde(rename = "cckm_synchronization")]
    Synchronization,
}

impl JobOperation {
    pub const ALL: [JobOperation; 2] = [Self::KeyRotation, Self::Synchronization];

    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyRotation => "cckm_key_rotation",
            Self::Synchronization => "cckm_synchronization",
        }
    }

    /// The operation the wire word names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for JobOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a job run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (held by a node's lease).
    Running,
    /// Finished: every key rotated (or skipped), or the synchronization completed.
    Completed,
    /// A rotation run in which some keys failed and others were rotated or skipped.
    CompletedWithErrors,
    /// Nothing was done (every key failed, the synchronization failed, or the config is gone).
    Failed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        Self::Running,
        Self::Completed,
        Self::CompletedWithErrors,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::CompletedWithErrors => "completed_with_errors",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a job run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The scheduler, at one of the config's cron times.
    Schedule,
    /// `POST /scheduler/job-configs/{id}/run`.
    Manual,
}

impl RunTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

/// What a rotation run did with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyResultStatus {
    /// Rotated: to a new key (`new_key_id`, `new_arn`) or its material in place.
    Rotated,
    /// The rotation was tried and failed (`message` says why).
    Failed,
    /// Not rotated, by design (`message` says why: not expiring soon, detached, deleted...).
    Skipped,
}

impl KeyResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rotated => "rotated",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// `aws_param` of a rotation config: how AWS keys are rotated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AwsRotationParams {
    /// Move the key's aliases to the new key.
    #[serde(default)]
    pub retain_alias: bool,
    /// For AWS-made symmetric keys: rotate the material in place (RotateKeyOnDemand)
    /// instead of making a new key.
    #[serde(default)]
    pub rotate_material: bool,
}

fn aws() -> String {
    "aws".into()
}

/// `cckm_key_rotation_params` of a `cckm_key_rotation` config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotationParams {
    /// Only `aws`.
    #[serde(default = "aws")]
    pub cloud_name: String,
    /// Expiry of newly imported material (`30d`, `12h`; 1h to 365d); null: it does not
    /// expire.
    #[serde(default)]
    pub expiration: Option<String>,
    /// Only keys whose material expires within this window (`30d`, at most 365d) are
    /// rotated; null: every attached key.
    #[serde(default)]
    pub expire_in: Option<String>,
    /// Only keys whose material is at least this old (`90d`, `12h`; since the key was made
    /// or its material last imported) are rotated; null: every attached key. With
    /// `expire_in` as well, a key meeting either one is rotated.
    #[serde(default)]
    pub rotation_after: Option<String>,
    #[serde(default)]
    pub aws_param: AwsRotationParams,
}

impl Default for RotationParams {
    fn default() -> Self {
        Self {
            cloud_name: aws(),
            expiration: None,
            expire_in: None,
            rotation_after: None,
            aws_param: AwsRotationParams::default(),
        }
    }
}

/// `cckm_synchronization_params` of a `cckm_synchronization` config: `kms` or
/// `synchronize_all`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncParams {
    /// Only `aws`.
    #[serde(default = "aws")]
    pub cloud_name: String,
    /// KMS containers (names or ids in a request; ids in a response).
    #[serde(default)]
    pub kms: Vec<String>,
    /// Every KMS container.
    #[serde(default)]
    pub synchronize_all: bool,
}

impl Default for SyncParams {
    fn default() -> Self {
        Self {
            cloud_name: aws(),
            kms: vec![],
            synchronize_all: false,
        }
    }
}

/// A job config: a named cron schedule with the parameters of its operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobConfig {
    #[serde(flatten)]
    pub resource: Resource,
    pub name: String,
    pub description: String,
    pub operation: JobOperation,
    /// 5-field cron expression (minute hour day-of-month month day-of-week), UTC.
    pub run_at: String,
    /// Only `any` (any node).
    pub run_on: String,
    /// A disabled config is not run by the scheduler (it can still be run by hand).
    pub disabled: bool,
    /// Not run before (RFC 3339, to the second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Not run after (RFC 3339, to the second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Present for `cckm_key_rotation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_key_rotation_params: Option<RotationParams>,
    /// Present for `cckm_synchronization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_synchronization_params: Option<SyncParams>,
    /// The parameters of the operation again (the same object as
    /// `cckm_key_rotation_params` or `cckm_synchronization_params`), where CipherTrust's
    /// clients (Thales' Terraform provider) read them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub job_config_params: Option<serde_json::Value>,
}

/// Filters of `GET /scheduler/job-configs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobConfigListParams {
    /// Resources to skip (0 and up).
    #[param(minimum = 0)]
    pub skip: Option<i64>,
    /// Page size: 0 or more (10 when absent), or -1 for every resource.
    #[param(minimum = -1)]
    pub limit: Option<i64>,
    /// Comma-separated fields to sort on (`name`, `createdAt`, `updatedAt`), each with a `-`
    /// prefix for descending.
    pub sort: Option<String>,
    /// Only configs of this operation (`cckm_key_rotation`, `cckm_synchronization`).
    pub operation: Option<String>,
    /// Only the config of this name.
    pub name: Option<String>,
}

/// `POST /scheduler/job-configs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JobConfigCreate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `cckm_key_rotation` or `cckm_synchronization` (read as text, so that another word is
    /// refused with a message naming the field).
    #[schema(value_type = JobOperation)]
    pub operation: String,
    /// 5-field cron expression, UTC.
    pub run_at: String,
    /// Only `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// RFC 3339, after `start_date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// For `cckm_key_rotation` (defaults apply when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_key_rotation_params: Option<RotationParams>,
    /// Required for `cckm_synchronization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_synchronization_params: Option<SyncParams>,
}

/// `PATCH /scheduler/job-configs/{id}`: the fields given replace the stored ones. The
/// operation cannot change (giving the same one is allowed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JobConfigUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<JobOperation>)]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_key_rotation_params: Option<RotationParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cckm_synchronization_params: Option<SyncParams>,
}

/// What a rotation run did with one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyResult {
    /// The key's record id.
    pub key_id: String,
    /// The key's ARN (empty if its record was deleted).
    pub arn: String,
    pub status: KeyResultStatus,
    /// The new key's record id, when the rotation made a new key.
    pub new_key_id: Option<String>,
    /// The new key's ARN, when the rotation made a new key.
    pub new_arn: Option<String>,
    /// Why a key failed or was skipped; empty otherwise (or a note).
    pub message: String,
}

/// A job run: one execution of a job config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobRun {
    #[serde(flatten)]
    pub resource: Resource,
    pub job_config_id: String,
    pub job_config_name: String,
    pub operation: JobOperation,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    /// RFC 3339 with microseconds.
    pub started_at: String,
    /// A summary (`1 rotated, 0 failed, 2 skipped`) or why the run failed.
    pub message: String,
    /// The user who started the run, or `scheduler`.
    pub created_by: String,
    /// One per key of a rotation run, in the order they were done.
    pub results: Vec<KeyResult>,
    /// The cron time a scheduled run is for (absent for a manual run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// When the run ended (absent while it runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The synchronization job a synchronization run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_job_id: Option<String>,
}

/// Filters of `GET /scheduler/job-runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct JobRunParams {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    /// `createdAt` or `updatedAt`, `-` first for descending.
    pub sort: Option<String>,
    /// A job config's id or name.
    pub job_config_id: Option<String>,
    #[schema(value_type = Option<RunStatus>)]
    pub status: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_match_serde() {
        for o in JobOperation::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
            assert_eq!(JobOperation::parse(o.as_str()), Some(o));
        }
        for s in RunStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
        }
        for t in [RunTrigger::Schedule, RunTrigger::Manual] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        for k in [
            KeyResultStatus::Rotated,
            KeyResultStatus::Failed,
            KeyResultStatus::Skipped,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    mod props {
        //! Arbitrary JSON into the scheduler, sync and vault request types: a value or an
        //! error, never a panic; what was read is written and read back the same.
        use proptest::prelude::*;
        use serde::Serialize;
        use serde::de::DeserializeOwned;
        use serde_json::Value;

        const NAMES: &[&str] = &[
            "name",
            "description",
            "operation",
            "run_at",
            "run_on",
            "disabled",
            "start_date",
            "end_date",
            "cckm_key_rotation_params",
            "cckm_synchronization_params",
            "cloud_name",
            "expiration",
            "expire_in",
            "rotation_after",
            "oci_vaults",
            "description",
            "labels",
            "unexportable",
            "undeletable",
            "usageMask",
            "curveid",
            "assignSelfAsOwner",
            "aws_param",
            "retain_alias",
            "rotate_material",
            "kms",
            "synchronize_all",
            "regions",
            "cloud",
            "job_config_id",
            "auto_rotate_key_source",
            "auto_rotate_disable_encrypt",
            "auto_rotate_disable_encrypt_on_all_accounts",
            "status",
            "overall_status",
            "id",
            "algorithm",
            "size",
            "material",
            "skip",
            "limit",
            "sort",
        ];

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<String>().prop_map(Value::from),
                Just(Value::from("cckm_key_rotation")),
                Just(Value::from("aws")),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::vec(
                        (
                            proptest::sample::select(NAMES).prop_map(String::from),
                            inner
                        ),
                        0..8
                    )
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
        }

        fn check<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(), TestCaseError> {
            if let Ok(t) = serde_json::from_value::<T>(v.clone()) {
                let back = serde_json::to_value(&t).unwrap();
                prop_assert!(serde_json::from_value::<T>(back).is_ok());
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn request_types_read_any_json_without_panic(v in json()) {
                check::<super::super::JobConfigCreate>(&v)?;
                check::<super::super::JobConfigUpdate>(&v)?;
                check::<super::super::JobRunParams>(&v)?;
                check::<super::super::JobConfigListParams>(&v)?;
                check::<crate::vault::VaultKeyUpdate>(&v)?;
                check::<crate::sync::StartSync>(&v)?;
                check::<crate::sync::SyncJobParams>(&v)?;
                check::<crate::vault::VaultKeyCreate>(&v)?;
                check::<crate::vault::VaultKeyParams>(&v)?;
            }
        }
    }
}
