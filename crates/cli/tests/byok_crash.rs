//! An import is journaled: a server killed (SIGKILL) in the middle of one reconciles it at its
//! next start, so that no AWS key holds material Keyward has lost.
//!
//! The tests' HTTP proxy (common::proxy) sits on 127.0.0.1 in front of LocalStack (the AWS
//! connection's endpoint_url points at it). It forwards every request to LocalStack, except
//! that it can hold the first request of a chosen operation (`X-Amz-Target`) until the test
//! releases it: then it forwards it, or drops it. So the test stops the server's import at a
//! chosen step, kills the server there, and decides what AWS sees.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::proxy::{Lose, Proxy, Release};
use common::{ADMIN_PASSWORD, Aws, DEFAULT_ACCESS_KEY, Server, kms_raw_as};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const VAULT: &str = "/api/v1/vault/keys2";
const REGION: &str = "ap-south-1";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn random_hex32() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Encrypts with the key in LocalStack, and decrypts; returns the ciphertext (base64).
async fn aws_round_trip(key_id: &str) -> String {
    // "keyward" in base64.
    let (status, body) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Encrypt",
        json!({"KeyId": key_id, "Plaintext": "a2V5d2FyZA=="}),
    )
    .await;
    assert_eq!(status, 200, "Encrypt: {body}");
    let blob = body["CiphertextBlob"].as_str().unwrap().to_string();
    assert_eq!(aws_decrypt(&blob).await.as_deref(), Ok("a2V5d2FyZA=="));
    blob
}

async fn aws_decrypt(blob: &str) -> Result<String, String> {
    let (status, body) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Decrypt",
        json!({"CiphertextBlob": blob}),
    )
    .await;
    if status == 200 {
        Ok(body["Plaintext"].as_str().unwrap().to_string())
    } else {
        Err(body.to_string())
    }
}

/// The number of open import intents in the database of a killed server, read from a copy
/// (so that the data directory stays exactly as the crash left it).
async fn open_intents(data_dir: &Path) -> i64 {
    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let src = data_dir.join(format!("keyward.db{suffix}"));
        if src.exists() {
            std::fs::copy(&src, copy.path().join(format!("keyward.db{suffix}"))).unwrap();
        }
    }
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(copy.path().join("keyward.db"));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM import_intents")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

struct Setup {
    server: Server,
    admin: String,
    /// LocalStack's default account, read directly (not through the proxy).
    aws: Aws,
    /// Keyward's id of the EXTERNAL key, and AWS's.
    id: String,
    key_id: String,
    vault_key_id: String,
}

