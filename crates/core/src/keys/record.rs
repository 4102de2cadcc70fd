//! The key record: what AWS says about a key (metadata, aliases, tags, policy, rotation) and
//! what Keyward adds (container, Region, sync state), rendered in CCKM's shape.

use chrono::{DateTime, Utc};
use keyward_api::key_record as wire;
use keyward_api::resource::Resource;
use serde::{Deserialize, Serialize};

use super::kinds::{KeySource, MaterialOrigin, RecordRotationStatus};
use super::policy::PolicyPrincipals;
use super::spec::key_kind;
use crate::service::{rfc3339, rfc3339_secs};

/// One Region and key ARN of a multi-Region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionalKey {
    pub arn: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionConfiguration {
    /// PRIMARY or REPLICA.
    pub key_type: String,
    pub primary: Option<RegionalKey>,
    pub replicas: Vec<RegionalKey>,
}

/// AWS's KeyMetadata (DescribeKey), the fields Keyward shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeyMetadata {
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub description: String,
    pub key_usage: String,
    pub key_state: String,
    pub deletion_date: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
    pub origin: String,
    pub key_manager: String,
    pub key_spec: String,
    pub encryption_algorithms: Vec<String>,
    pub signing_algorithms: Vec<String>,
    pub mac_algorithms: Vec<String>,
    pub key_agreement_algorithms: Vec<String>,
    pub expiration_model: Option<String>,
    pub multi_region: bool,
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    pub pending_deletion_window_in_days: Option<i32>,
}

/// GetKeyRotationStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RotationStatus {
    pub enabled: bool,
    pub period_in_days: Option<i32>,
    pub next_rotation_date: Option<DateTime<Utc>>,
    pub on_demand_rotation_start_date: Option<DateTime<Utc>>,
}

/// Everything Keyward reads back from AWS about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AwsKeyView {
    pub metadata: KeyMetadata,
    /// Full names, `alias/<name>`.
    pub aliases: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// The key policy document as AWS returned it.
    pub policy: Option<String>,
    pub rotation: RotationStatus,
}

/// Keyward's record of an AWS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub kms_id: String,
    pub kms_name: String,
    pub region: String,
    pub cloud_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub synced_at: DateTime<Utc>,
    /// AWS no longer has the key.
    pub gone: bool,
    pub key_material_origin: MaterialOrigin,
    pub rotation_status: RecordRotationStatus,
    pub job_config_id: Option<String>,
    /// The principals the key's policy was built from (stored flat, as before).
    #[serde(flatten)]
    pub principals: PolicyPrincipals,
    pub policy_template_id: Option<String>,
    /// Where the key's imported material comes from (BYOK keys only).
    #[serde(default)]
    pub material: Option<MaterialBinding>,
    /// How the attached rotation job rotates the key (set with `job_config_id`).
    #[serde(default)]
    pub rotation_job: Option<super::rotation_job::RotationJobSettings>,
    /// The key this one replaced in a rotation (its record id).
    #[serde(default)]
    pub rotated_from: Option<String>,
    /// The key that replaced this one (its record id); set once rotated.
    #[serde(default)]
    pub rotated_to: Option<String>,
    /// When this key was replaced.
    #[serde(default)]
    pub rotated_at: Option<DateTime<Utc>>,
    pub aws: AwsKeyView,
}

