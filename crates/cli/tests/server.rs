//! The server process: TLS certificates (generated and reused, or the user's own), settings
//! from a file and the environment, graceful SIGTERM, the first admin, and SQLite in WAL mode
//! keeping its data across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Server};
use reqwest::Method;
use serde_json::json;

const ADMIN_ENV: (&str, &str) = ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD);

/// Runs `keyward` and waits at most `secs` for it to exit; returns (exit status, stdout,
/// stderr). A process still running at the deadline is killed and the test fails.
fn run_bounded(args: &[&str], envs: &[(&str, &str)], secs: u64) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    let mut child = Command::new(common::keyward_bin())
        .args(args)
        .env_remove("KEYWARD_ADMIN_PASSWORD")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "keyward {args:?} still running after {secs} s; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap(),
    )
}

fn tls_files(data_dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let tls = data_dir.join("tls");
    (
        std::fs::read(tls.join("cert.pem")).expect("data_dir/tls/cert.pem"),
        std::fs::read(tls.join("key.pem")).expect("data_dir/tls/key.pem"),
    )
}

#[tokio::test]
async fn self_signed_certificate_is_made_once_and_reused_after_restart() {
    let server = Server::start();
    let (cert1, key1) = tls_files(&server.data_dir());
    assert!(String::from_utf8_lossy(&cert1).contains("BEGIN CERTIFICATE"));
    let key_mode = std::fs::metadata(server.data_dir().join("tls/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        key_mode & 0o077,
        0,
        "key.pem is readable by others: {key_mode:o}"
    );
    // The client trusts exactly that file, so the server serves the certificate it wrote.
    server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);

    let dir = server.stop_keep_data();
    let server = Server::start_in(dir, &[], &[ADMIN_ENV]);
    let (cert2, key2) = tls_files(&server.data_dir());
    assert_eq!(cert1, cert2, "the certificate changed across a restart");
    assert_eq!(key1, key2, "the key changed across a restart");
    server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn serves_the_users_own_certificate() {
    let own = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_path = own.path().join("mine.pem");
    let key_path = own.path().join("mine.key");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let other_path = own.path().join("other.pem");
    std::fs::write(&other_path, other.cert.pem()).unwrap();

    let cert = cert_path.to_str().unwrap();
    let key = key_path.to_str().unwrap();
    // The harness's client trusts only --tls-cert.
    let server = Server::start_with(&["--tls-cert", cert, "--tls-key", key], &[ADMIN_ENV]);
    let r = server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ok");
    server.admin().await;
    assert!(
        !server.data_dir().join("tls").join("cert.pem").exists(),
        "a self-signed certificate was made although --tls-cert was given"
    );
    // A client trusting another certificate for the same name is refused.
    let stranger = common::client_trusting(&other_path);
    let res = stranger.get(format!("{}/healthz", server.url)).send().await;
    assert!(
        res.is_err(),
        "a client not trusting the user's certificate connected"
    );
}

/// The printed defaults, each setting the server has.
const SETTINGS: &[&str] = &[
    "listen",
    "data_dir",
    "tls_cert",
    "tls_key",
    "root_key_file",
    "token_ttl_secs",
    "refresh_token_ttl_secs",
    "login_slowdown_after",
    "login_lock_after",
    "login_lock_secs",
    "max_body_bytes",
    "aws_max_attempts",
    "aws_connect_timeout_secs",
    "aws_attempt_timeout_secs",
    "aws_operation_timeout_secs",
    "shutdown_grace_secs",
    "log_format",
    "log_level",
    "aws_rate_limits",
    "pkcs11_module",
    "pkcs11_token",
    "pkcs11_pin",
    "scheduler_tick_secs",
    "scheduler_lease_secs",
    "audit_checkpoint_secs",
    "audit_checkpoint_file",
    "login_source_burst",
    "login_source_interval_secs",
    "password_checks_parallel",
    "password_checks_queued",
];

fn default_config() -> toml::Table {
    let (code, out, err) = run_bounded(&["serve", "--print-default-config"], &[], 30);
    assert_eq!(code, 0, "--print-default-config failed: {err}");
    toml::from_str(&out).unwrap_or_else(|e| panic!("not TOML ({e}):\n{out}"))
}

#[test]
fn print_default_config_lists_every_setting_as_toml() {
    let table = default_config();
    for key in SETTINGS {
        assert!(
            table.contains_key(*key),
            "{key} missing from the default config: {table:?}"
        );
    }
    assert_eq!(
        table.len(),
        SETTINGS.len(),
        "unexpected settings: {table:?}"
    );
    assert_eq!(table["token_ttl_secs"].as_integer(), Some(300));
    assert_eq!(table["max_body_bytes"].as_integer(), Some(1024 * 1024));
    assert_eq!(table["listen"].as_str(), Some("127.0.0.1:8443"));
}

#[tokio::test]
async fn settings_come_from_the_config_file_and_the_environment() {
    // The printed defaults are a valid config file; change two settings in it.
    let mut table = default_config();
    table.insert("token_ttl_secs".into(), toml::Value::Integer(123));
    table.insert("max_body_bytes".into(), toml::Value::Integer(4096));
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("keyward.toml");
    std::fs::write(&conf, toml::to_string(&table).unwrap()).unwrap();
    let conf = conf.to_str().unwrap();

    let server = Server::start_with(&["--config", conf], &[ADMIN_ENV]);
    let r = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_eq!(
        r.body["duration"], 123,
        "token_ttl_secs from the file: {}",
        r.body
    );
    let admin = r.body["jwt"].as_str().unwrap().to_string();
    // A body over the file's 4096 bytes is refused; under the default 1 MiB it would be read.
    let big = json!({"username": "big", "password": "big-password-1", "name": "x".repeat(8000)});
    server
        .post("/api/v1/usermgmt/users", &admin, big)
        .await
        .expect(413);
    drop(server);

    // KEYWARD_* overrides the file.
    let server = Server::start_with(
        &["--config", conf],
        &[ADMIN_ENV, ("KEYWARD_TOKEN_TTL_SECS", "77")],
    );
    let r = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_eq!(
        r.body["duration"], 77,
        "token_ttl_secs from the environment: {}",
        r.body
    );
}

#[test]
fn a_bad_setting_stops_serve_with_a_message_naming_it() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().join("data");
    let data = data.to_str().unwrap();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data];

    let (code, _, err) = run_bounded(&serve, &[("KEYWARD_TOKEN_TTL_SECS", "soon")], 30);
    assert_ne!(code, 0);
    assert!(err.contains("KEYWARD_TOKEN_TTL_SECS"), "stderr: {err}");

    let (code, _, err) = run_bounded(&serve, &[("KEYWARD_LOG_FORMAT", "yaml")], 30);
    assert_ne!(code, 0);
    assert!(err.contains("log_format"), "stderr: {err}");

    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("k.toml");
    let conf_s = conf.to_str().unwrap();
    let with_conf = [&serve[..], &["--config", conf_s]].concat();

    std::fs::write(&conf, "token_ttl_secs = 0\n").unwrap();
    let (code, _, err) = run_bounded(&with_conf, &[], 30);
    assert_ne!(code, 0);
    assert!(err.contains("token_ttl_secs"), "stderr: {err}");

    std::fs::write(&conf, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let (code, _, err) = run_bounded(&with_conf, &[], 30);
    assert_ne!(code, 0);
    assert!(err.contains("lisen"), "stderr: {err}");

    let missing = conf_dir.path().join("missing.toml");
    let (code, _, err) = run_bounded(
        &[&serve[..], &["--config", missing.to_str().unwrap()]].concat(),
        &[],
        30,
    );
    assert_ne!(code, 0);
    assert!(err.contains("missing.toml"), "stderr: {err}");
}

