use serde::{Deserialize, Serialize};

/// The list envelope every collection returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListEnvelope<T> {
    pub skip: i64,
    pub limit: i64,
    pub total: i64,
    pub resources: Vec<T>,
}

/// Paging query parameters common to every list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PageParams {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
    pub sort: Option<String>,
}
