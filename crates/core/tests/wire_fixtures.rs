//! One record of each scheduler, sync and vault resource, pinned to a JSON fixture: what the
//! API returns for it (`to_wire()`) and, for the records the store keeps as JSON, what is
//! stored. The fixtures were generated from the code before these resources were typed in
//! `keyward-api` (when core rendered them as `serde_json::Value`) and are kept as they are:
//! the wire output and the stored JSON must not change.
//!
//! The wire output is compared after canonical ordering (through `serde_json::Value`, whose
//! keys sort): the old renderer built a `Value`, so its bytes were always in that order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use keyward_core::keys::sync::{SyncJob, SyncStatus};
use keyward_core::local_keys::LocalKey;
use keyward_core::scheduler::runs::{JobRun, KeyResult, KeyResultStatus, RunStatus, RunTrigger};
use keyward_core::scheduler::{
    AwsRotationParams, JobConfig, JobOperation, RotationParams, SyncParams,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wire")
        .join(format!("{name}.json"))
}

/// `value`, pretty and in canonical (sorted) key order, equals the fixture byte for byte, and
/// the fixture reads back as `value` (what a client of the API, or the store, reads).
/// `KEYWARD_WRITE_FIXTURES=1` writes the fixture instead (only ever done once, before the
/// change the fixture guards).
fn pin<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    let canonical = serde_json::to_value(value).unwrap();
    let text = format!("{}\n", serde_json::to_string_pretty(&canonical).unwrap());
    let path = fixture(name);
    if std::env::var_os("KEYWARD_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert_eq!(text, want, "{name}: differs from {path:?}");
    assert_eq!(
        &serde_json::from_str::<T>(&want).unwrap(),
        value,
        "{name}: read back"
    );
}

fn rotation_config() -> JobConfig {
    JobConfig {
        id: "6f1c2d3e-0000-4000-8000-000000000001".into(),
        name: "weekly-rotation".into(),
        description: "rotates the BYOK keys".into(),
        operation: JobOperation::KeyRotation,
        run_at: "0 9 * * sat".into(),
        run_on: "any".into(),
        disabled: false,
        start_date: Some(t("2026-12-05T00:00:00Z")),
        end_date: Some(t("2027-12-05T00:00:00Z")),
        rotation: Some(RotationParams {
            cloud_name: "aws".into(),
            expiration: Some("30d".into()),
            expire_in: None,
            rotation_after: None,
            aws_param: AwsRotationParams {
                retain_alias: true,
                rotate_material: false,
            },
        }),
        sync: None,
        created_at: t("2026-12-01T10:00:00.123456Z"),
        updated_at: t("2026-12-01T11:30:00.5Z"),
    }
}

fn sync_config() -> JobConfig {
    JobConfig {
        id: "6f1c2d3e-0000-4000-8000-000000000002".into(),
        name: "nightly-sync".into(),
        description: String::new(),
        operation: JobOperation::Synchronization,
        run_at: "30 2 * * *".into(),
        run_on: "any".into(),
        disabled: true,
        start_date: None,
        end_date: None,
        rotation: None,
        sync: Some(SyncParams {
            cloud_name: "aws".into(),
            kms: vec!["0d9b8a7c-0000-4000-8000-00000000000a".into()],
            synchronize_all: false,
        }),
        created_at: t("2026-12-01T10:00:00Z"),
        updated_at: t("2026-12-01T10:00:00Z"),
    }
}

fn rotation_run() -> JobRun {
    JobRun {
        id: "7a000000-0000-4000-8000-000000000003".into(),
        job_config_id: "6f1c2d3e-0000-4000-8000-000000000001".into(),
        job_config_name: "weekly-rotation".into(),
        operation: JobOperation::KeyRotation,
        trigger: RunTrigger::Schedule,
        scheduled_for: Some(t("2026-12-05T09:00:00Z")),
        status: RunStatus::CompletedWithErrors,
        started_at: t("2026-12-05T09:00:01.000001Z"),
        finished_at: Some(t("2026-12-05T09:00:42.25Z")),
        message: "1 rotated, 1 failed, 1 skipped".into(),
        sync_job_id: None,
        targets: Some(vec!["k1".into(), "k2".into(), "k3".into()]),
        results: vec![
            KeyResult {
                key_id: "k1".into(),
                arn: "arn:aws:kms:us-east-1:111122223333:key/1111".into(),
                status: KeyResultStatus::Rotated,
                new_key_id: Some("k4".into()),
                new_arn: Some("arn:aws:kms:us-east-1:111122223333:key/4444".into()),
                message: String::new(),
            },
            KeyResult {
                key_id: "k2".into(),
                arn: "arn:aws:kms:us-east-1:111122223333:key/2222".into(),
                status: KeyResultStatus::Failed,
                new_key_id: None,
                new_arn: None,
                message: "AWS: AccessDeniedException".into(),
            },
            KeyResult {
                key_id: "k3".into(),
                arn: String::new(),
                status: KeyResultStatus::Skipped,
                new_key_id: None,
                new_arn: None,
                message: "the key's record was deleted".into(),
            },
        ],
        created_by: "scheduler".into(),
        created_at: t("2026-12-05T09:00:01.000001Z"),
        updated_at: t("2026-12-05T09:00:42.25Z"),
    }
}