/// A server whose AWS connection goes through the proxy, a vault key `crash-src` with known
/// material, and a new EXTERNAL key.
async fn setup(proxy: &Proxy) -> Setup {
    let server = Server::start();
    let admin = server.admin().await;
    let aws = Aws::default_account();
    server
        .kms_through(&admin, &aws, "proxied", &proxy.url)
        .await;
    let vk = server
        .post(
            VAULT,
            &admin,
            json!({"name": "crash-src", "algorithm": "aes", "size": 256, "material": random_hex32()}),
        )
        .await
        .expect(201)
        .body;
    let key = server
        .post(
            KEYS,
            &admin,
            json!({"kms": "kms", "region": REGION,
                   "aws_param": {"Origin": "EXTERNAL", "Alias": unique("crash")}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(key["aws_param"]["KeyState"], "PendingImport", "{key}");
    assert!(
        proxy.seen().iter().any(|t| t == "TrentService.CreateKey"),
        "the key was not made through the proxy: {:?}",
        proxy.seen()
    );
    Setup {
        aws,
        id: key["id"].as_str().unwrap().to_string(),
        key_id: key["aws_param"]["KeyID"].as_str().unwrap().to_string(),
        vault_key_id: vk["id"].as_str().unwrap().to_string(),
        server,
        admin,
    }
}

/// Starts the import in the background; its answer never comes (the server is killed).
fn start_import(s: &Setup) -> tokio::task::JoinHandle<()> {
    let valid_to = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let request = s
        .server
        .client()
        .post(format!("{}{KEYS}/{}/import-material", s.server.url, s.id))
        .bearer_auth(&s.admin)
        .json(&json!({"source_key_identifier": "crash-src", "key_expiration": true, "valid_to": valid_to}));
    tokio::spawn(async move {
        let _ = request.send().await;
    })
}

async fn restart(dir: tempfile::TempDir) -> (Server, String) {
    let server = Server::start_in(dir, &[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = server.admin().await;
    (server, admin)
}

/// Killed while GetParametersForImport (the first AWS call) was in flight, and AWS never saw
/// it: at the next start the intent is dropped, the key stays without material, the vault key
/// stays, and an import afterwards works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_aws_had_the_material_the_import_is_undone() {
    let started = Instant::now();
    let proxy = Proxy::start();
    let s = setup(&proxy).await;
    proxy.hold("GetParametersForImport");
    let import = start_import(&s);
    proxy.wait_held(Duration::from_secs(20)).await;

    let dir = s.server.kill_keep_data();
    let _ = import.await;
    // The intent was written before the first AWS call.
    assert_eq!(open_intents(&dir.path().join("data")).await, 1);
    assert_eq!(proxy.release(Release::Drop), None);

    let (server, admin) = restart(dir).await;
    assert!(
        server.stderr().contains("reconciled imports"),
        "no reconciliation in the log:\n{}",
        server.stderr()
    );
    assert_eq!(open_intents(&server.data_dir()).await, 0);
    assert_eq!(s.aws.key_state(&s.key_id).await, "PendingImport");
    let rec = server
        .get(&format!("{KEYS}/{}", s.id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["aws_param"]["KeyState"], "PendingImport", "{rec}");
    assert!(rec.get("local_key_id").is_none(), "{rec}");
    assert!(rec.get("local_key_name").is_none(), "{rec}");
    assert_ne!(rec["key_material_origin"], "cckm", "{rec}");
    let vk = server
        .get(&format!("{VAULT}/{}", s.vault_key_id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(vk["name"], "crash-src");
    assert_eq!(vk["used_by_aws_keys"], json!([]), "{vk}");

    // A normal import afterwards works (through the proxy, which now holds nothing).
    let done = server
        .post(
            &format!("{KEYS}/{}/import-material", s.id),
            &admin,
            json!({"source_key_identifier": "crash-src"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(done["aws_param"]["KeyState"], "Enabled", "{done}");
    assert_eq!(done["local_key_id"], json!(s.vault_key_id));
    assert_eq!(done["key_material_origin"], "cckm");
    aws_round_trip(&s.key_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// Killed while ImportKeyMaterial (the last AWS call) was in flight, and AWS did import the
/// material: at the next start the import is finished in Keyward's records, so the key's
/// material is known to come from the vault key (which then may not be deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_aws_imported_the_material_the_import_is_finished() {
    let started = Instant::now();
    let proxy = Proxy::start();
    let s = setup(&proxy).await;
    proxy.hold("ImportKeyMaterial");
    let import = start_import(&s);
    proxy.wait_held(Duration::from_secs(30)).await;
    assert!(
        proxy
            .seen()
            .iter()
            .any(|t| t == "TrentService.GetParametersForImport"),
        "{:?}",
        proxy.seen()
    );

    let dir = s.server.kill_keep_data();
    let _ = import.await;
    assert_eq!(open_intents(&dir.path().join("data")).await, 1);
    // AWS now really imports the material the dead server sent.
    assert_eq!(proxy.release(Release::Forward), Some(200));
    assert_eq!(s.aws.key_state(&s.key_id).await, "Enabled");

    let (server, admin) = restart(dir).await;
    assert_eq!(open_intents(&server.data_dir()).await, 0);
    let rec = server
        .get(&format!("{KEYS}/{}", s.id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["key_material_origin"], "cckm", "{rec}");
    assert_eq!(rec["local_key_id"], json!(s.vault_key_id), "{rec}");
    assert_eq!(rec["local_key_name"], "crash-src");
    assert_eq!(rec["aws_param"]["KeyState"], "Enabled", "{rec}");
    assert_eq!(rec["aws_param"]["Enabled"], true);
    assert_eq!(rec["aws_param"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    let arn = rec["aws_param"]["Arn"].as_str().unwrap().to_string();
    // The expiry asked for (30 days) came through the journal.
    let expiring = server
        .get(&format!("{KEYS}?expiring_within=31d"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(expiring["total"], 1, "{expiring}");
    assert_eq!(expiring["resources"][0]["id"], json!(s.id));

    // The audit trail says the import finished after a restart.
    let records = server.audit_records(&admin).await;
    let finished: Vec<&Value> = records["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "key.import-material")
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    let r = finished[0];
    assert_eq!(r["target"], json!(arn), "{r}");
    assert_eq!(r["outcome"], "success", "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap_or("")
            .contains("finished after a restart"),
        "{r}"
    );

    // Keyward has not lost the material AWS holds: the vault key is kept for it, and
    // importing it again after deleting it from AWS gives back the same key (a ciphertext
    // made before still decrypts; LocalStack decrypts only with the material now imported).
    server
        .delete(&format!("{VAULT}/{}", s.vault_key_id), &admin)
        .await
        .expect(409);
    let blob = aws_round_trip(&s.key_id).await;
    server
        .post(
            &format!("{KEYS}/{}/delete-material", s.id),
            &admin,
            json!({}),
        )
        .await
        .expect(200);
    assert!(aws_decrypt(&blob).await.is_err());
    let again = server
        .post(
            &format!("{KEYS}/{}/import-material", s.id),
            &admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(again["aws_param"]["KeyState"], "Enabled", "{again}");
    assert_eq!(again["local_key_id"], json!(s.vault_key_id));
    assert_eq!(aws_decrypt(&blob).await.as_deref(), Ok("a2V5d2FyZA=="));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// Killed after ImportKeyMaterial succeeded, while reading the key back (DescribeKey), before
/// the journal was closed: the same outcome, the import finished at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_aws_answered_the_import_is_finished() {
    let started = Instant::now();
    let proxy = Proxy::start();
    let s = setup(&proxy).await;
    proxy.hold("ImportKeyMaterial");
    let import = start_import(&s);
    proxy.wait_held(Duration::from_secs(30)).await;
    // Let ImportKeyMaterial through to a live server, and hold the read-back after it.
    proxy.hold("DescribeKey");
    assert_eq!(proxy.release(Release::Forward), Some(200));
    proxy.wait_held(Duration::from_secs(20)).await;

    let dir = s.server.kill_keep_data();
    let _ = import.await;
    assert_eq!(open_intents(&dir.path().join("data")).await, 1);
    assert_eq!(proxy.release(Release::Drop), None);
    assert_eq!(s.aws.key_state(&s.key_id).await, "Enabled");

    let (server, admin) = restart(dir).await;
    assert_eq!(open_intents(&server.data_dir()).await, 0);
    let rec = server
        .get(&format!("{KEYS}/{}", s.id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["key_material_origin"], "cckm", "{rec}");
    assert_eq!(rec["local_key_id"], json!(s.vault_key_id), "{rec}");
    assert_eq!(rec["aws_param"]["KeyState"], "Enabled", "{rec}");
    aws_round_trip(&s.key_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// The `key.import-material` audit records.
async fn import_audit(server: &Server, admin: &str) -> Vec<Value> {
    let records = server.audit_records(admin).await;
    records["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "key.import-material")
        .cloned()
        .collect()
}

/// AWS imported the material but its answer never reached the server (every
/// ImportKeyMaterial reaches LocalStack, and the connection is closed instead of answered):
/// the import fails for the caller, but the journal keeps it open, the vault key cannot be
/// deleted meanwhile, and the next start finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_answer_is_lost_is_finished_at_the_next_start() {
    let started = Instant::now();
    let proxy = Proxy::start();
    let s = setup(&proxy).await;
    proxy.lose("ImportKeyMaterial", Lose::Answer);
    let r = s
        .server
        .post(
            &format!("{KEYS}/{}/import-material", s.id),
            &s.admin,
            json!({"source_key_identifier": "crash-src"}),
        )
        .await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.body);
    assert!(
        proxy
            .seen()
            .iter()
            .any(|t| t == "TrentService.ImportKeyMaterial")
    );
    assert_eq!(s.aws.key_state(&s.key_id).await, "Enabled");
    assert_eq!(open_intents(&s.server.data_dir()).await, 1);
    s.server
        .delete(&format!("{VAULT}/{}", s.vault_key_id), &s.admin)
        .await
        .expect_error(409, "crash-src");
    proxy.stop_losing();

    let dir = s.server.stop_keep_data();
    let (server, admin) = restart(dir).await;
    assert_eq!(open_intents(&server.data_dir()).await, 0);
    let rec = server
        .get(&format!("{KEYS}/{}", s.id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["key_material_origin"], "cckm", "{rec}");
    assert_eq!(rec["local_key_id"], json!(s.vault_key_id), "{rec}");
    assert_eq!(rec["aws_param"]["KeyState"], "Enabled", "{rec}");
    let audit = import_audit(&server, &admin).await;
    assert!(
        audit.iter().any(|r| r["outcome"] == "success"
            && r["detail"]
                .as_str()
                .unwrap_or("")
                .contains("finished after a restart")),
        "{audit:?}"
    );
    server
        .delete(&format!("{VAULT}/{}", s.vault_key_id), &admin)
        .await
        .expect(409);
    aws_round_trip(&s.key_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// The same, but AWS never got the request: the next start drops the intent, and the vault
/// key, bound to nothing, may then be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_request_is_lost_is_dropped_at_the_next_start() {
    let started = Instant::now();
    let proxy = Proxy::start();
    let s = setup(&proxy).await;
    proxy.lose("ImportKeyMaterial", Lose::Request);
    let r = s
        .server
        .post(
            &format!("{KEYS}/{}/import-material", s.id),
            &s.admin,
            json!({"source_key_identifier": "crash-src"}),
        )
        .await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.body);
    assert_eq!(s.aws.key_state(&s.key_id).await, "PendingImport");
    assert_eq!(open_intents(&s.server.data_dir()).await, 1);
    s.server
        .delete(&format!("{VAULT}/{}", s.vault_key_id), &s.admin)
        .await
        .expect(409);
    proxy.stop_losing();

    let dir = s.server.stop_keep_data();
    let (server, admin) = restart(dir).await;
    assert_eq!(open_intents(&server.data_dir()).await, 0);
    let rec = server
        .get(&format!("{KEYS}/{}", s.id), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["aws_param"]["KeyState"], "PendingImport", "{rec}");
    assert!(rec.get("local_key_id").is_none(), "{rec}");
    assert!(
        !import_audit(&server, &admin)
            .await
            .iter()
            .any(|r| r["outcome"] == "success"),
        "an import is recorded as done"
    );
    server
        .delete(&format!("{VAULT}/{}", s.vault_key_id), &admin)
        .await
        .expect(204);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
