//! Input rules shared by several use cases. Each returns a message that names the field.

use crate::error::{CoreError, CoreResult};

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

/// An http(s) URL.
pub fn url(field: &str, value: &str) -> CoreResult<()> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !value.contains(' ') => Ok(()),
        _ => Err(CoreError::invalid(format!(
            "{field}: must be an http:// or https:// URL"
        ))),
    }
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
}