fn sync_run() -> JobRun {
    JobRun {
        id: "7a000000-0000-4000-8000-000000000004".into(),
        job_config_id: "6f1c2d3e-0000-4000-8000-000000000002".into(),
        job_config_name: "nightly-sync".into(),
        operation: JobOperation::Synchronization,
        trigger: RunTrigger::Manual,
        scheduled_for: None,
        status: RunStatus::Running,
        started_at: t("2026-12-02T08:00:00Z"),
        finished_at: None,
        message: String::new(),
        sync_job_id: Some("5b000000-0000-4000-8000-000000000005".into()),
        targets: None,
        results: vec![],
        created_by: "admin".into(),
        created_at: t("2026-12-02T08:00:00Z"),
        updated_at: t("2026-12-02T08:00:00.5Z"),
    }
}

fn sync_job(done: bool) -> SyncJob {
    SyncJob {
        id: "5b000000-0000-4000-8000-000000000005".into(),
        created_at: t("2026-12-02T08:00:00Z"),
        updated_at: t("2026-12-02T08:01:00.75Z"),
        completed_at: done.then(|| t("2026-12-02T08:01:00.75Z")),
        overall_status: if done {
            SyncStatus::Completed
        } else {
            SyncStatus::InProgress
        },
        detailed_status: BTreeMap::from([
            ("kms-a".to_string(), "completed".to_string()),
            (
                "kms-b".to_string(),
                if done {
                    "failed: AccessDenied"
                } else {
                    "in_progress"
                }
                .to_string(),
            ),
        ]),
        kms: vec![
            "0d9b8a7c-0000-4000-8000-00000000000a".into(),
            "0d9b8a7c-0000-4000-8000-00000000000b".into(),
        ],
        regions: vec!["us-east-1".into()],
        synchronize_all: false,
        abort: done,
        created_by: "admin".into(),
        keys_seen: 12,
        keys_added: 3,
        keys_gone: 1,
    }
}

fn vault_key() -> LocalKey {
    LocalKey {
        id: "ab".repeat(32),
        name: "byok-material-1".into(),
        algorithm: "aes".into(),
        size: 256,
        material_sealed: vec![1, 2, 3],
        created_at: t("2026-12-01T09:00:00.000100Z"),
        updated_at: t("2026-12-01T09:00:00.000100Z"),
        description: String::new(),
        labels: Default::default(),
        curve: String::new(),
    }
}

#[test]
fn job_configs_on_the_wire() {
    pin("job_config_rotation", &rotation_config().to_wire());
    pin("job_config_sync", &sync_config().to_wire());
}

#[test]
fn job_runs_on_the_wire() {
    pin("job_run_rotation", &rotation_run().to_wire());
    pin("job_run_sync", &sync_run().to_wire());
}

#[test]
fn sync_jobs_on_the_wire() {
    pin("sync_job_completed", &sync_job(true).to_wire());
    pin("sync_job_in_progress", &sync_job(false).to_wire());
}

#[test]
fn vault_keys_on_the_wire() {
    pin(
        "vault_key",
        &vault_key().to_wire(&["rec-1".to_string(), "rec-2".to_string()]),
    );
    pin("vault_key_unused", &vault_key().to_wire(&[]));
}

/// The store keeps job configs and runs as JSON (`record_json`): what it wrote before reads
/// back the same and is written the same.
#[test]
fn stored_json_stays_readable() {
    for (name, c) in [
        ("stored_job_config_rotation", rotation_config()),
        ("stored_job_config_sync", sync_config()),
    ] {
        pin(name, &c);
    }
    for (name, r) in [
        ("stored_job_run_rotation", rotation_run()),
        ("stored_job_run_sync", sync_run()),
    ] {
        pin(name, &r);
    }
}
