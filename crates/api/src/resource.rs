//! CipherTrust's common resource metadata. Every CCKM resource (KMS containers, AWS keys,
//! templates, job configs, runs, sync jobs, vault keys) carries these fields at its top level:
//! the resource's own type flattens [`Resource`].

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resource {
    pub id: String,
    /// `kylo:kylo:<service>:<kind>:<name>-<id>`.
    pub uri: String,
    pub account: String,
    pub application: String,
    #[serde(rename = "devAccount")]
    pub dev_account: String,
    /// RFC 3339 with microseconds.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    #[serde(rename = "updatedAt")]
    pub updated_at: String,
}

/// The account and application every resource belongs to (one tenant).
pub const ACCOUNT: &str = "kylo:kylo:admin:accounts:kylo";
pub const APPLICATION: &str = "ncryptify:gemalto:admin:apps:kylo";
pub const DEV_ACCOUNT: &str = "ncryptify:gemalto:admin:accounts:gemalto";

impl Resource {
    /// The metadata of resource `id` with `uri`, times already rendered (RFC 3339).
    pub fn new(id: &str, uri: String, created_at: String, updated_at: String) -> Self {
        Self {
            id: id.to_string(),
            uri,
            account: ACCOUNT.into(),
            application: APPLICATION.into(),
            dev_account: DEV_ACCOUNT.into(),
            created_at,
            updated_at,
        }
    }
}