/// The source of a BYOK key's material: a key in Keyward's vault or in an HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialBinding {
    pub local_key_id: String,
    pub local_key_name: String,
    pub key_source: KeySource,
    /// The expiry Keyward asked AWS for (None: the material does not expire).
    pub valid_to: Option<DateTime<Utc>>,
    pub imported_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// The record of a key just made in, or found in, AWS: in a container and Region, read
    /// back as `aws`, with nothing of Keyward's own set yet. Its material is `native` when AWS
    /// made it, else `unknown` until Keyward imports some.
    pub fn new(
        id: String,
        kms: &crate::kms::KmsContainer,
        region: &str,
        cloud_name: &str,
        now: DateTime<Utc>,
        aws: AwsKeyView,
    ) -> Self {
        let native = aws.metadata.origin == "AWS_KMS";
        Self {
            id,
            kms_id: kms.id.clone(),
            kms_name: kms.name.clone(),
            region: region.to_string(),
            cloud_name: cloud_name.to_string(),
            created_at: now,
            updated_at: now,
            synced_at: now,
            gone: false,
            key_material_origin: if native {
                MaterialOrigin::Native
            } else {
                MaterialOrigin::Unknown
            },
            rotation_status: RecordRotationStatus::None,
            job_config_id: None,
            principals: PolicyPrincipals::default(),
            policy_template_id: None,
            material: None,
            rotation_job: None,
            rotated_from: None,
            rotated_to: None,
            rotated_at: None,
            aws,
        }
    }

    pub fn uri(&self) -> String {
        let kind = match &self.aws.metadata.multi_region_configuration {
            Some(c) if c.key_type == "REPLICA" => "aws-replica-key",
            _ => "aws-key",
        };
        format!("kylo:kylo:cckm:{kind}:{}", self.id)
    }

    /// `aws_param`: AWS's metadata with the key's aliases, tags, policy and rotation merged in.
    pub fn aws_param(&self) -> wire::KeyAwsParam {
        let m = &self.aws.metadata;
        // What AWS reports; where it says nothing (the emulator keeps no ValidTo) but the key
        // holds expiring material Keyward imported, the expiry Keyward asked AWS for.
        let valid_to = m.valid_to.or_else(|| {
            let expiring = m.key_state != "PendingImport"
                && m.expiration_model.as_deref() == Some("KEY_MATERIAL_EXPIRES");
            self.material
                .as_ref()
                .and_then(|b| b.valid_to)
                .filter(|_| expiring)
        });
        let regional = |k: &RegionalKey| wire::RegionalKey {
            arn: k.arn.clone(),
            region: k.region.clone(),
        };
        let r = &self.aws.rotation;
        wire::KeyAwsParam {
            aws_account_id: m.aws_account_id.clone(),
            key_id: m.key_id.clone(),
            key_id_aws: m.key_id.clone(),
            arn: m.arn.clone(),
            creation_date: m.creation_date.as_ref().map(rfc3339_secs),
            enabled: m.enabled,
            description: m.description.clone(),
            key_usage: m.key_usage.clone(),
            key_state: m.key_state.clone(),
            deletion_date: m.deletion_date.as_ref().map(rfc3339_secs),
            valid_to: valid_to.as_ref().map(rfc3339_secs),
            pending_deletion_window_in_days: m.pending_deletion_window_in_days,
            origin: m.origin.clone(),
            key_manager: m.key_manager.clone(),
            customer_master_key_spec: m.key_spec.clone(),
            key_spec: m.key_spec.clone(),
            encryption_algorithms: m.encryption_algorithms.clone(),
            signing_algorithms: m.signing_algorithms.clone(),
            mac_algorithms: m.mac_algorithms.clone(),
            key_agreement_algorithms: m.key_agreement_algorithms.clone(),
            expiration_model: m.expiration_model.clone(),
            multi_region: m.multi_region,
            multi_region_configuration: m.multi_region_configuration.as_ref().map(|c| {
                wire::MultiRegionConfiguration {
                    multi_region_key_type: c.key_type.clone(),
                    primary_key: c.primary.as_ref().map(regional),
                    replica_keys: c.replicas.iter().map(regional).collect(),
                }
            }),
            alias: self.aws.aliases.clone(),
            tags: self
                .aws
                .tags
                .iter()
                .map(|(k, v)| keyward_api::keys::CreateTag {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
            // The document AWS returned, as JSON (as its text where it is not JSON).
            policy: self.aws.policy.as_ref().map(|p| {
                serde_json::from_str::<serde_json::Value>(p)
                    .unwrap_or_else(|_| serde_json::Value::String(p.clone()))
            }),
            key_rotation_enabled: r.enabled,
            rotation_period_in_days: r.period_in_days,
            next_rotation_date: r.next_rotation_date.as_ref().map(rfc3339_secs),
        }
    }

    /// The record as CCKM returns it.
    pub fn to_wire(&self) -> wire::KeyRecord {
        let job = self.job_config_id.as_ref().and(self.rotation_job.as_ref());
        let mut labels = std::collections::BTreeMap::new();
        if let (Some(config), Some(settings)) = (&self.job_config_id, job) {
            labels.insert("job_config_id".to_string(), config.clone());
            labels.insert(
                "auto_rotate_key_source".to_string(),
                settings.auto_rotate_key_source.clone(),
            );
        }
        wire::KeyRecord {
            labels,
            resource: Resource::new(
                &self.id,
                self.uri(),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            kms_id: self.kms_id.clone(),
            kms: self.kms_name.clone(),
            synced_at: rfc3339(&self.synced_at),
            rotation_status: self.rotation_status.to_wire(),
            cloud_name: self.cloud_name.clone(),
            key_type: key_kind(&self.aws.metadata.key_spec).to_wire(),
            basic_view_enabled: false,
            region: self.region.clone(),
            gone: self.gone,
            key_material_origin: self.key_material_origin.to_wire(),
            aws_param: self.aws_param(),
            job_config_id: self.job_config_id.clone(),
            auto_rotate_key_source: job.map(|r| r.auto_rotate_key_source.clone()),
            auto_rotate_disable_encrypt: job.map(|r| r.auto_rotate_disable_encrypt),
            auto_rotate_disable_encrypt_on_all_accounts: job
                .map(|r| r.auto_rotate_disable_encrypt_on_all_accounts),
            deletion_date: self.aws.metadata.deletion_date.as_ref().map(rfc3339_secs),
            rotated_from: self.rotated_from.clone(),
            rotated_to: self.rotated_to.clone(),
            rotated_at: self.rotated_at.as_ref().map(rfc3339),
            principals: self.principals.to_wire_arns(
                &self.cloud_name,
                &self.aws.metadata.aws_account_id,
                self.policy_template_id.clone(),
            ),
            local_key_id: self.material.as_ref().map(|m| m.local_key_id.clone()),
            local_key_name: self.material.as_ref().map(|m| m.local_key_name.clone()),
            key_source: self.material.as_ref().map(|m| m.key_source.to_wire()),
        }
    }
}
