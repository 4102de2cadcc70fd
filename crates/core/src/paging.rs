//! Paging and sorting shared by every list: `skip`, `limit` (default 10, `-1` for all) and
//! `sort` (comma-separated fields, `-` prefix for descending).

use crate::error::{CoreError, CoreResult};
use keyward_api::list::PageParams;

pub const DEFAULT_LIMIT: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: &'static str,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub skip: i64,
    /// `None` means every record.
    pub limit: Option<i64>,
    pub sort: Vec<SortKey>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            skip: 0,
            limit: Some(DEFAULT_LIMIT),
            sort: Vec::new(),
        }
    }
}

impl ListQuery {
    /// Every record, unpaged and in the store's order (for use cases, not for clients).
    pub fn all() -> Self {
        Self {
            skip: 0,
            limit: None,
            sort: Vec::new(),
        }
    }

    /// [`ListQuery::parse`] of the paging fields of a resource's own filter struct.
    pub fn parse_parts(
        skip: Option<i64>,
        limit: Option<i64>,
        sort: Option<String>,
        sortable: &[&'static str],
    ) -> CoreResult<Self> {
        Self::parse(&PageParams { skip, limit, sort }, sortable)
    }

    /// Validates the query parameters. `sortable` lists the fields this resource sorts by.
    pub fn parse(params: &PageParams, sortable: &[&'static str]) -> CoreResult<Self> {
        let skip = params.skip.unwrap_or(0);
        if skip < 0 {
            return Err(CoreError::invalid(
                "skip: must be 0 or more (the number of records to skip)",
            ));
        }
        let limit = match params.limit {
            None => Some(DEFAULT_LIMIT),
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n),
            Some(_) => {
                return Err(CoreError::invalid(
                    "limit: must be 0 or more, or -1 for every record",
                ));
            }
        };
        let mut sort = Vec::new();
        if let Some(spec) = params.sort.as_deref() {
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (name, descending) = match part.strip_prefix('-') {
                    Some(rest) => (rest, true),
                    None => (part.strip_prefix('+').unwrap_or(part), false),
                };
                let field = sortable.iter().find(|f| **f == name).ok_or_else(|| {
                    CoreError::invalid(format!(
                        "sort: unknown field '{name}'; sortable fields are {}",
                        sortable.join(", ")
                    ))
                })?;
                sort.push(SortKey { field, descending });
            }
        }
        Ok(Self { skip, limit, sort })
    }

    /// The `limit` to echo in the envelope (`-1` for all).
    pub fn limit_for_envelope(&self) -> i64 {
        self.limit.unwrap_or(-1)
    }
}

/// One page of a list and the total number of matching records.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(skip: Option<i64>, limit: Option<i64>, sort: Option<&str>) -> PageParams {
        PageParams {
            skip,
            limit,
            sort: sort.map(String::from),
        }
    }

    #[test]
    fn defaults_and_all() {
        let q = ListQuery::parse(&params(None, None, None), &["name"]).unwrap();
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.skip, 0);
        let q = ListQuery::parse(&params(Some(5), Some(-1), None), &["name"]).unwrap();
        assert_eq!(q.limit, None);
        assert_eq!(q.limit_for_envelope(), -1);
    }

    #[test]
    fn sort_fields_are_checked() {
        let q = ListQuery::parse(
            &params(None, None, Some("-name,createdAt")),
            &["name", "createdAt"],
        )
        .unwrap();
        assert_eq!(
            q.sort,
            vec![
                SortKey {
                    field: "name",
                    descending: true
                },
                SortKey {
                    field: "createdAt",
                    descending: false
                }
            ]
        );
        let err = ListQuery::parse(&params(None, None, Some("password")), &["name"]).unwrap_err();
        assert!(err.to_string().contains("sort: unknown field 'password'"));
    }

    #[test]
    fn bad_numbers_are_refused() {
        assert!(ListQuery::parse(&params(Some(-1), None, None), &[]).is_err());
        assert!(ListQuery::parse(&params(None, Some(-2), None), &[]).is_err());
    }
}
