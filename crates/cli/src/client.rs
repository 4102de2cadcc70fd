//! The HTTP client side: logging in, the stored refresh token (mode 0600 in the user's config
//! directory), and authenticated requests that print the server's message on failure.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use clap::Args;
use keyward_api::ErrorBody;
use keyward_api::ListEnvelope;
use keyward_api::admin::KekRotation;
use keyward_api::auth::{TokenRequest, TokenResponse};
use keyward_api::connections::{AwsConnection, AwsConnectionCreate, ConnectionTestResult};
use keyward_api::key_record::{AliasAvailable, KeyRecord, PublicKey};
use keyward_api::keys::{CreateKey, KeyListParams, UploadKey, VerifyAlias};
use keyward_api::kms::{Kms, KmsCreate};
use keyward_api::list::PageParams;
use keyward_api::scheduler::{JobConfig, JobConfigCreate, JobRun, JobRunParams};
use keyward_api::sync::{StartSync, SyncJob};
use keyward_api::users::{ChangePassword, User, UserCreate, UserUpdate};
use keyward_api::vault::{VaultKey, VaultKeyCreate, VaultKeyParams};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::commands::segment;
use crate::output::Output;
use crate::received;

const USERS: &str = "/usermgmt/users";
const CONNECTIONS: &str = "/connectionmgmt/services/aws/connections";
const KMS: &str = "/cckm/aws/kms";
const KEYS: &str = "/cckm/aws/keys";
const SYNC: &str = "/cckm/aws/synchronization-jobs";
const CONFIGS: &str = "/scheduler/job-configs";
const RUNS: &str = "/scheduler/job-runs";
const VAULT: &str = "/vault/keys2";

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
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(e) => format!("{} (HTTP {}, {})", e.message, status.as_u16(), e.code_desc),
        _ => format!("HTTP {}: {}", status.as_u16(), text),
    }
}

async fn token_request(
    client: &reqwest::Client,
    url: &str,
    body: &TokenRequest,
) -> Result<TokenResponse, String> {
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
    let body = TokenRequest {
        grant_type: Some("password".into()),
        username: Some(args.user.clone()),
        password: Some(password),
        ..TokenRequest::default()
    };
    let tokens = token_request(&client, &args.url, &body).await?;
    let creds = Credentials {
        url: args.url.trim_end_matches('/').to_string(),
        username: args.user.clone(),
        refresh_token: tokens.refresh_token,
        refresh_token_id: tokens.refresh_token_id,
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
        let _ = session.revoke_refresh_token(&id).await;
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

    pub async fn load() -> Result<Self, String> {
        let path = credentials_path()?;
        let text = fs::read_to_string(&path).map_err(|_| {
            "not logged in: run `keyward login --url URL --user NAME` first".to_string()
        })?;
        let creds: Credentials =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let client = http_client(creds.insecure, creds.ca_cert.as_ref())?;
        let body = TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(creds.refresh_token.clone()),
            ..TokenRequest::default()
        };
        let tokens = token_request(&client, &creds.url, &body)
            .await
            .map_err(|e| format!("{e}; log in again with `keyward login`"))?;
        Ok(Self {
            client,
            url: creds.url,
            jwt: tokens.jwt,
            refresh_token_id: creds.refresh_token_id,
            username: creds.username,
        })
    }

    /// Sends `METHOD /api/v1{path}` (with the access token unless `token` is false), a JSON
    /// body and query parameters when given; the answer when it is a success, else the
    /// server's error.
    async fn send<B: Serialize + ?Sized, Q: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
        token: bool,
    ) -> Result<reqwest::Response, String> {
        let url = format!("{}/api/v1{}", self.url, path);
        let mut req = self.client.request(method, &url);
        if token {
            req = req.bearer_auth(&self.jwt);
        }
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| describe_send_error(&self.url, e))?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        Ok(resp)
    }

    /// `GET /api/v1{path}`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        read(
            self.send::<(), ()>(Method::GET, path, None, None, true)
                .await?,
        )
        .await
    }

    /// `GET /api/v1{path}?{query}`.
    pub async fn get_query<Q: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, String> {
        read(
            self.send::<(), Q>(Method::GET, path, Some(query), None, true)
                .await?,
        )
        .await
    }

    /// `POST /api/v1{path}` with a JSON body.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, String> {
        read(
            self.send::<B, ()>(Method::POST, path, None, Some(body), true)
                .await?,
        )
        .await
    }

    /// `POST /api/v1{path}` without a body.
    pub async fn post_bare<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        read(
            self.send::<(), ()>(Method::POST, path, None, None, true)
                .await?,
        )
        .await
    }

    /// `PATCH /api/v1{path}` with a JSON body.
    pub async fn patch<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, String> {
        read(
            self.send::<B, ()>(Method::PATCH, path, None, Some(body), true)
                .await?,
        )
        .await
    }

    /// `DELETE /api/v1{path}` (any answer body is ignored).
    pub async fn delete(&self, path: &str) -> Result<(), String> {
        self.send::<(), ()>(Method::DELETE, path, None, None, true)
            .await
            .map(drop)
    }
}

