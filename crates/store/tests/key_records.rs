//! Key records in the SQLite store: a plain `update_key` from a copy read before a rotation
//! ended keeps what the rotation recorded (only the rotation journal writes those fields).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditDraft, Caller, Outcome};
use keyward_core::keys::kinds::{
    MaterialOrigin, RecordRotationStatus, RotationState, RotationType,
};
use keyward_core::keys::rotate::KeyRotation;
use keyward_core::keys::{AwsKeyView, KeyMetadata, KeyRecord};
use keyward_core::ports::{Lease, Store};
use keyward_store::SqliteStore;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn audit(action: &str) -> AuditDraft {
    AuditDraft {
        at: t("2026-11-27T12:00:00Z"),
        actor: Caller::system().principal.username,
        action: action.into(),
        target: "k1".into(),
        outcome: Outcome::Success,
        detail: String::new(),
        request_id: "test".into(),
    }
}

fn key(id: &str, key_id: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        kms_id: "kms1".into(),
        kms_name: "kms".into(),
        region: "ap-south-1".into(),
        cloud_name: "aws".into(),
        created_at: t("2026-11-27T12:00:00Z"),
        updated_at: t("2026-11-27T12:00:00Z"),
        synced_at: t("2026-11-27T12:00:00Z"),
        gone: false,
        key_material_origin: MaterialOrigin::Native,
        rotation_status: RecordRotationStatus::None,
        job_config_id: None,
        principals: Default::default(),
        policy_template_id: None,
        material: None,
        rotation_job: None,
        rotated_from: None,
        rotated_to: None,
        rotated_at: None,
        aws: AwsKeyView {
            metadata: KeyMetadata {
                key_id: key_id.into(),
                arn: format!("arn:aws:kms:ap-south-1:000000000000:key/{key_id}"),
                key_state: "Enabled".into(),
                ..Default::default()
            },
            ..Default::default()
        },
    }
}

fn rotation(id: &str) -> KeyRotation {
    KeyRotation {
        id: id.into(),
        key_record_id: "k1".into(),
        old_key_id: "aws1".into(),
        old_arn: "arn1".into(),
        rotation_type: RotationType::NewKey,
        status: RotationState::InProgress,
        error: String::new(),
        job_run_id: None,
        new_key_record_id: Some("k2".into()),
        new_key_id: None,
        new_arn: None,
        create_sent: false,
        source_key_tier: None,
        source_key_identifier: None,
        source_key_name: None,
        valid_to: None,
        description: None,
        aliases: vec![],
        retain_alias: false,
        retained_aliases: vec![],
        disable_encrypt: None,
        created_by: "system".into(),
        created_at: t("2026-11-27T12:00:00Z"),
        updated_at: t("2026-11-27T12:00:00Z"),
        finished_at: None,
    }
}

/// The audit chain's MAC for these tests (the server derives its key from the root key).
struct TestMac(aws_lc_rs::hmac::Key);

impl keyward_core::audit::AuditMac for TestMac {
    fn mac(&self, bytes: &[u8]) -> String {
        hex::encode(aws_lc_rs::hmac::sign(&self.0, bytes).as_ref())
    }
    fn verify(&self, bytes: &[u8], mac_hex: &str) -> bool {
        self.mac(bytes) == mac_hex
    }
}

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let mac = TestMac(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        b"test",
    ));
    let store = SqliteStore::open(&dir.path().join("k.db"), std::sync::Arc::new(mac))
        .await
        .unwrap();
    let pool = store.pool();
    sqlx::query("INSERT INTO aws_connections (id, name, description, access_key_id, assume_role_arn, assume_role_external_id, aws_region, aws_sts_regional_endpoints, cloud_name, endpoint_url, labels_json, meta_json, products_json, created_at, updated_at, last_connection_error) VALUES ('c1','c','','AKIA','','','ap-south-1','legacy','aws','','{}','{}','[]','t','t','')")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO kms_containers (id, name, account_id, connection_id, regions_json, assume_role_arn, assume_role_external_id, status, created_at, updated_at) VALUES ('kms1','kms','000000000000','c1','[\"ap-south-1\"]','','','active','t','t')")
        .execute(pool)
        .await
        .unwrap();
    (dir, store)
}

fn lease() -> Lease {
    Lease {
        owner: "node-a".into(),
        until: t("2026-11-27T12:05:00Z"),
    }
}

#[tokio::test]
async fn a_stale_copy_does_not_undo_a_rotation() {
    let (_dir, store) = store().await;
    let old = key("k1", "aws1");
    store.insert_key(&old, &audit("key.create")).await.unwrap();
    // A sync reads the record before the rotation begins ...
    let stale = store.get_key("k1").await.unwrap().unwrap();

    let mut r = rotation("r1");
    let mut rotating = old.clone();
    rotating.rotation_status = RecordRotationStatus::InProgress;
    store
        .begin_rotation(&r, &rotating, &lease(), &audit("key.rotate-begin"))
        .await
        .unwrap();
    // A second rotation of the same key cannot begin meanwhile.
    let second = store
        .begin_rotation(
            &rotation("r2"),
            &rotating,
            &lease(),
            &audit("key.rotate-begin"),
        )
        .await
        .unwrap_err();
    assert!(second.to_string().contains("in progress"), "{second}");

    let new = key("k2", "aws2");
    store.insert_key(&new, &audit("key.create")).await.unwrap();
    let mut done = rotating.clone();
    done.rotation_status = RecordRotationStatus::Rotated;
    done.rotated_to = Some("k2".into());
    done.rotated_at = Some(t("2026-11-27T12:01:00Z"));
    r.status = RotationState::Completed;
    // Only the lease's holder closes it.
    let other = Lease {
        owner: "node-b".into(),
        until: t("2026-11-27T12:05:00Z"),
    };
    assert!(
        store
            .finish_rotation(&r, &[&done, &new], &other, &audit("key.rotate"))
            .await
            .is_err()
    );
    assert_eq!(store.get_key("k1").await.unwrap().unwrap().rotated_to, None);
    store
        .finish_rotation(&r, &[&done, &new], &lease(), &audit("key.rotate"))
        .await
        .unwrap();

    // ... and saves its copy after the rotation ended: the rotation's fields stay.
    let mut synced = stale.clone();
    synced.aws.metadata.description = "seen by the sync".into();
    store.update_key(&synced, None).await.unwrap();
    let now = store.get_key("k1").await.unwrap().unwrap();
    assert_eq!(now.aws.metadata.description, "seen by the sync");
    assert_eq!(now.rotation_status, "rotated");
    assert_eq!(now.rotated_to.as_deref(), Some("k2"));
    assert_eq!(now.rotated_at, Some(t("2026-11-27T12:01:00Z")));

    // A key is replaced once: a new-key rotation of it does not begin again.
    let again = store
        .begin_rotation(&rotation("r3"), &now, &lease(), &audit("key.rotate-begin"))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("rotated already"), "{again}");
}