/// A stand-in for AWS KMS on 127.0.0.1 that answers every request after `delay`; each
/// request read is announced on the returned channel before the wait.
fn slow_kms(delay: Duration) -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then as much body as Content-Length says.
                let header_end = loop {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..header_end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < header_end + len {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let _ = tx.send(());
                std::thread::sleep(delay);
                let body = r#"{"Keys":[],"Truncated":false}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-requestid: 00000000-0000-0000-0000-000000000000\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(resp.as_bytes());
                let _ = stream.flush();
            });
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let (kms_url, requests) = slow_kms(Duration::from_millis(1500));
    let mut server = Server::start();
    let admin = server.admin().await;
    let conn = server
        .post(
            "/api/v1/connectionmgmt/services/aws/connections",
            &admin,
            json!({
                "name": "slow",
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_region": "ap-south-1",
                "endpoint_url": kms_url,
            }),
        )
        .await
        .expect(201)
        .body;
    let id = conn["id"].as_str().unwrap().to_string();

    let client = server.client().clone();
    let url = format!(
        "{}/api/v1/connectionmgmt/services/aws/connections/{id}/test",
        server.url
    );
    let in_flight = tokio::spawn(async move {
        let resp = client.post(url).bearer_auth(admin).send().await;
        match resp {
            Ok(r) => Ok(common::reply(r).await),
            Err(e) => Err(e.to_string()),
        }
    });
    // Wait until the request has reached "AWS", then ask the server to stop.
    tokio::task::spawn_blocking(move || requests.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the connection test never reached the stand-in KMS");
    let signalled = Instant::now();
    server.send_sigterm();
    // While it drains, the server takes no new connections.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err();
    let status = server.terminate();
    let took = signalled.elapsed();
    assert!(
        refused,
        "the server still accepted connections after SIGTERM"
    );
    assert!(
        status.success(),
        "exit status after SIGTERM: {status:?}\n{}",
        server.stderr()
    );
    assert!(
        took >= Duration::from_millis(1000),
        "the server exited {took:?} after SIGTERM, before its in-flight request could finish"
    );
    let reply = in_flight
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the in-flight request was cut off by SIGTERM: {e}"));
    let reply = reply.expect(200);
    assert_eq!(reply.body["connection_ok"], true, "{}", reply.body);
}

