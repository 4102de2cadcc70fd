//! Pins one record of each key resource (an AWS key record, a rotation, a policy template) to
//! a JSON fixture: the wire output must stay what it was when the fixtures were generated
//! (from the `render()` functions that built these bodies as `serde_json::Value` before the
//! wire types existed). The fixtures are the canonical text (keys sorted, pretty) of the
//! output. `KEYWARD_WRITE_WIRE_FIXTURES=1` rewrites them (only for a deliberate change).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::kinds::{KeySource, MaterialOrigin, RecordRotationStatus, RotationState, RotationType};
use super::policy::PolicyPrincipals;
use super::record::{
    AwsKeyView, KeyMetadata, KeyRecord, MaterialBinding, MultiRegionConfiguration, RegionalKey,
    RotationStatus,
};
use super::rotate::{DenyEncrypt, KeyRotation};
use super::rotation_job::RotationJobSettings;
use super::templates::PolicyTemplate;

const SEED_004: &str = include_str!("../../../cli/tests/fixtures/seeds/004_8f4ee90fcafdcf76.txt");

fn t(s: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 123_456_000).unwrap()
}

pub(crate) fn sample_record() -> KeyRecord {
    KeyRecord {
        id: "6d0c5a5e-1111-4aaa-8bbb-000000000001".into(),
        kms_id: "0b90f8de-8617-498d-ad63-ca18eb717ae7".into(),
        kms_name: "kms".into(),
        region: "ap-south-1".into(),
        cloud_name: "aws".into(),
        created_at: t(0),
        updated_at: t(10),
        synced_at: t(20),
        gone: false,
        key_material_origin: MaterialOrigin::Cckm,
        rotation_status: RecordRotationStatus::Rotated,
        job_config_id: Some("job-1".into()),
        principals: PolicyPrincipals {
            key_admins: vec!["alice".into()],
            key_admins_roles: vec!["admins".into()],
            key_users: vec!["bob".into()],
            key_users_roles: vec![],
            external_accounts: vec!["210987654321".into()],
        },
        policy_template_id: Some("tpl-1".into()),
        material: Some(MaterialBinding {
            local_key_id: "lk-1".into(),
            local_key_name: "vault-key".into(),
            key_source: KeySource::Local,
            valid_to: Some(t(86_400)),
            imported_at: Some(t(30)),
        }),
        rotation_job: Some(RotationJobSettings {
            auto_rotate_key_source: "hsm-luna".into(),
            auto_rotate_disable_encrypt: true,
            auto_rotate_disable_encrypt_on_all_accounts: false,
        }),
        rotated_from: Some("old-rec".into()),
        rotated_to: Some("new-rec".into()),
        rotated_at: Some(t(40)),
        aws: AwsKeyView {
            metadata: KeyMetadata {
                aws_account_id: "123456789012".into(),
                key_id: "623321f4-a7d4-4d52-89bf-a9f26a29360e".into(),
                arn: "arn:aws:kms:ap-south-1:123456789012:key/623321f4-a7d4-4d52-89bf-a9f26a29360e"
                    .into(),
                creation_date: Some(t(-5)),
                enabled: true,
                description: "a key".into(),
                key_usage: "ENCRYPT_DECRYPT".into(),
                key_state: "PendingDeletion".into(),
                deletion_date: Some(t(700_000)),
                valid_to: None,
                origin: "EXTERNAL".into(),
                key_manager: "CUSTOMER".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                encryption_algorithms: vec!["SYMMETRIC_DEFAULT".into()],
                signing_algorithms: vec![],
                mac_algorithms: vec![],
                key_agreement_algorithms: vec![],
                expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
                multi_region: true,
                multi_region_configuration: Some(MultiRegionConfiguration {
                    key_type: "PRIMARY".into(),
                    primary: Some(RegionalKey {
                        arn: "arn:aws:kms:ap-south-1:123456789012:key/mrk-1".into(),
                        region: "ap-south-1".into(),
                    }),
                    replicas: vec![RegionalKey {
                        arn: "arn:aws:kms:eu-west-1:123456789012:key/mrk-1".into(),
                        region: "eu-west-1".into(),
                    }],
                }),
                pending_deletion_window_in_days: Some(7),
            },
            aliases: vec!["alias/aws-test-key".into()],
            tags: vec![("key".into(), "value".into())],
            policy: Some(
                r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}"#
                    .into(),
            ),
            rotation: RotationStatus {
                enabled: true,
                period_in_days: Some(365),
                next_rotation_date: Some(t(1_000_000)),
                on_demand_rotation_start_date: None,
            },
        },
    }
}

