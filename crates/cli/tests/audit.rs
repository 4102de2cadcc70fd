//! The audit trail (one chained record per state-changing request, admin-only reading,
//! `keyward admin verify-audit`), metrics and health.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{ADMIN_PASSWORD, Reply, Server};
use reqwest::Method;
use serde_json::{Value, json};

const CONNECTIONS: &str = "/api/v1/connectionmgmt/services/aws/connections";

fn request_id(r: &Reply) -> String {
    r.headers
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string()
}

async fn all_records(server: &Server, admin: &str) -> Vec<Value> {
    let r = server
        .get("/api/v1/audit/records?limit=-1", admin)
        .await
        .expect(200);
    r.body["resources"].as_array().expect("resources").clone()
}

/// The one record written by the request with this id.
async fn record_of(server: &Server, admin: &str, request_id: &str) -> Value {
    let records = all_records(server, admin).await;
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["request_id"] == request_id)
        .collect();
    assert_eq!(found.len(), 1, "records of request {request_id}: {found:?}");
    found[0].clone()
}

fn assert_record(rec: &Value, actor: &str, action: &str, target: &str, outcome: &str) {
    assert_eq!(rec["actor"], actor, "{rec}");
    assert_eq!(rec["action"], action, "{rec}");
    assert_eq!(rec["target"], target, "{rec}");
    assert_eq!(rec["outcome"], outcome, "{rec}");
    let at = rec["createdAt"].as_str().expect("createdAt");
    let at =
        chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|e| panic!("createdAt {at}: {e}"));
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age.num_seconds().abs() < 120, "createdAt {at} is not now");
    assert_eq!(rec["hash"].as_str().map(str::len), Some(64), "{rec}");
    assert_eq!(rec["prev_hash"].as_str().map(str::len), Some(64), "{rec}");
}

#[tokio::test]
async fn state_changing_requests_write_audit_records_with_the_request_id() {
    let server = Server::start();
    let admin = server.admin().await;

    let before = all_records(&server, &admin).await.len();
    // Reads write nothing.
    server
        .get("/api/v1/usermgmt/users", &admin)
        .await
        .expect(200);
    server.get(CONNECTIONS, &admin).await.expect(200);
    assert_eq!(
        all_records(&server, &admin).await.len(),
        before,
        "a read wrote an audit record"
    );

    // Create a user.
    let r = server
        .post(
            "/api/v1/usermgmt/users",
            &admin,
            json!({"username": "erin", "password": "erin-password-1", "groups": ["CCKM Users"]}),
        )
        .await
        .expect(201);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "admin", "user.create", "erin", "success");

    // Create a connection.
    let r = server
        .post(
            CONNECTIONS,
            &admin,
            json!({
                "name": "audited",
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_region": "ap-south-1",
                "endpoint_url": "http://127.0.0.1:9",
            }),
        )
        .await
        .expect(201);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "admin", "connection.create", "audited", "success");
    assert!(
        !rec.to_string().contains("EXAMPLEKEY"),
        "the AWS secret is in the audit trail: {rec}"
    );

    // A failed login.
    let r = server
        .login_reply("erin", "not-erins-password")
        .await
        .expect(401);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "erin", "auth.login", "erin", "denied");
    assert!(
        !rec.to_string().contains("not-erins-password"),
        "the password is in the audit trail: {rec}"
    );

    // A 403: a CCKM Users member may not add connections.
    let erin = server.login("erin", "erin-password-1").await;
    let r = server
        .post(
            CONNECTIONS,
            &erin,
            json!({"name": "not-allowed", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
        )
        .await
        .expect(403);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "erin", "connection.create", "not-allowed", "denied");

    // Every other kind of change, successful or not, writes exactly one record too.
    let erin_id = server
        .get("/api/v1/usermgmt/users?limit=-1", &admin)
        .await
        .expect(200)
        .body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "erin")
        .map(|u| u["user_id"].as_str().unwrap().to_string())
        .unwrap();
    let conn_id = server
        .get(&format!("{CONNECTIONS}/audited"), &admin)
        .await
        .expect(200)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let erin_login = server
        .login_reply("erin", "erin-password-1")
        .await
        .expect(200);
    let erin = erin_login.body["jwt"].as_str().unwrap().to_string();
    let token_id = erin_login.body["refresh_token_id"]
        .as_str()
        .unwrap()
        .to_string();
    let steps: Vec<(Reply, &str, &str, &str)> = vec![
        (
            server
                .post(
                    "/api/v1/usermgmt/users",
                    &admin,
                    json!({"username": "erin", "password": "erin-password-2", "groups": []}),
                )
                .await
                .expect(409),
            "admin",
            "user.create",
            "failure",
        ),
        (
            server
                .patch(&format!("/api/v1/usermgmt/users/{erin_id}"), &admin, json!({"name": "Erin"}))
                .await
                .expect(200),
            "admin",
            "user.update",
            "success",
        ),
        (
            server
                .patch(&format!("{CONNECTIONS}/{conn_id}"), &admin, json!({"description": "d"}))
                .await
                .expect(200),
            "admin",
            "connection.update",
            "success",
        ),
        (
            server
                .post(
                    "/api/v1/cckm/aws/kms",
                    &admin,
                    json!({"name": "k", "account_id": "000000000000", "connection": "audited", "regions": ["ap-south-1"]}),
                )
                .await
                .expect(201),
            "admin",
            "kms.create",
            "success",
        ),
        (
            server.delete("/api/v1/cckm/aws/kms/k", &admin).await.expect(204),
            "admin",
            "kms.delete",
            "success",
        ),
        (
            server.delete(&format!("/api/v1/auth/tokens/{token_id}"), &erin).await.expect(204),
            "erin",
            "auth.revoke",
            "success",
        ),
        (
            server.delete(&format!("{CONNECTIONS}/{conn_id}"), &admin).await.expect(204),
            "admin",
            "connection.delete",
            "success",
        ),
        (
            server.delete(&format!("/api/v1/usermgmt/users/{erin_id}"), &admin).await.expect(204),
            "admin",
            "user.delete",
            "success",
        ),
    ];
    for (reply, actor, action, outcome) in steps {
        let rec = record_of(&server, &admin, &request_id(&reply)).await;
        assert_eq!(
            (
                rec["actor"].as_str(),
                rec["action"].as_str(),
                rec["outcome"].as_str()
            ),
            (Some(actor), Some(action), Some(outcome)),
            "{rec}"
        );
    }

    // The chain links each record to the one before it.
    let mut records = all_records(&server, &admin).await;
    records.sort_by_key(|r| r["seq"].as_i64().unwrap());
    for pair in records.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_i64(),
            pair[0]["seq"].as_i64().map(|s| s + 1)
        );
        assert_eq!(
            pair[1]["prev_hash"], pair[0]["hash"],
            "broken link at {}",
            pair[1]
        );
    }
}

