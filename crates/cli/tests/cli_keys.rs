//! `keyward aws keys ...` against a real server and LocalStack's KMS: tables by default, the
//! server's JSON with --json, and the server's message (exit non-zero) on errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli_user::{Cli, aliases, row};
use common::{Aws, Server};
use serde_json::Value;

/// A name no earlier run used (LocalStack keeps its aliases for its whole life).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn tag(k: &Value, key: &str) -> Option<String> {
    k["aws_param"]["Tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no aws_param.Tags in {k}"))
        .iter()
        .find(|t| t["TagKey"] == key)
        .map(|t| t["TagValue"].as_str().unwrap().to_string())
}

fn state(k: &Value) -> &str {
    k["aws_param"]["KeyState"].as_str().unwrap()
}

#[tokio::test]
async fn key_lifecycle_through_the_cli() {
    let server = Server::start();
    let cli = Cli::login(&server);
    cli.localstack_kms(&Aws::default_account());
    let alias = unique("cli-key");

    // Create: a table of the key's main fields, not the nested JSON.
    let out = cli.keys(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &alias,
        "--description",
        "made by the CLI",
        "--tag",
        "env=test",
    ]);
    assert_eq!(row(&out, "alias"), format!("alias/{alias}"), "{out}");
    assert_eq!(row(&out, "KeyState"), "Enabled", "{out}");
    assert_eq!(row(&out, "KeySpec"), "SYMMETRIC_DEFAULT", "{out}");
    assert_eq!(row(&out, "KeyUsage"), "ENCRYPT_DECRYPT", "{out}");
    assert_eq!(row(&out, "region"), "ap-south-1", "{out}");
    assert_eq!(row(&out, "kms"), "kms", "{out}");
    assert_eq!(row(&out, "Tags"), "env=test", "{out}");
    assert_eq!(row(&out, "Description"), "made by the CLI", "{out}");
    assert!(row(&out, "Arn").starts_with("arn:aws:kms:ap-south-1:000000000000:key/"));
    assert!(
        !out.contains("\"Statement\""),
        "the policy is printed: {out}"
    );
    let id = row(&out, "id").to_string();

    // List: the table shows the alias; filters narrow it down.
    let out = cli.keys(&["list", "--kms", "kms", "--region", "ap-south-1"]);
    assert!(out.contains(&format!("alias/{alias}")), "{out}");
    assert!(out.contains(&id), "{out}");
    for column in [
        "id", "alias", "KeyID", "region", "KeyState", "KeySpec", "kms",
    ] {
        assert!(
            out.lines().any(|l| l.contains(column)),
            "no column {column}: {out}"
        );
    }
    let out = cli.keys(&["list", "--alias", &alias]);
    assert!(out.contains("1 of 1"), "{out}");
    let listed = cli.keys_json(&["list", "--alias", &alias, "--keystate", "Enabled"]);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["resources"][0]["id"], id.as_str());
    let listed = cli.keys_json(&["list", "--alias", &alias, "--keystate", "Disabled"]);
    assert_eq!(listed["total"], 0, "{listed}");
    let listed = cli.keys_json(&["list", "--alias", &alias, "--gone", "false", "--limit", "5"]);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["limit"], 5, "{listed}");
    let listed = cli.keys_json(&["list", "--alias", &alias, "--gone"]);
    assert_eq!(listed["total"], 0, "{listed}");

    // Get --json is the server's record.
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(k["id"], id.as_str());
    assert_eq!(aliases(&k), vec![format!("alias/{alias}")]);
    assert_eq!(tag(&k, "env").as_deref(), Some("test"));
    assert_eq!(k["kms"], "kms");
    assert_eq!(k["region"], "ap-south-1");
    assert_eq!(k["gone"], false);
    // alias/NAME works as the key's id.
    let same = cli.keys_json(&["get", &format!("alias/{alias}")]);
    assert_eq!(same["id"], id.as_str());

    // Tags.
    let k = cli.keys_json(&["tag", &id, "team=blue", "cost=a.b/c"]);
    assert_eq!(tag(&k, "team").as_deref(), Some("blue"), "{k}");
    assert_eq!(tag(&k, "cost").as_deref(), Some("a.b/c"), "{k}");
    assert_eq!(tag(&k, "env").as_deref(), Some("test"), "{k}");
    let out = cli.keys(&["untag", &id, "team", "cost"]);
    assert_eq!(row(&out, "Tags"), "env=test", "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(tag(&k, "team"), None, "{k}");
    let err = cli.keys_fail(&["tag", &id, "no-equals-sign"]);
    assert!(err.contains("KEY=VALUE"), "{err}");

    // Aliases.
    let second = unique("cli-key-2");
    let k = cli.keys_json(&["add-alias", &id, &second]);
    let mut want = vec![format!("alias/{alias}"), format!("alias/{second}")];
    want.sort();
    let mut got = aliases(&k);
    got.sort();
    assert_eq!(got, want, "{k}");
    let k = cli.keys_json(&["delete-alias", &id, &second]);
    assert_eq!(aliases(&k), vec![format!("alias/{alias}")], "{k}");

    // Description.
    let out = cli.keys(&["update-description", &id, "described again"]);
    assert_eq!(row(&out, "Description"), "described again", "{out}");

    // Disable / enable.
    let out = cli.keys(&["disable", &id]);
    assert_eq!(row(&out, "KeyState"), "Disabled", "{out}");
    let k = cli.keys_json(&["enable", &id]);
    assert_eq!(state(&k), "Enabled", "{k}");
    assert_eq!(k["aws_param"]["Enabled"], true, "{k}");

    // Schedule the deletion, then cancel it: the key ends Disabled.
    let k = cli.keys_json(&["schedule-deletion", &id, "--days", "7"]);
    assert_eq!(state(&k), "PendingDeletion", "{k}");
    assert!(k["aws_param"]["DeletionDate"].is_string(), "{k}");
    let out = cli.keys(&["get", &id]);
    assert_eq!(row(&out, "KeyState"), "PendingDeletion", "{out}");
    assert!(!row(&out, "DeletionDate").is_empty(), "{out}");
    // A second schedule: the state AWS refuses, with its reason.
    let err = cli.keys_fail(&["schedule-deletion", &id, "--days", "7"]);
    assert!(err.contains("is pending deletion"), "{err}");
    assert!(err.contains("422"), "{err}");
    let out = cli.keys(&["cancel-deletion", &id]);
    assert_eq!(row(&out, "KeyState"), "Disabled", "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(state(&k), "Disabled", "{k}");
    assert!(k["aws_param"].get("DeletionDate").is_none(), "{k}");

    // Refused before AWS: the server's message, naming the field, and a non-zero exit.
    let err = cli.keys_fail(&["schedule-deletion", &id, "--days", "3"]);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("days: must be from 7 to 30"), "{err}");
    assert!(err.contains("400"), "{err}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(state(&k), "Disabled", "{k}");
    let err = cli.keys_fail(&["get", "no-such-key"]);
    assert!(err.contains("404"), "{err}");

    // Delete forgets only the record, and says so.
    let out = cli.keys(&["delete", &id]);
    assert!(out.contains("forgotten"), "{out}");
    assert!(out.contains("AWS"), "{out}");
    cli.keys_fail(&["get", &id]);
    let listed = cli.keys_json(&["list", "--alias", &alias]);
    assert_eq!(listed["total"], 0, "{listed}");
}

#[tokio::test]
async fn rotation_policy_public_key_and_alias_checks() {
    let server = Server::start();
    let cli = Cli::login(&server);
    cli.localstack_kms(&Aws::default_account());
    let alias = unique("cli-rot");
    let k = cli.keys_json(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &alias,
    ]);
    let id = k["id"].as_str().unwrap().to_string();

    // Rotation.
    let out = cli.keys(&["enable-auto-rotation", &id, "--days", "180"]);
    assert_eq!(
        row(&out, "KeyRotationEnabled"),
        "true (every 180 days)",
        "{out}"
    );
    let status = cli.keys_json(&["rotation-status", &id]);
    assert_eq!(status["KeyRotationEnabled"], true, "{status}");
    assert_eq!(status["RotationPeriodInDays"], 180, "{status}");
    let out = cli.keys(&["rotation-status", &id]);
    assert!(out.contains("KeyRotationEnabled"), "{out}");
    let err = cli.keys_fail(&["enable-auto-rotation", &id, "--days", "30"]);
    assert!(err.contains("rotation_period_in_days"), "{err}");
    let k = cli.keys_json(&["disable-auto-rotation", &id]);
    assert_eq!(k["aws_param"]["KeyRotationEnabled"], false, "{k}");
    let k = cli.keys_json(&["rotate-material", &id]);
    assert_eq!(k["id"], id.as_str());
    let k = cli.keys_json(&["refresh", &id]);
    assert_eq!(state(&k), "Enabled", "{k}");

    // Policy from a file, and the exclusivity the server enforces.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(
        &file,
        r#"{"Version":"2012-10-17","Id":"cli-policy","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let k = cli.keys_json(&["policy", &id, "--policy-file", file]);
    assert_eq!(k["aws_param"]["Policy"]["Id"], "cli-policy", "{k}");
    let err = cli.keys_fail(&["policy", &id, "--policy-file", file, "--key-user", "alice"]);
    assert!(err.contains("mutually exclusive"), "{err}");
    let k = cli.keys_json(&["policy", &id, "--key-admin", "alice", "--key-user", "bob"]);
    // Shown as ARNs, as CipherTrust shows them (Thales' Terraform provider expects them).
    assert_eq!(
        k["key_admins"][0], "arn:aws:iam::000000000000:user/alice",
        "{k}"
    );
    assert_eq!(
        k["key_users"][0], "arn:aws:iam::000000000000:user/bob",
        "{k}"
    );

    // Public keys: PEM for an asymmetric key, the server's refusal for a symmetric one.
    let rsa = cli.keys_json(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--key-spec",
        "RSA_2048",
        "--key-usage",
        "SIGN_VERIFY",
    ]);
    assert_eq!(rsa["key_type"], "asymmetric", "{rsa}");
    let pem = cli.keys(&["public-key", rsa["id"].as_str().unwrap()]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert!(
        pem.trim_end().ends_with("-----END PUBLIC KEY-----"),
        "{pem}"
    );
    let err = cli.keys_fail(&["public-key", &id]);
    assert!(err.contains("asymmetric"), "{err}");
    let err = cli.keys_fail(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--key-spec",
        "HMAC_256",
        "--key-usage",
        "ENCRYPT_DECRYPT",
    ]);
    assert!(err.contains("aws_param.KeyUsage"), "{err}");

    // Alias availability.
    let free = unique("cli-free");
    let out = cli.keys(&[
        "verify-alias",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        &free,
    ]);
    assert!(out.contains("available"), "{out}");
    let err = cli.keys_fail(&[
        "verify-alias",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        &alias,
    ]);
    assert!(err.contains("already exists"), "{err}");
    let err = cli.keys_fail(&[
        "verify-alias",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "aws/ebs",
    ]);
    assert!(err.contains("reserved"), "{err}");
}

