//! Bring your own key through the CLI, against a real server and LocalStack's KMS:
//! `keyward vault keys ...` and `keyward aws keys import-material | delete-material | upload |
//! expiring`, and the `keyward_byok_keys_expiring` metric.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli_user::{Cli, row};
use common::{Aws, Server};
use serde_json::Value;

/// Known material given to the vault; it must never be printed.
const MATERIAL: &str = "6b6579776172642d627965696f2d636c692d746573742d6d6174657269616c21";

/// A CLI user logged in to `server` as admin, which must never print [`MATERIAL`].
fn login(server: &Server) -> Cli {
    Cli::new().never_printing(MATERIAL).logged_in_to(server)
}

/// A name no earlier run used (LocalStack keeps its aliases for its whole life).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn state(k: &Value) -> &str {
    k["aws_param"]["KeyState"].as_str().unwrap()
}

/// The value of an unlabelled metric in `/metrics`.
async fn metric(server: &Server, name: &str) -> Option<f64> {
    let resp = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().unwrap())
    })
}

#[tokio::test]
async fn vault_keys_through_the_cli() {
    let server = Server::start();
    let cli = login(&server);

    // Create with known material from an environment variable: a table of metadata.
    let out = cli.ok_env(
        &[
            "vault",
            "keys",
            "create",
            "cli-known",
            "--material-env",
            "KW_TEST_MATERIAL",
        ],
        &[("KW_TEST_MATERIAL", MATERIAL)],
    );
    assert_eq!(row(&out, "name"), "cli-known", "{out}");
    assert_eq!(row(&out, "algorithm"), "aes", "{out}");
    assert_eq!(row(&out, "size"), "256", "{out}");
    let id = row(&out, "id").to_string();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{out}"
    );

    // Generated material, --json: the server's record, without material.
    let k = cli.vault_json(&["create", "cli-generated", "--size", "128"]);
    assert_eq!(k["name"], "cli-generated");
    assert_eq!(k["size"], 128);
    assert!(k.get("material").is_none(), "{k}");

    // An unset variable is refused before the server is asked.
    let err = cli.vault_fail(&["create", "cli-unset", "--material-env", "KW_TEST_UNSET_VAR"]);
    assert!(err.contains("KW_TEST_UNSET_VAR"), "{err}");
    // The server's message on bad input, exit non-zero.
    let err = cli.vault_fail(&["create", "cli-bad-size", "--size", "100"]);
    assert!(err.contains("size: 100 is not an AES key size"), "{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    // A name may repeat (as in CipherTrust; issue 11): a second key, deleted again by id.
    let twin = cli.vault_json(&["create", "cli-known"]);
    let twin_id = twin["id"].as_str().unwrap().to_string();
    assert_ne!(twin_id, id);
    let err = cli.vault_fail(&["get", "cli-known"]);
    assert!(err.contains("HTTP 409"), "{err}");
    cli.vault(&["delete", &twin_id]);

    // List, and the name filter.
    let out = cli.vault(&["list"]);
    assert!(
        out.contains("cli-known") && out.contains("cli-generated"),
        "{out}"
    );
    let out = cli.vault(&["list", "--name", "cli-known"]);
    assert!(out.contains("1 of 1") && out.contains(&id), "{out}");
    let listed = cli.vault_json(&["list", "--name", "cli-generated"]);
    assert_eq!(listed["total"], 1, "{listed}");

    // Get by id or by name.
    let out = cli.vault(&["get", &id]);
    assert_eq!(row(&out, "name"), "cli-known", "{out}");
    let k = cli.vault_json(&["get", "cli-known"]);
    assert_eq!(k["id"], id.as_str());
    assert!(k.get("material").is_none(), "{k}");

    // Delete by name; then it is gone.
    let out = cli.vault(&["delete", "cli-generated"]);
    assert!(out.contains("deleted"), "{out}");
    let err = cli.vault_fail(&["get", "cli-generated"]);
    assert!(
        err.contains("not found") && err.contains("HTTP 404"),
        "{err}"
    );
}

