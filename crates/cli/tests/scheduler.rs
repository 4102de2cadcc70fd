//! Scheduler job configs (CRUD and validation) and attaching keys to a rotation job with
//! enable-rotation-job / disable-rotation-job (seed 003 is the contract for the latter),
//! against LocalStack. Runs and rotation are tested in rotation.rs, the scheduler's timing
//! in keyward-server's scheduler_clock.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{Aws, Server, assert_json_shape, seed_example};
use serde_json::{Value, json};

const CONFIGS: &str = "/api/v1/scheduler/job-configs";
const KEYS: &str = "/api/v1/cckm/aws/keys";
const SEED_003: &str = include_str!("fixtures/seeds/003_9b35aac5c92e81fc.txt");
/// The key id in seed 003's example request (`{id}`).
const SEED_003_ID: &str = "f36e8dbb-0259-4c61-a35f-d74b6d39effc";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A server, an admin token, a LocalStack connection in an account of its own and a KMS
/// container `kms` over ap-south-1.
async fn setup() -> (Server, String) {
    let server = Server::start();
    let admin = server.admin().await;
    server.localstack_kms(&admin, &Aws::fresh()).await;
    (server, admin)
}

async fn create_key(server: &Server, token: &str) -> String {
    let k = server
        .post(
            KEYS,
            token,
            json!({"kms": "kms", "region": "ap-south-1", "aws_param": {
                "Alias": unique("rot"),
                "Tags": [{"TagKey": "key", "TagValue": "value"}],
            }}),
        )
        .await
        .expect(201)
        .body;
    k["id"].as_str().unwrap().to_string()
}

fn rotation_config(name: &str) -> Value {
    json!({
        "name": name,
        "description": "weekly",
        "operation": "cckm_key_rotation",
        "run_at": "0 9 * * sat",
        "start_date": "2025-01-01T00:00:00Z",
        "end_date": "2030-01-01T00:00:00Z",
        "cckm_key_rotation_params": {
            "cloud_name": "aws",
            "expiration": "30d",
            "expire_in": "12h",
            "aws_param": {"retain_alias": true, "rotate_material": false}
        }
    })
}

