use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The list envelope every collection returns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// How many resources were skipped (the `skip` query parameter).
    pub skip: i64,
    /// The page size in force (the `limit` query parameter, 10 by default; -1 for all).
    pub limit: i64,
    /// How many resources match, over all pages.
    pub total: i64,
    /// This page.
    pub resources: Vec<T>,
}

/// Paging query parameters common to every list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Resources to skip (0 and up).
    #[param(minimum = 0)]
    #[schema(minimum = 0)]
    pub skip: Option<i64>,
    /// Page size: 0 or more (10 when absent), or -1 for every resource.
    #[param(minimum = -1)]
    #[schema(minimum = -1)]
    pub limit: Option<i64>,
    /// Comma-separated fields to sort on, each with a `-` prefix for descending.
    pub sort: Option<String>,
}
