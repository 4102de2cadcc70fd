//! `keyward aws sync` follows a synchronisation job to its end; `refresh` of a key AWS no
//! longer has marks its record gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli_user::Cli;
use common::{Aws, Server};
use serde_json::{Value, json};

#[tokio::test]
async fn sync_command_reports_the_finished_job_and_refresh_marks_gone() {
    let server = Server::start();
    let admin = server.admin().await;
    server.localstack_kms(&admin, &Aws::fresh()).await;
    let key = server
        .post(
            "/api/v1/cckm/aws/keys",
            &admin,
            json!({"kms": "kms", "region": "ap-south-1"}),
        )
        .await
        .expect(201)
        .body;

    let cli = Cli::login(&server);

    let (ok, out, err) = cli.run(&["aws", "sync", "--kms", "kms"], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("synchronization completed: 1 keys seen, 0 new, 0 gone"),
        "{out}"
    );
    let (ok, out, err) = cli.run(&["--json", "aws", "sync", "--all"], &[]);
    assert!(ok, "{err}");
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(job["overall_status"], "completed");
    assert_eq!(job["synchronize_all"], true);
    let (ok, _, err) = cli.run(&["aws", "sync", "--kms", "nope"], &[]);
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