async fn create_config(server: &Server, token: &str, body: Value) -> Value {
    server.post(CONFIGS, token, body).await.expect(201).body
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn job_config_crud() {
    let (server, admin) = setup().await;
    let c = create_config(&server, &admin, rotation_config("rot1")).await;
    let id = id_of(&c);
    assert_eq!(c["uri"], format!("kylo:kylo:scheduler:job-configs:{id}"));
    for f in [
        "account",
        "application",
        "devAccount",
        "createdAt",
        "updatedAt",
    ] {
        assert!(c[f].is_string(), "{f} in {c}");
    }
    assert_eq!(c["name"], "rot1");
    assert_eq!(c["operation"], "cckm_key_rotation");
    assert_eq!(c["run_at"], "0 9 * * sat");
    assert_eq!(c["disabled"], false);
    assert_eq!(c["start_date"], "2025-01-01T00:00:00Z");
    assert_eq!(c["end_date"], "2030-01-01T00:00:00Z");
    assert_eq!(c["cckm_key_rotation_params"]["expiration"], "30d");
    assert_eq!(c["cckm_key_rotation_params"]["expire_in"], "12h");
    assert_eq!(
        c["cckm_key_rotation_params"]["aws_param"]["retain_alias"],
        true
    );

    let sync = create_config(
        &server,
        &admin,
        json!({"name": "sync1", "operation": "cckm_synchronization", "run_at": "*/15 * * * *",
               "cckm_synchronization_params": {"cloud_name": "aws", "kms": ["kms"]}}),
    )
    .await;
    let kms_id = server
        .get("/api/v1/cckm/aws/kms/kms", &admin)
        .await
        .expect(200)
        .body["id"]
        .clone();
    assert_eq!(sync["cckm_synchronization_params"]["kms"], json!([kms_id]));
    assert_eq!(
        sync["cckm_synchronization_params"]["synchronize_all"],
        false
    );

    // List, with the envelope and paging.
    let list = server.get(CONFIGS, &admin).await.expect(200).body;
    assert_eq!(list["total"], 2);
    assert_eq!(list["skip"], 0);
    assert!(list["limit"].is_number());
    assert_eq!(list["resources"].as_array().unwrap().len(), 2);
    let page = server
        .get(&format!("{CONFIGS}?skip=1&limit=1&sort=name"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 2);
    assert_eq!(page["resources"][0]["name"], "sync1");

    // One, by id or by name.
    assert_eq!(
        server
            .get(&format!("{CONFIGS}/{id}"), &admin)
            .await
            .expect(200)
            .body,
        c
    );
    assert_eq!(
        server
            .get(&format!("{CONFIGS}/rot1"), &admin)
            .await
            .expect(200)
            .body["id"],
        id
    );
    server
        .get(&format!("{CONFIGS}/nope"), &admin)
        .await
        .expect(404);

    // PATCH.
    let p = server
        .patch(
            &format!("{CONFIGS}/{id}"),
            &admin,
            json!({"run_at": "30 2 1 * *", "disabled": true, "description": "monthly", "name": "rot-monthly"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(p["run_at"], "30 2 1 * *");
    assert_eq!(p["disabled"], true);
    assert_eq!(p["description"], "monthly");
    assert_eq!(p["name"], "rot-monthly");
    assert_eq!(p["createdAt"], c["createdAt"]);
    assert_eq!(p["cckm_key_rotation_params"], c["cckm_key_rotation_params"]);
    server
        .patch(&format!("{CONFIGS}/{id}"), &admin, json!({"run_at": "bad"}))
        .await
        .expect_error(400, "run_at");
    server
        .patch(&format!("{CONFIGS}/{id}"), &admin, json!({"name": "sync1"}))
        .await
        .expect(409);
    server
        .patch(
            &format!("{CONFIGS}/{id}"),
            &admin,
            json!({"operation": "cckm_synchronization"}),
        )
        .await
        .expect_error(400, "operation");
    assert_eq!(
        server
            .get(&format!("{CONFIGS}/{id}"), &admin)
            .await
            .expect(200)
            .body["run_at"],
        "30 2 1 * *"
    );

    // DELETE.
    server
        .delete(&format!("{CONFIGS}/{id}"), &admin)
        .await
        .expect(204);
    server
        .get(&format!("{CONFIGS}/{id}"), &admin)
        .await
        .expect(404);
    server
        .delete(&format!("{CONFIGS}/{id}"), &admin)
        .await
        .expect(404);
    assert_eq!(
        server.get(CONFIGS, &admin).await.expect(200).body["total"],
        1
    );
}

#[tokio::test]
async fn job_config_validation() {
    let (server, admin) = setup().await;
    create_config(&server, &admin, rotation_config("taken")).await;
    server
        .post(CONFIGS, &admin, rotation_config("taken"))
        .await
        .expect(409);

    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = rotation_config(&unique("c"));
        f(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|v| v["operation"] = json!("database_backup")),
            "operation",
        ),
        (with(&|v| v["run_at"] = json!("0 9 * *")), "run_at"),
        (with(&|v| v["run_at"] = json!("0 0 9 * * sat")), "run_at"),
        (with(&|v| v["run_at"] = json!("61 * * * *")), "run_at"),
        (with(&|v| v["run_at"] = json!("0 25 * * *")), "run_at"),
        (with(&|v| v["run_at"] = json!("every day")), "run_at"),
        (with(&|v| v["name"] = json!("")), "name"),
        (
            with(&|v| v["start_date"] = json!("yesterday")),
            "start_date",
        ),
        (
            with(&|v| v["end_date"] = json!("2025-13-01T00:00:00Z")),
            "end_date",
        ),
        (
            with(&|v| v["end_date"] = json!("2024-01-01T00:00:00Z")),
            "end_date",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["expiration"] = json!("30m")),
            "expiration",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["expiration"] = json!("400d")),
            "1h to 365d",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["expiration"] = json!("0h")),
            "1h to 365d",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["expire_in"] = json!("soon")),
            "expire_in",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["expire_in"] = json!("366d")),
            "at most 365d",
        ),
        (
            with(&|v| v["cckm_key_rotation_params"]["cloud_name"] = json!("gcp")),
            "cloud_name",
        ),
        (
            with(&|v| {
                v["cckm_synchronization_params"] = json!({"kms": ["kms"]});
            }),
            "cckm_synchronization_params",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_synchronization", "run_at": "0 * * * *"}),
            "cckm_synchronization_params",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_synchronization", "run_at": "0 * * * *",
                   "cckm_synchronization_params": {"kms": ["no-such-kms"]}}),
            "no-such-kms",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_synchronization", "run_at": "0 * * * *",
                   "cckm_synchronization_params": {"kms": []}}),
            "kms",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_synchronization", "run_at": "0 * * * *",
                   "cckm_synchronization_params": {"kms": ["kms"], "synchronize_all": true}}),
            "synchronize_all",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_synchronization", "run_at": "0 * * * *",
                   "cckm_synchronization_params": {"synchronize_all": true},
                   "cckm_key_rotation_params": {"expiration": "30d"}}),
            "cckm_key_rotation_params",
        ),
        (
            json!({"name": unique("s"), "operation": "cckm_key_rotation"}),
            "run_at",
        ),
    ];
    for (body, needle) in cases {
        server
            .post(CONFIGS, &admin, body.clone())
            .await
            .expect_error(400, needle);
    }
    // synchronize_all alone is fine; an unknown member is ignored (it used to be refused,
    // naming it).
    create_config(
        &server,
        &admin,
        json!({"name": "all", "operation": "cckm_synchronization", "run_at": "0 * * * *",
               "cckm_synchronization_params": {"synchronize_all": true}, "bogus": 1}),
    )
    .await;
    assert_eq!(
        server.get(CONFIGS, &admin).await.expect(200).body["total"],
        2
    );

    // A CCKM user reads but does not write.
    let user = server.user_token(&admin, "reader", &["CCKM Users"]).await;
    server.get(CONFIGS, &user).await.expect(200);
    server
        .post(CONFIGS, &user, rotation_config("mine"))
        .await
        .expect(403);
    server
        .patch(
            &format!("{CONFIGS}/taken"),
            &user,
            json!({"disabled": true}),
        )
        .await
        .expect(403);
    server
        .delete(&format!("{CONFIGS}/taken"), &user)
        .await
        .expect(403);
}