/// A record as `create` returns it for seed 004 (no Keyward extras).
fn seed_like_record() -> KeyRecord {
    let mut r = sample_record();
    r.key_material_origin = MaterialOrigin::Native;
    r.rotation_status = RecordRotationStatus::None;
    r.job_config_id = None;
    r.principals = PolicyPrincipals::default();
    r.policy_template_id = None;
    r.material = None;
    r.rotation_job = None;
    r.rotated_from = None;
    r.rotated_to = None;
    r.rotated_at = None;
    r.aws.metadata.key_state = "Enabled".into();
    r.aws.metadata.deletion_date = None;
    r.aws.metadata.pending_deletion_window_in_days = None;
    r.aws.metadata.origin = "AWS_KMS".into();
    r.aws.metadata.expiration_model = None;
    r.aws.metadata.multi_region_configuration = None;
    r.aws.rotation = RotationStatus::default();
    r
}

pub(crate) fn sample_rotation() -> KeyRotation {
    KeyRotation {
        id: "rot-1".into(),
        key_record_id: "old-rec".into(),
        old_key_id: "old-key".into(),
        old_arn: "arn:aws:kms:ap-south-1:123456789012:key/old-key".into(),
        rotation_type: RotationType::NewKey,
        status: RotationState::Completed,
        error: String::new(),
        job_run_id: Some("run-1".into()),
        new_key_record_id: Some("new-rec".into()),
        new_key_id: Some("new-key".into()),
        new_arn: Some("arn:aws:kms:ap-south-1:123456789012:key/new-key".into()),
        create_sent: true,
        source_key_tier: Some(KeySource::Local),
        source_key_identifier: Some("lk-2".into()),
        source_key_name: Some("vault-key-2".into()),
        valid_to: Some(t(86_400)),
        description: Some("rotated".into()),
        aliases: vec!["alias/a".into()],
        retain_alias: true,
        retained_aliases: vec!["alias/a-rotated-20231114T221320Z".into()],
        disable_encrypt: Some(DenyEncrypt::Account),
        created_by: "admin".into(),
        created_at: t(0),
        updated_at: t(5),
        finished_at: Some(t(6)),
    }
}

fn failed_material_rotation() -> KeyRotation {
    let mut r = sample_rotation();
    r.rotation_type = RotationType::Material;
    r.status = RotationState::Failed;
    r.error = "AWS said no".into();
    r.job_run_id = None;
    r.source_key_tier = None;
    r.source_key_identifier = None;
    r.source_key_name = None;
    r.valid_to = None;
    r.retained_aliases = vec![];
    r.finished_at = None;
    r
}

pub(crate) fn sample_template() -> PolicyTemplate {
    PolicyTemplate {
        id: "tpl-1".into(),
        name: "admins-template".into(),
        kms_id: Some("0b90f8de-8617-498d-ad63-ca18eb717ae7".into()),
        kms_ref: None,
        account_id: "123456789012".into(),
        policy: None,
        principals: PolicyPrincipals {
            key_admins: vec!["alice".into()],
            key_admins_roles: vec![],
            key_users: vec!["bob".into()],
            key_users_roles: vec!["users".into()],
            external_accounts: vec![],
        },
        auto_push: true,
        is_verified: false,
        created_at: t(0),
        updated_at: t(1),
    }
}

fn document_template() -> PolicyTemplate {
    let mut t = sample_template();
    t.kms_id = None;
    t.policy = Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into());
    t.principals = PolicyPrincipals::default();
    t
}

fn json<T: serde::Serialize>(wire: &T) -> Value {
    serde_json::to_value(wire).unwrap()
}

