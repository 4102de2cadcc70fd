//! Bring your own key from an HSM over PKCS#11: SoftHSM2 (the Debian package) with a token that
//! scripts/test.sh initialises, and LocalStack's KMS. The server is the real binary with
//! KEYWARD_PKCS11_* set; the token is looked into with `pkcs11-tool` (opensc).
//!
//! The token is shared by the tests of a run: every HSM key label here is unique.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use chrono::{Duration, SecondsFormat, Utc};
use common::{Aws, DEFAULT_ACCESS_KEY, Reply, Server, kms_raw_as};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const UPLOAD: &str = "/api/v1/cckm/aws/upload-key";
const REGION: &str = "ap-south-1";

/// SoftHSM2 keeps a token in files that a process rewrites while it logs in: another process
/// that reads them meanwhile may find no token. The tests that use the token run one at a time.
static TOKEN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The SoftHSM2 token made by scripts/test.sh: (module, token label, user PIN).
struct Hsm {
    module: String,
    token: String,
    pin: String,
}

fn hsm() -> Hsm {
    let var = |name: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!(
                "{name} is not set: run the tests with scripts/test.sh, which installs SoftHSM2 and opensc, initialises a token and sets KEYWARD_TEST_PKCS11_MODULE, KEYWARD_TEST_PKCS11_TOKEN, KEYWARD_TEST_PKCS11_PIN and SOFTHSM2_CONF"
            )
        })
    };
    let hsm = Hsm {
        module: var("KEYWARD_TEST_PKCS11_MODULE"),
        token: var("KEYWARD_TEST_PKCS11_TOKEN"),
        pin: var("KEYWARD_TEST_PKCS11_PIN"),
    };
    var("SOFTHSM2_CONF");
    hsm
}