#[tokio::test]
async fn sigterm_on_an_idle_server_exits_0() {
    let mut server = Server::start();
    server.admin().await;
    let signalled = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

/// The password printed on first start, if any.
fn printed_admin_password(stderr: &str) -> Option<String> {
    let marker = "Keyward created user 'admin' with password: ";
    let at = stderr.find(marker)?;
    stderr[at + marker.len()..]
        .split_whitespace()
        .next()
        .map(String::from)
}

#[tokio::test]
async fn first_start_without_admin_password_prints_a_generated_one_once() {
    let server = Server::start_with(&[], &[]);
    let stderr = server.stderr();
    let password = printed_admin_password(&stderr)
        .unwrap_or_else(|| panic!("no generated admin password on stderr:\n{stderr}"));
    assert!(
        password.len() >= 12,
        "a short generated password: {password:?}"
    );
    assert_eq!(
        stderr.matches(&password).count(),
        1,
        "the password appears more than once:\n{stderr}"
    );
    server.login("admin", &password).await;
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(401);

    let dir = server.stop_keep_data();
    let server = Server::start_in(dir, &[], &[]);
    let stderr = server.stderr();
    assert!(
        printed_admin_password(&stderr).is_none(),
        "a second password was printed:\n{stderr}"
    );
    assert!(
        !stderr.contains(&password),
        "the password was printed again:\n{stderr}"
    );
    server.login("admin", &password).await;
}

#[tokio::test]
async fn admin_password_from_the_environment_is_not_printed() {
    let server = Server::start();
    let stderr = server.stderr();
    assert!(printed_admin_password(&stderr).is_none(), "{stderr}");
    assert!(
        !stderr.contains(ADMIN_PASSWORD),
        "the admin password is on stderr:\n{stderr}"
    );
    server.admin().await;
}

#[tokio::test]
async fn sqlite_is_in_wal_mode_and_a_restart_keeps_the_data() {
    let server = Server::start();
    let admin = server.admin().await;
    server.user_token(&admin, "dora", &["CCKM Users"]).await;
    let db = server.data_dir().join("keyward.db");
    assert!(
        server.data_dir().join("keyward.db-wal").exists(),
        "no keyward.db-wal beside the running server's database"
    );
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        tables.iter().any(|t| t == "schema_migrations"),
        "migrations not applied: {tables:?}"
    );
    pool.close().await;

    let dir = server.stop_keep_data();
    let server = Server::start_in(dir, &[], &[ADMIN_ENV]);
    server.login("dora", "dora-password-1").await;
    let admin = server.admin().await;
    let users = server
        .get("/api/v1/usermgmt/users?limit=-1", &admin)
        .await
        .expect(200);
    let names: Vec<&str> = users.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["username"].as_str())
        .collect();
    assert!(
        names.contains(&"dora"),
        "dora is gone after the restart: {names:?}"
    );
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The database holds password hashes, sealed secrets and the audit trail: only the server's
/// user may read it (it was 0644, as were its -wal and -shm).
#[tokio::test]
async fn the_database_and_its_wal_and_shm_are_0600_and_the_data_dir_0700() {
    let server = Server::start();
    let admin = server.admin().await;
    server.user_token(&admin, "moda", &["CCKM Users"]).await;
    let data = server.data_dir();
    assert_eq!(mode_of(&data), 0o700, "data dir");
    for f in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
        assert_eq!(mode_of(&data.join(f)), 0o600, "{f}");
    }
    // A database left readable by an older version is narrowed at the next start.
    let dir = server.stop_keep_data();
    let db = dir.path().join("data").join("keyward.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start_in(dir, &[], &[ADMIN_ENV]);
    server.login("moda", "moda-password-1").await;
    assert_eq!(mode_of(&db), 0o600, "keyward.db after a restart");
}

