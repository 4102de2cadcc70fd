//! The HTTP client side: logging in, the stored refresh token (mode 0600 in the user's config
//! directory), and authenticated requests that print the server's message on failure.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::Output;

#[derive(Args)]
pub struct LoginArgs {
    /// The server, e.g. https://127.0.0.1:8443
    #[arg(long)]
    url: String,
    /// The user name.
    #[arg(long)]
    user: String,
    /// Accept the server's certificate without checking it (a self-signed certificate).
    #[arg(long, conflicts_with = "ca_cert")]
    insecure: bool,
    /// Trust this PEM certificate (for example the server's data-dir/tls/cert.pem).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

/// What `keyward login` keeps between commands.
#[derive(Serialize, Deserialize)]
struct Credentials {
    url: String,
    username: String,
    refresh_token: String,
    refresh_token_id: String,
    insecure: bool,
    ca_cert: Option<PathBuf>,
}

fn config_dir() -> Result<PathBuf, String> {
    if let Ok(d) = std::env::var("KEYWARD_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Ok(d) = std::env::var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(d).join("keyward"));
    }
    std::env::var("HOME")
        .map(|h| PathBuf::from(h).join(".config").join("keyward"))
        .map_err(|_| "cannot find a config directory: set HOME or KEYWARD_CONFIG_DIR".to_string())
}

fn credentials_path() -> Result<PathBuf, String> {
    Ok(config_dir()?.join("credentials.json"))
}

fn http_client(insecure: bool, ca_cert: Option<&PathBuf>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(120));
    if insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some(path) = ca_cert {
        let pem = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cert =
            reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

fn describe_send_error(url: &str, e: reqwest::Error) -> String {
    let mut msg = format!("cannot reach {url}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    if msg.contains("certificate") || msg.contains("UnknownIssuer") {
        msg.push_str(" (for a self-signed certificate use --insecure or --ca-cert FILE)");
    }
    msg
}

/// Turns an error response into the server's own message.
async fn error_of(resp: reqwest::Response) -> String {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.get("message").is_some() => format!(
            "{} (HTTP {}, {})",
            v["message"].as_str().unwrap_or_default(),
            status.as_u16(),
            v.get("codeDesc")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        _ => format!("HTTP {}: {}", status.as_u16(), text),
    }
}

async fn token_request(client: &reqwest::Client, url: &str, body: &Value) -> Result<Value, String> {
    let endpoint = format!("{}/api/v1/auth/tokens", url.trim_end_matches('/'));
    let resp = client
        .post(&endpoint)
        .json(body)
        .send()
        .await
        .map_err(|e| describe_send_error(url, e))?;
    if !resp.status().is_success() {
        return Err(error_of(resp).await);
    }
    resp.json()
        .await
        .map_err(|e| format!("unreadable token response: {e}"))
}

fn save(creds: &Credentials) -> Result<PathBuf, String> {
    let path = credentials_path()?;
    if let Some(dir) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(creds).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

pub async fn login(args: LoginArgs, out: &Output) -> Result<(), String> {
    let password = match std::env::var("KEYWARD_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => rpassword::prompt_password(format!("Password for {}: ", args.user)).map_err(|e| {
            format!(
                "cannot read the password (set KEYWARD_PASSWORD when there is no terminal): {e}"
            )
        })?,
    };
    let client = http_client(args.insecure, args.ca_cert.as_ref())?;
    let body =
        serde_json::json!({"grant_type": "password", "username": args.user, "password": password});
    let tokens = token_request(&client, &args.url, &body).await?;
    let creds = Credentials {
        url: args.url.trim_end_matches('/').to_string(),
        username: args.user.clone(),
        refresh_token: tokens["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        refresh_token_id: tokens["refresh_token_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        insecure: args.insecure,
        ca_cert: args.ca_cert.map(|p| fs::canonicalize(&p).unwrap_or(p)),
    };
    let path = save(&creds)?;
    out.done(&format!(
        "logged in to {} as {} (refresh token kept in {})",
        creds.url,
        creds.username,
        path.display()
    ));
    Ok(())
}

pub async fn logout(out: &Output) -> Result<(), String> {
    let path = credentials_path()?;
    if !path.exists() {
        out.done("not logged in");
        return Ok(());
    }
    if let Ok(session) = Session::load().await {
        let id = session.refresh_token_id.clone();
        let _ = session
            .call(Method::DELETE, &format!("/auth/tokens/{id}"), None)
            .await;
    }
    fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    out.done("logged out");
    Ok(())
}

/// An authenticated session: the stored refresh token exchanged for a fresh access token.
pub struct Session {
    client: reqwest::Client,
    url: String,
    jwt: String,
    refresh_token_id: String,
    username: String,
}

impl Session {
    /// The user this session logged in as.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Calls a route that takes no token (`/api/v1{path}`) on the session's server.
    pub async fn call_without_token(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let url = format!("{}/api/v1{}", self.url, path);
        let resp = self
            .client
            .request(method, &url)
            .json(body)
            .send()
            .await
            .map_err(|e| describe_send_error(&self.url, e))?;
        answer(resp).await
    }

    pub async fn load() -> Result<Self, String> {
        let path = credentials_path()?;
        let text = fs::read_to_string(&path).map_err(|_| {
            "not logged in: run `keyward login --url URL --user NAME` first".to_string()
        })?;
        let creds: Credentials =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let client = http_client(creds.insecure, creds.ca_cert.as_ref())?;
        let body = serde_json::json!({"grant_type": "refresh_token", "refresh_token": creds.refresh_token});
        let tokens = token_request(&client, &creds.url, &body)
            .await
            .map_err(|e| format!("{e}; log in again with `keyward login`"))?;
        Ok(Self {
            client,
            url: creds.url,
            jwt: tokens["jwt"].as_str().unwrap_or_default().to_string(),
            refresh_token_id: creds.refresh_token_id,
            username: creds.username,
        })
    }

    /// Calls `/api/v1{path}`; returns the JSON body (`Null` for 204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = format!("{}/api/v1{}", self.url, path);
        let mut req = self.client.request(method, &url).bearer_auth(&self.jwt);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| describe_send_error(&self.url, e))?;
        answer(resp).await
    }
}

/// The JSON body of a successful answer (`Null` for 204), or the server's error.
async fn answer(resp: reqwest::Response) -> Result<Value, String> {
    if !resp.status().is_success() {
        return Err(error_of(resp).await);
    }
    if resp.status() == StatusCode::NO_CONTENT {
        return Ok(Value::Null);
    }
    resp.json()
        .await
        .map_err(|e| format!("unreadable response: {e}"))
}
