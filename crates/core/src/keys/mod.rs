//! AWS keys: records, the rules of key specs and inputs, policies, and the use cases.

pub mod create_journal;
pub mod expiry;
pub mod filter;
pub mod import;
pub mod kinds;
pub mod lifecycle;
pub mod policy;
pub mod record;
pub mod rotate;
pub mod rotation_job;
pub mod rules;
pub mod spec;
pub mod sync;
pub mod templates;

pub use filter::KeyFilter;
pub use lifecycle::KeyAction;
pub use record::{
    AwsKeyView, KeyMetadata, KeyRecord, MultiRegionConfiguration, RegionalKey, RotationStatus,
};
#[cfg(test)]
mod wire_pin;
