//! The cache of SDK clients, one per (connection, Region, role), rebuilt when the connection
//! changes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_kms::Client;
use keyward_core::connections::ConnectionTarget;

/// How Keyward talks to AWS.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Attempts per call, the first included (the SDK backs off between them).
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    /// One attempt.
    pub attempt_timeout: Duration,
    /// The whole call, retries included: the bound on how long an unreachable AWS takes.
    pub operation_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
        }
    }
}

type CacheKey = (String, String, String);

pub struct ClientCache {
    settings: AwsSettings,
    clients: Mutex<HashMap<CacheKey, (String, Client)>>,
}

impl ClientCache {
    pub fn new(settings: AwsSettings) -> Self {
        Self {
            settings,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn key(t: &ConnectionTarget) -> CacheKey {
        (
            t.connection_id.clone(),
            t.region.clone(),
            t.assume_role_arn.clone().unwrap_or_default(),
        )
    }

    /// The client for this target, built on first use and whenever the connection changed.
    pub async fn client(&self, t: &ConnectionTarget) -> Client {
        let key = Self::key(t);
        if let Ok(map) = self.clients.lock()
            && let Some((rev, c)) = map.get(&key)
            && *rev == t.revision
        {
            return c.clone();
        }
        let client = self.build(t).await;
        if let Ok(mut map) = self.clients.lock() {
            map.insert(key, (t.revision.clone(), client.clone()));
        }
        client
    }

    pub fn forget(&self, connection_id: &str) {
        if let Ok(mut map) = self.clients.lock() {
            map.retain(|k, _| k.0 != connection_id);
        }
    }

    async fn build(&self, t: &ConnectionTarget) -> Client {
        Client::new(&self.sdk_config(t).await)
    }

    /// The SDK configuration for this target (Region, retries, timeouts, credentials, assumed
    /// role, endpoint override): what every client for it is made from.
    pub(crate) async fn sdk_config(&self, t: &ConnectionTarget) -> aws_config::SdkConfig {
        let s = &self.settings;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(t.region.clone()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(s.max_attempts)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(s.connect_timeout)
                    .operation_attempt_timeout(s.attempt_timeout)
                    .operation_timeout(s.operation_timeout)
                    .build(),
            );
        if let (Some(ak), Some(sk)) = (&t.access_key_id, &t.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                ak.clone(),
                sk.expose().to_string(),
                None,
                None,
                "keyward-connection",
            ));
        }
        if let Some(url) = &t.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let mut config = loader.load().await;
        if let Some(role) = &t.assume_role_arn {
            let mut builder = AssumeRoleProvider::builder(role.clone())
                .session_name("keyward")
                .region(Region::new(t.region.clone()))
                .configure(&config);
            if let Some(ext) = &t.assume_role_external_id {
                builder = builder.external_id(ext.clone());
            }
            let provider = builder.build().await;
            config = config
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }
        config
    }

    pub(crate) fn settings(&self) -> &AwsSettings {
        &self.settings
    }
}
