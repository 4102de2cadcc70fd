//! Test harness: boots the real `keyward` binary on 127.0.0.1 port 0 with a fresh data
//! directory and talks HTTPS to it, trusting the certificate the server made.
//! AWS is LocalStack's KMS, started by the test command (scripts/test.sh), whose endpoint
//! comes in KEYWARD_TEST_KMS_ENDPOINT.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

pub mod aws;
pub mod cli_user;
pub mod proxy;

pub use aws::Aws;

pub const ADMIN_PASSWORD: &str = "test-admin-password-1";

/// The access key id of LocalStack's default account ([`DEFAULT_ACCOUNT`]), which every test
/// that uses it shares (see [`fresh_localstack_account`] for one of a test's own).
pub const DEFAULT_ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// LocalStack's default account: that of [`DEFAULT_ACCESS_KEY`].
pub const DEFAULT_ACCOUNT: &str = "000000000000";
/// The secret access key of the tests' AWS connections (LocalStack does not check it).
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

pub fn keyward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

/// LocalStack's KMS endpoint; the test command starts it.
pub fn kms_endpoint() -> String {
    std::env::var("KEYWARD_TEST_KMS_ENDPOINT").unwrap_or_else(|_| {
        panic!("KEYWARD_TEST_KMS_ENDPOINT is not set: run the tests with scripts/test.sh, which starts LocalStack's KMS")
    })
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub stderr_path: PathBuf,
    client: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// Asserts the status, printing the body when it differs.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts a CipherTrust error body whose message contains `needle`.
    pub fn expect_error(self, status: u16, needle: &str) -> Self {
        let r = self.expect(status);
        assert!(r.body["code"].is_number(), "no numeric code in {}", r.body);
        assert!(
            r.body["codeDesc"]
                .as_str()
                .unwrap_or("")
                .starts_with("NCERR"),
            "codeDesc in {}",
            r.body
        );
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(needle),
            "message {msg:?} does not contain {needle:?}"
        );
        r
    }
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)])
    }

    /// Starts a server; `args` go after `serve`, `envs` into its environment.
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, args, envs)
    }

    /// Starts a server on an existing data directory (a restart).
    pub fn start_in(dir: tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let data = dir.path().join("data");
        let stderr_path = dir
            .path()
            .join(format!("stderr-{}.log", uuid::Uuid::new_v4()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut cmd = Command::new(keyward_bin());
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env_remove("KEYWARD_ADMIN_PASSWORD")
            .env("KEYWARD_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn keyward");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("keyward listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("keyward did not start within 60 s; stderr:\n{log}");
            }
        };
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let cert_path = args
            .windows(2)
            .find(|w| w[0] == "--tls-cert")
            .map(|w| PathBuf::from(w[1]))
            .unwrap_or_else(|| data.join("tls").join("cert.pem"));
        let client = client_trusting(&cert_path);
        Self {
            child: Some(child),
            url,
            port,
            dir,
            stderr_path,
            client,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends SIGTERM without waiting for the exit.
    pub fn send_sigterm(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("keyward did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and hands back its data directory for a restart.
    pub fn stop_keep_data(mut self) -> tempfile::TempDir {
        self.terminate();

        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// Kills the server with SIGKILL (no chance to clean up, as in a crash), waits for it to
    /// die and hands back its data directory for a restart with [`Server::start_in`].
    pub fn kill_keep_data(mut self) -> tempfile::TempDir {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-9")
            .arg(child.id().to_string())
            .status()
            .expect("run kill -9");
        assert!(status.success(), "kill -9 {} failed", child.id());
        let _ = child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}{}", self.url, path);
        let mut req = self.client.request(method, &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        reply(resp).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// The password grant; returns the whole token response.
    pub async fn login_reply(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/v1/auth/tokens",
            None,
            Some(json!({"grant_type": "password", "username": username, "password": password})),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.login_reply(username, password).await.expect(200);
        r.body["jwt"].as_str().expect("jwt").to_string()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user in the given groups and returns a token for them.
    pub async fn user_token(&self, admin: &str, username: &str, groups: &[&str]) -> String {
        let password = format!("{username}-password-1");
        self.post(
            "/api/v1/usermgmt/users",
            admin,
            json!({"username": username, "password": password, "groups": groups}),
        )
        .await
        .expect(201);
        self.login(username, &password).await
    }

    /// Creates an AWS connection `name` with this access key id (and [`SECRET_ACCESS_KEY`]) in
    /// `region`, to `endpoint_url`: LocalStack, or a test's proxy or responder standing in for
    /// AWS. Returns its JSON.
    pub async fn aws_connection(
        &self,
        token: &str,
        name: &str,
        access_key_id: &str,
        region: &str,
        endpoint_url: &str,
    ) -> Value {
        self.post(
            "/api/v1/connectionmgmt/services/aws/connections",
            token,
            json!({
                "name": name,
                "access_key_id": access_key_id,
                "secret_access_key": SECRET_ACCESS_KEY,
                "aws_region": region,
                "endpoint_url": endpoint_url,
            }),
        )
        .await
        .expect(201)
        .body
    }

    /// Creates an AWS connection to LocalStack (its default account) and returns its JSON.
    pub async fn localstack_connection(&self, token: &str, name: &str) -> Value {
        self.aws_connection(
            token,
            name,
            DEFAULT_ACCESS_KEY,
            "ap-south-1",
            &kms_endpoint(),
        )
        .await
    }

    /// Creates the KMS container `name` on `connection` for `account`, over `regions`; returns
    /// its JSON.
    pub async fn kms_container(
        &self,
        token: &str,
        name: &str,
        connection: &str,
        account: &str,
        regions: &[&str],
    ) -> Value {
        self.post(
            "/api/v1/cckm/aws/kms",
            token,
            json!({"name": name, "account_id": account, "connection": connection, "regions": regions}),
        )
        .await
        .expect(201)
        .body
    }

    /// An AWS connection `connection` as `aws`'s account to `endpoint_url` (LocalStack, or the
    /// tests' proxy in front of it) and the KMS container `kms` over ap-south-1 on it.
    pub async fn kms_through(&self, token: &str, aws: &Aws, connection: &str, endpoint_url: &str) {
        self.aws_connection(
            token,
            connection,
            &aws.access_key,
            "ap-south-1",
            endpoint_url,
        )
        .await;
        self.kms_container(token, "kms", connection, &aws.account, &["ap-south-1"])
            .await;
    }

    /// A LocalStack connection `ls` as `aws`'s account and the KMS container `kms` over
    /// ap-south-1 on it.
    pub async fn localstack_kms(&self, token: &str, aws: &Aws) {
        self.kms_through(token, aws, "ls", &kms_endpoint()).await;
    }

    /// Every audit record (`GET /api/v1/audit/records?limit=-1`), the whole list envelope.
    pub async fn audit_records(&self, token: &str) -> Value {
        self.get("/api/v1/audit/records?limit=-1", token)
            .await
            .expect(200)
            .body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn client_trusting(cert: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert).expect("read server certificate");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("certificate"))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        body,
        headers,
    }
}

/// Runs the CLI with the given args and environment; returns (success, stdout, stderr).
pub fn cli(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(keyward_bin())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run keyward");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// An access key id that puts LocalStack in an AWS account of its own, and that account's id.
/// LocalStack keeps its state per account and has no reset; an `LSIA...` access key id carries
/// the account id (base32 of `account / 2 + 2^39`, the parity in the 13th character; see
/// LocalStack's `aws/accounts.py`), so a test that needs an empty AWS, or names it cannot vary
/// (a seed's alias), gets one.
pub fn fresh_localstack_account() -> (String, String) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const OFFSET: u64 = 549_755_813_888;
    let random = u64::from_be_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap());
    let account = 100_000_000_000 + random % 900_000_000_000;
    let part = account / 2 + OFFSET;
    let encoded: String = (0..8)
        .map(|i| ALPHABET[((part >> (35 - 5 * i)) & 31) as usize] as char)
        .collect();
    let parity = if account % 2 == 1 { 'Q' } else { 'A' };
    (
        format!("LSIA{encoded}{parity}KEYWARD"),
        format!("{account:012}"),
    )
}

impl Server {
    /// Creates an AWS connection to LocalStack in a fresh LocalStack account (see
    /// `fresh_localstack_account`); returns the connection's JSON and the account id.
    pub async fn localstack_account_connection(&self, token: &str, name: &str) -> (Value, String) {
        let (access_key_id, account) = fresh_localstack_account();
        let conn = self
            .aws_connection(token, name, &access_key_id, "ap-south-1", &kms_endpoint())
            .await;
        (conn, account)
    }
}

/// A seed page's example request (the `curl` line after "Example Request") and example
/// response (the JSON after "Example Response").
pub fn seed_example(page: &str) -> (String, Value) {
    let after = |marker: &str| {
        let at = page
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker:?} in the seed"));
        &page[at + marker.len()..]
    };
    let curl = after("Example Request")
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("curl "))
        .expect("a curl line after Example Request")
        .to_string();
    let text = after("Example Response");
    let start = text
        .find('{')
        .expect("a JSON object after Example Response");
    let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
    let response = stream
        .next()
        .expect("the example response")
        .expect("the example response is JSON");
    (curl, response)
}

/// Asserts that every field of `example` (recursively; an array's first element stands for
/// its elements) is in `actual` with the same JSON type. Values may differ.
pub fn assert_json_shape(example: &Value, actual: &Value, path: &str) {
    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    assert_eq!(
        kind(example),
        kind(actual),
        "{path}: the example has a {} ({example}), the response a {} ({actual})",
        kind(example),
        kind(actual)
    );
    match (example, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} is missing from the response: {actual}"));
                assert_json_shape(ev, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let Some(first) = e.first() {
                assert!(
                    !a.is_empty(),
                    "{path}: the example's array has elements, the response's none"
                );
                for (i, av) in a.iter().enumerate() {
                    assert_json_shape(first, av, &format!("{path}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

/// A raw AWS JSON 1.1 request straight to LocalStack as the account of `access_key_id` (see
/// `fresh_localstack_account`; LocalStack does not check signatures); returns the HTTP status
/// and the body.
pub async fn kms_raw_as(access_key_id: &str, operation: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(kms_endpoint())
        .header("X-Amz-Target", format!("TrentService.{operation}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/ap-south-1/kms/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("LocalStack answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// AWS's `[{TagKey, TagValue}]` as (key, value) pairs, in order.
pub fn tag_pairs(tags: &Value) -> Vec<(String, String)> {
    tags.as_array()
        .unwrap_or_else(|| panic!("no tag list: {tags}"))
        .iter()
        .map(|t| {
            (
                t["TagKey"].as_str().unwrap().to_string(),
                t["TagValue"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A raw HTTP/1.1 connection to the server, over TLS, trusting its certificate.
pub async fn raw_connection(
    server: &Server,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pem = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

/// Reads one response: (head, lower-cased; body). None at end of stream.
pub async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 4096];
                let n = io.read(&mut chunk).await.unwrap_or(0);
                assert!(n > 0, "connection closed inside a response body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), io.read(&mut chunk))
            .await
            .expect("no response within 10 s")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
