//! `keyward aws sync` follows a synchronisation job to its end; `refresh` of a key AWS no
//! longer has marks its record gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN_PASSWORD, Server, cli};
use serde_json::{Value, json};

#[tokio::test]
async fn sync_command_reports_the_finished_job_and_refresh_marks_gone() {
    let server = Server::start();
    let admin = server.admin().await;
    let (_conn, account) = server.localstack_account_connection(&admin, "ls").await;
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin,
            json!({"name": "kms", "account_id": account, "connection": "ls", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201);
    let key = server
        .post(
            "/api/v1/cckm/aws/keys",
            &admin,
            json!({"kms": "kms", "region": "ap-south-1"}),
        )
        .await
        .expect(201)
        .body;

    let config = tempfile::tempdir().unwrap();
    let cfg = config.path().to_str().unwrap();
    let cert = server.data_dir().join("tls").join("cert.pem");
    let (ok, _, err) = cli(
        &[
            "login",
            "--url",
            &server.url,
            "--user",
            "admin",
            "--ca-cert",
            cert.to_str().unwrap(),
        ],
        &[
            ("KEYWARD_CONFIG_DIR", cfg),
            ("KEYWARD_PASSWORD", ADMIN_PASSWORD),
        ],
    );
    assert!(ok, "{err}");

    let (ok, out, err) = cli(
        &["aws", "sync", "--kms", "kms"],
        &[("KEYWARD_CONFIG_DIR", cfg)],
    );
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("synchronization completed: 1 keys seen, 0 new, 0 gone"),
        "{out}"
    );
    let (ok, out, err) = cli(
        &["--json", "aws", "sync", "--all"],
        &[("KEYWARD_CONFIG_DIR", cfg)],
    );
    assert!(ok, "{err}");
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["overall_status"], "completed");
    assert_eq!(job["synchronize_all"], true);
    let (ok, _, err) = cli(
        &["aws", "sync", "--kms", "nope"],
        &[("KEYWARD_CONFIG_DIR", cfg)],
    );
    assert!(!ok);
    assert!(err.contains("kms:"), "{err}");

    // Point the record at a key AWS never had (the emulator never forgets keys), then refresh.
    let id = key["id"].as_str().unwrap();
    let db = server.data_dir().join("keyward.db");
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&db);
    let mut conn = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    let missing = uuid::Uuid::new_v4().to_string();
    let record: String = sqlx::query_scalar("SELECT record_json FROM aws_keys WHERE id = ?")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let mut record: Value = serde_json::from_str(&record).unwrap();
    record["aws"]["metadata"]["key_id"] = json!(missing);
    sqlx::query("UPDATE aws_keys SET record_json = ?, key_id = ? WHERE id = ?")
        .bind(record.to_string())
        .bind(&missing)
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    let r = server
        .post(
            &format!("/api/v1/cckm/aws/keys/{id}/refresh"),
            &admin,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["gone"], true, "{r}");
    let listed = server
        .get("/api/v1/cckm/aws/keys?gone=true", &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(listed["total"], 1);
    // Other actions on a gone key are refused with the reason.
    server
        .post(
            &format!("/api/v1/cckm/aws/keys/{id}/disable"),
            &admin,
            json!({}),
        )
        .await
        .expect_error(422, "gone");
}