#[tokio::test]
async fn replicate_a_multi_region_key() {
    let server = Server::start();
    let cli = Cli::login(&server);
    cli.localstack_kms(&Aws::default_account());
    // A second Region for the replica.
    let admin = server.admin().await;
    server
        .patch(
            "/api/v1/cckm/aws/kms/kms",
            &admin,
            serde_json::json!({"regions": ["ap-south-1", "eu-west-1"]}),
        )
        .await
        .expect(200);
    let primary = cli.keys_json(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--multi-region",
        "--alias",
        &unique("cli-mrk"),
    ]);
    assert_eq!(primary["aws_param"]["MultiRegion"], true, "{primary}");
    let id = primary["id"].as_str().unwrap();
    let out = cli.keys(&["get", id]);
    assert_eq!(row(&out, "MultiRegion"), "true (PRIMARY)", "{out}");

    let out = cli.keys(&["replicate", id, "--region", "eu-west-1"]);
    assert_eq!(row(&out, "region"), "eu-west-1", "{out}");
    assert_eq!(row(&out, "MultiRegion"), "true (REPLICA)", "{out}");
    assert_ne!(row(&out, "id"), id, "{out}");
    let listed = cli.keys_json(&["list", "--region", "eu-west-1"]);
    assert_eq!(listed["total"], 1, "{listed}");

    // The replica's own Region is refused before AWS.
    let err = cli.keys_fail(&["replicate", id, "--region", "ap-south-1"]);
    assert!(err.contains("replica_region"), "{err}");
    let err = cli.keys_fail(&["update-primary-region", id, "--region", "us-west-2"]);
    assert!(err.contains("PrimaryRegion"), "{err}");
}
