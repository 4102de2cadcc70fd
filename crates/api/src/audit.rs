use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}
