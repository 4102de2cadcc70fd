//! Input rules for keys, checked before any AWS call (spec 3.2, 3.5, 3.7, 3.9 and CCKM's tag
//! value characters).

use crate::error::{CoreError, CoreResult};

pub const MAX_TAGS: usize = 50;
pub const MAX_DESCRIPTION: usize = 8192;
/// An alias's full name (`alias/<name>`) is at most this long.
pub const MAX_ALIAS_LEN: usize = 256;

/// Days before deletion: AWS allows 7 to 30.
pub fn deletion_days(days: i64) -> CoreResult<i32> {
    if (7..=30).contains(&days) {
        Ok(days as i32)
    } else {
        Err(CoreError::invalid(format!(
            "days: must be from 7 to 30 (was {days})"
        )))
    }
}

/// Automatic rotation period: 90 to 2560 days.
pub fn rotation_period(days: i64) -> CoreResult<i32> {
    if (90..=2560).contains(&days) {
        Ok(days as i32)
    } else {
        Err(CoreError::invalid(format!(
            "rotation_period_in_days: must be from 90 to 2560 (was {days})"
        )))
    }
}

/// An alias as CCKM takes it (without `alias/`; a given `alias/` prefix is accepted). Returns
/// the full AWS name `alias/<name>`.
pub fn alias(field: &str, name: &str) -> CoreResult<String> {
    let bare = name.strip_prefix("alias/").unwrap_or(name);
    if bare.is_empty() {
        return Err(CoreError::invalid(format!("{field}: must not be empty")));
    }
    let full = format!("alias/{bare}");
    if full.len() > MAX_ALIAS_LEN {
        return Err(CoreError::invalid(format!(
            "{field}: must be at most 250 characters"
        )));
    }
    if let Some(c) = bare
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-')))
    {
        return Err(CoreError::invalid(format!(
            "{field}: character {c:?} is not allowed; use letters, digits, ':', '/', '_' and '-'"
        )));
    }
    if bare.starts_with("aws/") || bare == "aws" {
        return Err(CoreError::invalid(format!(
            "{field}: the prefix alias/aws/ is reserved for AWS managed keys"
        )));
    }
    Ok(full)
}

fn tag_key(field: &str, key: &str) -> CoreResult<()> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(CoreError::invalid(format!(
            "{field}: a tag key must be 1 to 128 characters"
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(CoreError::invalid(format!(
            "{field}: tag key '{key}' uses the reserved prefix aws:"
        )));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(*c)))
    {
        return Err(CoreError::invalid(format!(
            "{field}: tag key '{key}' has the character {c:?}; use letters, digits, spaces and _ . : / = + - @"
        )));
    }
    Ok(())
}

fn tag_value(field: &str, key: &str, value: &str) -> CoreResult<()> {
    if value.chars().count() > 256 {
        return Err(CoreError::invalid(format!(
            "{field}: the value of tag '{key}' must be at most 256 characters"
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_./=+-@".contains(*c)))
    {
        return Err(CoreError::invalid(format!(
            "{field}: the value of tag '{key}' has the character {c:?}; CCKM allows letters, digits and _ . / = + - @"
        )));
    }
    Ok(())
}

/// A set of tags to add: each key and value valid, no key twice, at most 50.
pub fn tags(field: &str, tags: &[(String, String)]) -> CoreResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(CoreError::invalid(format!(
            "{field}: at most {MAX_TAGS} tags per key"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        tag_key(field, k)?;
        tag_value(field, k, v)?;
        if !seen.insert(k.as_str()) {
            return Err(CoreError::invalid(format!(
                "{field}: tag key '{k}' appears twice"
            )));
        }
    }
    Ok(())
}

/// Tag keys to remove.
pub fn tag_keys(field: &str, keys: &[String]) -> CoreResult<()> {
    if keys.is_empty() {
        return Err(CoreError::invalid(format!(
            "{field}: give at least one tag key"
        )));
    }
    for k in keys {
        tag_key(field, k)?;
    }
    Ok(())
}

/// The tag Keyward sets when a policy template is applied; never set or removed by hand.
pub fn not_reserved_tag<'a>(field: &str, keys: impl Iterator<Item = &'a String>) -> CoreResult<()> {
    for k in keys {
        if k == super::templates::TEMPLATE_TAG {
            return Err(CoreError::invalid(format!(
                "{field}: the tag {} is reserved for policy templates",
                super::templates::TEMPLATE_TAG
            )));
        }
        if k == super::create_journal::CREATE_TAG {
            return Err(CoreError::invalid(format!(
                "{field}: the tag {} is reserved for Keyward's create journal",
                super::create_journal::CREATE_TAG
            )));
        }
    }
    Ok(())
}

pub fn description(field: &str, d: &str) -> CoreResult<()> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(CoreError::invalid(format!(
            "{field}: must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn days_and_periods() {
        assert!(deletion_days(6).is_err());
        assert_eq!(deletion_days(7).unwrap(), 7);
        assert_eq!(deletion_days(30).unwrap(), 30);
        assert!(
            deletion_days(31)
                .unwrap_err()
                .to_string()
                .starts_with("days:")
        );
        assert!(rotation_period(89).is_err());
        assert!(rotation_period(2561).is_err());
        assert_eq!(rotation_period(365).unwrap(), 365);
    }

    #[test]
    fn aliases() {
        assert_eq!(
            alias("alias", "aws-test-key").unwrap(),
            "alias/aws-test-key"
        );
        assert_eq!(alias("alias", "alias/x").unwrap(), "alias/x");
        assert!(
            alias("alias", "aws/ebs")
                .unwrap_err()
                .to_string()
                .contains("reserved")
        );
        assert!(alias("alias", "has space").is_err());
        assert!(alias("alias", "").is_err());
        assert!(alias("alias", &"a".repeat(251)).is_err());
    }

    #[test]
    fn tag_rules() {
        assert!(tags("tags", &[t("key", "value"), t("env", "a_b.c/d=e+f-g@h")]).is_ok());
        assert!(tags("tags", &[t("k", "")]).is_ok());
        assert!(
            tags("tags", &[t("aws:x", "v")])
                .unwrap_err()
                .to_string()
                .contains("aws:")
        );
        assert!(tags("tags", &[t("k", "has space")]).is_err());
        assert!(
            tags("tags", &[t("k", "a"), t("k", "b")])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(tags("tags", &[t("", "v")]).is_err());
        let many: Vec<_> = (0..51).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(tags("tags", &many).is_err());
    }
}
