//! The key record: what AWS says about a key (metadata, aliases, tags, policy, rotation) and
//! what Keyward adds (container, Region, sync state), rendered in CCKM's shape.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::spec::key_type;
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
    /// `native` (made in AWS), `cckm` (material from Keyward) or `unknown` (EXTERNAL, not ours).
    pub key_material_origin: String,
    pub rotation_status: String,
    pub job_config_id: Option<String>,
    pub key_admins: Vec<String>,
    pub key_admins_roles: Vec<String>,
    pub key_users: Vec<String>,
    pub key_users_roles: Vec<String>,
    pub external_accounts: Vec<String>,
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
    /// `local` or `hsm-luna`.
    pub key_source: String,
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
            key_material_origin: if native { "native" } else { "unknown" }.into(),
            rotation_status: String::new(),
            job_config_id: None,
            key_admins: vec![],
            key_admins_roles: vec![],
            key_users: vec![],
            key_users_roles: vec![],
            external_accounts: vec![],
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
    pub fn aws_param(&self) -> Value {
        let m = &self.aws.metadata;
        let mut p = Map::new();
        p.insert("AWSAccountId".into(), json!(m.aws_account_id));
        p.insert("KeyID".into(), json!(m.key_id));
        p.insert("Arn".into(), json!(m.arn));
        if let Some(d) = &m.creation_date {
            p.insert("CreationDate".into(), json!(rfc3339_secs(d)));
        }
        p.insert("Enabled".into(), json!(m.enabled));
        p.insert("Description".into(), json!(m.description));
        p.insert("KeyUsage".into(), json!(m.key_usage));
        p.insert("KeyState".into(), json!(m.key_state));
        if let Some(d) = &m.deletion_date {
            p.insert("DeletionDate".into(), json!(rfc3339_secs(d)));
        }
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
        if let Some(d) = &valid_to {
            p.insert("ValidTo".into(), json!(rfc3339_secs(d)));
        }
        if let Some(w) = m.pending_deletion_window_in_days {
            p.insert("PendingDeletionWindowInDays".into(), json!(w));
        }
        p.insert("Origin".into(), json!(m.origin));
        p.insert("KeyManager".into(), json!(m.key_manager));
        p.insert("CustomerMasterKeySpec".into(), json!(m.key_spec));
        p.insert("KeySpec".into(), json!(m.key_spec));
        for (name, list) in [
            ("EncryptionAlgorithms", &m.encryption_algorithms),
            ("SigningAlgorithms", &m.signing_algorithms),
            ("MacAlgorithms", &m.mac_algorithms),
            ("KeyAgreementAlgorithms", &m.key_agreement_algorithms),
        ] {
            if !list.is_empty() {
                p.insert(name.into(), json!(list));
            }
        }
        if let Some(e) = &m.expiration_model {
            p.insert("ExpirationModel".into(), json!(e));
        }
        p.insert("MultiRegion".into(), json!(m.multi_region));
        if let Some(c) = &m.multi_region_configuration {
            let regional = |k: &RegionalKey| json!({"Arn": k.arn, "Region": k.region});
            let mut cfg = Map::new();
            cfg.insert("MultiRegionKeyType".into(), json!(c.key_type));
            if let Some(pk) = &c.primary {
                cfg.insert("PrimaryKey".into(), regional(pk));
            }
            cfg.insert(
                "ReplicaKeys".into(),
                Value::Array(c.replicas.iter().map(regional).collect()),
            );
            p.insert("MultiRegionConfiguration".into(), Value::Object(cfg));
        }
        p.insert("Alias".into(), json!(self.aws.aliases));
        p.insert(
            "Tags".into(),
            Value::Array(
                self.aws
                    .tags
                    .iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect(),
            ),
        );
        if let Some(policy) = &self.aws.policy {
            let parsed = serde_json::from_str::<Value>(policy).unwrap_or_else(|_| json!(policy));
            p.insert("Policy".into(), parsed);
        }
        let r = &self.aws.rotation;
        p.insert("KeyRotationEnabled".into(), json!(r.enabled));
        if let Some(days) = r.period_in_days {
            p.insert("RotationPeriodInDays".into(), json!(days));
        }
        if let Some(d) = &r.next_rotation_date {
            p.insert("NextRotationDate".into(), json!(rfc3339_secs(d)));
        }
        Value::Object(p)
    }

    /// The record as CCKM returns it.
    pub fn render(&self) -> Value {
        let mut v = crate::service::resource(
            &self.id,
            self.uri(),
            &self.created_at,
            &self.updated_at,
            json!({
                "kms_id": self.kms_id,
                "kms": self.kms_name,
                "synced_at": rfc3339(&self.synced_at),
                "rotation_status": self.rotation_status,
                "cloud_name": self.cloud_name,
                "key_type": key_type(&self.aws.metadata.key_spec),
                "basic_view_enabled": false,
                "region": self.region,
                "gone": self.gone,
                "key_material_origin": self.key_material_origin,
                "aws_param": self.aws_param(),
            }),
        );
        if let Some(obj) = v.as_object_mut() {
            if let Some(j) = &self.job_config_id {
                obj.insert("job_config_id".into(), json!(j));
                if let Some(r) = &self.rotation_job {
                    obj.insert(
                        "auto_rotate_key_source".into(),
                        json!(r.auto_rotate_key_source),
                    );
                    obj.insert(
                        "auto_rotate_disable_encrypt".into(),
                        json!(r.auto_rotate_disable_encrypt),
                    );
                    obj.insert(
                        "auto_rotate_disable_encrypt_on_all_accounts".into(),
                        json!(r.auto_rotate_disable_encrypt_on_all_accounts),
                    );
                }
            }
            if let Some(d) = &self.aws.metadata.deletion_date {
                obj.insert("deletion_date".into(), json!(rfc3339_secs(d)));
            }
            if let Some(f) = &self.rotated_from {
                obj.insert("rotated_from".into(), json!(f));
            }
            if let Some(t) = &self.rotated_to {
                obj.insert("rotated_to".into(), json!(t));
            }
            if let Some(a) = &self.rotated_at {
                obj.insert("rotated_at".into(), json!(rfc3339(a)));
            }
            for (name, list) in [
                ("key_admins", &self.key_admins),
                ("key_admins_roles", &self.key_admins_roles),
                ("key_users", &self.key_users),
                ("key_users_roles", &self.key_users_roles),
                ("external_accounts", &self.external_accounts),
            ] {
                if !list.is_empty() {
                    obj.insert(name.into(), json!(list));
                }
            }
            if let Some(t) = &self.policy_template_id {
                obj.insert("policytemplate".into(), json!(t));
            }
            if let Some(m) = &self.material {
                obj.insert("local_key_id".into(), json!(m.local_key_id));
                obj.insert("local_key_name".into(), json!(m.local_key_name));
                obj.insert("key_source".into(), json!(m.key_source));
            }
        }
        v
    }
}
