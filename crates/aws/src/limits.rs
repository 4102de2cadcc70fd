//! Per-operation request rate limits, per connection and Region, so Keyward never exceeds
//! AWS's request quotas (spec 3.11) however many jobs run at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// AWS's documented requests per second per account and Region (2023 figures).
pub fn default_quotas() -> HashMap<String, f64> {
    [
        ("CancelKeyDeletion", 5.0),
        ("CreateAlias", 5.0),
        ("CreateKey", 5.0),
        ("DeleteAlias", 15.0),
        ("DeleteImportedKeyMaterial", 5.0),
        ("DescribeKey", 2000.0),
        ("DisableKey", 5.0),
        ("DisableKeyRotation", 5.0),
        ("EnableKey", 5.0),
        ("EnableKeyRotation", 15.0),
        ("GetKeyPolicy", 1000.0),
        ("GetKeyRotationStatus", 1000.0),
        ("GetParametersForImport", 0.25),
        ("GetPublicKey", 2000.0),
        ("ImportKeyMaterial", 5.0),
        ("ListAliases", 500.0),
        ("ListKeys", 500.0),
        ("ListResourceTags", 2000.0),
        ("PutKeyPolicy", 15.0),
        ("ReplicateKey", 5.0),
        ("RotateKeyOnDemand", 5.0),
        ("ScheduleKeyDeletion", 15.0),
        ("TagResource", 10.0),
        ("UntagResource", 5.0),
        ("UpdateAlias", 5.0),
        ("UpdateKeyDescription", 5.0),
        ("UpdatePrimaryRegion", 5.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A token bucket per (connection, Region, operation); the burst is one second's worth.
pub struct RateLimits {
    quotas: HashMap<String, f64>,
    buckets: Mutex<HashMap<(String, String, &'static str), Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimits {
    pub fn new(quotas: HashMap<String, f64>) -> Self {
        Self {
            quotas,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// How long to wait before the call may go, reserving its token.
    fn reserve(&self, connection: &str, region: &str, operation: &'static str) -> Duration {
        let Some(rate) = self.quotas.get(operation).copied().filter(|r| *r > 0.0) else {
            return Duration::ZERO;
        };
        let burst = rate.max(1.0);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Duration::ZERO;
        };
        let b = buckets
            .entry((connection.to_string(), region.to_string(), operation))
            .or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
        b.tokens = (b.tokens + now.duration_since(b.updated).as_secs_f64() * rate).min(burst);
        b.updated = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }

    pub async fn acquire(&self, connection: &str, region: &str, operation: &'static str) {
        let wait = self.reserve(connection, region, operation);
        if !wait.is_zero() {
            metrics::counter!("keyward_aws_rate_limited_total", "operation" => operation)
                .increment(1);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_spaces_calls() {
        let limits = RateLimits::new([("CreateKey".to_string(), 5.0)].into());
        for _ in 0..5 {
            assert_eq!(limits.reserve("c", "r", "CreateKey"), Duration::ZERO);
        }
        let wait = limits.reserve("c", "r", "CreateKey");
        assert!(
            wait > Duration::from_millis(150) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        // Other Regions, connections and operations have their own buckets.
        assert_eq!(limits.reserve("c", "r2", "CreateKey"), Duration::ZERO);
        assert_eq!(limits.reserve("c2", "r", "CreateKey"), Duration::ZERO);
        assert_eq!(limits.reserve("c", "r", "DescribeKey"), Duration::ZERO);
    }

    #[test]
    fn slow_operations_wait_seconds() {
        let limits = RateLimits::new(default_quotas());
        assert_eq!(
            limits.reserve("c", "r", "GetParametersForImport"),
            Duration::ZERO
        );
        let wait = limits.reserve("c", "r", "GetParametersForImport");
        assert!(wait >= Duration::from_millis(3900), "{wait:?}");
    }
}
