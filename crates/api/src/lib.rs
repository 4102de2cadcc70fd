//! Wire types of Keyward's REST API, spelled exactly as CipherTrust Manager / CCKM spells them.
//! Shared by the server (which renders them) and the CLI (which reads them). serde only.

pub mod audit;
pub mod auth;
pub mod connections;
pub mod error;
pub mod keys;
pub mod kms;
pub mod list;
pub mod users;

pub use error::ErrorBody;
pub use list::ListEnvelope;