#[tokio::test]
async fn audit_records_are_for_admins_only() {
    let server = Server::start();
    let admin = server.admin().await;
    let cckm_admin = server.user_token(&admin, "frank", &["CCKM Admins"]).await;
    let cckm_user = server.user_token(&admin, "gina", &["CCKM Users"]).await;
    server
        .get("/api/v1/audit/records", &cckm_admin)
        .await
        .expect_error(403, "");
    server
        .get("/api/v1/audit/records", &cckm_user)
        .await
        .expect_error(403, "");
    server
        .call(Method::GET, "/api/v1/audit/records", None, None)
        .await
        .expect_error(401, "");
    let r = server
        .get("/api/v1/audit/records", &admin)
        .await
        .expect(200);
    assert!(r.body["total"].as_i64().unwrap() >= 3, "{}", r.body);
    assert_eq!(r.body["limit"], 10);
    assert!(r.body["resources"].as_array().unwrap().len() <= 10);
    // Newest first by default.
    let seqs: Vec<i64> = r.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {seqs:?}"
    );
}

/// Copies the database of a stopped server into a fresh data directory.
fn copy_db(from: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let src = from.join(format!("keyward.db{suffix}"));
        if src.exists() {
            std::fs::copy(&src, dir.path().join(format!("keyward.db{suffix}"))).unwrap();
        }
    }
    // The chain is keyed by the root key: verify-audit needs it (copied with its mode 0600).
    std::fs::copy(from.join("root.key"), dir.path().join("root.key")).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

async fn tamper(data_dir: &Path, sql: &str) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join("keyward.db"));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let done = sqlx::query(sql).execute(&pool).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
    pool.close().await;
}

