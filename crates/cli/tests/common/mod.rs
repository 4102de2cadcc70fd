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

pub const ADMIN_PASSWORD: &str = "test-admin-password-1";

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

    /// Creates an AWS connection to LocalStack and returns its JSON.
    pub async fn localstack_connection(&self, token: &str, name: &str) -> Value {
        self.post(
            "/api/v1/connectionmgmt/services/aws/connections",
            token,
            json!({
                "name": name,
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_region": "ap-south-1",
                "endpoint_url": kms_endpoint(),
            }),
        )
        .await
        .expect(201)
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
