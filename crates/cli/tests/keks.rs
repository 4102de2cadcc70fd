//! Rotating the key-encryption key while the server runs: every stored secret is re-sealed
//! under the new KEK, everything keeps working, and a restart loads the new KEK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::cli_user::Cli;
use common::{ADMIN_PASSWORD, Server};
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;

/// The KEK id of every sealed value in the database (byte 1..5 of the sealed format).
async fn kek_ids(data_dir: &Path) -> Vec<(String, u32)> {
    let opts = SqliteConnectOptions::new()
        .filename(data_dir.join("keyward.db"))
        .read_only(true);
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let mut out = Vec::new();
    for (what, sql) in [
        ("system", "SELECT sealed AS s FROM system_secrets"),
        (
            "connection",
            "SELECT secret_sealed AS s FROM aws_connections",
        ),
        ("local key", "SELECT material_sealed AS s FROM local_keys"),
    ] {
        for row in sqlx::query(sql).fetch_all(&mut conn).await.unwrap() {
            let s: Vec<u8> = row.get("s");
            out.push((
                what.to_string(),
                u32::from_be_bytes([s[1], s[2], s[3], s[4]]),
            ));
        }
    }
    out
}

async fn connection_works(server: &Server, token: &str) {
    let r = server
        .post(
            "/api/v1/connectionmgmt/services/aws/connections/ls/test",
            token,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["connection_ok"], true, "{}", r.body);
}

#[tokio::test]
async fn rotate_kek_reseals_everything_and_survives_a_restart() {
    let server = Server::start();
    let admin = server.admin().await;
    server.localstack_connection(&admin, "ls").await;
    server
        .post(
            "/api/v1/vault/keys2",
            &admin,
            json!({"name": "k1", "size": 256}),
        )
        .await
        .expect(201);
    let before = kek_ids(&server.data_dir()).await;
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.iter().all(|(_, k)| *k == 1), "{before:?}");

    // Only admins rotate.
    let cckm_admin = server.user_token(&admin, "ops", &["CCKM Admins"]).await;
    server
        .post("/api/v1/admin/rotate-kek", &cckm_admin, json!({}))
        .await
        .expect(403);

    let r = server
        .post("/api/v1/admin/rotate-kek", &admin, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(r["kek_id"], 2, "{r}");
    assert_eq!(r["resealed"], 3, "{r}");
    let after = kek_ids(&server.data_dir()).await;
    assert!(after.iter().all(|(_, k)| *k == 2), "{after:?}");

    // Everything still opens: the connection's secret, tokens, the vault key's material.
    connection_works(&server, &admin).await;
    let admin2 = server.admin().await;
    let key = server
        .post(
            "/api/v1/cckm/aws/keys",
            &admin2,
            json!({"kms": "kms-none", "region": "ap-south-1"}),
        )
        .await;
    assert_eq!(key.status.as_u16(), 400, "no container yet: {}", key.body);
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin2,
            json!({"name": "kms", "account_id": "000000000000", "connection": "ls", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201);
    let ext = server
        .post(
            "/api/v1/cckm/aws/keys",
            &admin2,
            json!({"kms": "kms", "region": "ap-south-1", "aws_param": {"Origin": "EXTERNAL"}}),
        )
        .await
        .expect(201)
        .body;
    let imported = server
        .post(
            &format!(
                "/api/v1/cckm/aws/keys/{}/import-material",
                ext["id"].as_str().unwrap()
            ),
            &admin2,
            json!({"source_key_identifier": "k1"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(imported["aws_param"]["KeyState"], "Enabled");

    // A value written after the rotation is sealed under the new KEK too.
    server
        .post(
            "/api/v1/vault/keys2",
            &admin2,
            json!({"name": "k2", "size": 128}),
        )
        .await
        .expect(201);
    assert!(
        kek_ids(&server.data_dir())
            .await
            .iter()
            .all(|(_, k)| *k == 2)
    );

    // The audit trail has the rotation.
    let audit = server.audit_records(&admin2).await;
    assert!(
        audit["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "vault.rotate-kek" && r["outcome"] == "success"),
        "{audit}"
    );

    // A restart loads KEK 2 before opening anything.
    let dir = server.stop_keep_data();
    let server = Server::start_in(dir, &[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = server.admin().await;
    connection_works(&server, &admin).await;

    // The CLI rotates on the server it is logged in to.
    let cli = Cli::login(&server);
    let (ok, out, err) = cli.run(&["admin", "rotate-kek"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("key-encryption key 3 is active"), "{out}");
    assert!(
        kek_ids(&server.data_dir())
            .await
            .iter()
            .all(|(_, k)| *k == 3)
    );
    connection_works(&server, &admin).await;
}