/// Seed 003's curl line run as written, with the host's port, a fresh token and the key id
/// put in. Returns the response body as JSON.
fn run_seed_003(server: &Server, curl: &str, token: &str, id: &str) -> Value {
    let start = curl.find("Bearer ").unwrap() + "Bearer ".len();
    let len = curl[start..].find('\'').unwrap();
    let seed_token = &curl[start..start + len];
    let line = curl
        .replacen(
            "'https://127.0.0.1/",
            &format!("'https://127.0.0.1:{}/", server.port),
            1,
        )
        .replacen(seed_token, token, 1)
        .replacen(SEED_003_ID, id, 1);
    assert!(
        line.contains(&format!(
            "127.0.0.1:{}/api/v1/cckm/aws/keys/{id}/disable-rotation-job",
            server.port
        )),
        "{line}"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .output()
        .expect("run bash and curl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "curl failed: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

async fn list_ids(server: &Server, token: &str, query: &str) -> Vec<String> {
    let body = server
        .get(&format!("{KEYS}?{query}&limit=-1"), token)
        .await
        .expect(200)
        .body;
    let mut ids: Vec<String> = body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn enable_then_seed_003_disable_rotation_job() {
    let (curl, example) = seed_example(SEED_003);
    assert!(curl.contains(&format!(
        "/api/v1/cckm/aws/keys/{SEED_003_ID}/disable-rotation-job"
    )));
    let (server, admin) = setup().await;
    let rot = id_of(&create_config(&server, &admin, rotation_config("rot")).await);
    let sync = id_of(
        &create_config(
            &server,
            &admin,
            json!({"name": "sync", "operation": "cckm_synchronization", "run_at": "0 * * * *",
                   "cckm_synchronization_params": {"synchronize_all": true}}),
        )
        .await,
    );
    let key = create_key(&server, &admin).await;
    let other = create_key(&server, &admin).await;
    let enable = format!("{KEYS}/{key}/enable-rotation-job");

    // What enable-rotation-job refuses.
    for (body, status, needle) in [
        (json!({}), 400, "job_config_id"),
        (json!({"job_config_id": sync}), 400, "cckm_key_rotation"),
        (
            json!({"job_config_id": "no-such-config"}),
            400,
            "job_config_id",
        ),
        (
            json!({"job_config_id": rot, "auto_rotate_disable_encrypt": true,
                   "auto_rotate_disable_encrypt_on_all_accounts": true}),
            400,
            "auto_rotate_disable_encrypt",
        ),
        (
            json!({"job_config_id": rot, "auto_rotate_key_source": "dsm"}),
            400,
            "auto_rotate_key_source",
        ),
        (
            json!({"job_config_id": rot, "auto_rotate_key_source": "hsm-luna"}),
            400,
            "needs an HSM",
        ),
    ] {
        server
            .post(&enable, &admin, body)
            .await
            .expect_error(status, needle);
    }
    server
        .post(
            &format!("{KEYS}/no-such-key/enable-rotation-job"),
            &admin,
            json!({"job_config_id": rot}),
        )
        .await
        .expect(404);
    let user = server.user_token(&admin, "user", &["CCKM Users"]).await;
    server
        .post(&enable, &user, json!({"job_config_id": rot}))
        .await
        .expect(403);
    server
        .post(
            &format!("{KEYS}/{key}/disable-rotation-job"),
            &user,
            json!({}),
        )
        .await
        .expect(403);
    assert!(
        server
            .get(&format!("{KEYS}/{key}"), &admin)
            .await
            .expect(200)
            .body["job_config_id"]
            .is_null()
    );

    // Attach (the config by name works too; an unknown member is ignored, where it used to
    // be refused naming it).
    let attached = server
        .post(
            &enable,
            &admin,
            json!({"job_config_id": "rot", "auto_rotate_key_source": "local",
                   "auto_rotate_disable_encrypt_on_all_accounts": true, "bogus": 1}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(attached["job_config_id"], rot);
    assert_eq!(attached["auto_rotate_key_source"], "local");
    assert_eq!(attached["auto_rotate_disable_encrypt"], false);
    assert_eq!(
        attached["auto_rotate_disable_encrypt_on_all_accounts"],
        true
    );
    let read = server
        .get(&format!("{KEYS}/{key}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(read["job_config_id"], rot);
    assert_eq!(read["auto_rotate_disable_encrypt_on_all_accounts"], true);

    // The list filters.
    assert_eq!(
        list_ids(&server, &admin, "rotation_job_enabled=true").await,
        vec![key.clone()]
    );
    assert_eq!(
        list_ids(&server, &admin, "rotation_job_enabled=false").await,
        vec![other.clone()]
    );
    assert_eq!(
        list_ids(&server, &admin, &format!("job_config_id={rot}")).await,
        vec![key.clone()]
    );
    assert!(
        list_ids(&server, &admin, &format!("job_config_id={sync}"))
            .await
            .is_empty()
    );

    // A config in use cannot be deleted; an unused one can.
    server
        .delete(&format!("{CONFIGS}/{rot}"), &admin)
        .await
        .expect_error(409, "key");
    server
        .delete(&format!("{CONFIGS}/{sync}"), &admin)
        .await
        .expect(204);

    // Seed 003, verbatim: detaches and returns the whole record.
    let token = server.admin().await;
    let detached = run_seed_003(&server, &curl, &token, &key);
    assert_json_shape(&example, &detached, "seed 003 response");
    assert_eq!(detached["id"], key);
    assert_eq!(detached["uri"], format!("kylo:kylo:cckm:aws-key:{key}"));
    assert!(detached.get("job_config_id").is_none(), "{detached}");
    assert!(
        detached.get("auto_rotate_key_source").is_none(),
        "{detached}"
    );
    let read = server
        .get(&format!("{KEYS}/{key}"), &admin)
        .await
        .expect(200)
        .body;
    assert!(read.get("job_config_id").is_none(), "{read}");
    assert!(
        list_ids(&server, &admin, "rotation_job_enabled=true")
            .await
            .is_empty()
    );

    // Now the config is free to go.
    server
        .delete(&format!("{CONFIGS}/{rot}"), &admin)
        .await
        .expect(204);

    // Both actions are audited.
    let audit = server.audit_records(&admin).await.to_string();
    assert!(audit.contains("key.enable-rotation-job"), "{audit}");
    assert!(audit.contains("key.disable-rotation-job"), "{audit}");
}

// --- Thales' Terraform provider (issue 11; tests/terraform/provider-calls.md §7, §8.2, §9,
// §10, §12): job configs and vault keys with the bodies its Go code builds, read back with the
// JSON types it decodes into; and its destroy order. Vault keys are tested here too (no test
// binary of their own).

const VAULT: &str = "/api/v1/vault/keys2";
const ZERO: &str = "0001-01-01T00:00:00Z";

/// `CreateJobConfigParamsJSON` as `json.Marshal` writes it (cm/schema_cm.go@0192afeb), with the
/// response-only fields of the older stored version (`"id":""`, ...) as well.
fn go_create(name: &str, op: &str, rotation: Value, sync: Value, start: &str, end: &str) -> Value {
    json!({
        "id": "", "uri": "", "account": "", "application": "", "devAccount": "",
        "createdAt": "", "updatedAt": "",
        "name": name, "description": "", "operation": op, "run_at": "0 9 * * sat",
        "run_on": "any", "disabled": false, "start_date": start, "end_date": end,
        "database_backup_params": null,
        "cckm_key_rotation_params": rotation,
        "cckm_synchronization_params": sync,
        "cckm_xks_credential_rotation_params": null
    })
}

/// The fields `getParamsFromResponse` reads, with the types it reads them as; the dates
/// either the exact strings configured or absent.
fn assert_provider_config(c: &Value, start: Option<&str>, end: Option<&str>) {
    for f in [
        "id",
        "uri",
        "account",
        "devAccount",
        "application",
        "createdAt",
        "updatedAt",
        "name",
        "description",
        "operation",
        "run_at",
        "run_on",
    ] {
        assert!(c[f].is_string(), "{f} in {c}");
    }
    assert!(!c["id"].as_str().unwrap().is_empty(), "{c}");
    assert!(c["disabled"].is_boolean(), "{c}");
    assert_eq!(c["run_on"], "any");
    match start {
        Some(s) => assert_eq!(c["start_date"], s, "{c}"),
        None => assert!(c.get("start_date").is_none(), "{c}"),
    }
    match end {
        Some(s) => assert_eq!(c["end_date"], s, "{c}"),
        None => assert!(c.get("end_date").is_none(), "{c}"),
    }
    assert!(c["job_config_params"].is_object(), "{c}");
}

#[tokio::test]
async fn provider_job_configs() {
    let (server, admin) = setup().await;
    let kms_id = server
        .get("/api/v1/cckm/aws/kms/kms", &admin)
        .await
        .expect(200)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

    // TestCckmAwsKeyNative's rotation config: dates given.
    let rot_params = json!({"cloud_name": "aws", "expiration": null, "expire_in": null,
        "rotation_after": null, "aws_param": {"retain_alias": false, "rotate_material": false}});
    let native = create_config(
        &server,
        &admin,
        go_create(
            "tf-1a2b3c4d",
            "cckm_key_rotation",
            rot_params.clone(),
            Value::Null,
            "2026-03-07T14:24:00Z",
            "2027-03-07T14:24:00Z",
        ),
    )
    .await;
    assert_provider_config(
        &native,
        Some("2026-03-07T14:24:00Z"),
        Some("2027-03-07T14:24:00Z"),
    );
    assert_eq!(native["description"], "");
    assert_eq!(native["disabled"], false);
    assert_eq!(native["job_config_params"], rot_params);
    let native_id = id_of(&native);

    // The example's scheduled_rotation: no dates (zero time), expiration 2d, retain_alias.
    let example_params = json!({"cloud_name": "aws", "expiration": "2d", "expire_in": null,
        "rotation_after": null, "aws_param": {"retain_alias": true, "rotate_material": false}});
    let example = create_config(
        &server,
        &admin,
        go_create(
            "scheduler-name",
            "cckm_key_rotation",
            example_params.clone(),
            Value::Null,
            ZERO,
            ZERO,
        ),
    )
    .await;
    assert_provider_config(&example, None, None);
    assert_eq!(example["run_at"], "0 9 * * sat");
    // Line B reads the rotation params back from job_config_params.
    let p = &example["job_config_params"];
    assert_eq!(p, &example_params, "{example}");
    assert!(p["aws_param"]["retain_alias"].as_bool().unwrap());
    assert_eq!(example["cckm_key_rotation_params"], example_params);

    // TestCckmAwsSchedulers' max params, and rotation_after (Line B).
    let max = create_config(
        &server,
        &admin,
        go_create(
            "rotation-max",
            "cckm_key_rotation",
            json!({"cloud_name": "aws", "expiration": "44d", "expire_in": "22h",
                   "rotation_after": "90d", "aws_param": {"retain_alias": false, "rotate_material": true}}),
            Value::Null,
            ZERO,
            ZERO,
        ),
    )
    .await;
    assert_eq!(max["job_config_params"]["expiration"], "44d");
    assert_eq!(max["job_config_params"]["expire_in"], "22h");
    assert_eq!(max["job_config_params"]["rotation_after"], "90d");
    assert_eq!(
        max["job_config_params"]["aws_param"]["rotate_material"],
        true
    );
    let bad = go_create(
        "rotation-bad",
        "cckm_key_rotation",
        json!({"cloud_name": "aws", "expiration": null, "expire_in": null,
               "rotation_after": "soon", "aws_param": {"retain_alias": false, "rotate_material": false}}),
        Value::Null,
        ZERO,
        ZERO,
    );
    server
        .post(CONFIGS, &admin, bad)
        .await
        .expect_error(400, "rotation_after");

    // A synchronization config, as the schema builds it: kms ids, oci_vaults null,
    // synchronize_all false; read back from job_config_params.
    let sync = create_config(
        &server,
        &admin,
        go_create(
            "tf-sync",
            "cckm_synchronization",
            Value::Null,
            json!({"cloud_name": "aws", "kms": [kms_id], "oci_vaults": null, "synchronize_all": false}),
            ZERO,
            ZERO,
        ),
    )
    .await;
    assert_provider_config(&sync, None, None);
    let p = &sync["job_config_params"];
    assert_eq!(p["cloud_name"], "aws");
    assert_eq!(p["kms"], json!([kms_id]));
    assert_eq!(p["synchronize_all"], false);
    let sync_id = id_of(&sync);
    // synchronize_all with kms null (an empty set).
    let all = create_config(
        &server,
        &admin,
        go_create(
            "tf-sync-all",
            "cckm_synchronization",
            Value::Null,
            json!({"cloud_name": "aws", "kms": null, "oci_vaults": null, "synchronize_all": true}),
            ZERO,
            ZERO,
        ),
    )
    .await;
    assert_eq!(all["job_config_params"]["kms"], json!([]));
    assert_eq!(all["job_config_params"]["synchronize_all"], true);

    // Read (Line A refresh, Line B after create): the same as the create's response.
    assert_eq!(
        server
            .get(&format!("{CONFIGS}/{native_id}"), &admin)
            .await
            .expect(200)
            .body,
        native
    );

    // The list data source: skip/limit, the operation filter; dates absent when unset (older
    // provider versions decode them as time.Time, where "" fails).
    let list = server
        .get(&format!("{CONFIGS}?skip=0&limit=256"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], 5, "{list}");
    for item in list["resources"].as_array().unwrap() {
        for d in ["start_date", "end_date"] {
            assert!(
                item.get(d).is_none_or(|v| v
                    .as_str()
                    .is_some_and(|s| s.ends_with('Z') && s.len() == 20)),
                "{d} in {item}"
            );
        }
        assert!(item["job_config_params"].is_object(), "{item}");
    }
    let syncs = server
        .get(
            &format!("{CONFIGS}?operation=cckm_synchronization&skip=0&limit=256"),
            &admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(syncs["total"], 2, "{syncs}");
    for item in syncs["resources"].as_array().unwrap() {
        assert_eq!(item["operation"], "cckm_synchronization");
        assert!(item["job_config_params"]["kms"].is_array(), "{item}");
        assert!(item["job_config_params"]["synchronize_all"].is_boolean());
    }
    let rots = server
        .get(
            &format!("{CONFIGS}?operation=cckm_key_rotation&skip=0&limit=256"),
            &admin,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(rots["total"], 3, "{rots}");
    assert!(
        rots["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["job_config_params"]["aws_param"].is_object())
    );
    server
        .get(&format!("{CONFIGS}?operation=database_backup"), &admin)
        .await
        .expect_error(400, "operation");

    // Update, Line A: UpdateJobConfigParamsJSON with name and operation "", zero dates, the
    // rotation block with cloud_name "". The answer is the whole config, with its id.
    let patched = server
        .patch(
            &format!("{CONFIGS}/{native_id}"),
            &admin,
            json!({"name": "", "description": "", "operation": "", "run_at": "0 9 * * fri",
                   "run_on": "any", "disabled": false, "start_date": ZERO, "end_date": ZERO,
                   "database_backup_params": null,
                   "cckm_key_rotation_params": {"cloud_name": "", "expiration": "55d",
                       "expire_in": "33h", "rotation_after": null,
                       "aws_param": {"retain_alias": false, "rotate_material": false}},
                   "cckm_synchronization_params": null}),
        )
        .await
        .expect(200)
        .body;
    assert_provider_config(
        &patched,
        Some("2026-03-07T14:24:00Z"),
        Some("2027-03-07T14:24:00Z"),
    );
    assert_eq!(patched["id"], native_id);
    assert_eq!(patched["name"], "tf-1a2b3c4d");
    assert_eq!(patched["operation"], "cckm_key_rotation");
    assert_eq!(patched["run_at"], "0 9 * * fri");
    let p = &patched["job_config_params"];
    assert_eq!(p["cloud_name"], "aws");
    assert_eq!(p["expiration"], "55d");
    assert_eq!(p["expire_in"], "33h");

    // Update, Line B: no rotation params at all (kept), dates given, disabled from the plan.
    let patched = server
        .patch(
            &format!("{CONFIGS}/{native_id}"),
            &admin,
            json!({"name": "", "description": "changed", "operation": "", "run_at": "0 9 * * sat",
                   "run_on": "any", "disabled": true, "start_date": "2026-04-01T00:00:00Z",
                   "end_date": ZERO, "database_backup_params": null,
                   "cckm_key_rotation_params": null, "cckm_synchronization_params": null}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["description"], "changed");
    assert_eq!(patched["disabled"], true);
    assert_eq!(patched["start_date"], "2026-04-01T00:00:00Z");
    assert_eq!(patched["end_date"], "2027-03-07T14:24:00Z");
    assert_eq!(patched["job_config_params"]["expiration"], "55d");

    // Update of a sync config: sync params with cloud_name "".
    let patched = server
        .patch(
            &format!("{CONFIGS}/{sync_id}"),
            &admin,
            json!({"name": "", "description": "", "operation": "", "run_at": "0 * * * *",
                   "run_on": "any", "disabled": false, "start_date": ZERO, "end_date": ZERO,
                   "database_backup_params": null, "cckm_key_rotation_params": null,
                   "cckm_synchronization_params": {"cloud_name": "", "kms": [kms_id],
                       "oci_vaults": null, "synchronize_all": false}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["id"], sync_id);
    assert_eq!(patched["run_at"], "0 * * * *");
    assert_eq!(patched["job_config_params"]["cloud_name"], "aws");
    assert_eq!(patched["job_config_params"]["kms"], json!([kms_id]));

    // Delete (no key uses them).
    for id in [native_id, sync_id] {
        server
            .delete(&format!("{CONFIGS}/{id}"), &admin)
            .await
            .expect(204);
    }
}

/// The types `json.Unmarshal` into `CMKeyJSON` needs (§7.2), and those the keys list data
/// source asserts (§7.3); never any material.
fn assert_cm_key(k: &Value) {
    for f in [
        "id",
        "uri",
        "account",
        "application",
        "devAccount",
        "createdAt",
        "updatedAt",
        "name",
        "algorithm",
        "format",
        "objectType",
        "state",
        "description",
    ] {
        assert!(k[f].is_string(), "{f} in {k}");
    }
    for f in ["size", "usageMask", "version"] {
        assert!(k[f].is_i64(), "{f} in {k}");
    }
    for f in ["unexportable", "undeletable"] {
        assert!(k[f].is_boolean(), "{f} in {k}");
    }
    assert!(k["labels"].is_object(), "{k}");
    assert!(k["aliases"].is_array(), "{k}");
    for f in ["material", "password", "publicKey"] {
        assert!(k.get(f).is_none(), "{f} in {k}");
    }
}

#[tokio::test]
async fn provider_vault_keys() {
    let server = Server::start();
    let admin = server.admin().await;

    // ciphertrust_cm_key, the example and the tests (algorithm kept as written), and the
    // bodies of the AWS key import path (assignSelfAsOwner; SYMMETRIC_DEFAULT's empty case).
    let cases: Vec<(Value, &str, i64, &str)> = vec![
        (
            json!({"algorithm": "aes", "name": "cm-key-name"}),
            "aes",
            256,
            "Symmetric Key",
        ),
        (
            json!({"algorithm": "aes", "name": "cm-key-name"}),
            "aes",
            256,
            "Symmetric Key",
        ),
        (
            json!({"algorithm": "RSA", "name": "tf-rsa", "size": 2048}),
            "RSA",
            2048,
            "Private Key",
        ),
        (
            json!({"algorithm": "aes", "assignSelfAsOwner": true, "name": "key-name", "size": 256}),
            "aes",
            256,
            "Symmetric Key",
        ),
        (
            json!({"assignSelfAsOwner": true, "name": "sym-default"}),
            "aes",
            256,
            "Symmetric Key",
        ),
        (
            json!({"algorithm": "rsa", "assignSelfAsOwner": true, "name": "rsa-3072", "size": 3072}),
            "rsa",
            3072,
            "Private Key",
        ),
        (
            json!({"algorithm": "ec", "assignSelfAsOwner": true, "curveid": "secp384r1", "name": "ec-384"}),
            "ec",
            384,
            "Private Key",
        ),
        (
            json!({"algorithm": "ec", "assignSelfAsOwner": true, "curveid": "secp521r1", "name": "ec-521"}),
            "ec",
            521,
            "Private Key",
        ),
        (
            json!({"algorithm": "ec", "assignSelfAsOwner": true, "curveid": "secp256k1", "name": "ec-k1"}),
            "ec",
            256,
            "Private Key",
        ),
        (
            json!({"algorithm": "hmac-sha256", "assignSelfAsOwner": true, "name": "hmac-256"}),
            "hmac-sha256",
            256,
            "Symmetric Key",
        ),
        (
            json!({"algorithm": "hmac-sha384", "assignSelfAsOwner": true, "name": "hmac-384"}),
            "hmac-sha384",
            384,
            "Symmetric Key",
        ),
        (
            json!({"algorithm": "hmac-sha512", "assignSelfAsOwner": true, "name": "hmac-512"}),
            "hmac-sha512",
            512,
            "Symmetric Key",
        ),
    ];
    let mut ids = Vec::new();
    for (body, algorithm, size, object_type) in &cases {
        let k = server
            .post(VAULT, &admin, body.clone())
            .await
            .expect(201)
            .body;
        assert_cm_key(&k);
        assert_eq!(k["algorithm"], *algorithm, "{k}");
        assert_eq!(k["size"], *size, "{k}");
        assert_eq!(k["objectType"], *object_type, "{k}");
        if let Some(c) = body.get("curveid") {
            assert_eq!(&k["curveid"], c);
        }
        // The provider reads only the id; a GET later decodes the whole key.
        let id = id_of(&k);
        let read = server
            .get(&format!("{VAULT}/{id}"), &admin)
            .await
            .expect(200)
            .body;
        assert_eq!(read, k);
        ids.push(id);
    }
    // The name used twice: two keys; the name alone no longer picks one.
    assert_ne!(ids[0], ids[1]);
    server
        .get(&format!("{VAULT}/cm-key-name"), &admin)
        .await
        .expect_error(409, "cm-key-name");
    let named = server
        .get(&format!("{VAULT}?name=cm-key-name"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(named["total"], 2);
    // A name only one key has still works in a path.
    assert_eq!(
        server
            .get(&format!("{VAULT}/tf-rsa"), &admin)
            .await
            .expect(200)
            .body["id"],
        ids[2]
    );

    // Refused, naming the field.
    for (body, field) in [
        (json!({"name": "x", "algorithm": "des"}), "algorithm"),
        (
            json!({"name": "x", "algorithm": "rsa", "size": 1024}),
            "size",
        ),
        (
            json!({"name": "x", "algorithm": "ec", "curveid": "secp112r1"}),
            "curveid",
        ),
        (
            json!({"name": "x", "algorithm": "aes", "curveid": "secp384r1"}),
            "curveid",
        ),
        (
            json!({"name": "x", "algorithm": "ec", "curveid": "secp384r1", "size": 256}),
            "size",
        ),
        (
            json!({"name": "x", "algorithm": "rsa", "material": "00"}),
            "material",
        ),
        (
            json!({"name": "x", "algorithm": "hmac-sha256", "size": 100}),
            "size",
        ),
    ] {
        server
            .post(VAULT, &admin, body)
            .await
            .expect_error(400, field);
    }

    // data "ciphertrust_cm_keys_list": every item with the types it asserts.
    let list = server
        .get(&format!("{VAULT}?skip=0&limit=100"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], cases.len() as i64);
    for k in list["resources"].as_array().unwrap() {
        assert_cm_key(k);
    }

    // Update: a partial CMKeyJSON; the answer has the id.
    let patched = server
        .patch(
            &format!("{VAULT}/{}", ids[0]),
            &admin,
            json!({"description": "for uploads", "labels": {"team": "a", "env": "dev"},
                   "unexportable": true, "undeletable": false}),
        )
        .await
        .expect(200)
        .body;
    assert_cm_key(&patched);
    assert_eq!(patched["id"], ids[0]);
    assert_eq!(patched["description"], "for uploads");
    assert_eq!(patched["labels"], json!({"team": "a", "env": "dev"}));
    let patched = server
        .patch(
            &format!("{VAULT}/{}", ids[0]),
            &admin,
            json!({"labels": {"env": null, "tier": "1"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["labels"], json!({"team": "a", "tier": "1"}));
    assert_eq!(patched["description"], "for uploads");
    for (body, field) in [
        (json!({"unexportable": false}), "unexportable"),
        (json!({"undeletable": true}), "undeletable"),
        (json!({"usageMask": 1}), "usageMask"),
    ] {
        server
            .patch(&format!("{VAULT}/{}", ids[0]), &admin, body)
            .await
            .expect_error(400, field);
    }
    server
        .patch(
            &format!("{VAULT}/nope"),
            &admin,
            json!({"description": "x"}),
        )
        .await
        .expect(404);

    // Delete: 204, then a 404 (which the provider takes as deleted).
    server
        .delete(&format!("{VAULT}/{}", ids[1]), &admin)
        .await
        .expect(204);
    server
        .get(&format!("{VAULT}/{}", ids[1]), &admin)
        .await
        .expect(404);
    let audit = server.audit_records(&admin).await.to_string();
    assert!(audit.contains("vault-key.update"), "{audit}");
}

/// `terraform destroy` schedules the keys' deletion, then deletes the vault key and the job
/// config they still refer to: both succeed once the keys are PendingDeletion (detached,
/// audited), and are refused while a key is live.
#[tokio::test]
async fn provider_destroy_order() {
    let (server, admin) = setup().await;
    let config = create_config(
        &server,
        &admin,
        go_create(
            "scheduler-name",
            "cckm_key_rotation",
            json!({"cloud_name": "aws", "expiration": "2d", "expire_in": null,
                   "rotation_after": null, "aws_param": {"retain_alias": true, "rotate_material": false}}),
            Value::Null,
            ZERO,
            ZERO,
        ),
    )
    .await;
    let config_id = id_of(&config);
    let cm_key = server
        .post(
            VAULT,
            &admin,
            json!({"algorithm": "aes", "name": "cm-key-name"}),
        )
        .await
        .expect(201)
        .body;
    let cm_id = id_of(&cm_key);

    // A native key on the rotation job, a second one on it that stays live, and a key
    // uploaded from the vault key.
    let native = create_key(&server, &admin).await;
    let live = create_key(&server, &admin).await;
    for k in [&native, &live] {
        server
            .post(
                &format!("{KEYS}/{k}/enable-rotation-job"),
                &admin,
                json!({"job_config_id": config_id, "auto_rotate_disable_encrypt": false,
                       "auto_rotate_key_source": "local",
                       "auto_rotate_disable_encrypt_on_all_accounts": false}),
            )
            .await
            .expect(200);
    }
    let uploaded = server
        .post(
            "/api/v1/cckm/aws/upload-key",
            &admin,
            json!({"kms": "kms", "region": "ap-south-1", "source_key_identifier": cm_id,
                   "key_expiration": false, "source_key_tier": "local",
                   "aws_param": {"Alias": unique("up")}}),
        )
        .await
        .expect(201)
        .body;
    let uploaded = id_of(&uploaded);

    // While the keys are live: 409 for both.
    server
        .delete(&format!("{VAULT}/{cm_id}"), &admin)
        .await
        .expect_error(409, "cm-key-name");
    server
        .delete(&format!("{CONFIGS}/{config_id}"), &admin)
        .await
        .expect_error(409, "scheduler-name");

    // Destroy: each key's deletion scheduled.
    for k in [&native, &uploaded] {
        let r = server
            .post(
                &format!("{KEYS}/{k}/schedule-deletion"),
                &admin,
                json!({"days": 7}),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(r["aws_param"]["KeyState"], "PendingDeletion", "{r}");
    }
    // The vault key goes (the uploaded key, pending deletion, is detached from it).
    server
        .delete(&format!("{VAULT}/{cm_id}"), &admin)
        .await
        .expect(204);
    let up = server
        .get(&format!("{KEYS}/{uploaded}"), &admin)
        .await
        .expect(200)
        .body;
    assert!(up.get("local_key_id").is_none_or(Value::is_null), "{up}");
    // The job config is still held by the live key.
    server
        .delete(&format!("{CONFIGS}/{config_id}"), &admin)
        .await
        .expect_error(409, "1 key(s)");
    let r = server
        .post(
            &format!("{KEYS}/{live}/schedule-deletion"),
            &admin,
            json!({"days": 7}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["aws_param"]["KeyState"], "PendingDeletion", "{r}");
    server
        .delete(&format!("{CONFIGS}/{config_id}"), &admin)
        .await
        .expect(204);
    for k in [&native, &live] {
        let read = server
            .get(&format!("{KEYS}/{k}"), &admin)
            .await
            .expect(200)
            .body;
        assert!(read.get("job_config_id").is_none(), "{read}");
        assert_eq!(read["aws_param"]["KeyState"], "PendingDeletion");
    }
    let audit = server.audit_records(&admin).await.to_string();
    assert!(audit.contains("key.detach-vault-key"), "{audit}");
    assert!(audit.contains("detached when job config"), "{audit}");
}

/// `rotation_after` (Line B's rotation params): a run rotates only the keys whose material
/// is at least that old.
#[tokio::test]
async fn rotation_after_narrows_a_run() {
    let (server, admin) = setup().await;
    let key = create_key(&server, &admin).await;
    let params = |after: &str| {
        json!({"cloud_name": "aws", "expiration": null, "expire_in": null, "rotation_after": after,
               "aws_param": {"retain_alias": false, "rotate_material": false}})
    };
    let young = create_config(
        &server,
        &admin,
        go_create(
            "after-30d",
            "cckm_key_rotation",
            params("30d"),
            Value::Null,
            ZERO,
            ZERO,
        ),
    )
    .await;
    let any_age = create_config(
        &server,
        &admin,
        go_create(
            "after-0h",
            "cckm_key_rotation",
            params("0h"),
            Value::Null,
            ZERO,
            ZERO,
        ),
    )
    .await;
    let run_on = |config: String| {
        let server = &server;
        let admin = &admin;
        let key = key.clone();
        async move {
            server
                .post(
                    &format!("{KEYS}/{key}/enable-rotation-job"),
                    admin,
                    json!({"job_config_id": config, "auto_rotate_key_source": "local"}),
                )
                .await
                .expect(200);
            let run = server
                .post(&format!("{CONFIGS}/{config}/run"), admin, json!({}))
                .await
                .expect(201)
                .body;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            loop {
                let r = server
                    .get(
                        &format!("/api/v1/scheduler/job-runs/{}", id_of(&run)),
                        admin,
                    )
                    .await
                    .expect(200)
                    .body;
                if r["status"] != "running" {
                    return r;
                }
                assert!(std::time::Instant::now() < deadline, "{r}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let skipped = run_on(id_of(&young)).await;
    assert_eq!(skipped["results"][0]["status"], "skipped", "{skipped}");
    assert!(
        skipped["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not 30d old yet"),
        "{skipped}"
    );
    let rotated = run_on(id_of(&any_age)).await;
    assert_eq!(rotated["results"][0]["status"], "rotated", "{rotated}");
}
