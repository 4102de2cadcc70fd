//! Keyward's domain and use cases. Everything here talks to the outside world through the
//! ports in [`ports`]; no web framework, database driver or AWS SDK is visible from here.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod connections;
pub mod error;
pub mod idempotency;
pub mod keks;
pub mod keys;
pub mod kms;
pub mod local_keys;
pub mod login_limits;
pub mod paging;
pub mod ports;
pub mod scheduler;
pub mod secret;
pub mod service;
pub mod users;
pub mod validate;

pub use error::{CoreError, CoreResult};
pub use service::{Keyward, KeywardSettings};
