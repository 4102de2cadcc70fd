//! Input rules shared by several use cases. Each returns a message that names the field.
//! Every parser here is total: any string gives a value or a 400, never a panic, and every
//! duration and time it returns is bounded, so arithmetic on it cannot overflow.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{CoreError, CoreResult};

/// The longest duration any field takes (`30d`, `12h`): 100 years.
pub const MAX_WINDOW_DAYS: i64 = 36_500;
/// Times (RFC 3339) are taken from this year to [`MAX_YEAR`].
pub const MIN_YEAR: i32 = 1970;
pub const MAX_YEAR: i32 = 9999;
/// The longest URL a field takes.
pub const MAX_URL_LEN: usize = 2048;

/// At most 64 characters of a value, for an error message (a 100 KB value is not echoed).
pub fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        None => value.to_string(),
        Some((end, _)) => format!("{}...", &value[..end]),
    }
}

/// A duration written `<days>d` or `<hours>h` (ASCII digits, then the unit), at most
/// [`MAX_WINDOW_DAYS`] days.
pub fn window(field: &str, v: &str) -> CoreResult<TimeDelta> {
    let bad = || {
        CoreError::invalid(format!(
            "{field}: '{}' is not a duration like 30d or 12h",
            shown(v)
        ))
    };
    let (num, per_day) = if let Some(n) = v.strip_suffix('d') {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 24)
    } else {
        return Err(bad());
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let max = MAX_WINDOW_DAYS * per_day;
    let too_long = || {
        CoreError::invalid(format!(
            "{field}: '{}' is too long; at most {MAX_WINDOW_DAYS}d ({} hours)",
            shown(v),
            MAX_WINDOW_DAYS * 24
        ))
    };
    let n: i64 = match num.parse::<i64>() {
        Ok(n) if n <= max => n,
        // Only digits: the parse fails only when the number is too large for an i64.
        _ => return Err(too_long()),
    };
    let d = if per_day == 1 {
        TimeDelta::try_days(n)
    } else {
        TimeDelta::try_hours(n)
    };
    d.ok_or_else(too_long)
}

/// `t + d`, or a 400 naming the field when the sum is not a time Keyward takes.
pub fn add(field: &str, t: DateTime<Utc>, d: TimeDelta) -> CoreResult<DateTime<Utc>> {
    t.checked_add_signed(d)
        .filter(|r| (MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(r)))
        .ok_or_else(|| CoreError::invalid(format!("{field}: the time it gives is out of range")))
}

/// An RFC 3339 time such as `2027-01-31T12:00:00Z`, in years [`MIN_YEAR`]..=[`MAX_YEAR`].
pub fn time(field: &str, v: &str) -> CoreResult<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(v)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            CoreError::invalid(format!(
                "{field}: '{}' is not an RFC 3339 time like 2027-01-31T12:00:00Z",
                shown(v)
            ))
        })?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&t)) {
        return Err(CoreError::invalid(format!(
            "{field}: '{}' is out of range; give a time from {MIN_YEAR} to {MAX_YEAR}",
            shown(v)
        )));
    }
    Ok(t)
}

/// A name of a resource that is looked up by id or by name: a [`name`] that cannot be
/// mistaken for an id (a UUID in any of its spellings, or 64 hex digits like a vault key's id).
pub fn lookup_name(field: &str, value: &str) -> CoreResult<()> {
    name(field, value)?;
    if looks_like_id(value) {
        return Err(CoreError::invalid(format!(
            "{field}: '{}' looks like an id (a UUID or 64 hex digits); resources are looked up by id or name, so pick a name that is not id-shaped",
            shown(value)
        )));
    }
    Ok(())
}