fn verify(data_dir: &Path) -> (bool, String) {
    let (ok, out, err) = common::cli(
        &[
            "admin",
            "verify-audit",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[],
    );
    (ok, format!("{out}\n{err}"))
}

#[tokio::test]
async fn verify_audit_detects_edited_and_deleted_records() {
    let server = Server::start();
    let admin = server.admin().await;
    server.user_token(&admin, "hank", &["CCKM Users"]).await;
    server.localstack_connection(&admin, "verify-me").await;
    server
        .login_reply("hank", "wrong-password-1")
        .await
        .expect(401);
    let total = all_records(&server, &admin).await.len() as i64;
    assert!(total >= 5, "expected at least 5 records, got {total}");

    // It may run beside the live server.
    let (ok, out) = verify(&server.data_dir());
    assert!(ok, "verify-audit failed on an intact trail: {out}");
    assert!(out.contains(&format!("{total} records")), "{out}");

    let dir = server.stop_keep_data();
    let data = dir.path().join("data");
    let (ok, out) = verify(&data);
    assert!(
        ok,
        "verify-audit failed on an intact trail after stopping: {out}"
    );
    let (ok, out, _) = common::cli(
        &[
            "--json",
            "admin",
            "verify-audit",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], total);

    let middle = total / 2;

    // An edited detail.
    let (_keep, edited) = copy_db(&data);
    tamper(
        &edited,
        &format!("UPDATE audit_records SET detail = 'nothing to see' WHERE seq = {middle}"),
    )
    .await;
    let (ok, out) = verify(&edited);
    assert!(!ok, "verify-audit passed an edited record: {out}");
    assert!(
        out.contains(&format!("record {middle} ")),
        "the edited record is not named: {out}"
    );

    // A deleted record in the middle.
    let (_keep, cut) = copy_db(&data);
    tamper(
        &cut,
        &format!("DELETE FROM audit_records WHERE seq = {middle}"),
    )
    .await;
    let (ok, out) = verify(&cut);
    assert!(!ok, "verify-audit passed a deleted record: {out}");
    assert!(
        out.contains(&format!("record {middle} ")),
        "the deleted record is not named: {out}"
    );

    // The last record deleted.
    let (_keep, last) = copy_db(&data);
    tamper(
        &last,
        &format!("DELETE FROM audit_records WHERE seq = {total}"),
    )
    .await;
    let (ok, out) = verify(&last);
    assert!(
        !ok,
        "verify-audit passed a trail missing its last record: {out}"
    );
    assert!(
        out.contains(&format!("record {total}")),
        "the missing last record is not named: {out}"
    );

    // The original is untouched and still verifies.
    let (ok, out) = verify(&data);
    assert!(ok, "{out}");

    // The chain carries on across a restart.
    let server = Server::start_in(dir, &[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = server.admin().await;
    server.user_token(&admin, "ivy", &["CCKM Users"]).await;
    let after = all_records(&server, &admin).await.len() as i64;
    assert!(
        after >= total + 3,
        "{after} records after the restart, {total} before"
    );
    let dir = server.stop_keep_data();
    let (ok, out) = verify(&dir.path().join("data"));
    assert!(ok, "verify-audit failed after a restart: {out}");
    assert!(out.contains(&format!("{after} records")), "{out}");

    // A directory without a database is an error, not an empty trail.
    let empty = tempfile::tempdir().unwrap();
    let (ok, out) = verify(empty.path());
    assert!(!ok, "{out}");
}

fn verify_expecting(data_dir: &Path, checkpoint: &str) -> (bool, String) {
    let (ok, out, err) = common::cli(
        &[
            "admin",
            "verify-audit",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--expect-head",
            checkpoint,
        ],
        &[],
    );
    (ok, format!("{out}\n{err}"))
}

fn checkpoint_of(data_dir: &Path) -> String {
    let (ok, out, err) = common::cli(
        &[
            "admin",
            "audit-checkpoint",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "audit-checkpoint failed: {out}\n{err}");
    let token = out.trim().to_string();
    assert!(token.starts_with("kwcp1."), "{token}");
    token
}

async fn tamper_all(data_dir: &Path, statements: &[String]) {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join("keyward.db"));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    for sql in statements {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

/// What passed `verify-audit` while the chain was plain SHA-256: edit record `seq`, then
/// recompute every following hash and the head, without the root key.
async fn rewrite_with_sha256(data_dir: &Path, seq: i64) {
    use sqlx::Row;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join("keyward.db"));
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let rows = sqlx::query("SELECT * FROM audit_records ORDER BY seq ASC")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut prev = keyward_core::audit::GENESIS_HASH.to_string();
    for row in rows {
        let at: String = row.get("at");
        let mut e = keyward_core::audit::AuditEntry {
            seq: row.get("seq"),
            id: row.get("id"),
            at: chrono::DateTime::parse_from_rfc3339(&at)
                .unwrap()
                .with_timezone(&chrono::Utc),
            actor: row.get("actor"),
            action: row.get("action"),
            target: row.get("target"),
            outcome: row.get("outcome"),
            detail: row.get("detail"),
            request_id: row.get("request_id"),
            prev_hash: prev,
            hash: String::new(),
        };
        if e.seq == seq {
            e.detail = "nothing to see".into();
        }
        e.hash = keyward_store::hash_entry(&e);
        sqlx::query("UPDATE audit_records SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&e.detail)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET seq = ?, hash = ?")
            .bind(e.seq)
            .bind(&e.hash)
            .execute(&pool)
            .await
            .unwrap();
        prev = e.hash;
    }
    pool.close().await;
}

/// The keyed chain: a rewrite recomputed with plain SHA-256 fails; a trail whose last record
/// was deleted and whose head was set back fails against a checkpoint taken before; checkpoints
/// are signed and written to the log and to `audit_checkpoint_file`.
#[tokio::test]
async fn keyed_chain_and_signed_checkpoints_catch_rewrites_and_truncation() {
    let outside = tempfile::tempdir().unwrap();
    let cp_file = outside.path().join("checkpoints.log");
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_AUDIT_CHECKPOINT_FILE", cp_file.to_str().unwrap()),
        ],
    );
    let admin = server.admin().await;
    server.user_token(&admin, "kim", &["CCKM Users"]).await;
    server.user_token(&admin, "lou", &["CCKM Users"]).await;
    let total = all_records(&server, &admin).await.len() as i64;
    assert!(total >= 3, "{total} records");
    // The start checkpoint is in the log and in the file.
    let log = server.stderr();
    assert!(
        log.contains("audit checkpoint") && log.contains("kwcp1."),
        "no checkpoint in the log:\n{log}"
    );
    assert!(log.contains("public_key"), "{log}");
    let at_start = std::fs::read_to_string(&cp_file).unwrap();
    assert_eq!(at_start.lines().count(), 1, "{at_start}");

    let dir = server.stop_keep_data();
    let data = dir.path().join("data");
    // The shutdown checkpoint covers every record.
    let lines = std::fs::read_to_string(&cp_file).unwrap();
    let at_shutdown = lines.lines().last().unwrap().to_string();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(
        at_shutdown.starts_with(&format!("kwcp1.{total}.")),
        "shutdown checkpoint {at_shutdown}, {total} records"
    );
    assert_eq!(
        checkpoint_of(&data).split('.').nth(3),
        at_shutdown.split('.').nth(3)
    );

    // A valid chain passes, with and without the checkpoint (an earlier one too).
    let (ok, out) = verify(&data);
    assert!(ok, "{out}");
    let (ok, out) = verify_expecting(&data, &at_shutdown);
    assert!(
        ok,
        "verify-audit --expect-head failed on an intact trail: {out}"
    );
    let (ok, out) = verify_expecting(&data, at_start.trim());
    assert!(ok, "an earlier checkpoint failed on an intact trail: {out}");

    // A record rewritten and the chain recomputed with plain SHA-256.
    let middle = (total / 2).max(1);
    let (_keep, rewritten) = copy_db(&data);
    rewrite_with_sha256(&rewritten, middle).await;
    let (ok, out) = verify(&rewritten);
    assert!(
        !ok,
        "verify-audit passed a chain recomputed with SHA-256: {out}"
    );
    assert!(out.contains(&format!("record {middle} ")), "{out}");
    let (ok, out) = verify_expecting(&rewritten, &at_shutdown);
    assert!(!ok, "{out}");

    // The last record deleted and the head set back to the one before.
    let (_keep, cut) = copy_db(&data);
    tamper_all(
        &cut,
        &[
            format!("DELETE FROM audit_records WHERE seq = {total}"),
            format!(
                "UPDATE audit_head SET seq = {p}, hash = (SELECT hash FROM audit_records WHERE seq = {p})",
                p = total - 1
            ),
        ],
    )
    .await;
    let (ok, out) = verify_expecting(&cut, &at_shutdown);
    assert!(
        !ok,
        "verify-audit --expect-head passed a trail cut below the checkpoint: {out}"
    );
    assert!(out.contains(&format!("record {total} ")), "{out}");

    // A checkpoint that was altered (or made without the root key) is refused.
    let mut parts: Vec<String> = at_shutdown.split('.').map(String::from).collect();
    parts[1] = (total - 1).to_string();
    let (ok, out) = verify_expecting(&data, &parts.join("."));
    assert!(!ok, "{out}");
    assert!(out.contains("signature"), "{out}");
    let (ok, out) = verify_expecting(&data, "kwcp1.nonsense");
    assert!(!ok, "{out}");
}

/// Refused changes are audited even when the refusal comes before any work: a CCKM Users
/// member may neither rotate a key nor upload one.
#[tokio::test]
async fn refused_rotate_and_upload_key_are_audited_as_denied() {
    let server = Server::start();
    let admin = server.admin().await;
    let nora = server.user_token(&admin, "nora", &["CCKM Users"]).await;
    let r = server
        .post("/api/v1/cckm/aws/keys/some-key-id/rotate", &nora, json!({}))
        .await
        .expect(403);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "nora", "key.rotate", "some-key-id", "denied");

    let r = server
        .post(
            "/api/v1/cckm/aws/upload-key",
            &nora,
            json!({"kms": "some-kms", "region": "ap-south-1"}),
        )
        .await
        .expect(403);
    let rec = record_of(&server, &admin, &request_id(&r)).await;
    assert_record(&rec, "nora", "key.upload", "some-kms", "denied");
}

fn metric_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .collect()
}