/// A 401 sent before the body is read used to close the keep-alive connection without
/// saying so (`Connection: close`), so the client's next request on it failed. Now a small
/// unread body is drained and the connection carries the next request; a large one gets
/// `Connection: close` and the connection ends after the response.
#[tokio::test]
async fn a_401_before_the_body_is_read_keeps_the_connection_or_says_it_closes() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start();
    let mut io = common::raw_connection(&server).await;
    let mut buf = Vec::new();
    let body = r#"{"kms":"kms","region":"us-east-1","aws_param":{"Alias":"x"}}"#;
    let first = format!(
        "POST /api/v1/cckm/aws/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    io.write_all(first.as_bytes()).await.unwrap();
    let (head, reply) = common::read_response(&mut io, &mut buf)
        .await
        .expect("a response");
    assert!(head.starts_with("http/1.1 401"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(v["code"], 5, "{v}");
    assert!(!head.contains("connection: close"), "{head}");
    io.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = common::read_response(&mut io, &mut buf)
        .await
        .expect("the second request on the same connection gets an answer");
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // A body too large to drain (300 KB announced; only its first KB is sent, so that
    // nothing unread is left in the server's socket when it closes): the response says the
    // connection closes, and it does.
    let mut io = common::raw_connection(&server).await;
    let mut buf = Vec::new();
    let first = format!(
        "POST /api/v1/cckm/aws/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        300 * 1024,
        "x".repeat(1024)
    );
    io.write_all(first.as_bytes()).await.unwrap();
    let (head, _) = common::read_response(&mut io, &mut buf)
        .await
        .expect("a response");
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let _ = io
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert!(
        common::read_response(&mut io, &mut buf).await.is_none(),
        "the server said close but answered another request"
    );
}