/// Whether a string has the shape of one of Keyward's ids.
pub fn looks_like_id(value: &str) -> bool {
    let v = value.trim();
    uuid::Uuid::try_parse(v).is_ok() || (v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A resource name: 1..=128 characters of letters, digits and `_ - . @ space`.
pub fn name(field: &str, value: &str) -> CoreResult<()> {
    if value.trim().is_empty() {
        return Err(CoreError::invalid(format!("{field}: must not be empty")));
    }
    if value.chars().count() > 128 {
        return Err(CoreError::invalid(format!(
            "{field}: must be at most 128 characters"
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ' ')))
    {
        return Err(CoreError::invalid(format!(
            "{field}: character {c:?} is not allowed; use letters, digits, '_', '-', '.', '@' or spaces"
        )));
    }
    Ok(())
}

/// An AWS Region name such as `us-east-1`, `ap-south-1`, `us-gov-west-1`, `cn-north-1`.
pub fn aws_region(field: &str, value: &str) -> CoreResult<()> {
    let parts: Vec<&str> = value.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && value.len() <= 32;
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "{field}: '{value}' is not an AWS Region name (like us-east-1)"
        )))
    }
}

/// A 12-digit AWS account id.
pub fn aws_account_id(field: &str, value: &str) -> CoreResult<()> {
    if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "{field}: must be a 12-digit AWS account id"
        )))
    }
}

/// An IAM role ARN: `arn:<partition>:iam::<12 digits>:role/<name>`.
pub fn role_arn(field: &str, value: &str) -> CoreResult<()> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && matches!(parts[1], "aws" | "aws-us-gov" | "aws-cn")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with("role/")
        && parts[5].len() > 5;
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "{field}: '{value}' is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )))
    }
}

/// An http(s) URL with a host, at most [`MAX_URL_LEN`] characters, without user
/// information (`user:password@`, which would be stored and shown in clear) or a fragment.
pub fn url(field: &str, value: &str) -> CoreResult<()> {
    let bad = |why: &str| Err(CoreError::invalid(format!("{field}: {why}")));
    if value.len() > MAX_URL_LEN {
        return bad(&format!("must be at most {MAX_URL_LEN} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let scheme_end = value.find("://").unwrap_or(0);
    let rest = match value[..scheme_end].to_ascii_lowercase().as_str() {
        "https" | "http" => &value[scheme_end + 3..],
        _ => return bad("must be an http:// or https:// URL"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad(
            "must not hold a user name or password (user:password@); give credentials in access_key_id and secret_access_key",
        );
    }
    if rest.contains('#') {
        return bad("must not have a fragment (#...)");
    }
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: [::1]:4566
        Some(v6) => match v6.split_once(']') {
            Some((h, after)) if !h.is_empty() && h.parse::<std::net::Ipv6Addr>().is_ok() => {
                match after {
                    "" => (h, None),
                    p => match p.strip_prefix(':') {
                        Some(p) => (h, Some(p)),
                        None => return bad("has a malformed host"),
                    },
                }
            }
            _ => return bad("has a malformed IPv6 host"),
        },
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && (authority.starts_with('[')
            || host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }));
    if !host_ok {
        return bad("must have a host name or address after the scheme (https://HOST[:PORT])");
    }
    if let Some(p) = port
        && !(!p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n)))
    {
        return bad("has a port that is not a number from 1 to 65535");
    }
    Ok(())
}