/// The wire output of each sample, as JSON values.
fn outputs() -> Vec<(&'static str, Value)> {
    vec![
        ("key_record", json(&sample_record().to_wire())),
        ("key_record_seed_004", json(&seed_like_record().to_wire())),
        ("rotation", json(&sample_rotation().to_wire())),
        (
            "rotation_failed_material",
            json(&failed_material_rotation().to_wire()),
        ),
        ("policy_template", json(&sample_template().to_wire())),
        (
            "policy_template_document",
            json(&document_template().to_wire()),
        ),
    ]
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wire")
        .join(format!("{name}.json"))
}

#[test]
fn wire_output_matches_the_fixtures() {
    let write = std::env::var_os("KEYWARD_WRITE_WIRE_FIXTURES").is_some();
    for (name, value) in outputs() {
        // serde_json::Value sorts keys: the canonical text, whatever the field order.
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let path = fixture_path(name);
        if write {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let pinned =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(text, pinned, "{name}: the wire output changed");
    }
}

fn seed_004_example() -> Value {
    let text = &SEED_004[SEED_004.find("Example Response").unwrap()..];
    let start = text.find('{').unwrap();
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap()
}

/// CCKM's own example response (seed 004) reads as the wire record, and the record Keyward
/// writes for such a key has every field of it with the same JSON type.
#[test]
fn seed_004_example_reads_as_a_key_record() {
    let rec: keyward_api::key_record::KeyRecord =
        serde_json::from_value(seed_004_example()).unwrap();
    assert_eq!(rec.resource.id, "baf58871-2503-4d13-a84a-339aeb8fdfaf");
    assert_eq!(rec.aws_param.alias, vec!["alias/aws-test-key".to_string()]);
    assert!(rec.aws_param.multi_region);
}

/// Every field of seed 004's example response is in the record with the same JSON type.
#[test]
fn key_record_has_seed_004_shape() {
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    fn shape(example: &Value, actual: &Value, path: &str) {
        assert_eq!(kind(example), kind(actual), "{path}");
        match (example, actual) {
            (Value::Object(e), Value::Object(a)) => {
                for (k, ev) in e {
                    let av = a.get(k).unwrap_or_else(|| panic!("{path}.{k} missing"));
                    shape(ev, av, &format!("{path}.{k}"));
                }
            }
            (Value::Array(e), Value::Array(a)) => {
                if let (Some(ef), Some(af)) = (e.first(), a.first()) {
                    shape(ef, af, &format!("{path}[0]"));
                }
            }
            _ => {}
        }
    }
    let example = seed_004_example();
    let (_, actual) = outputs().remove(1);
    shape(&example, &actual, "record");
}

/// The store keeps these domain types as JSON: what the new code writes is byte for byte what
/// the code before the enums and the flattened principals wrote (fixtures `stored_*.json`,
/// generated from that code), and reads back to the same value.
#[test]
fn stored_json_is_unchanged() {
    fn check<T>(name: &str, value: &T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let path = fixture_path(name);
        let pinned = std::fs::read_to_string(&path).unwrap();
        let text = serde_json::to_string_pretty(value).unwrap() + "\n";
        assert_eq!(text, pinned, "{name}: the stored JSON changed");
        let back: T = serde_json::from_str(&pinned).unwrap();
        assert_eq!(
            &back, value,
            "{name}: the stored JSON reads back differently"
        );
    }
    check("stored_key_record", &sample_record());
    check("stored_rotation", &sample_rotation());
    check("stored_policy_template", &sample_template());
}

/// What the server writes, the CLI reads back into the same wire value.
#[test]
fn wire_types_read_their_own_output() {
    fn back<T>(wire: &T)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let text = serde_json::to_string(wire).unwrap();
        let read: T = serde_json::from_str(&text).unwrap();
        assert_eq!(&read, wire);
    }
    back(&sample_record().to_wire());
    back(&seed_like_record().to_wire());
    back(&sample_rotation().to_wire());
    back(&failed_material_rotation().to_wire());
    back(&sample_template().to_wire());
    back(&document_template().to_wire());
}
