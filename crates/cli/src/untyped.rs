//! issue10: the wire types the CLI needs that `keyward_api` does not have yet. Everything here
//! is a stand-in, one section per resource, each marked with the `keyward_api` type that is to
//! replace it; the commands use these names and fields only, so replacing a section is a matter
//! of swapping the `use` (and renaming a field where the api type spells it differently).
//!
//! A response stand-in is a [`Shim`]: the JSON exactly as the server sent it (what `--json`
//! prints, so nothing the CLI does not read is lost) and a typed view of the fields the CLI
//! reads, reached through `Deref` the same way an api type's fields are. Request stand-ins are
//! plain serde structs that write the body the server reads. The view may be the `keyward_api`
//! type itself: AWS key records (`client::Key`), rotations and the answers of
//! get-key-rotation-status, download-public-key and alias verify are read that way, so that
//! `--json` still prints them as received.

use std::collections::BTreeMap;
use std::ops::Deref;

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

#[cfg(test)]
mod tests {
    use keyward_api::key_record::KeyRotationStatus;
    use serde_json::json;

    use super::Shim;

    /// An api type read through a Shim: its fields are the api type's, and it writes back the
    /// JSON received, fields the api type does not know and nulls included.
    #[test]
    fn shim_reads_the_api_type_and_keeps_the_json() {
        let sent = json!({
            "KeyId": "arn:aws:kms:us-east-1:000000000000:key/k1",
            "KeyRotationEnabled": true,
            "NextRotationDate": null,
            "SomethingNew": 1
        });
        let got: Shim<KeyRotationStatus> = match serde_json::from_value(sent.clone()) {
            Ok(v) => v,
            Err(e) => panic!("unreadable: {e}"),
        };
        assert!(got.key_rotation_enabled);
        assert_eq!(got.rotation_period_in_days, None);
        assert_eq!(serde_json::to_value(&got).ok(), Some(sent));
    }
}

// --- synchronisation jobs ----------------------------------------------------------------
// issue10: replace with keyward_api::sync::{SyncJob, SyncJobCreate} once merged.

pub type SyncJob = Shim<SyncJobView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SyncJobView {
    pub id: String,
    pub overall_status: String,
    pub detailed_status: BTreeMap<String, String>,
    pub keys_seen: i64,
    pub keys_added: i64,
    pub keys_gone: i64,
}

/// `POST /cckm/aws/synchronization-jobs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncStart {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronize_all: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regions: Option<Vec<String>>,
}

// --- job configs -------------------------------------------------------------------------
// issue10: replace with keyward_api::scheduler::{JobConfig, JobConfigCreate,
// RotationParams, SyncParams} once merged.

pub type JobConfig = Shim<JobConfigView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobConfigView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub operation: String,
    pub run_at: String,
    pub run_on: String,
    pub disabled: bool,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
    pub cckm_key_rotation_params: Option<RotationParams>,
    pub cckm_synchronization_params: Option<SyncParams>,
}

/// A rotation config's parameters (read and written).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RotationParams {
    #[serde(default)]
    pub cloud_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_in: Option<String>,
    #[serde(default)]
    pub aws_param: AwsRotationParams,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AwsRotationParams {
    #[serde(default)]
    pub retain_alias: bool,
    #[serde(default)]
    pub rotate_material: bool,
}

/// A sync config's parameters (read and written).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncParams {
    #[serde(default)]
    pub cloud_name: String,
    #[serde(default)]
    pub kms: Vec<String>,
    #[serde(default)]
    pub synchronize_all: bool,
}

/// `POST /scheduler/job-configs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobConfigCreate {
    pub name: String,
    pub operation: String,
    pub run_at: String,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cckm_key_rotation_params: Option<RotationParams>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cckm_synchronization_params: Option<SyncParams>,
}

// --- job runs ----------------------------------------------------------------------------
// issue10: replace with keyward_api::scheduler::{JobRun, KeyResult, JobRunParams} once merged.

pub type JobRun = Shim<JobRunView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JobRunView {
    pub id: String,
    pub job_config_id: String,
    pub job_config_name: String,
    pub operation: String,
    pub trigger: String,
    pub scheduled_for: Option<String>,
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub message: String,
    pub sync_job_id: Option<String>,
    pub results: Vec<KeyResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KeyResult {
    pub key_id: String,
    pub arn: String,
    pub status: String,
    pub new_key_id: Option<String>,
    pub message: String,
}

/// Filters of `GET /scheduler/job-runs`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobRunParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_config_id: Option<String>,
}

// --- vault keys --------------------------------------------------------------------------
// issue10: replace with keyward_api::vault::{VaultKey, VaultKeyCreate, VaultKeyParams} once
// merged.

pub type VaultKey = Shim<VaultKeyView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VaultKeyView {
    pub id: String,
    pub name: String,
    pub algorithm: String,
    pub size: Option<i64>,
    pub used_by_aws_keys: Vec<String>,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

/// `POST /vault/keys2`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VaultKeyCreate {
    pub name: String,
    pub algorithm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
}

/// Filters of `GET /vault/keys2`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VaultKeyParams {
    pub limit: i64,
    pub skip: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

// --- administration ----------------------------------------------------------------------
// issue10: replace with the api type of `POST /admin/rotate-kek`'s answer once there is one
// (no branch of issue 10 declares it yet).

pub type KekRotation = Shim<KekRotationView>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KekRotationView {
    pub kek_id: i64,
    pub resealed: i64,
}