impl Hsm {
    fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEYWARD_ADMIN_PASSWORD", common::ADMIN_PASSWORD.to_string()),
            ("KEYWARD_PKCS11_MODULE", self.module.clone()),
            ("KEYWARD_PKCS11_TOKEN", self.token.clone()),
            ("KEYWARD_PKCS11_PIN", self.pin.clone()),
        ]
    }

    fn start_server(&self) -> Server {
        let env = self.server_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start_with(&[], &env)
    }

    fn pkcs11_tool(&self, args: &[&str]) -> String {
        let out = Command::new("pkcs11-tool")
            .args([
                "--module",
                &self.module,
                "--token-label",
                &self.token,
                "--login",
                "--pin",
                &self.pin,
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run pkcs11-tool (Debian package opensc; scripts/test.sh installs it)");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "pkcs11-tool {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// An AES-256 key made in the token outside Keyward (sensitive, extractable).
    fn make_key(&self, label: &str) {
        self.pkcs11_tool(&[
            "--keygen",
            "--key-type",
            "AES:32",
            "--label",
            label,
            "--sensitive",
            "--extractable",
        ]);
    }

    /// The `Access:` line of the secret key with this label, if the token has one.
    fn secret_key_access(&self, label: &str) -> Option<String> {
        let listing = self.pkcs11_tool(&["--list-objects", "--type", "secrkey"]);
        let mut lines = listing.lines();
        while let Some(line) = lines.next() {
            if line.trim() == format!("label:      {label}") {
                return lines
                    .take(3)
                    .find(|l| l.trim_start().starts_with("Access:"))
                    .map(|l| l.trim().to_string());
            }
        }
        None
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn future(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A KMS container `kms` on a LocalStack connection in LocalStack's default account (that of
/// the raw KMS requests below).
async fn setup(server: &Server) -> String {
    let admin = server.admin().await;
    server.localstack_kms(&admin, &Aws::default_account()).await;
    admin
}

async fn external_key(server: &Server, admin: &str) -> Value {
    let key = server
        .post(
            KEYS,
            admin,
            json!({"kms": "kms", "region": REGION, "aws_param": {
                "Origin": "EXTERNAL",
                "Alias": unique("hsm"),
                "Description": "hsm test key",
            }}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(key["aws_param"]["KeyState"], "PendingImport", "{key}");
    key
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

/// AWS encrypts with the key and decrypts the result back: the imported material works.
async fn assert_round_trip(key_id: &str) {
    let plaintext = "aHNtIHJvdW5kIHRyaXA="; // "hsm round trip"
    let (status, enc) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Encrypt",
        json!({"KeyId": key_id, "Plaintext": plaintext}),
    )
    .await;
    assert_eq!(status, 200, "Encrypt with {key_id}: {enc}");
    let (status, dec) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Decrypt",
        json!({"CiphertextBlob": enc["CiphertextBlob"]}),
    )
    .await;
    assert_eq!(status, 200, "Decrypt: {dec}");
    assert_eq!(dec["Plaintext"], plaintext, "{dec}");
}

fn assert_hsm_binding(rec: &Value, hsm: &Hsm, label: &str) {
    assert_eq!(rec["aws_param"]["KeyState"], "Enabled", "{rec}");
    assert_eq!(rec["key_material_origin"], "cckm", "{rec}");
    assert_eq!(rec["key_source"], "hsm-luna", "{rec}");
    assert_eq!(rec["local_key_name"], label, "{rec}");
    assert_eq!(
        rec["local_key_id"],
        format!("{}:{label}", hsm.token),
        "{rec}"
    );
}

#[tokio::test]
async fn import_from_the_hsm_by_label_and_generated() {
    let hsm = hsm();
    let _token = TOKEN.lock().await;
    let server = hsm.start_server();
    let admin = setup(&server).await;

    // A key made in the token beforehand, named by its label.
    let named = unique("premade");
    hsm.make_key(&named);
    let a = external_key(&server, &admin).await;
    let rec = import(
        &server,
        &admin,
        &id_of(&a),
        json!({"source_key_tier": "hsm-luna", "source_key_identifier": named}),
    )
    .await
    .expect(200)
    .body;
    assert_hsm_binding(&rec, &hsm, &named);
    assert_eq!(
        rec["aws_param"]["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "{rec}"
    );
    assert_round_trip(&kid_of(&a)).await;

    // No identifier: Keyward generates the key in the token, labelled after the AWS key,
    // sensitive (never readable in the clear) and extractable only by wrapping.
    let b = external_key(&server, &admin).await;
    let generated = format!("aws-{}", kid_of(&b));
    let valid_to = future(30);
    let rec = import(
        &server,
        &admin,
        &id_of(&b),
        json!({"source_key_tier": "hsm-luna", "key_expiration": true, "valid_to": valid_to}),
    )
    .await
    .expect(200)
    .body;
    assert_hsm_binding(&rec, &hsm, &generated);
    assert_eq!(
        rec["aws_param"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES",
        "{rec}"
    );
    let access = hsm
        .secret_key_access(&generated)
        .unwrap_or_else(|| panic!("no secret key {generated} in the token"));
    assert!(
        access.contains("sensitive") && access.contains("always sensitive"),
        "{access}"
    );
    assert!(
        access.contains("extractable") && !access.contains("never extractable"),
        "{access}"
    );
    assert_round_trip(&kid_of(&b)).await;

    // A re-import must use the same HSM key: another one, or the vault, is refused before AWS.
    import(
        &server,
        &admin,
        &id_of(&b),
        json!({"source_key_tier": "hsm-luna", "source_key_identifier": named}),
    )
    .await
    .expect_error(400, "only the material imported before");
    import(
        &server,
        &admin,
        &id_of(&b),
        json!({"source_key_tier": "local"}),
    )
    .await
    .expect_error(400, "hsm-luna");

    // delete-material, then the same HSM key again (tier `dsm`, the other name): Enabled.
    let deleted = server
        .post(
            &format!("{KEYS}/{}/delete-material", id_of(&b)),
            &admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        deleted["aws_param"]["KeyState"], "PendingImport",
        "{deleted}"
    );
    let rec = import(
        &server,
        &admin,
        &id_of(&b),
        json!({"source_key_tier": "dsm", "source_key_identifier": generated}),
    )
    .await
    .expect(200)
    .body;
    assert_hsm_binding(&rec, &hsm, &generated);
    assert_round_trip(&kid_of(&b)).await;
    // ... and with no identifier, the key bound before is used.
    server
        .post(
            &format!("{KEYS}/{}/delete-material", id_of(&b)),
            &admin,
            json!({}),
        )
        .await
        .expect(200);
    let rec = import(
        &server,
        &admin,
        &id_of(&b),
        json!({"source_key_tier": "hsm-luna"}),
    )
    .await
    .expect(200)
    .body;
    assert_hsm_binding(&rec, &hsm, &generated);

    // Bad HSM input is refused before AWS, naming the problem.
    let c = external_key(&server, &admin).await;
    import(
        &server,
        &admin,
        &id_of(&c),
        json!({"source_key_tier": "hsm-luna", "source_key_identifier": "no-such-hsm-key"}),
    )
    .await
    .expect_error(400, "no secret key labelled");
    let short = unique("aes128");
    hsm.pkcs11_tool(&[
        "--keygen",
        "--key-type",
        "AES:16",
        "--label",
        &short,
        "--sensitive",
        "--extractable",
    ]);
    import(
        &server,
        &admin,
        &id_of(&c),
        json!({"source_key_tier": "hsm-luna", "source_key_identifier": short}),
    )
    .await
    .expect_error(400, "not an AES-256 key");
    let unextractable = unique("stuck");
    hsm.pkcs11_tool(&[
        "--keygen",
        "--key-type",
        "AES:32",
        "--label",
        &unextractable,
        "--sensitive",
    ]);
    import(
        &server,
        &admin,
        &id_of(&c),
        json!({"source_key_tier": "hsm-luna", "source_key_identifier": unextractable}),
    )
    .await
    .expect_error(400, "CKA_EXTRACTABLE");

    // upload-key from the HSM: the key is made in AWS and gets a generated HSM key.
    let up = server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "source_key_tier": "hsm-luna",
                   "aws_param": {"Alias": unique("hsm-upload"), "Description": "uploaded"}}),
        )
        .await
        .expect(201)
        .body;
    let label = format!("aws-{}", kid_of(&up));
    assert_hsm_binding(&up, &hsm, &label);
    assert!(hsm.secret_key_access(&label).is_some());

    // The PIN is nowhere in the server's log.
    let log = server.stderr();
    assert!(log.contains("HSM connected"), "{log}");
    assert!(!log.contains(&hsm.pin), "the PIN is in the server log");
}

#[tokio::test]
async fn the_hsm_tier_without_a_configured_hsm_is_a_400() {
    let server = Server::start();
    let admin = setup(&server).await;
    let a = external_key(&server, &admin).await;
    for tier in ["hsm-luna", "dsm"] {
        import(
            &server,
            &admin,
            &id_of(&a),
            json!({"source_key_tier": tier}),
        )
        .await
        .expect_error(400, "none is configured");
    }
    import(
        &server,
        &admin,
        &id_of(&a),
        json!({"source_key_tier": "cloudhsm"}),
    )
    .await
    .expect_error(400, "is not a key source");
    server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "source_key_tier": "hsm-luna",
                   "aws_param": {"Alias": unique("hsm-upload"), "Description": "uploaded"}}),
        )
        .await
        .expect_error(400, "none is configured");
}

/// Starts `keyward serve` expecting it to fail; returns its stderr.
fn failed_start(envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::keyward_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("KEYWARD_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run keyward");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "keyward started with an unusable HSM: {stderr}"
    );
    stderr
}

#[test]
fn a_configured_hsm_that_cannot_be_used_fails_the_start() {
    let hsm = hsm();
    let _token = TOKEN.blocking_lock();
    let wrong_pin = "wrong-pin-4242";
    let err = failed_start(&[
        ("KEYWARD_PKCS11_MODULE", &hsm.module),
        ("KEYWARD_PKCS11_TOKEN", &hsm.token),
        ("KEYWARD_PKCS11_PIN", wrong_pin),
    ]);
    assert!(err.contains("PIN was refused"), "{err}");
    assert!(!err.contains(wrong_pin), "the PIN is in the message: {err}");

    let err = failed_start(&[
        ("KEYWARD_PKCS11_MODULE", &hsm.module),
        ("KEYWARD_PKCS11_TOKEN", "no-such-token"),
        ("KEYWARD_PKCS11_PIN", &hsm.pin),
    ]);
    assert!(err.contains("no token with this label"), "{err}");
    assert!(!err.contains(&hsm.pin), "the PIN is in the message: {err}");

    let err = failed_start(&[
        ("KEYWARD_PKCS11_MODULE", "/nonexistent/libpkcs11.so"),
        ("KEYWARD_PKCS11_TOKEN", &hsm.token),
        ("KEYWARD_PKCS11_PIN", &hsm.pin),
    ]);
    assert!(err.contains("does not exist"), "{err}");

    let err = failed_start(&[("KEYWARD_PKCS11_MODULE", &hsm.module)]);
    assert!(err.contains("pkcs11_token"), "{err}");
}

/// A BYOK key whose material is in the HSM is rotated to a new AWS key whose material is a new
/// HSM key: with `source_key_tier: hsm-luna`, and again (its successor) with no tier, which
/// takes the old key's source. The aliases move; ciphertexts made before still decrypt.
#[tokio::test]
async fn rotate_a_key_whose_material_is_in_the_hsm() {
    let hsm = hsm();
    let _token = TOKEN.lock().await;
    let server = hsm.start_server();
    let admin = setup(&server).await;
    let alias = format!("alias/{}", unique("hsm-rotate"));
    let old = server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "source_key_tier": "hsm-luna",
                   "key_expiration": true, "valid_to": future(60),
                   "aws_param": {"Alias": alias, "Description": "hsm rotation"}}),
        )
        .await
        .expect(201)
        .body;
    let old_label = format!("aws-{}", kid_of(&old));
    assert_hsm_binding(&old, &hsm, &old_label);
    let plaintext = "Z2VuZXJhdGlvbiBvbmU="; // "generation one"
    let (status, enc) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Encrypt",
        json!({"KeyId": alias, "Plaintext": plaintext}),
    )
    .await;
    assert_eq!(status, 200, "{enc}");
    let blob = enc["CiphertextBlob"].clone();

    let mut previous = old;
    for body in [
        json!({"source_key_tier": "hsm-luna", "key_expiration": true, "valid_to": future(30)}),
        json!({}),
    ] {
        let new = server
            .post(
                &format!("{KEYS}/{}/rotate", id_of(&previous)),
                &admin,
                body.clone(),
            )
            .await
            .expect(201)
            .body;
        let label = format!("aws-{}", kid_of(&new));
        assert_ne!(kid_of(&new), kid_of(&previous), "{body}");
        assert_hsm_binding(&new, &hsm, &label);
        assert_ne!(
            new["local_key_id"], previous["local_key_id"],
            "the successor holds a new HSM key ({body})"
        );
        assert!(
            hsm.secret_key_access(&label).is_some(),
            "no secret key {label} in the token"
        );
        assert_eq!(new["aws_param"]["Origin"], "EXTERNAL", "{new}");
        assert_eq!(new["rotated_from"], previous["id"], "{new}");
        assert_eq!(
            Aws::default_account().alias_target(&alias).await,
            arn_of(&new),
            "{body}"
        );
        assert_round_trip(&kid_of(&new)).await;

        let old_now = server
            .get(&format!("{KEYS}/{}", id_of(&previous)), &admin)
            .await
            .expect(200)
            .body;
        assert_eq!(old_now["rotation_status"], "rotated", "{old_now}");
        assert_eq!(old_now["rotated_to"], new["id"], "{old_now}");
        assert_eq!(old_now["aws_param"]["KeyState"], "Enabled", "{old_now}");
        // The old key keeps its HSM key: it still holds the material that key wraps.
        assert_eq!(
            old_now["local_key_id"], previous["local_key_id"],
            "{old_now}"
        );
        let h = server
            .get(&format!("{KEYS}/{}/rotations", id_of(&previous)), &admin)
            .await
            .expect(200)
            .body;
        assert_eq!(h["resources"][0]["status"], "completed", "{h}");
        assert_eq!(h["resources"][0]["source_key_tier"], "hsm-luna", "{h}");
        previous = new;
    }
    // Made under the first key: still decrypts after two rotations.
    let (status, dec) = kms_raw_as(
        DEFAULT_ACCESS_KEY,
        "Decrypt",
        json!({"CiphertextBlob": blob}),
    )
    .await;
    assert_eq!(status, 200, "{dec}");
    assert_eq!(dec["Plaintext"], plaintext, "{dec}");
    assert!(hsm.secret_key_access(&old_label).is_some());
}

fn arn_of(v: &Value) -> String {
    v["aws_param"]["Arn"].as_str().expect("Arn").to_string()
}
