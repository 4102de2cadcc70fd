//! AWS keys: records, the rules of key specs and inputs, and the lifecycle use cases.

pub mod record;
pub mod rules;
pub mod spec;

pub use record::{AwsKeyView, KeyMetadata, KeyRecord, MultiRegionConfiguration, RegionalKey, RotationStatus};
