//! SDK types to domain types.

use aws_sdk_kms::types::{KeyMetadata as SdkMetadata, MultiRegionKey};
use aws_smithy_types::DateTime as SdkDateTime;
use chrono::{DateTime, Utc};
use keyward_core::keys::{KeyMetadata, MultiRegionConfiguration, RegionalKey};

pub fn time(t: Option<&SdkDateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn regional(k: &MultiRegionKey) -> RegionalKey {
    RegionalKey {
        arn: k.arn().unwrap_or_default().to_string(),
        region: k.region().unwrap_or_default().to_string(),
    }
}

pub fn metadata(m: &SdkMetadata) -> KeyMetadata {
    KeyMetadata {
        aws_account_id: m.aws_account_id().unwrap_or_default().to_string(),
        key_id: m.key_id().to_string(),
        arn: m.arn().unwrap_or_default().to_string(),
        creation_date: time(m.creation_date()),
        enabled: m.enabled(),
        description: m.description().unwrap_or_default().to_string(),
        key_usage: m
            .key_usage()
            .map(|u| u.as_str().to_string())
            .unwrap_or_default(),
        key_state: m
            .key_state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        deletion_date: time(m.deletion_date()),
        valid_to: time(m.valid_to()),
        origin: m
            .origin()
            .map(|o| o.as_str().to_string())
            .unwrap_or_default(),
        key_manager: m
            .key_manager()
            .map(|k| k.as_str().to_string())
            .unwrap_or_default(),
        key_spec: m
            .key_spec()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        encryption_algorithms: m
            .encryption_algorithms()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        signing_algorithms: m
            .signing_algorithms()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        mac_algorithms: m
            .mac_algorithms()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        key_agreement_algorithms: m
            .key_agreement_algorithms()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        expiration_model: m.expiration_model().map(|e| e.as_str().to_string()),
        multi_region: m.multi_region().unwrap_or(false),
        multi_region_configuration: m.multi_region_configuration().map(|c| {
            MultiRegionConfiguration {
                key_type: c
                    .multi_region_key_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                primary: c.primary_key().map(regional),
                replicas: c.replica_keys().iter().map(regional).collect(),
            }
        }),
        pending_deletion_window_in_days: m.pending_deletion_window_in_days(),
    }
}
