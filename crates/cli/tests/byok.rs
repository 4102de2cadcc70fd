//! Bring your own key against LocalStack's KMS: the vault (`/api/v1/vault/keys2`), seed 002
//! (import-material) and seed 000 (delete-material) sent verbatim with the `curl` binary,
//! that AWS then really encrypts and decrypts with the material given to the vault, the
//! checks made before AWS is called, upload-key, and `expiring_within`.
//!
//! LocalStack keeps its state across tests and has no reset: every AWS alias here is unique.
//! Each test has a server (and so a vault) of its own, so vault key names may repeat.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use base64::Engine;
use chrono::{Duration, SecondsFormat, Utc};
use common::{Aws, DEFAULT_ACCESS_KEY, Reply, Server, assert_json_shape, kms_raw_as, seed_example};
use serde_json::{Value, json};

const VAULT: &str = "/api/v1/vault/keys2";
const KEYS: &str = "/api/v1/cckm/aws/keys";
const UPLOAD: &str = "/api/v1/cckm/aws/upload-key";
const REGION: &str = "ap-south-1";
/// The route of `POST /api/v1/cckm/aws/keys/{id}/<action>` in the metrics.
const ACTION_ROUTE: &str = "/api/v1/cckm/aws/keys/{id}/{action}";

const SEED_002: &str = include_str!("fixtures/seeds/002_32421f0c7dd78eba.txt");
const SEED_000: &str = include_str!("fixtures/seeds/000_106e58899222c52a.txt");
/// The key id in the example requests of seeds 002 and 000 (`{id}`).
const SEED_KEY_ID: &str = "40387a72-6e24-4cdd-8840-b586757c44bf";
/// The `valid_to` in seed 002's example request: long past, so it is replaced by one in the
/// future, as the issue allows.
const SEED_VALID_TO: &str = "2020-12-04T06:51:18.505860192Z";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut s = String::new();
    while s.len() < bytes * 2 {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(bytes * 2);
    s
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn is_hex64(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 64
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// A KMS container `kms` on a LocalStack connection in LocalStack's default account (that of
/// the raw KMS requests below).
async fn setup(server: &Server) -> String {
    let admin = server.admin().await;
    server.localstack_kms(&admin, &Aws::default_account()).await;
    admin
}

/// A new EXTERNAL AWS key (no material yet), with a unique alias and one tag.
async fn external_key(server: &Server, admin: &str) -> Value {
    let key = server
        .post(
            KEYS,
            admin,
            json!({"kms": "kms", "region": REGION, "aws_param": {
                "Origin": "EXTERNAL",
                "Alias": unique("byok"),
                "Description": "byok test key",
                "Tags": [{"TagKey": "key", "TagValue": "value"}],
            }}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(key["aws_param"]["Origin"], "EXTERNAL", "{key}");
    assert_eq!(key["aws_param"]["KeyState"], "PendingImport", "{key}");
    key
}

async fn vault_key(server: &Server, admin: &str, name: &str, material: Option<&str>) -> Value {
    let mut body = json!({"name": name, "algorithm": "aes", "size": 256});
    if let Some(m) = material {
        body["material"] = json!(m);
    }
    server.post(VAULT, admin, body).await.expect(201).body
}

async fn import(server: &Server, admin: &str, id: &str, body: Value) -> Reply {
    server
        .post(&format!("{KEYS}/{id}/import-material"), admin, body)
        .await
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn kid_of(v: &Value) -> String {
    v["aws_param"]["KeyID"].as_str().expect("KeyID").to_string()
}

fn future(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn metrics(server: &Server) -> String {
    server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// How many calls of this AWS operation the server has made (its metrics).
async fn aws_calls(server: &Server, operation: &str) -> f64 {
    let text = metrics(server).await;
    text.lines()
        .filter(|l| {
            l.starts_with("keyward_aws_calls_total{")
                && l.contains(&format!("operation=\"{operation}\""))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// Encrypts with a key of LocalStack's default account; returns the ciphertext.
async fn aws_encrypt(key_id: &str, plaintext: &[u8]) -> Vec<u8> {
    let (status, body) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Encrypt",
        json!({"KeyId": key_id, "Plaintext": b64(plaintext)}),
    )
    .await;
    assert_eq!(status, 200, "Encrypt with {key_id}: {body}");
    unb64(body["CiphertextBlob"].as_str().expect("CiphertextBlob"))
}

/// Decrypt; the error is AWS's error type.
async fn aws_decrypt(blob: &[u8]) -> Result<Vec<u8>, String> {
    let (status, body) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Decrypt",
        json!({"CiphertextBlob": b64(blob)}),
    )
    .await;
    if status == 200 {
        Ok(unb64(body["Plaintext"].as_str().expect("Plaintext")))
    } else {
        Err(format!("{} {body}", body["__type"].as_str().unwrap_or("")))
    }
}

async fn aws_key_state(key_id: &str) -> String {
    Aws::default_account().key_state(key_id).await
}

/// The bytes of the database file and its WAL and shared-memory files.
fn database_bytes(server: &Server) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
        if let Ok(bytes) = std::fs::read(server.data_dir().join(name)) {
            out.push((name.to_string(), bytes));
        }
    }
    assert!(out.iter().any(|(n, _)| n == "keyward.db"), "no keyward.db");
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts the material (hex) is in none of the database files and not in the server's log,
/// neither as hex (either case) nor as raw bytes; `marker` must be in the database, so that
/// the check looks where the vault really is.
fn assert_material_not_stored(server: &Server, material_hex: &str, marker: &str) {
    let raw = unhex(material_hex);
    let upper = material_hex.to_ascii_uppercase();
    let files = database_bytes(server);
    for (name, bytes) in &files {
        for (what, needle) in [
            ("hex", material_hex.as_bytes()),
            ("upper-case hex", upper.as_bytes()),
            ("raw bytes", &raw[..]),
        ] {
            assert!(
                !contains(bytes, needle),
                "the vault key's material is in {name} in plaintext ({what})"
            );
        }
    }
    assert!(
        files.iter().any(|(_, b)| contains(b, marker.as_bytes())),
        "{marker:?} is in none of the database files: the check would be vacuous"
    );
    let log = server.stderr();
    assert!(!log.is_empty(), "the server wrote no log");
    assert!(
        !log.contains(material_hex) && !log.contains(&upper),
        "the vault key's material is in the server's log"
    );
}

/// The bearer token written in a seed's curl line.
fn seed_token(curl: &str) -> &str {
    let start = curl.find("Bearer ").expect("a bearer token") + "Bearer ".len();
    let len = curl[start..].find('\'').expect("end of the header");
    &curl[start..start + len]
}

/// Runs a seed's curl line as it is written, through bash (the seed quotes its body with
/// bash's `$'...'`), with only these substitutions: the host (`https://127.0.0.1/` becomes
/// the test server's `https://127.0.0.1:<port>/`), the bearer token (a fresh one), the key's
/// `{id}`, and in seed 002 the `valid_to` (the seed's is long past; one in the future).
/// Returns curl's stdout (the response body) parsed as JSON.
fn run_seed_curl(
    server: &Server,
    curl: &str,
    token: &str,
    id: &str,
    valid_to: Option<&str>,
) -> Value {
    let mut line = curl
        .replacen(
            "'https://127.0.0.1/",
            &format!("'https://127.0.0.1:{}/", server.port),
            1,
        )
        .replacen(seed_token(curl), token, 1)
        .replacen(SEED_KEY_ID, id, 1);
    if let Some(v) = valid_to {
        assert!(line.contains(SEED_VALID_TO), "{line}");
        line = line.replacen(SEED_VALID_TO, v, 1);
    }
    assert!(
        line.contains(&format!(
            "'https://127.0.0.1:{}/api/v1/cckm/aws/keys/{id}/",
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
    let text = metrics(server).await;
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
async fn vault_keys_create_list_get_delete_without_showing_material() {
    let server = Server::start();
    let admin = server.admin().await;

    // Create, with material given, for each AES size.
    let mut given = Vec::new();
    for size in [128, 192, 256] {
        let material = random_hex(size / 8);
        let name = format!("aes-{size}");
        let k = server
            .post(
                VAULT,
                &admin,
                json!({"name": name, "algorithm": "aes", "size": size, "material": material}),
            )
            .await
            .expect(201)
            .body;
        assert!(is_hex64(&k["id"]), "{k}");
        assert_eq!(k["name"], name);
        assert_eq!(k["algorithm"], "aes");
        assert_eq!(k["size"], size);
        assert_eq!(k["used_by_aws_keys"], json!([]));
        assert!(k["createdAt"].is_string(), "{k}");
        assert!(!k.to_string().contains(&material), "material in {k}");
        given.push((id_of(&k), material));
    }
    // Without material: generated; the defaults are AES-256.
    let generated = server
        .post(VAULT, &admin, json!({"name": "generated"}))
        .await
        .expect(201)
        .body;
    assert!(is_hex64(&generated["id"]), "{generated}");
    assert_eq!(generated["algorithm"], "aes");
    assert_eq!(generated["size"], 256);
    assert!(
        given.iter().all(|(id, _)| *id != id_of(&generated)),
        "ids repeat"
    );

    // Bad input: 400 naming the field.
    for (body, field) in [
        (json!({"name": "bad", "size": 512}), "size"),
        (json!({"name": "bad", "size": 100}), "size"),
        (json!({"name": "bad", "algorithm": "des"}), "algorithm"),
        (
            json!({"name": "bad", "size": 128, "material": "not hex at all!"}),
            "material",
        ),
        (
            json!({"name": "bad", "size": 256, "material": random_hex(16)}),
            "material",
        ),
        (
            json!({"name": "bad", "size": 128, "material": random_hex(32)}),
            "material",
        ),
    ] {
        server
            .post(VAULT, &admin, body.clone())
            .await
            .expect_error(400, field);
    }
    // A name may repeat (as in CipherTrust; issue 11): a key of its own, deleted again here.
    let twin = server
        .post(VAULT, &admin, json!({"name": "aes-256"}))
        .await
        .expect(201)
        .body;
    server
        .get(&format!("{VAULT}/aes-256"), &admin)
        .await
        .expect_error(409, "give the key's id");
    server
        .delete(&format!("{VAULT}/{}", id_of(&twin)), &admin)
        .await
        .expect(204);

    // List, and the name filter.
    let all = server.get(VAULT, &admin).await.expect(200).body;
    assert_eq!(all["total"], 4, "{all}");
    let one = server
        .get(&format!("{VAULT}?name=aes-192"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(one["total"], 1, "{one}");
    assert_eq!(one["resources"][0]["name"], "aes-192");
    assert_eq!(one["resources"][0]["id"], json!(given[1].0));
    let none = server
        .get(&format!("{VAULT}?name=nothing-like-it"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(none["total"], 0, "{none}");

    // Get: metadata only.
    for (id, material) in &given {
        let k = server
            .get(&format!("{VAULT}/{id}"), &admin)
            .await
            .expect(200)
            .body;
        assert_eq!(&id_of(&k), id);
        let text = k.to_string();
        assert!(
            !text.contains(material.as_str()) && !text.contains(&material.to_ascii_uppercase()),
            "material in {k}"
        );
    }
    let text = all.to_string();
    for (_, material) in &given {
        assert!(!text.contains(material.as_str()), "material in the list");
    }
    assert_material_not_stored(&server, &given[2].1, "aes-256");
    for (_, material) in &given[..2] {
        assert_material_not_stored(&server, material, "aes-128");
    }

    // Delete: 204, then gone.
    server
        .delete(&format!("{VAULT}/{}", given[0].0), &admin)
        .await
        .expect(204);
    server
        .get(&format!("{VAULT}/{}", given[0].0), &admin)
        .await
        .expect(404);
    server
        .delete(&format!("{VAULT}/{}", given[0].0), &admin)
        .await
        .expect(404);
    let all = server.get(VAULT, &admin).await.expect(200).body;
    assert_eq!(all["total"], 3, "{all}");
}

/// Seeds 002 and 000 verbatim; AWS then really holds the vault key's material.
#[tokio::test]
async fn seed_002_import_and_seed_000_delete_material_on_an_external_key() {
    let server = Server::start();
    let admin = setup(&server).await;
    let material = random_hex(32);
    let test_key = vault_key(&server, &admin, "test-key", Some(&material)).await;
    let test_key_id = id_of(&test_key);
    let a = external_key(&server, &admin).await;
    let (a_id, a_kid) = (id_of(&a), kid_of(&a));

    // Seed 002, verbatim but for host, token, id and a valid_to in the future.
    let (curl_002, example_002) = seed_example(SEED_002);
    assert!(curl_002.contains(&format!(
        "/api/v1/cckm/aws/keys/{SEED_KEY_ID}/import-material"
    )));
    let valid_to = (Utc::now() + Duration::days(30)).to_rfc3339_opts(SecondsFormat::Nanos, true);
    let token = server.admin().await;
    let ok_before = responses(&server, "POST", ACTION_ROUTE, 200).await;
    let imported = run_seed_curl(&server, &curl_002, &token, &a_id, Some(&valid_to));
    assert_eq!(
        responses(&server, "POST", ACTION_ROUTE, 200).await,
        ok_before + 1,
        "{imported}"
    );
    // Every field of the example, with its JSON type, except aws_param.ValidTo: LocalStack does
    // not keep ValidTo (kms-emulator.md: "ValidTo is not stored"), so DescribeKey, whose
    // KeyMetadata aws_param shows, has none to report. Where it does report one, it must be
    // the one asked for (below).
    let mut example = example_002.clone();
    example["aws_param"]
        .as_object_mut()
        .unwrap()
        .remove("ValidTo")
        .expect("the seed's example has a ValidTo");
    assert_json_shape(&example, &imported, "seed 002 response");
    assert_eq!(imported["id"], json!(a_id));
    assert_eq!(imported["key_material_origin"], "cckm");
    assert_eq!(imported["local_key_id"], json!(test_key_id));
    assert!(is_hex64(&imported["local_key_id"]), "{imported}");
    assert_eq!(imported["local_key_name"], "test-key");
    let p = &imported["aws_param"];
    assert_eq!(p["KeyState"], "Enabled", "{imported}");
    assert_eq!(p["Enabled"], true);
    assert_eq!(p["Origin"], "EXTERNAL");
    assert_eq!(p["KeyID"], json!(a_kid));
    assert_eq!(p["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    // AWS's ValidTo, or (the emulator keeps none) the expiry Keyward asked AWS for.
    {
        let v = p
            .get("ValidTo")
            .expect("an expiring import shows its ValidTo");
        let shown = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        let asked = chrono::DateTime::parse_from_rfc3339(&valid_to).unwrap();
        assert!(
            (shown - asked).num_seconds().abs() <= 1,
            "{v} vs {valid_to}"
        );
    }
    assert_eq!(aws_key_state(&a_kid).await, "Enabled");
    let stored = server
        .get(&format!("{KEYS}/{a_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(stored, imported);

    // AWS encrypts and decrypts with it.
    let plaintext = b"bring your own key, seed 002".to_vec();
    let blob = aws_encrypt(&a_kid, &plaintext).await;
    assert_eq!(aws_decrypt(&blob).await.unwrap(), plaintext);

    // And the material AWS holds is the hex given to the vault: a second AWS key given the
    // same hex through another vault key decrypts A's ciphertext; one given other hex does
    // not. (LocalStack's symmetric ciphertext is the 36-byte key id, then IV, tag and
    // AES-GCM ciphertext under the key's material; Decrypt picks the key by that id, so the
    // test re-addresses the ciphertext to the other key.)
    assert_eq!(
        &blob[..36],
        a_kid.as_bytes(),
        "LocalStack's ciphertext format changed"
    );
    let readdress = |kid: &str| {
        let mut b = blob.clone();
        b[..36].copy_from_slice(kid.as_bytes());
        b
    };
    vault_key(&server, &admin, "test-key-twin", Some(&material)).await;
    let twin = external_key(&server, &admin).await;
    import(
        &server,
        &admin,
        &id_of(&twin),
        json!({"source_key_identifier": "test-key-twin"}),
    )
    .await
    .expect(200);
    assert_eq!(
        aws_decrypt(&readdress(&kid_of(&twin))).await.unwrap(),
        plaintext
    );
    let other_material = random_hex(32);
    vault_key(&server, &admin, "other-key", Some(&other_material)).await;
    let other = external_key(&server, &admin).await;
    import(
        &server,
        &admin,
        &id_of(&other),
        json!({"source_key_identifier": "other-key"}),
    )
    .await
    .expect(200);
    let refused = aws_decrypt(&readdress(&kid_of(&other))).await.unwrap_err();
    assert!(refused.contains("InvalidCiphertext"), "{refused}");

    // Seed 000, verbatim but for host, token and id.
    let (curl_000, example_000) = seed_example(SEED_000);
    assert!(curl_000.contains(&format!(
        "/api/v1/cckm/aws/keys/{SEED_KEY_ID}/delete-material"
    )));
    let token = server.admin().await;
    let ok_before = responses(&server, "POST", ACTION_ROUTE, 200).await;
    let deleted = run_seed_curl(&server, &curl_000, &token, &a_id, None);
    assert_eq!(
        responses(&server, "POST", ACTION_ROUTE, 200).await,
        ok_before + 1,
        "{deleted}"
    );
    assert_json_shape(&example_000, &deleted, "seed 000 response");
    assert_eq!(deleted["id"], json!(a_id));
    assert_eq!(deleted["key_material_origin"], "cckm");
    assert_eq!(deleted["local_key_id"], json!(test_key_id));
    assert_eq!(deleted["local_key_name"], "test-key");
    let p = &deleted["aws_param"];
    assert_eq!(p["KeyState"], "PendingImport", "{deleted}");
    assert_eq!(p["Enabled"], false);
    assert_eq!(p["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(aws_key_state(&a_kid).await, "PendingImport");
    let refused = aws_decrypt(&blob).await.unwrap_err();
    assert!(refused.contains("KMSInvalidState"), "{refused}");

    // The vault key stays, and is refused deletion while A's material comes from it.
    let vk = server
        .get(&format!("{VAULT}/{test_key_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(vk["used_by_aws_keys"], json!([a_id]), "{vk}");
    server
        .delete(&format!("{VAULT}/test-key"), &admin)
        .await
        .expect_error(409, "test-key");
    server
        .delete(&format!("{VAULT}/{test_key_id}"), &admin)
        .await
        .expect(409);

    // Re-import naming a different vault key: refused before AWS (AWS would refuse it too;
    // LocalStack would not).
    let before = aws_calls(&server, "GetParametersForImport").await;
    assert!(before >= 3.0, "three imports so far, {before} counted");
    import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_identifier": "other-key"}),
    )
    .await
    .expect_error(400, "source_key_identifier");
    assert_eq!(aws_calls(&server, "GetParametersForImport").await, before);
    assert_eq!(aws_key_state(&a_kid).await, "PendingImport");

    // Re-import with the same vault key (by id, this time without expiry): Enabled again, and
    // the ciphertext made before decrypts (LocalStack decrypts only with the material now
    // imported, so this holds only if the same material went in again).
    let again = import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_identifier": test_key_id}),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(again["aws_param"]["KeyState"], "Enabled", "{again}");
    assert_eq!(
        again["aws_param"]["ExpirationModel"],
        "KEY_MATERIAL_DOES_NOT_EXPIRE"
    );
    assert_eq!(again["local_key_id"], json!(test_key_id));
    assert_eq!(aws_decrypt(&blob).await.unwrap(), plaintext);

    // Once more, naming no key: the bound one is used, no new vault key is made.
    server
        .post(&format!("{KEYS}/{a_id}/delete-material"), &admin, json!({}))
        .await
        .expect(200);
    let vault_before = server.get(VAULT, &admin).await.expect(200).body["total"].clone();
    let again = import(&server, &admin, &a_id, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(again["local_key_id"], json!(test_key_id));
    assert_eq!(again["aws_param"]["KeyState"], "Enabled");
    assert_eq!(
        server.get(VAULT, &admin).await.expect(200).body["total"],
        vault_before
    );
    assert_eq!(aws_decrypt(&blob).await.unwrap(), plaintext);

    // The material is nowhere in plaintext in the data directory's database, nor in the log.
    assert_material_not_stored(&server, &material, "test-key-twin");
    assert_material_not_stored(&server, &other_material, "other-key");
}

/// Bad input gets a 400 naming the problem, and AWS is not called.
#[tokio::test]
async fn import_checks_come_before_aws() {
    let server = Server::start();
    let admin = setup(&server).await;
    vault_key(&server, &admin, "src", None).await;
    server
        .post(
            VAULT,
            &admin,
            json!({"name": "small", "algorithm": "aes", "size": 128}),
        )
        .await
        .expect(201);
    let a = external_key(&server, &admin).await;
    let a_id = id_of(&a);
    let native = server
        .post(
            KEYS,
            &admin,
            json!({"kms": "kms", "region": REGION, "aws_param": {"Alias": unique("native")}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(native["aws_param"]["Origin"], "AWS_KMS");
    let before = aws_calls(&server, "GetParametersForImport").await;
    let imports_before = aws_calls(&server, "ImportKeyMaterial").await;

    let past = (Utc::now() - Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for (body, needle) in [
        (
            json!({"source_key_identifier": "src", "key_expiration": true, "valid_to": past}),
            "valid_to",
        ),
        (
            json!({"source_key_identifier": "src", "key_expiration": true, "valid_to": future(366)}),
            "365",
        ),
        (
            json!({"key_expiration": true, "valid_to": "2027-01-31 12:00:00"}),
            "valid_to",
        ),
        (
            json!({"key_expiration": true, "valid_to": "next tuesday"}),
            "RFC 3339",
        ),
        (
            json!({"source_key_identifier": "src", "valid_to": future(30)}),
            "valid_to",
        ),
        (
            json!({"key_expiration": false, "valid_to": future(30)}),
            "key_expiration",
        ),
        (
            json!({"source_key_identifier": "src", "key_expiration": true}),
            "valid_to",
        ),
        (json!({"source_key_tier": "bogus"}), "source_key_tier"),
        (
            json!({"source_key_tier": "bogus", "source_key_identifier": "src"}),
            "source_key_tier",
        ),
        (
            json!({"source_key_identifier": "no-such-key"}),
            "source_key_identifier",
        ),
        (
            json!({"source_key_identifier": "small"}),
            "source_key_identifier",
        ),
    ] {
        import(&server, &admin, &a_id, body.clone())
            .await
            .expect_error(400, needle);
    }
    // Unknown fields are ignored (they used to be refused): the refusal names the known field
    // at fault, not the unknown one.
    import(
        &server,
        &admin,
        &a_id,
        json!({"source_key": "src", "source_key_tier": "bogus"}),
    )
    .await
    .expect_error(400, "source_key_tier");
    // Import into a key whose material AWS made.
    import(
        &server,
        &admin,
        &id_of(&native),
        json!({"source_key_identifier": "src"}),
    )
    .await
    .expect_error(400, "Origin");
    // An unknown AWS key.
    import(
        &server,
        &admin,
        "7c9f0a3e-0000-4000-8000-000000000000",
        json!({}),
    )
    .await
    .expect(404);

    assert_eq!(aws_calls(&server, "GetParametersForImport").await, before);
    assert_eq!(
        aws_calls(&server, "ImportKeyMaterial").await,
        imports_before
    );
    assert_eq!(aws_key_state(&kid_of(&a)).await, "PendingImport");
    let rec = server
        .get(&format!("{KEYS}/{a_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert!(rec.get("local_key_id").is_none(), "{rec}");
    // None of the refused requests left a generated vault key behind.
    let vault = server.get(VAULT, &admin).await.expect(200).body;
    assert_eq!(vault["total"], 2, "{vault}");

    // delete-material of a key that has no imported material: refused before AWS (LocalStack
    // would accept it).
    let deletes_before = aws_calls(&server, "DeleteImportedKeyMaterial").await;
    server
        .post(&format!("{KEYS}/{a_id}/delete-material"), &admin, json!({}))
        .await
        .expect_error(422, "no imported material");
    assert_eq!(
        aws_calls(&server, "DeleteImportedKeyMaterial").await,
        deletes_before
    );

    // The counters do move when AWS is called: a valid import calls each operation once.
    import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_identifier": "src", "key_expiration": true, "valid_to": future(30)}),
    )
    .await
    .expect(200);
    assert_eq!(
        aws_calls(&server, "GetParametersForImport").await,
        before + 1.0
    );
    assert_eq!(
        aws_calls(&server, "ImportKeyMaterial").await,
        imports_before + 1.0
    );
    server
        .post(&format!("{KEYS}/{a_id}/delete-material"), &admin, json!({}))
        .await
        .expect(200);
    assert_eq!(
        aws_calls(&server, "DeleteImportedKeyMaterial").await,
        deletes_before + 1.0
    );
}

/// Tier local with no key named: a new AES-256 vault key named after the AWS key.
#[tokio::test]
async fn import_without_a_source_key_generates_one_named_after_the_aws_key() {
    let server = Server::start();
    let admin = setup(&server).await;
    let a = external_key(&server, &admin).await;
    let (a_id, a_kid) = (id_of(&a), kid_of(&a));
    let imported = import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_tier": "local", "key_expiration": true, "valid_to": future(60)}),
    )
    .await
    .expect(200)
    .body;
    let name = format!("aws-{a_kid}");
    assert_eq!(imported["local_key_name"], json!(name), "{imported}");
    assert_eq!(imported["key_material_origin"], "cckm");
    assert_eq!(imported["aws_param"]["KeyState"], "Enabled");
    assert_eq!(
        imported["aws_param"]["ExpirationModel"],
        "KEY_MATERIAL_EXPIRES"
    );
    let found = server
        .get(&format!("{VAULT}?name={name}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(found["total"], 1, "{found}");
    let vk = &found["resources"][0];
    assert_eq!(vk["id"], imported["local_key_id"]);
    assert!(is_hex64(&vk["id"]), "{vk}");
    assert_eq!(vk["algorithm"], "aes");
    assert_eq!(vk["size"], 256);
    assert_eq!(vk["used_by_aws_keys"], json!([a_id]));

    let plaintext = b"generated material".to_vec();
    let blob = aws_encrypt(&a_kid, &plaintext).await;
    assert_eq!(aws_decrypt(&blob).await.unwrap(), plaintext);
}

/// Vault key names may repeat: when several are named after the AWS key, an import without a
/// source key is refused (409, asking for the id) rather than taking one of them.
#[tokio::test]
async fn import_without_a_source_key_never_guesses_between_namesakes() {
    let server = Server::start();
    let admin = setup(&server).await;
    let a = external_key(&server, &admin).await;
    let (a_id, a_kid) = (id_of(&a), kid_of(&a));
    let name = format!("aws-{a_kid}");
    let first = vault_key(&server, &admin, &name, None).await;
    vault_key(&server, &admin, &name, None).await;
    import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_tier": "local", "key_expiration": false}),
    )
    .await
    .expect_error(409, "give the key's id");
    let rec = server
        .get(&format!("{KEYS}/{a_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["aws_param"]["KeyState"], "PendingImport", "{rec}");
    // Named by id, the import goes through.
    let imported = import(
        &server,
        &admin,
        &a_id,
        json!({"source_key_tier": "local", "source_key_identifier": first["id"], "key_expiration": false}),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(imported["local_key_id"], first["id"]);
}

/// upload-key: an EXTERNAL key made and given material in one call.
#[tokio::test]
async fn upload_key_creates_an_external_key_with_material() {
    let server = Server::start();
    let admin = setup(&server).await;
    let material = random_hex(32);
    let src = vault_key(&server, &admin, "upload-src", Some(&material)).await;
    let alias = unique("uploaded");
    let keys_before = server.get(KEYS, &admin).await.expect(200).body["total"].clone();

    // Refused before anything is made: unknown source key, bad valid_to.
    server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "source_key_identifier": "no-such-key",
                   "aws_param": {"Alias": unique("never")}}),
        )
        .await
        .expect_error(400, "source_key_identifier");
    server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "source_key_identifier": "upload-src",
                   "key_expiration": true, "valid_to": future(400),
                   "aws_param": {"Alias": unique("never")}}),
        )
        .await
        .expect_error(400, "valid_to");
    assert_eq!(
        server.get(KEYS, &admin).await.expect(200).body["total"],
        keys_before
    );

    let up = server
        .post(
            UPLOAD,
            &admin,
            json!({
                "kms": "kms",
                "region": REGION,
                "source_key_identifier": "upload-src",
                "key_expiration": true,
                "valid_to": future(90),
                "aws_param": {
                    "Description": "uploaded by the byok test",
                    "Alias": alias,
                    "Tags": [{"TagKey": "team", "TagValue": "byok"}],
                },
            }),
        )
        .await
        .expect(201)
        .body;
    let p = &up["aws_param"];
    assert_eq!(p["Origin"], "EXTERNAL", "{up}");
    assert_eq!(p["KeyState"], "Enabled", "{up}");
    assert_eq!(p["Enabled"], true);
    assert_eq!(p["Description"], "uploaded by the byok test");
    assert_eq!(p["Alias"], json!([format!("alias/{alias}")]));
    assert_eq!(p["Tags"], json!([{"TagKey": "team", "TagValue": "byok"}]));
    assert_eq!(p["ExpirationModel"], "KEY_MATERIAL_EXPIRES");
    assert_eq!(up["key_material_origin"], "cckm");
    assert_eq!(up["local_key_id"], src["id"]);
    assert_eq!(up["local_key_name"], "upload-src");
    assert_eq!(up["kms"], "kms");
    assert_eq!(up["region"], REGION);
    let kid = kid_of(&up);
    assert_eq!(aws_key_state(&kid).await, "Enabled");
    let stored = server
        .get(&format!("{KEYS}/{}", id_of(&up)), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(stored, up);

    let plaintext = b"uploaded material".to_vec();
    let blob = aws_encrypt(&kid, &plaintext).await;
    assert_eq!(aws_decrypt(&blob).await.unwrap(), plaintext);
    let vk = server
        .get(&format!("{VAULT}/upload-src"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(vk["used_by_aws_keys"], json!([id_of(&up)]));
    assert_material_not_stored(&server, &material, "upload-src");
}

/// `GET /cckm/aws/keys?expiring_within=30d`.
#[tokio::test]
async fn expiring_within_lists_keys_whose_material_expires_in_the_window() {
    let server = Server::start();
    let admin = setup(&server).await;
    let upload = |valid_to: Option<String>| {
        let mut body = json!({"kms": "kms", "region": REGION,
                              "aws_param": {"Alias": unique("expiry")}});
        if let Some(v) = valid_to {
            body["key_expiration"] = json!(true);
            body["valid_to"] = json!(v);
        }
        body
    };
    let soon = server
        .post(UPLOAD, &admin, upload(Some(future(10))))
        .await
        .expect(201)
        .body;
    let never = server
        .post(UPLOAD, &admin, upload(None))
        .await
        .expect(201)
        .body;
    let later = server
        .post(UPLOAD, &admin, upload(Some(future(100))))
        .await
        .expect(201)
        .body;
    assert_eq!(
        never["aws_param"]["ExpirationModel"],
        "KEY_MATERIAL_DOES_NOT_EXPIRE"
    );
    // A key imported through import-material counts too.
    let imported = external_key(&server, &admin).await;
    import(
        &server,
        &admin,
        &id_of(&imported),
        json!({"key_expiration": true, "valid_to": future(20)}),
    )
    .await
    .expect(200);

    let ids = |v: &Value| {
        let mut ids: Vec<String> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |v: &[&Value]| {
        let mut ids: Vec<String> = v.iter().map(|k| id_of(k)).collect();
        ids.sort();
        ids
    };
    let r = server
        .get(&format!("{KEYS}?expiring_within=30d"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&r), sorted(&[&soon, &imported]), "{r}");
    assert_eq!(r["total"], 2);
    let r = server
        .get(&format!("{KEYS}?expiring_within=101d"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&r), sorted(&[&soon, &imported, &later]), "{r}");
    let r = server
        .get(&format!("{KEYS}?expiring_within=12h"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(r["total"], 0, "{r}");
    for bad in ["30x", "d", "-3d", "soon"] {
        server
            .get(&format!("{KEYS}?expiring_within={bad}"), &admin)
            .await
            .expect_error(400, "expiring_within");
    }
    // All four are in the unfiltered list.
    let all = server.get(KEYS, &admin).await.expect(200).body;
    assert_eq!(all["total"], 4, "{all}");
}

/// Who may use the vault (`/vault/keys2`). Its keys are the material Keyward imports into
/// AWS: admin and CCKM Admins (who run bring-your-own-key) may list, read, create and delete
/// them; CCKM Users, read-only on the key inventory, get 403 for every vault route (they
/// could list and read the vault's keys, which docs/api.md's role list did not grant).
#[tokio::test]
async fn vault_permissions_admin_and_cckm_admins_only() {
    let server = Server::start();
    let admin = server.admin().await;
    let cckm_admin = server.user_token(&admin, "vera", &["CCKM Admins"]).await;
    let cckm_user = server.user_token(&admin, "walt", &["CCKM Users"]).await;
    let existing = vault_key(&server, &admin, "matrix-existing", None).await;
    let existing_id = existing["id"].as_str().unwrap().to_string();
    for (who, token, allowed) in [
        ("admin", &admin, true),
        ("CCKM Admins", &cckm_admin, true),
        ("CCKM Users", &cckm_user, false),
    ] {
        let name = format!("matrix-{}", who.replace(' ', "-").to_lowercase());
        let create = server
            .post(
                VAULT,
                token,
                json!({"name": name, "algorithm": "aes", "size": 256}),
            )
            .await;
        let list = server.get(VAULT, token).await;
        let by_id = server.get(&format!("{VAULT}/{existing_id}"), token).await;
        let by_name = server.get(&format!("{VAULT}/matrix-existing"), token).await;
        if allowed {
            create.expect(201);
            assert!(list.expect(200).body["total"].as_i64().unwrap() >= 2);
            by_id.expect(200);
            by_name.expect(200);
            server
                .delete(&format!("{VAULT}/{name}"), token)
                .await
                .expect(204);
        } else {
            for (what, r) in [
                ("create", create),
                ("list", list),
                ("get by id", by_id),
                ("get by name", by_name),
            ] {
                assert_eq!(r.status.as_u16(), 403, "{who} {what}: {}", r.body);
                assert!(
                    !r.body.to_string().contains("matrix-existing"),
                    "{who} {what} leaks a vault key: {}",
                    r.body
                );
            }
            server
                .delete(&format!("{VAULT}/matrix-existing"), token)
                .await
                .expect_error(403, "not allowed");
        }
    }
    // What CCKM Users were refused is still there, untouched.
    server
        .get(&format!("{VAULT}/{existing_id}"), &admin)
        .await
        .expect(200);
}
