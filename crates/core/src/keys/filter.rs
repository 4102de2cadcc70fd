//! The filters of the key list (spec 1.4a), validated.

use keyward_api::keys::KeyListParams;
use keyward_api::list::PageParams;

use crate::error::{CoreError, CoreResult};
use crate::paging::ListQuery;

pub const SORTABLE: &[&str] = &["createdAt", "updatedAt", "region", "synced_at", "keystate"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub id: Option<String>,
    pub key_id: Option<String>,
    pub arn: Option<String>,
    /// Full alias name, `alias/<name>`.
    pub alias: Option<String>,
    pub kms_name: Option<String>,
    pub kms_id: Option<String>,
    pub region: Option<String>,
    pub cloud_name: Option<String>,
    pub origin: Option<String>,
    pub key_state: Option<String>,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub enabled: Option<bool>,
    pub gone: Option<bool>,
    pub key_material_origin: Option<String>,
    pub multi_region: Option<bool>,
    pub multi_region_key_type: Option<String>,
    pub rotation_job_enabled: Option<bool>,
    pub job_config_id: Option<String>,
    /// (tag key, optional value).
    pub tags: Vec<(String, Option<String>)>,
    /// Keys whose imported material expires before this time.
    pub expiring_before: Option<chrono::DateTime<chrono::Utc>>,
}

/// `30d` or `12h` as a duration, at most [`crate::validate::MAX_WINDOW_DAYS`] days.
pub fn parse_window(field: &str, v: &str) -> CoreResult<chrono::Duration> {
    crate::validate::window(field, v)
}

/// `v` if it is one of `allowed` (or absent); else a 400 naming the field and the values.
pub(crate) fn one_of(
    field: &str,
    v: Option<String>,
    allowed: &[&str],
) -> CoreResult<Option<String>> {
    match v {
        Some(s) if !allowed.contains(&s.as_str()) => Err(CoreError::invalid(format!(
            "{field}: '{s}' is not one of {}",
            allowed.join(", ")
        ))),
        other => Ok(other),
    }
}

impl KeyFilter {
    pub fn parse(
        p: KeyListParams,
        now: chrono::DateTime<chrono::Utc>,
    ) -> CoreResult<(Self, ListQuery)> {
        let expiring_before = p
            .expiring_within
            .as_deref()
            .map(|w| {
                parse_window("expiring_within", w)
                    .and_then(|d| crate::validate::add("expiring_within", now, d))
            })
            .transpose()?;
        let query = ListQuery::parse(
            &PageParams {
                skip: p.skip,
                limit: p.limit,
                sort: p.sort.clone(),
            },
            SORTABLE,
        )?;
        let tags = p
            .tags
            .as_deref()
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (s.to_string(), None),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let filter = Self {
            id: p.id,
            key_id: p.keyid,
            arn: p.arn,
            alias: p.alias.map(|a| {
                if a.starts_with("alias/") {
                    a
                } else {
                    format!("alias/{a}")
                }
            }),
            kms_name: p.kms,
            kms_id: p.kms_id,
            region: p.region,
            cloud_name: p.cloud_name,
            origin: one_of(
                "origin",
                p.origin,
                &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"],
            )?,
            key_state: one_of(
                "keystate",
                p.keystate,
                &[
                    "Creating",
                    "Enabled",
                    "Disabled",
                    "PendingDeletion",
                    "PendingImport",
                    "PendingReplicaDeletion",
                    "Unavailable",
                    "Updating",
                ],
            )?,
            key_usage: one_of("keyusage", p.keyusage, super::spec::KEY_USAGES)?,
            key_spec: one_of(
                "CustomerMasterKeySpec",
                p.customer_master_key_spec,
                super::spec::KEY_SPECS,
            )?,
            enabled: p.enabled,
            gone: p.gone,
            key_material_origin: one_of(
                "key_material_origin",
                p.key_material_origin,
                &["native", "cckm", "unknown"],
            )?,
            multi_region: p.multi_region,
            multi_region_key_type: one_of(
                "multi_region_key_type",
                p.multi_region_key_type,
                &["PRIMARY", "REPLICA"],
            )?,
            rotation_job_enabled: p.rotation_job_enabled,
            job_config_id: p.job_config_id,
            tags,
            expiring_before,
        };
        Ok((filter, query))
    }
}
