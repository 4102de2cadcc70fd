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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    /// `expiring_within=99999999999999999d` panicked in chrono (a dropped connection).
    #[test]
    fn a_huge_expiring_within_is_a_400_naming_the_field() {
        for w in [
            "99999999999999999d",
            "106751991167301d",
            "9223372036854775807h",
            "é",
        ] {
            let p = KeyListParams {
                expiring_within: Some(w.into()),
                ..Default::default()
            };
            let e = KeyFilter::parse(p, now()).unwrap_err();
            assert!(matches!(e, CoreError::InvalidParam(_)), "{w}: {e:?}");
            assert!(e.to_string().starts_with("expiring_within: "), "{e}");
        }
        let p = KeyListParams {
            expiring_within: Some("30d".into()),
            ..Default::default()
        };
        let (f, _) = KeyFilter::parse(p, now()).unwrap();
        assert_eq!(f.expiring_before, Some(now() + chrono::Duration::days(30)));
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            any::<String>().prop_map(Some),
            "[0-9]{0,25}[dhé]?".prop_map(Some),
            "-?[a-zA-Z_,=+ -]{0,20}".prop_map(Some),
        ]
    }

    prop_compose! {
        fn params()(
            skip in any::<Option<i64>>(),
            limit in any::<Option<i64>>(),
            sort in opt_text(),
            texts in proptest::collection::vec(opt_text(), 16),
            flags in any::<[Option<bool>; 5]>(),
        ) -> KeyListParams {
            let t = |i: usize| texts[i].clone();
            KeyListParams {
                skip, limit, sort,
                id: t(0), keyid: t(1), arn: t(2), alias: t(3), kms: t(4), kms_id: t(5),
                region: t(6), cloud_name: t(7), origin: t(8), keystate: t(9), keyusage: t(10),
                enabled: flags[0], gone: flags[1], key_material_origin: t(11),
                multi_region: flags[2], multi_region_key_type: t(12),
                rotation_job_enabled: flags[3], job_config_id: t(13),
                customer_master_key_spec: t(14), tags: t(15),
                expiring_within: if flags[4] == Some(true) { t(0) } else { t(15) },
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any query the key list can receive gives filters or a 400, never a panic.
        #[test]
        fn key_list_filters_never_panic(p in params(), secs in any::<i64>()) {
            let at = chrono::DateTime::from_timestamp(secs % 253_402_300_799, 0).unwrap_or(now());
            match KeyFilter::parse(p.clone(), at) {
                Ok((f, q)) => {
                    prop_assert!(q.skip >= 0);
                    if let Some(b) = f.expiring_before {
                        prop_assert!(b >= at);
                    }
                    if let Some(a) = &f.alias {
                        prop_assert!(a.starts_with("alias/"));
                    }
                }
                Err(e) => prop_assert!(matches!(e, CoreError::InvalidParam(_)), "{e:?}"),
            }
        }
    }
}