#[tokio::test]
async fn import_delete_upload_and_expiry_through_the_cli() {
    let server = Server::start();
    let cli = login(&server);
    cli.localstack_kms(&Aws::fresh());
    cli.ok_env(
        &[
            "vault",
            "keys",
            "create",
            "byok-source",
            "--material-env",
            "KW_TEST_MATERIAL",
        ],
        &[("KW_TEST_MATERIAL", MATERIAL)],
    );
    assert_eq!(
        metric(&server, "keyward_byok_keys_expiring").await,
        Some(0.0)
    );

    // An EXTERNAL key waits for material.
    let alias = unique("byok-cli");
    let out = cli.keys(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &alias,
        "--origin",
        "EXTERNAL",
    ]);
    assert_eq!(row(&out, "KeyState"), "PendingImport", "{out}");
    assert_eq!(row(&out, "Origin"), "EXTERNAL", "{out}");
    let id = row(&out, "id").to_string();

    // Import the vault key's material, expiring in 10 days.
    let out = cli.keys(&[
        "import-material",
        &id,
        "--source-key",
        "byok-source",
        "--tier",
        "local",
        "--expires-in",
        "10d",
    ]);
    assert_eq!(row(&out, "KeyState"), "Enabled", "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(k["key_material_origin"], "cckm", "{k}");
    assert_eq!(k["local_key_name"], "byok-source", "{k}");
    assert_eq!(
        k["aws_param"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES",
        "{k}"
    );
    // AWS reports ValidTo; LocalStack does not keep it (the expiry Keyward recorded still
    // drives the expiry watch), so the table says so.
    let valid_to = match k["aws_param"]["ValidTo"].as_str() {
        Some(v) => {
            let hours = (chrono::DateTime::parse_from_rfc3339(v).unwrap()
                - chrono::Utc::now().fixed_offset())
            .num_hours();
            assert!((9 * 24..=10 * 24).contains(&hours), "ValidTo {v}");
            v.to_string()
        }
        None => "n/a (not reported by AWS)".to_string(),
    };
    // The vault key now shows its user, and cannot be deleted.
    let v = cli.vault_json(&["get", "byok-source"]);
    assert_eq!(v["used_by_aws_keys"][0], id.as_str(), "{v}");
    let err = cli.vault_fail(&["delete", "byok-source"]);
    assert!(err.contains("HTTP 409"), "{err}");

    // The expiry watch: the table, --json, a window too short, and the metric.
    let out = cli.keys(&["expiring", "--within", "30d"]);
    for column in ["id", "alias", "KeyID", "ValidTo", "local_key_name"] {
        assert!(
            out.lines().any(|l| l.contains(column)),
            "no column {column}: {out}"
        );
    }
    assert!(out.contains(&id), "{out}");
    assert!(out.contains(&format!("alias/{alias}")), "{out}");
    assert!(out.contains(&valid_to), "{out}");
    assert!(out.contains("byok-source"), "{out}");
    assert!(out.contains("1 of 1"), "{out}");
    let listed = cli.keys_json(&["expiring", "--within", "30d"]);
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["resources"][0]["id"], id.as_str(), "{listed}");
    let out = cli.keys(&["expiring", "--within", "5d"]);
    assert!(out.contains("0 of 0"), "{out}");
    assert_eq!(
        metric(&server, "keyward_byok_keys_expiring").await,
        Some(1.0)
    );

    // Upload: a new EXTERNAL key with fresh vault material, Enabled in one call.
    let up_alias = unique("byok-upload");
    let out = cli.keys(&[
        "upload",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &up_alias,
        "--description",
        "uploaded by the CLI",
        "--expires-in",
        "100d",
    ]);
    assert_eq!(row(&out, "KeyState"), "Enabled", "{out}");
    assert_eq!(row(&out, "Origin"), "EXTERNAL", "{out}");
    assert_eq!(row(&out, "alias"), format!("alias/{up_alias}"), "{out}");
    assert_eq!(row(&out, "Description"), "uploaded by the CLI", "{out}");
    let up_id = row(&out, "id").to_string();
    let up = cli.keys_json(&["get", &up_id]);
    let up_key_id = up["aws_param"]["KeyID"].as_str().unwrap();
    assert_eq!(
        up["local_key_name"],
        format!("aws-{up_key_id}").as_str(),
        "{up}"
    );
    // 100 days is outside a 30-day window, inside a 101-day one.
    assert_eq!(
        metric(&server, "keyward_byok_keys_expiring").await,
        Some(1.0)
    );
    let listed = cli.keys_json(&["expiring", "--within", "101d"]);
    assert_eq!(listed["total"], 2, "{listed}");

    // Delete the material: PendingImport; the vault key stays for a re-import.
    let out = cli.keys(&["delete-material", &id]);
    assert_eq!(row(&out, "KeyState"), "PendingImport", "{out}");
    let k = cli.keys_json(&["get", &id]);
    assert_eq!(state(&k), "PendingImport", "{k}");
    let v = cli.vault_json(&["get", "byok-source"]);
    assert_eq!(v["name"], "byok-source", "{v}");
    // Without material nothing expires: the key leaves the expiry watch.
    assert_eq!(
        metric(&server, "keyward_byok_keys_expiring").await,
        Some(0.0)
    );
    let listed = cli.keys_json(&["expiring", "--within", "30d"]);
    assert_eq!(listed["total"], 0, "{listed}");
    // Deleting it again: the server's message, exit non-zero.
    let err = cli.keys_fail(&["delete-material", &id]);
    assert!(err.contains("has no imported material"), "{err}");
    assert!(err.contains("HTTP 422"), "{err}");

    // Re-import, without expiry this time (the bound material is reused).
    let k = cli.keys_json(&["import-material", &id]);
    assert_eq!(state(&k), "Enabled", "{k}");
    assert_eq!(k["local_key_name"], "byok-source", "{k}");
    assert_eq!(
        k["aws_param"]["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "{k}"
    );
    assert_eq!(
        metric(&server, "keyward_byok_keys_expiring").await,
        Some(0.0)
    );

    // Errors: the server's message and a non-zero exit.
    let native = cli.keys_json(&[
        "create",
        "--kms",
        "kms",
        "--region",
        "ap-south-1",
        "--alias",
        &unique("byok-native"),
    ]);
    let err = cli.keys_fail(&[
        "import-material",
        native["id"].as_str().unwrap(),
        "--source-key",
        "byok-source",
    ]);
    assert!(err.contains("only keys with Origin EXTERNAL"), "{err}");
    assert!(err.contains("HTTP 400"), "{err}");
    let err = cli.keys_fail(&["import-material", &id, "--expires-in", "400d"]);
    assert!(err.contains("valid_to") && err.contains("365"), "{err}");
    let err = cli.keys_fail(&[
        "import-material",
        &id,
        "--valid-to",
        "2020-12-04T06:51:18.505860192Z",
    ]);
    assert!(err.contains("not in the future"), "{err}");
    let err = cli.keys_fail(&["import-material", &id, "--source-key", "no-such-key"]);
    assert!(err.contains("no-such-key"), "{err}");
    // Client-side: a bad duration, and both validity flags at once.
    let err = cli.keys_fail(&["import-material", &id, "--expires-in", "soon"]);
    assert!(err.contains("30d"), "{err}");
    let err = cli.keys_fail(&[
        "import-material",
        &id,
        "--expires-in",
        "10d",
        "--valid-to",
        "2030-01-01T00:00:00Z",
    ]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = cli.keys_fail(&["expiring", "--within", "forever"]);
    assert!(err.contains("expiring_within"), "{err}");
}
