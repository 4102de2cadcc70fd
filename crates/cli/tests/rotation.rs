//! Rotation to a new key (`POST /cckm/aws/keys/{id}/rotate`) and rotation job runs, against
//! LocalStack: the new key has the old one's spec, usage, policy, tags, description and
//! Region; the aliases resolve to the new key in AWS; the old key still decrypts; a BYOK key's
//! successor holds new material; a run rotates each attached key on its own; a job detached by
//! seed 003's request no longer rotates its key. Each test works in a LocalStack account of
//! its own, and reads AWS directly (as that account) to check what Keyward did there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::{Aws, Server, seed_example};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const UPLOAD: &str = "/api/v1/cckm/aws/upload-key";
const CONFIGS: &str = "/api/v1/scheduler/job-configs";
const RUNS: &str = "/api/v1/scheduler/job-runs";
const REGION: &str = "ap-south-1";
const SEED_003: &str = include_str!("fixtures/seeds/003_9b35aac5c92e81fc.txt");
const SEED_003_ID: &str = "f36e8dbb-0259-4c61-a35f-d74b6d39effc";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn arn_of(v: &Value) -> String {
    v["aws_param"]["Arn"].as_str().expect("Arn").to_string()
}

fn future_days(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A server, an admin token, a LocalStack account with a connection, and a KMS container
/// `kms` over ap-south-1.
async fn setup_with(server: Server) -> (Server, String, Aws) {
    let admin = server.admin().await;
    let aws = Aws::fresh();
    server.localstack_kms(&admin, &aws).await;
    (server, admin, aws)
}

async fn setup() -> (Server, String, Aws) {
    setup_with(Server::start()).await
}

async fn native_key(server: &Server, token: &str, alias: &str) -> Value {
    server
        .post(
            KEYS,
            token,
            json!({"kms": "kms", "region": REGION, "aws_param": {
                "Alias": alias,
                "Description": "rotation test key",
                "Tags": [{"TagKey": "team", "TagValue": "crypto"}],
            }}),
        )
        .await
        .expect(201)
        .body
}

async fn byok_key(server: &Server, token: &str, alias: &str) -> Value {
    server
        .post(
            UPLOAD,
            token,
            json!({"kms": "kms", "region": REGION, "key_expiration": true, "valid_to": future_days(60),
                   "aws_param": {"Alias": alias, "Description": "byok rotation test key",
                                 "Tags": [{"TagKey": "team", "TagValue": "byok"}]}}),
        )
        .await
        .expect(201)
        .body
}

fn rotation_config(name: &str) -> Value {
    json!({
        "name": name,
        "operation": "cckm_key_rotation",
        "run_at": "0 3 1 1 *",
        "cckm_key_rotation_params": {"cloud_name": "aws", "expiration": "30d",
                                     "aws_param": {"retain_alias": false}}
    })
}

/// Waits for a run to end; returns it.
async fn wait_run(server: &Server, token: &str, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = server
            .get(&format!("{RUNS}/{run_id}"), token)
            .await
            .expect(200)
            .body;
        if run["status"] != "running" {
            return run;
        }
        assert!(Instant::now() < deadline, "run still running: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn rotate_native_key_moves_aliases_and_old_key_still_decrypts() {
    let (server, admin, aws) = setup().await;
    let alias = unique("app");
    let old = native_key(&server, &admin, &alias).await;
    let old_id = id_of(&old);
    let old_arn = arn_of(&old);
    let (blob, used) = aws
        .encrypt(&format!("alias/{alias}"), b"before rotation")
        .await;
    assert_eq!(used, old_arn);

    // Refused before AWS is called.
    for (body, status, needle) in [
        (
            json!({"disable_encrypt": true, "disable_encrypt_on_all_accounts": true}),
            400,
            "disable_encrypt_on_all_accounts",
        ),
        (json!({"source_key_tier": "local"}), 400, "source_key_tier"),
        (json!({"valid_to": future_days(10)}), 400, "valid_to"),
        (
            json!({"retain_alias": "yes"}),
            400,
            "retain_alias: invalid type",
        ),
    ] {
        server
            .post(&format!("{KEYS}/{old_id}/rotate"), &admin, body)
            .await
            .expect_error(status, needle);
    }
    assert_eq!(aws.key_count().await, 1);

    let new = server
        .post(
            &format!("{KEYS}/{old_id}/rotate"),
            &admin,
            // An unknown member is ignored (it used to be refused, naming it).
            json!({"retain_alias": true, "disable_encrypt": true, "frobnicate": 1}),
        )
        .await
        .expect(201)
        .body;
    let new_id = id_of(&new);
    let new_arn = arn_of(&new);
    assert_ne!(new_id, old_id);
    assert_ne!(new_arn, old_arn);
    assert_eq!(new["rotated_from"], old_id.as_str());
    assert_eq!(new["rotation_status"], "");
    assert_eq!(new["region"], REGION);
    let (np, op) = (&new["aws_param"], &old["aws_param"]);
    for f in [
        "KeySpec",
        "KeyUsage",
        "Description",
        "Origin",
        "AWSAccountId",
    ] {
        assert_eq!(np[f], op[f], "{f}");
    }
    assert_eq!(np["KeyState"], "Enabled");
    assert_eq!(
        np["Tags"],
        json!([{"TagKey": "team", "TagValue": "crypto"}])
    );
    assert_eq!(np["Alias"], json!([format!("alias/{alias}")]));
    // The policy copied is the old key's, without the statement added to the old key.
    assert!(
        !np["Policy"].to_string().contains("KeywardDenyEncrypt"),
        "{np}"
    );

    // In AWS: the alias resolves to the new key; the old key still decrypts.
    assert_eq!(aws.alias_target(&format!("alias/{alias}")).await, new_arn);
    let (_, used) = aws.encrypt(&format!("alias/{alias}"), b"after").await;
    assert_eq!(used, new_arn);
    assert_eq!(aws.decrypt(&blob).await, b"before rotation");
    assert_eq!(aws.key_count().await, 2);

    let old_now = server
        .get(&format!("{KEYS}/{old_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(old_now["rotated_to"], new_id.as_str());
    assert_eq!(old_now["rotation_status"], "rotated");
    assert!(old_now["rotated_at"].is_string());
    assert_eq!(old_now["aws_param"]["KeyState"], "Enabled");
    let kept = old_now["aws_param"]["Alias"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 1, "{old_now}");
    let kept = kept[0].as_str().unwrap();
    assert!(
        kept.starts_with(&format!("alias/{alias}-rotated-")),
        "{kept}"
    );
    assert_eq!(aws.alias_target(kept).await, old_arn);
    let policy = old_now["aws_param"]["Policy"].to_string();
    assert!(
        policy.contains("KeywardDenyEncryptAfterRotation"),
        "{policy}"
    );
    assert!(policy.contains("kms:Encrypt"), "{policy}");

    // The history, from either side.
    for id in [&old_id, &new_id] {
        let h = server
            .get(&format!("{KEYS}/{id}/rotations"), &admin)
            .await
            .expect(200)
            .body;
        assert_eq!(h["total"], 1, "{h}");
        let r = &h["resources"][0];
        assert_eq!(r["status"], "completed");
        assert_eq!(r["rotation_type"], "new_key");
        assert_eq!(r["rotated_from"], old_id.as_str());
        assert_eq!(r["rotated_to"], new_id.as_str());
        assert_eq!(r["rotated_to_arn"], new_arn.as_str());
    }

    // A key is replaced once; its successor can be rotated in turn.
    server
        .post(&format!("{KEYS}/{old_id}/rotate"), &admin, json!({}))
        .await
        .expect_error(422, "rotated already");
    let third = server
        .post(&format!("{KEYS}/{new_id}/rotate"), &admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(third["rotated_from"], new_id.as_str());
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&third)
    );
    // The timestamped alias stays with the first key.
    assert_eq!(aws.alias_target(kept).await, old_arn);
}

#[tokio::test]
async fn rotate_byok_key_gives_the_successor_new_material() {
    let (server, admin, aws) = setup().await;
    let alias = unique("byok");
    let old = byok_key(&server, &admin, &alias).await;
    let old_id = id_of(&old);
    let old_local = old["local_key_id"].as_str().unwrap().to_string();
    let (blob, _) = aws.encrypt(&format!("alias/{alias}"), b"byok secret").await;

    server
        .post(
            &format!("{KEYS}/{old_id}/rotate"),
            &admin,
            json!({"source_key_id": old_local}),
        )
        .await
        .expect_error(400, "new material");
    server
        .post(
            &format!("{KEYS}/{old_id}/rotate"),
            &admin,
            json!({"key_expiration": true}),
        )
        .await
        .expect_error(400, "valid_to");

    let valid_to = future_days(45);
    let new = server
        .post(
            &format!("{KEYS}/{old_id}/rotate"),
            &admin,
            json!({"key_expiration": true, "valid_to": valid_to, "description": "second generation"}),
        )
        .await
        .expect(201)
        .body;
    let np = &new["aws_param"];
    assert_eq!(np["Origin"], "EXTERNAL");
    assert_eq!(np["KeyState"], "Enabled", "{new}");
    assert_eq!(np["Description"], "second generation");
    assert_eq!(np["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(np["ValidTo"], valid_to.as_str());
    assert_eq!(new["key_material_origin"], "cckm");
    assert_eq!(new["key_source"], "local");
    let new_local = new["local_key_id"].as_str().unwrap();
    assert_ne!(new_local, old_local, "the successor holds new material");
    assert_eq!(
        new["local_key_name"],
        format!("aws-{}", np["KeyID"].as_str().unwrap()).as_str()
    );
    assert_eq!(np["Tags"], json!([{"TagKey": "team", "TagValue": "byok"}]));

    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&new)
    );
    assert_eq!(aws.decrypt(&blob).await, b"byok secret");
    let (blob2, _) = aws.encrypt(&format!("alias/{alias}"), b"new").await;
    assert_eq!(aws.decrypt(&blob2).await, b"new");

    let h = server
        .get(&format!("{KEYS}/{old_id}/rotations"), &admin)
        .await
        .expect(200)
        .body;
    let r = &h["resources"][0];
    assert_eq!(r["source_key_tier"], "local");
    assert_eq!(r["local_key_id"], new_local);
    assert_eq!(r["aws_param"]["ValidTo"], valid_to.as_str());
}

/// A run rotates each attached key on its own: a native key and a BYOK key are rotated, a key
/// AWS refuses to rotate (pending deletion) fails without stopping the others, and a key
/// detached with seed 003's request is left alone.
#[tokio::test]
async fn a_run_rotates_each_attached_key_and_records_the_results() {
    let (server, admin, aws) = setup().await;
    let config = server
        .post(
            CONFIGS,
            &admin,
            json!({"name": "yearly", "operation": "cckm_key_rotation", "run_at": "0 3 1 1 *",
                   "cckm_key_rotation_params": {"expiration": "30d",
                                                "aws_param": {"retain_alias": true}}}),
        )
        .await
        .expect(201)
        .body;
    let config_id = id_of(&config);
    let (a_alias, b_alias, c_alias, d_alias) = (unique("a"), unique("b"), unique("c"), unique("d"));
    let a = native_key(&server, &admin, &a_alias).await;
    let b = byok_key(&server, &admin, &b_alias).await;
    let c = native_key(&server, &admin, &c_alias).await;
    let d = native_key(&server, &admin, &d_alias).await;
    for k in [&a, &b, &c, &d] {
        // A's rotations also deny new encryptions with the old key, in every account.
        let all_accounts = k["id"] == a["id"];
        server
            .post(
                &format!("{KEYS}/{}/enable-rotation-job", id_of(k)),
                &admin,
                json!({"job_config_id": config_id, "auto_rotate_key_source": "local",
                       "auto_rotate_disable_encrypt_on_all_accounts": all_accounts}),
            )
            .await
            .expect(200);
    }
    // C is detached by seed 003's request, sent verbatim (host, token and id substituted).
    let (curl, _) = seed_example(SEED_003);
    let url = format!(
        "{}/api/v1/cckm/aws/keys/{}/disable-rotation-job",
        server.url,
        id_of(&c)
    );
    let curl = curl
        .replace(
            &format!("https://127.0.0.1/api/v1/cckm/aws/keys/{SEED_003_ID}/disable-rotation-job"),
            &url,
        )
        .replace(
            curl.split("Bearer ")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap(),
            &admin,
        );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&curl)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let detached: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(detached.get("job_config_id").is_none(), "{detached}");
    // D cannot be rotated: it is pending deletion.
    server
        .post(
            &format!("{KEYS}/{}/schedule-deletion", id_of(&d)),
            &admin,
            json!({"days": 7}),
        )
        .await
        .expect(200);
    let (b_blob, _) = aws.encrypt(&format!("alias/{b_alias}"), b"b data").await;

    let started = server
        .post(&format!("{CONFIGS}/{config_id}/run"), &admin, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(started["trigger"], "manual");
    assert_eq!(started["job_config_id"], config_id.as_str());
    let run = wait_run(&server, &admin, started["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "completed_with_errors", "{run}");
    assert!(run["finished_at"].is_string());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{run}");
    let result_of = |k: &Value| {
        results
            .iter()
            .find(|r| r["key_id"] == k["id"])
            .cloned()
            .unwrap_or_else(|| panic!("no result for {} in {run}", k["id"]))
    };
    assert!(results.iter().all(|r| r["key_id"] != c["id"]), "{run}");
    let ra = result_of(&a);
    let rb = result_of(&b);
    let rd = result_of(&d);
    assert_eq!(ra["status"], "rotated", "{ra}");
    assert_eq!(rb["status"], "rotated", "{rb}");
    assert_eq!(rd["status"], "failed", "{rd}");
    assert!(
        rd["message"].as_str().unwrap().contains("PendingDeletion"),
        "{rd}"
    );

    // The aliases resolve to the new keys; the new keys carry the job; B's successor holds
    // new material that expires after the job's 30 days; the old BYOK key still decrypts.
    assert_eq!(
        aws.alias_target(&format!("alias/{a_alias}")).await,
        ra["new_arn"].as_str().unwrap()
    );
    assert_eq!(
        aws.alias_target(&format!("alias/{b_alias}")).await,
        rb["new_arn"].as_str().unwrap()
    );
    assert_eq!(aws.decrypt(&b_blob).await, b"b data");
    let new_b = server
        .get(
            &format!("{KEYS}/{}", rb["new_key_id"].as_str().unwrap()),
            &admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(new_b["job_config_id"], config_id.as_str());
    assert_ne!(new_b["local_key_id"], b["local_key_id"]);
    assert!(new_b["aws_param"]["ValidTo"].is_string(), "{new_b}");
    let old_a = server
        .get(&format!("{KEYS}/{}", id_of(&a)), &admin)
        .await
        .expect(200)
        .body;
    assert!(
        old_a.get("job_config_id").is_none(),
        "the job moved to the new key"
    );
    // The job's retain_alias and the key's auto_rotate_disable_encrypt_on_all_accounts.
    let kept = old_a["aws_param"]["Alias"][0].as_str().unwrap_or_default();
    assert!(
        kept.starts_with(&format!("alias/{a_alias}-rotated-")),
        "{old_a}"
    );
    assert_eq!(aws.alias_target(kept).await, arn_of(&a));
    let deny = old_a["aws_param"]["Policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Sid"] == "KeywardDenyEncryptAfterRotation")
        .cloned()
        .unwrap_or_else(|| panic!("no deny statement in {old_a}"));
    assert_eq!(deny["Principal"]["AWS"], "*", "{deny}");
    // B's old key got no deny statement (its job settings do not ask for one).
    let old_b = server
        .get(&format!("{KEYS}/{}", id_of(&b)), &admin)
        .await
        .expect(200)
        .body;
    assert!(
        !old_b["aws_param"]["Policy"]
            .to_string()
            .contains("KeywardDenyEncrypt"),
        "{old_b}"
    );
    // C was not touched.
    assert_eq!(
        aws.alias_target(&format!("alias/{c_alias}")).await,
        arn_of(&c)
    );
    let attached = server
        .get(&format!("{KEYS}?job_config_id={config_id}"), &admin)
        .await
        .expect(200)
        .body;
    // The two successors, and D (its rotation failed).
    assert_eq!(attached["total"], 3, "{attached}");

    let runs = server
        .get(&format!("{RUNS}?job_config_id={config_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(runs["total"], 1);
    assert_eq!(runs["resources"][0]["id"], run["id"]);
    server
        .get(&format!("{RUNS}/no-such-run"), &admin)
        .await
        .expect_error(404, "not found");
    server
        .post(&format!("{CONFIGS}/no-such-config/run"), &admin, json!({}))
        .await
        .expect_error(404, "not found");
}

/// The scheduler fires an every-minute config in real time: a rotation config rotates its
/// key, and a synchronization config runs an inventory sync.
#[tokio::test]
async fn every_minute_configs_fire_in_real_time() {
    let (server, admin, aws) = setup_with(Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", common::ADMIN_PASSWORD),
            ("KEYWARD_SCHEDULER_TICK_SECS", "1"),
        ],
    ))
    .await;
    let alias = unique("minutely");
    let key = native_key(&server, &admin, &alias).await;
    let mut rot = rotation_config("minutely");
    rot["run_at"] = json!("* * * * *");
    let rot = server.post(CONFIGS, &admin, rot).await.expect(201).body;
    server
        .post(
            &format!("{KEYS}/{}/enable-rotation-job", id_of(&key)),
            &admin,
            json!({"job_config_id": id_of(&rot)}),
        )
        .await
        .expect(200);
    let sync = server
        .post(
            CONFIGS,
            &admin,
            json!({"name": "sync-minutely", "operation": "cckm_synchronization", "run_at": "* * * * *",
                   "cckm_synchronization_params": {"cloud_name": "aws", "kms": ["kms"]}}),
        )
        .await
        .expect(201)
        .body;

    let deadline = Instant::now() + Duration::from_secs(150);
    let (rot_run, sync_run) = loop {
        let runs = server.get(RUNS, &admin).await.expect(200).body;
        let done = |config: &Value| {
            runs["resources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["job_config_id"] == config["id"] && r["status"] != "running")
                .cloned()
        };
        if let (Some(a), Some(b)) = (done(&rot), done(&sync)) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "no scheduled runs: {runs}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for run in [&rot_run, &sync_run] {
        assert_eq!(run["trigger"], "schedule", "{run}");
        assert_eq!(run["status"], "completed", "{run}");
        let at = run["scheduled_for"].as_str().unwrap();
        assert!(at.ends_with(":00.000000Z"), "on the minute: {at}");
    }
    assert_eq!(rot_run["results"][0]["status"], "rotated", "{rot_run}");
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        rot_run["results"][0]["new_arn"].as_str().unwrap()
    );
    let job_id = sync_run["sync_job_id"].as_str().unwrap();
    let job = server
        .get(
            &format!("/api/v1/cckm/aws/synchronization-jobs/{job_id}"),
            &admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(job["overall_status"], "completed", "{job}");
}

/// `expire_in`: a run rotates only keys whose material expires within the window, and gives
/// the new material the job's `expiration`.
#[tokio::test]
async fn expire_in_rotates_only_keys_expiring_within_the_window() {
    let (server, admin, _aws) = setup().await;
    let mut body = rotation_config("expiring");
    body["cckm_key_rotation_params"]["expire_in"] = json!("7d");
    let config = server.post(CONFIGS, &admin, body).await.expect(201).body;
    let soon = server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "key_expiration": true, "valid_to": future_days(3),
                   "aws_param": {"Alias": unique("soon")}}),
        )
        .await
        .expect(201)
        .body;
    let later = byok_key(&server, &admin, &unique("later")).await;
    let native = native_key(&server, &admin, &unique("native")).await;
    for k in [&soon, &later, &native] {
        server
            .post(
                &format!("{KEYS}/{}/enable-rotation-job", id_of(k)),
                &admin,
                json!({"job_config_id": id_of(&config)}),
            )
            .await
            .expect(200);
    }
    let started = server
        .post(
            &format!("{CONFIGS}/{}/run", id_of(&config)),
            &admin,
            json!({}),
        )
        .await
        .expect(201)
        .body;
    let run = wait_run(&server, &admin, started["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "completed", "{run}");
    let status_of = |k: &Value| {
        run["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key_id"] == k["id"])
            .map(|r| r["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status_of(&soon), "rotated", "{run}");
    assert_eq!(status_of(&later), "skipped", "{run}");
    assert_eq!(status_of(&native), "skipped", "{run}");
    assert_eq!(run["message"], "1 rotated, 0 failed, 2 skipped");
    let new_id = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key_id"] == soon["id"])
        .unwrap()["new_key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let new = server
        .get(&format!("{KEYS}/{new_id}"), &admin)
        .await
        .expect(200)
        .body;
    let valid_to =
        chrono::DateTime::parse_from_rfc3339(new["aws_param"]["ValidTo"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
    let expected = Utc::now() + chrono::Duration::days(30);
    assert!(
        (valid_to - expected).num_seconds().abs() < 300,
        "ValidTo {valid_to} is not 30 days ahead"
    );

    // The run's start and end are in the audit trail.
    let audit = server.audit_records(&admin).await.to_string();
    assert!(audit.contains("job-run.start"), "no job-run.start record");
    assert!(audit.contains("job-run.finish"), "no job-run.finish record");
}

/// `rotate-material` (RotateKeyOnDemand) is entered in the key's rotation history, and a BYOK
/// key whose material was deleted (PendingImport, as when it expires) is rotated: its
/// successor gets new material and the alias.
#[tokio::test]
async fn material_rotations_are_recorded_and_a_byok_key_without_material_is_rotated() {
    let (server, admin, aws) = setup().await;
    let native = native_key(&server, &admin, &unique("native")).await;
    let k = server
        .post(
            &format!("{KEYS}/{}/rotate-material", id_of(&native)),
            &admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(k["id"], native["id"]);
    assert_eq!(k["rotation_status"], "");
    let h = server
        .get(&format!("{KEYS}/{}/rotations", id_of(&native)), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(h["total"], 1, "{h}");
    assert_eq!(h["resources"][0]["rotation_type"], "material");
    assert_eq!(h["resources"][0]["status"], "completed");
    assert_eq!(h["resources"][0]["aws_param"]["RotationType"], "ON_DEMAND");
    assert!(h["resources"][0].get("rotated_to").is_none(), "{h}");

    let alias = unique("expired");
    let byok = byok_key(&server, &admin, &alias).await;
    let gone = server
        .post(
            &format!("{KEYS}/{}/delete-material", id_of(&byok)),
            &admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(gone["aws_param"]["KeyState"], "PendingImport");
    let new = server
        .post(
            &format!("{KEYS}/{}/rotate", id_of(&byok)),
            &admin,
            json!({}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(new["aws_param"]["KeyState"], "Enabled", "{new}");
    assert_ne!(new["local_key_id"], byok["local_key_id"]);
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&new)
    );
    let (blob, used) = aws.encrypt(&format!("alias/{alias}"), b"fresh").await;
    assert_eq!(used, arn_of(&new));
    assert_eq!(aws.decrypt(&blob).await, b"fresh");
    // A native key still must be Enabled or Disabled.
    server
        .post(
            &format!("{KEYS}/{}/schedule-deletion", id_of(&native)),
            &admin,
            json!({"days": 7}),
        )
        .await
        .expect(200);
    server
        .post(
            &format!("{KEYS}/{}/rotate", id_of(&native)),
            &admin,
            json!({}),
        )
        .await
        .expect_error(422, "PendingDeletion");
}
