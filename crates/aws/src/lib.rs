//! The `CloudKms` port over the AWS SDK for Rust: one client per (connection, Region), cached;
//! static credentials or the host's own, optionally through an assumed role; the endpoint
//! override; the SDK's standard retry with backoff on throttling; AWS errors mapped to typed
//! core errors. Every AWS call is counted in the metrics by operation and outcome.

mod accounts;
mod clients;
mod convert;
mod errors;
mod keys;
pub mod limits;

use std::time::Instant;

use async_trait::async_trait;
use keyward_core::CoreResult;
use keyward_core::connections::{AwsAccount, ConnectionTarget};
use keyward_core::ports::CloudKms;

pub use clients::{AwsSettings, ClientCache};
pub use errors::map_sdk_error;
pub use limits::{RateLimits, default_quotas};

/// AWS KMS through the SDK.
pub struct AwsKms {
    clients: ClientCache,
    limits: RateLimits,
}

impl AwsKms {
    /// `quotas`: requests per second per operation (see [`default_quotas`]).
    pub fn new(settings: AwsSettings, quotas: std::collections::HashMap<String, f64>) -> Self {
        Self {
            clients: ClientCache::new(settings),
            limits: RateLimits::new(quotas),
        }
    }
}

/// Records one AWS call in the metrics.
pub(crate) fn observe(operation: &'static str, started: Instant, ok: bool) {
    let outcome = if ok { "success" } else { "error" };
    metrics::counter!("keyward_aws_calls_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("keyward_aws_call_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
}

#[async_trait]
impl CloudKms for AwsKms {
    async fn check_connection(&self, target: &ConnectionTarget) -> CoreResult<()> {
        let client = self.clients.client(target).await;
        let req = client.list_keys().limit(1).send();
        keys::call(
            self,
            target,
            "ListKeys",
            "Error testing the AWS connection",
            req,
        )
        .await
        .map(|_| ())
    }

    async fn account_details(&self, target: &ConnectionTarget) -> CoreResult<AwsAccount> {
        accounts::account_details(self, target).await
    }

    fn forget_connection(&self, connection_id: &str) {
        self.clients.forget(connection_id);
    }
}
