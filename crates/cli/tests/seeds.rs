//! The contract: seed 004 (create a key) and seed 001 (schedule its deletion), their example
//! requests sent verbatim with the `curl` binary, and their example responses' fields, names
//! and JSON types, found in Keyward's responses.
//!
//! The seed pages are kept verbatim under `tests/fixtures/seeds/`; the test takes the example
//! request (the `curl` line) and the example response (the JSON) from them. As the seeds say:
//! a KMS container named `kms` in region `ap-south-1`, here on a LocalStack connection (in a
//! LocalStack account of its own, so that the seed's fixed alias `aws-test-key` is free on
//! every run: LocalStack has no reset).
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::{Server, assert_json_shape, seed_example};
use serde_json::{Value, json};

const SEED_004: &str = include_str!("fixtures/seeds/004_8f4ee90fcafdcf76.txt");
const SEED_001: &str = include_str!("fixtures/seeds/001_6e2d0ffa4d7f4ac4.txt");
/// The key id in seed 001's example request (`{id}`).
const SEED_001_ID: &str = "baf58871-2503-4d13-a84a-339aeb8fdfaf";

/// The bearer token written in a seed's curl line.
fn seed_token(curl: &str) -> &str {
    let start = curl.find("Bearer ").expect("a bearer token") + "Bearer ".len();
    let len = curl[start..].find('\'').expect("end of the header");
    &curl[start..start + len]
}

/// Runs a seed's curl line as it is written, through bash (the seed quotes its body with
/// bash's `$'...'`), with only these substitutions:
/// - the host: the seeds call `https://127.0.0.1/` on port 443; the test server listens on a
///   free port the harness picked, so `https://127.0.0.1:<port>/` is put in;
/// - the bearer token: a fresh one;
/// - in seed 001, the `{id}` of the key: the id of the key seed 004 created.
///
/// Returns curl's stdout (the response body) parsed as JSON.
fn run_seed_curl(server: &Server, curl: &str, token: &str, id: Option<&str>) -> Value {
    let mut line = curl
        .replacen(
            "'https://127.0.0.1/",
            &format!("'https://127.0.0.1:{}/", server.port),
            1,
        )
        .replacen(seed_token(curl), token, 1);
    if let Some(id) = id {
        line = line.replacen(SEED_001_ID, id, 1);
    }
    assert!(
        line.contains(&format!("127.0.0.1:{}", server.port)),
        "{line}"
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .output()
        .expect("run bash and curl");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// How many responses of this status the server has given to this method and route, from
/// its Prometheus metrics (curl, run verbatim, prints only the body).
async fn responses(server: &Server, method: &str, route: &str, status: u16) -> u64 {
    let r = server
        .call(reqwest::Method::GET, "/metrics", None, None)
        .await
        .expect(200);
    let text = r.body.as_str().expect("metrics text").to_string();
    let labels = [
        format!("method=\"{method}\""),
        format!("route=\"{route}\""),
        format!("status=\"{status}\""),
    ];
    text.lines()
        .filter(|l| l.starts_with("keyward_http_requests_total{"))
        .filter(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as u64)
        .sum()
}

#[tokio::test]
async fn seed_004_create_then_seed_001_schedule_deletion() {
    let (curl_004, example_004) = seed_example(SEED_004);
    let (curl_001, example_001) = seed_example(SEED_001);
    assert!(curl_004.starts_with("curl -k 'https://127.0.0.1/api/v1/cckm/aws/keys'"));
    assert!(curl_001.contains(&format!(
        "/api/v1/cckm/aws/keys/{SEED_001_ID}/schedule-deletion"
    )));

    let server = Server::start();
    let admin = server.admin().await;
    let (_, account) = server
        .localstack_account_connection(&admin, "localstack")
        .await;
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin,
            json!({"name": "kms", "account_id": account, "connection": "localstack", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201);

    // Seed 004: create.
    let token = server.admin().await;
    let created = run_seed_curl(&server, &curl_004, &token, None);
    assert_eq!(
        responses(&server, "POST", "/api/v1/cckm/aws/keys", 201).await,
        1,
        "{created}"
    );
    assert_json_shape(&example_004, &created, "seed 004 response");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["uri"], format!("kylo:kylo:cckm:aws-key:{id}"));
    assert_eq!(created["kms"], "kms");
    assert_eq!(created["region"], "ap-south-1");
    assert_eq!(created["key_type"], "symmetric");
    assert_eq!(created["key_material_origin"], "native");
    assert_eq!(created["gone"], false);
    let p = &created["aws_param"];
    assert_eq!(p["Alias"], json!(["alias/aws-test-key"]));
    assert_eq!(p["Tags"], json!([{"TagKey": "key", "TagValue": "value"}]));
    assert_eq!(p["MultiRegion"], true);
    assert_eq!(p["KeyState"], "Enabled");
    assert_eq!(p["Enabled"], true);
    assert_eq!(p["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(p["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(p["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    assert_eq!(p["Origin"], "AWS_KMS");
    assert_eq!(p["KeyManager"], "CUSTOMER");
    assert_eq!(p["KeyRotationEnabled"], false);
    assert_eq!(p["AWSAccountId"], account.as_str());
    assert_eq!(p["Policy"]["Id"], "key-default-1");
    let key_id = p["KeyID"].as_str().unwrap();
    assert_eq!(
        p["Arn"],
        format!("arn:aws:kms:ap-south-1:{account}:key/{key_id}")
    );

    // Seed 001: schedule its deletion, with a fresh token.
    let token = server.admin().await;
    let scheduled = run_seed_curl(&server, &curl_001, &token, Some(&id));
    assert_eq!(
        responses(&server, "POST", "/api/v1/cckm/aws/keys/{id}/{action}", 200).await,
        1,
        "{scheduled}"
    );
    assert_json_shape(&example_001, &scheduled, "seed 001 response");
    assert_eq!(scheduled["id"], created["id"]);
    assert_eq!(scheduled["createdAt"], created["createdAt"]);
    let p = &scheduled["aws_param"];
    assert_eq!(p["KeyState"], "PendingDeletion");
    assert_eq!(p["Enabled"], false);
    assert_eq!(p["KeyID"], created["aws_param"]["KeyID"]);
    assert_eq!(p["Alias"], json!(["alias/aws-test-key"]));
    let deletion = chrono::DateTime::parse_from_rfc3339(p["DeletionDate"].as_str().unwrap())
        .expect("DeletionDate is RFC 3339");
    let days = (deletion.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((7 * 24 - 2..=7 * 24).contains(&days), "{deletion}");

    // The stored record is what the seed's response showed.
    let stored = server
        .get(&format!("/api/v1/cckm/aws/keys/{id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(stored, scheduled);
}
