//! Keyward's HTTPS server: configuration, TLS, the routes, the bearer-token extractor, error
//! rendering, request ids, metrics and health. `run` wires the concrete adapters.

pub mod app;
pub mod audit_checkpoints;
pub mod background;
pub mod config;
pub mod decode;
pub mod error;
pub mod extract;
pub mod guard;
#[cfg(test)]
mod hostile_tests;
pub mod http1_errors;
pub mod idempotency;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod tls;

pub use app::{ServeError, run};
pub use config::Settings;
