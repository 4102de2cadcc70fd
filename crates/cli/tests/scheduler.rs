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