/// Free text of bounded length.
pub fn text(field: &str, value: &str, max: usize) -> CoreResult<()> {
    if value.chars().count() > max {
        Err(CoreError::invalid(format!(
            "{field}: must be at most {max} characters"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "ap-south-1",
            "us-gov-west-1",
            "cn-north-1",
            "eu-central-2",
        ] {
            assert!(aws_region("r", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us east 1",
            "us-east-x",
            "-east-1",
        ] {
            assert!(aws_region("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_arns() {
        assert!(name("name", "kms").is_ok());
        assert!(name("name", "").is_err());
        assert!(
            name("name", "a/b")
                .unwrap_err()
                .to_string()
                .starts_with("name:")
        );
        assert!(role_arn("assume_role_arn", "arn:aws:iam::123456789012:role/cckm").is_ok());
        assert!(role_arn("assume_role_arn", "arn:aws:iam::12345:role/cckm").is_err());
        assert!(aws_account_id("account_id", "000000000000").is_ok());
        assert!(aws_account_id("account_id", "0000").is_err());
        assert!(url("endpoint_url", "http://127.0.0.1:4566").is_ok());
        assert!(url("endpoint_url", "ftp://x").is_err());
    }

    #[test]
    fn windows_are_bounded_and_never_panic() {
        assert_eq!(window("w", "30d").unwrap(), TimeDelta::days(30));
        assert_eq!(window("w", "12h").unwrap(), TimeDelta::hours(12));
        assert_eq!(window("w", "0d").unwrap(), TimeDelta::zero());
        assert_eq!(
            window("w", "36500d").unwrap(),
            TimeDelta::days(MAX_WINDOW_DAYS)
        );
        // Each of these panicked (chrono's Duration::days/hours overflow, or split_at inside
        // a multi-byte character) or overflowed `now + d` before.
        for bad in [
            "99999999999999999d",
            "106751991167301d",
            "9223372036854775807h",
            "9223372036854775807d",
            "99999999999999999999999999h",
            "36501d",
            "876001h",
        ] {
            let e = window("expiring_within", bad).unwrap_err().to_string();
            assert!(e.starts_with("expiring_within: "), "{bad}: {e}");
            assert!(e.contains("at most 36500d"), "{bad}: {e}");
        }
        for bad in [
            "", "d", "h", "-1d", "+1d", "1 d", "1w", "1", "é", "1é", "٣d", "1D",
        ] {
            let e = window("expire_in", bad).unwrap_err().to_string();
            assert!(e.starts_with("expire_in: "), "{bad}: {e}");
        }
    }

    #[test]
    fn times_are_bounded_and_sums_checked() {
        let t = time("valid_to", "2027-01-31T12:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2027-01-31T12:00:00+00:00");
        assert!(time("start_date", "9999-12-31T23:59:59Z").is_ok());
        let e = time("start_date", "0001-01-01T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("start_date: ") && e.contains("out of range"),
            "{e}"
        );
        assert!(
            time("end_date", "yesterday")
                .unwrap_err()
                .to_string()
                .starts_with("end_date: ")
        );
        let e = add("expiring_within", t, TimeDelta::days(MAX_WINDOW_DAYS * 100))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("expiring_within: "), "{e}");
        assert_eq!(
            add("x", t, TimeDelta::days(1)).unwrap(),
            t + TimeDelta::days(1)
        );
        let max = DateTime::<Utc>::MAX_UTC;
        assert!(add("x", max, TimeDelta::days(1)).is_err());
    }

    #[test]
    fn urls_refuse_userinfo_overlong_and_hostless() {
        for ok in [
            "https://kms-fips.ap-south-1.amazonaws.com",
            "http://127.0.0.1:4566",
            "http://localstack_main:4566/",
            "https://[::1]:4566/path?x=1",
            "HTTPS://KMS.example.com",
        ] {
            assert!(url("endpoint_url", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://user:pass@host", "user name or password"),
            ("https://user@kms.example.com/", "user name or password"),
            ("http://host:1/@x", ""),
            ("http://", "host"),
            ("http:///path", "host"),
            ("https://:443", "host"),
            ("http://host:0", "port"),
            ("http://host:65536", "port"),
            ("http://host:port", "port"),
            ("http://ho st", "spaces"),
            ("http://host#frag", "fragment"),
            ("http://[nonsense]:1", "IPv6"),
            ("kms.example.com", "http:// or https://"),
            ("ftp://x", "http:// or https://"),
            ("http://a..b", "host"),
        ] {
            match url("endpoint_url", bad) {
                Ok(()) if why.is_empty() => {} // '@' after the path is not userinfo
                Ok(()) => panic!("{bad} accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.starts_with("endpoint_url: ") && e.contains(why),
                        "{bad}: {e}"
                    );
                }
            }
        }
        let long = format!("https://kms.example.com/{}", "a".repeat(100_000));
        let e = url("endpoint_url", &long).unwrap_err().to_string();
        assert!(e.contains("at most 2048 characters"), "{e}");
        assert!(e.len() < 200, "the message does not echo the URL");
    }

    #[test]
    fn names_that_look_like_ids_are_refused() {
        for id in [
            "0b7f1a52-6c1e-4d4e-9a55-8f6f3e0f9f10",
            "0B7F1A52-6C1E-4D4E-9A55-8F6F3E0F9F10",
            "0b7f1a526c1e4d4e9a558f6f3e0f9f10",
            "361d928ac7e340d093e7d231c80ca934acc62528601647ce86a219c9a82f4f93",
        ] {
            let e = lookup_name("name", id).unwrap_err().to_string();
            assert!(
                e.starts_with("name: ") && e.contains("looks like an id"),
                "{e}"
            );
            // The plain rule (users, looked up by id only) still takes it.
            assert!(name("username", id).is_ok());
        }
        for ok in ["kms", "aws-prod", "key-0b7f1a52", "0b7f1a52-6c1e"] {
            assert!(lookup_name("name", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn shown_bounds_echoed_values() {
        assert_eq!(shown("abc"), "abc");
        let long = "é".repeat(100);
        let s = shown(&long);
        assert_eq!(s.chars().count(), 64 + 3);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn window_never_panics(v in any::<String>()) {
                let _ = window("w", &v);
            }

            #[test]
            fn window_near_the_shape_never_panics(n in "[0-9+-]{0,30}", unit in "[dhé]?") {
                let v = format!("{n}{unit}");
                if let Ok(d) = window("w", &v) {
                    prop_assert!(d >= TimeDelta::zero());
                    prop_assert!(d <= TimeDelta::days(MAX_WINDOW_DAYS));
                    // Any bounded window added to any time Keyward takes is checked.
                    let _ = add("w", DateTime::<Utc>::MAX_UTC, d);
                }
            }

            #[test]
            fn valid_windows_give_what_they_say(n in 0i64..=MAX_WINDOW_DAYS, hours in any::<bool>()) {
                if hours {
                    prop_assert_eq!(window("w", &format!("{}h", n * 24)).unwrap(), TimeDelta::days(n));
                } else {
                    prop_assert_eq!(window("w", &format!("{n}d")).unwrap(), TimeDelta::days(n));
                }
            }

            #[test]
            fn times_never_panic(v in any::<String>(), y in 0u32..=99999, rest in "-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})") {
                let _ = time("t", &v);
                if let Ok(t) = time("t", &format!("{y:04}{rest}")) {
                    prop_assert!((MIN_YEAR..=MAX_YEAR).contains(&chrono::Datelike::year(&t)));
                }
            }

            #[test]
            fn urls_and_names_never_panic(v in any::<String>(), host in "[a-z0-9@:./\\[\\]#?-]{0,40}") {
                let _ = url("u", &v);
                let _ = url("u", &format!("http://{host}"));
                let _ = lookup_name("n", &v);
                let _ = aws_region("r", &v);
                let _ = role_arn("a", &v);
                let _ = aws_account_id("a", &v);
                if url("u", &format!("https://{host}")).is_ok() {
                    let authority = host.split(['/', '?']).next().unwrap_or_default();
                    prop_assert!(!authority.contains('@'));
                }
            }

            #[test]
            fn uuids_are_never_lookup_names(bytes in any::<[u8; 16]>()) {
                let id = uuid::Uuid::from_bytes(bytes);
                prop_assert!(lookup_name("n", &id.to_string()).is_err());
                prop_assert!(lookup_name("n", &id.simple().to_string()).is_err());
            }
        }
    }
}