/// The value of the first sample of `name` whose labels include all of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metric_lines(text, name).into_iter().find_map(|l| {
        let all = labels
            .iter()
            .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")));
        if all {
            l.rsplit(' ').next().and_then(|v| v.parse().ok())
        } else {
            None
        }
    })
}

async fn metrics(server: &Server) -> String {
    let resp = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "content-type {ct}");
    resp.text().await.unwrap()
}

#[tokio::test]
async fn metrics_and_health_need_no_auth() {
    let server = Server::start();
    let r = server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ok");

    let admin = server.admin().await;
    server
        .get("/api/v1/usermgmt/users", &admin)
        .await
        .expect(200);
    server
        .get("/api/v1/usermgmt/users", &admin)
        .await
        .expect(200);
    server
        .call(Method::GET, "/api/v1/usermgmt/users", None, None)
        .await
        .expect(401);
    server
        .get("/api/v1/no/such/route", &admin)
        .await
        .expect(404);

    let text = metrics(&server).await;
    let users = "/api/v1/usermgmt/users";
    let ok = sample(
        &text,
        "keyward_http_requests_total",
        &[("route", users), ("status", "200")],
    );
    assert!(
        ok.is_some_and(|v| v >= 2.0),
        "no count of 200s on {users}:\n{text}"
    );
    let denied = sample(
        &text,
        "keyward_http_requests_total",
        &[("route", users), ("status", "401")],
    );
    assert!(
        denied.is_some_and(|v| v >= 1.0),
        "no count of 401s on {users}:\n{text}"
    );
    // Unknown paths do not become labels of their own.
    assert!(!text.contains("/api/v1/no/such/route"), "{text}");
    let buckets = metric_lines(&text, "keyward_http_request_duration_seconds_bucket");
    assert!(
        buckets
            .iter()
            .any(|l| l.contains(&format!("route=\"{users}\"")) && l.contains("le=\"0.1\"")),
        "no latency histogram buckets for {users}:\n{text}"
    );
    assert!(buckets.iter().any(|l| l.contains("le=\"+Inf\"")), "{text}");
    assert!(
        sample(
            &text,
            "keyward_http_request_duration_seconds_count",
            &[("route", users)]
        )
        .is_some(),
        "{text}"
    );

    // AWS calls by operation and outcome.
    let conn = server.localstack_connection(&admin, "metered").await;
    let id = conn["id"].as_str().unwrap();
    let r = server
        .call(
            Method::POST,
            &format!("{CONNECTIONS}/{id}/test"),
            Some(&admin),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body["connection_ok"], true, "{}", r.body);
    let text = metrics(&server).await;
    let calls = sample(
        &text,
        "keyward_aws_calls_total",
        &[("operation", "ListKeys"), ("outcome", "success")],
    );
    assert!(
        calls.is_some_and(|v| v >= 1.0),
        "no successful ListKeys counted:\n{text}"
    );
    assert!(!text.contains(ADMIN_PASSWORD));
}