/// A successful answer's JSON body as `T`.
async fn read<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, String> {
    let text = resp
        .text()
        .await
        .map_err(|e| format!("unreadable response: {e}"))?;
    // A 204 (no body) reads as JSON null, for `T` that accepts it.
    let text = if text.trim().is_empty() {
        "null"
    } else {
        &text
    };
    serde_json::from_str(text).map_err(|e| format!("unreadable response: {e}"))
}

/// An AWS key record as the server sent it (what `--json` prints) and as
/// [`keyward_api::key_record::KeyRecord`] reads it.
pub type Key = received::Shim<KeyRecord>;

/// An empty JSON object, the body of the key actions that take no parameters.
#[derive(Serialize)]
pub struct Empty {}

/// Typed calls, one group per resource, over the wire types of `keyward_api` (and, until they
/// are merged there, of [`crate::received`]: AWS key records, rotations and the key action
/// bodies).
impl Session {
    // --- auth -----------------------------------------------------------------------------

    /// `DELETE /auth/tokens/{id}`.
    pub async fn revoke_refresh_token(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("/auth/tokens/{}", segment(id))).await
    }

    /// `PATCH /auth/changepw` (no token: the current password proves who asks).
    pub async fn change_own_password(&self, body: &ChangePassword) -> Result<(), String> {
        self.send::<_, ()>(Method::PATCH, "/auth/changepw", None, Some(body), false)
            .await
            .map(drop)
    }

    // --- users ----------------------------------------------------------------------------

    pub async fn list_users(&self, page: &PageParams) -> Result<ListEnvelope<User>, String> {
        self.get_query(USERS, page).await
    }

    pub async fn get_user(&self, id: &str) -> Result<User, String> {
        self.get(&format!("{USERS}/{}", segment(id))).await
    }

    pub async fn create_user(&self, body: &UserCreate) -> Result<User, String> {
        self.post(USERS, body).await
    }

    pub async fn update_user(&self, id: &str, body: &UserUpdate) -> Result<User, String> {
        self.patch(&format!("{USERS}/{}", segment(id)), body).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{USERS}/{}", segment(id))).await
    }

    // --- AWS connections ------------------------------------------------------------------

    pub async fn create_connection(
        &self,
        body: &AwsConnectionCreate,
    ) -> Result<AwsConnection, String> {
        self.post(CONNECTIONS, body).await
    }

    pub async fn list_connections(
        &self,
        page: &PageParams,
    ) -> Result<ListEnvelope<AwsConnection>, String> {
        self.get_query(CONNECTIONS, page).await
    }

    pub async fn get_connection(&self, id: &str) -> Result<AwsConnection, String> {
        self.get(&format!("{CONNECTIONS}/{}", segment(id))).await
    }

    pub async fn test_connection(&self, id: &str) -> Result<ConnectionTestResult, String> {
        self.post_bare(&format!("{CONNECTIONS}/{}/test", segment(id)))
            .await
    }

    pub async fn delete_connection(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{CONNECTIONS}/{}", segment(id))).await
    }

    // --- KMS containers -------------------------------------------------------------------

    pub async fn create_kms(&self, body: &KmsCreate) -> Result<Kms, String> {
        self.post(KMS, body).await
    }

    pub async fn list_kms(&self, page: &PageParams) -> Result<ListEnvelope<Kms>, String> {
        self.get_query(KMS, page).await
    }

    pub async fn get_kms(&self, id: &str) -> Result<Kms, String> {
        self.get(&format!("{KMS}/{}", segment(id))).await
    }

    pub async fn delete_kms(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{KMS}/{}", segment(id))).await
    }

    // --- AWS keys -------------------------------------------------------------------------

    pub async fn list_keys(&self, params: &KeyListParams) -> Result<ListEnvelope<Key>, String> {
        self.get_query(KEYS, params).await
    }

    pub async fn get_key(&self, id: &str) -> Result<Key, String> {
        self.get(&format!("{KEYS}/{}", segment(id))).await
    }

    pub async fn create_key(&self, body: &CreateKey) -> Result<Key, String> {
        self.post(KEYS, body).await
    }

    /// Forgets Keyward's record of a key.
    pub async fn delete_key(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{KEYS}/{}", segment(id))).await
    }

    /// `POST /cckm/aws/keys/{id}/{action}` with a JSON body.
    pub async fn key_action<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        id: &str,
        action: &str,
        body: &B,
    ) -> Result<T, String> {
        self.post(&format!("{KEYS}/{}/{action}", segment(id)), body)
            .await
    }

    /// `POST /cckm/aws/keys/{id}/{action}` without a body.
    pub async fn key_action_bare<T: DeserializeOwned>(
        &self,
        id: &str,
        action: &str,
    ) -> Result<T, String> {
        self.post_bare(&format!("{KEYS}/{}/{action}", segment(id)))
            .await
    }

    pub async fn key_rotations(
        &self,
        id: &str,
        page: &PageParams,
    ) -> Result<ListEnvelope<received::Shim<keyward_api::rotations::Rotation>>, String> {
        self.get_query(&format!("{KEYS}/{}/rotations", segment(id)), page)
            .await
    }

    pub async fn public_key(&self, id: &str) -> Result<received::Shim<PublicKey>, String> {
        self.get(&format!("{KEYS}/{}/download-public-key", segment(id)))
            .await
    }

    pub async fn upload_key(&self, body: &UploadKey) -> Result<Key, String> {
        self.post("/cckm/aws/upload-key", body).await
    }

    pub async fn verify_alias(
        &self,
        body: &VerifyAlias,
    ) -> Result<received::Shim<AliasAvailable>, String> {
        self.post("/cckm/aws/alias/verify", body).await
    }

    // --- synchronisation jobs -------------------------------------------------------------

    pub async fn start_sync(&self, body: &StartSync) -> Result<SyncJob, String> {
        self.post(SYNC, body).await
    }

    pub async fn get_sync(&self, id: &str) -> Result<SyncJob, String> {
        self.get(&format!("{SYNC}/{}", segment(id))).await
    }

    // --- scheduler ------------------------------------------------------------------------

    pub async fn create_job_config(&self, body: &JobConfigCreate) -> Result<JobConfig, String> {
        self.post(CONFIGS, body).await
    }

    pub async fn list_job_configs(
        &self,
        page: &PageParams,
    ) -> Result<ListEnvelope<JobConfig>, String> {
        self.get_query(CONFIGS, page).await
    }

    pub async fn get_job_config(&self, id: &str) -> Result<JobConfig, String> {
        self.get(&format!("{CONFIGS}/{}", segment(id))).await
    }

    pub async fn delete_job_config(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{CONFIGS}/{}", segment(id))).await
    }

    pub async fn run_job_config(&self, id: &str) -> Result<JobRun, String> {
        self.post(&format!("{CONFIGS}/{}/run", segment(id)), &Empty {})
            .await
    }

    pub async fn list_job_runs(
        &self,
        params: &JobRunParams,
    ) -> Result<ListEnvelope<JobRun>, String> {
        self.get_query(RUNS, params).await
    }

    pub async fn get_job_run(&self, id: &str) -> Result<JobRun, String> {
        self.get(&format!("{RUNS}/{}", segment(id))).await
    }

    // --- vault keys -----------------------------------------------------------------------

    pub async fn create_vault_key(&self, body: &VaultKeyCreate) -> Result<VaultKey, String> {
        self.post(VAULT, body).await
    }

    pub async fn list_vault_keys(
        &self,
        params: &VaultKeyParams,
    ) -> Result<ListEnvelope<VaultKey>, String> {
        self.get_query(VAULT, params).await
    }

    pub async fn get_vault_key(&self, id: &str) -> Result<VaultKey, String> {
        self.get(&format!("{VAULT}/{}", segment(id))).await
    }

    pub async fn delete_vault_key(&self, id: &str) -> Result<(), String> {
        self.delete(&format!("{VAULT}/{}", segment(id))).await
    }

    // --- administration -------------------------------------------------------------------

    pub async fn rotate_kek(&self) -> Result<KekRotation, String> {
        self.post_bare("/admin/rotate-kek").await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn query_of<Q: Serialize>(q: &Q) -> String {
        let req = reqwest::Client::new()
            .get("http://127.0.0.1/x")
            .query(q)
            .build()
            .unwrap();
        req.url().query().unwrap_or_default().to_string()
    }

    #[test]
    fn absent_filters_are_left_out_of_the_query() {
        let q = KeyListParams {
            alias: Some("alias/a b".into()),
            gone: Some(false),
            limit: Some(-1),
            ..KeyListParams::default()
        };
        assert_eq!(query_of(&q), "limit=-1&alias=alias%2Fa+b&gone=false");
        assert_eq!(query_of(&PageParams::default()), "");
    }

    /// `--json` prints a typed answer re-serialized (keys sorted): for the server's own
    /// renderings of job configs, runs, sync jobs and vault keys (the fixtures core pins its
    /// wire output to) that is exactly what the server sent.
    #[test]
    fn typed_answers_print_as_the_server_sent_them() {
        fn same<T: DeserializeOwned + Serialize>(text: &str) {
            let sent: serde_json::Value = serde_json::from_str(text).unwrap();
            let typed: T = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_value(&typed).unwrap(), sent, "{text}");
        }
        macro_rules! wire {
            ($name:literal) => {
                include_str!(concat!("../../core/tests/fixtures/wire/", $name, ".json"))
            };
        }
        same::<JobConfig>(wire!("job_config_rotation"));
        same::<JobConfig>(wire!("job_config_sync"));
        same::<JobRun>(wire!("job_run_rotation"));
        same::<JobRun>(wire!("job_run_sync"));
        same::<SyncJob>(wire!("sync_job_completed"));
        same::<SyncJob>(wire!("sync_job_in_progress"));
        same::<VaultKey>(wire!("vault_key"));
        same::<VaultKey>(wire!("vault_key_unused"));
        same::<KekRotation>(r#"{"kek_id": 2, "resealed": 5, "changed_meanwhile": 0}"#);
    }

    #[test]
    fn bodies_leave_out_what_was_not_given() {
        let body = CreateKey {
            kms: "k".into(),
            region: "r".into(),
            ..CreateKey::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"kms":"k","region":"r","aws_param":{}}"#
        );
        assert_eq!(serde_json::to_string(&Empty {}).unwrap(), "{}");
    }
}
