//! Key specs and usages: which combinations AWS accepts, CCKM's defaults, and the key type a
//! record shows (spec 3.1 and 3.3).

use crate::error::{CoreError, CoreResult};

/// The key specs Keyward creates (CCKM's list; the post-quantum and China-only specs are
/// accepted by AWS too and passed through).
pub const KEY_SPECS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "ECC_NIST_EDWARDS25519",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
    "SM2",
];

pub const KEY_USAGES: &[&str] = &[
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
];

/// The usages AWS allows for a key spec (spec 3.3).
pub fn allowed_usages(spec: &str) -> &'static [&'static str] {
    match spec {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        "HMAC_224" | "HMAC_256" | "HMAC_384" | "HMAC_512" => &["GENERATE_VERIFY_MAC"],
        "RSA_2048" | "RSA_3072" | "RSA_4096" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
        "ECC_NIST_P256" | "ECC_NIST_P384" | "ECC_NIST_P521" => &["SIGN_VERIFY", "KEY_AGREEMENT"],
        "ECC_SECG_P256K1" | "ECC_NIST_EDWARDS25519" | "ML_DSA_44" | "ML_DSA_65" | "ML_DSA_87" => {
            &["SIGN_VERIFY"]
        }
        "ML_KEM_512" | "ML_KEM_768" | "ML_KEM_1024" => &["ENCAPSULATE_DECAPSULATE"],
        "SM2" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"],
        _ => &[],
    }
}

/// CCKM's default usage when none is given.
pub fn default_usage(spec: &str) -> &'static str {
    match spec {
        s if s.starts_with("HMAC_") => "GENERATE_VERIFY_MAC",
        s if s.starts_with("ECC_") || s.starts_with("ML_DSA") => "SIGN_VERIFY",
        s if s.starts_with("ML_KEM") => "ENCAPSULATE_DECAPSULATE",
        _ => "ENCRYPT_DECRYPT",
    }
}

/// `symmetric`, `asymmetric` or `hmac`, as the record's `key_type`.
pub fn key_type(spec: &str) -> &'static str {
    key_kind(spec).as_str()
}

/// The kind of key a key spec makes.
pub fn key_kind(spec: &str) -> super::kinds::KeyKind {
    use super::kinds::KeyKind;
    match spec {
        "SYMMETRIC_DEFAULT" => KeyKind::Symmetric,
        s if s.starts_with("HMAC_") => KeyKind::Hmac,
        _ => KeyKind::Asymmetric,
    }
}

/// Resolves `CustomerMasterKeySpec` / `KeySpec` and `KeyUsage` to a valid pair, or says what
/// to fix.
pub fn resolve(
    customer_master_key_spec: Option<&str>,
    key_spec: Option<&str>,
    key_usage: Option<&str>,
    region: &str,
) -> CoreResult<(String, String)> {
    let spec = match (customer_master_key_spec, key_spec) {
        (Some(a), Some(b)) if a != b => {
            return Err(CoreError::invalid(format!(
                "aws_param.KeySpec: '{b}' differs from aws_param.CustomerMasterKeySpec '{a}'; give one of them"
            )));
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => "SYMMETRIC_DEFAULT",
    };
    if !KEY_SPECS.contains(&spec) {
        return Err(CoreError::invalid(format!(
            "aws_param.CustomerMasterKeySpec: '{spec}' is not a key spec; use one of {}",
            KEY_SPECS.join(", ")
        )));
    }
    let usage = key_usage.unwrap_or_else(|| default_usage(spec));
    if !KEY_USAGES.contains(&usage) {
        return Err(CoreError::invalid(format!(
            "aws_param.KeyUsage: '{usage}' is not a key usage; use one of {}",
            KEY_USAGES.join(", ")
        )));
    }
    let allowed = allowed_usages(spec);
    if !allowed.contains(&usage) {
        return Err(CoreError::invalid(format!(
            "aws_param.KeyUsage: {usage} is not allowed for {spec}; allowed: {}",
            allowed.join(", ")
        )));
    }
    if spec.starts_with("HMAC_") && matches!(region, "cn-north-1" | "cn-northwest-1") {
        return Err(CoreError::invalid(format!(
            "aws_param.CustomerMasterKeySpec: HMAC keys are not available in {region}"
        )));
    }
    Ok((spec.to_string(), usage.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_cckm() {
        assert_eq!(
            resolve(None, None, None, "ap-south-1").unwrap(),
            ("SYMMETRIC_DEFAULT".into(), "ENCRYPT_DECRYPT".into())
        );
        assert_eq!(
            resolve(Some("HMAC_256"), None, None, "ap-south-1")
                .unwrap()
                .1,
            "GENERATE_VERIFY_MAC"
        );
        assert_eq!(
            resolve(Some("ECC_NIST_P256"), None, None, "ap-south-1")
                .unwrap()
                .1,
            "SIGN_VERIFY"
        );
        assert_eq!(
            resolve(Some("RSA_2048"), None, None, "ap-south-1")
                .unwrap()
                .1,
            "ENCRYPT_DECRYPT"
        );
        assert_eq!(
            resolve(None, Some("RSA_4096"), Some("SIGN_VERIFY"), "ap-south-1")
                .unwrap()
                .0,
            "RSA_4096"
        );
    }

    #[test]
    fn the_spec_usage_table_is_enforced() {
        for (spec, usage) in [
            ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
            ("HMAC_512", "ENCRYPT_DECRYPT"),
            ("RSA_2048", "GENERATE_VERIFY_MAC"),
            ("ECC_SECG_P256K1", "ENCRYPT_DECRYPT"),
            ("ECC_NIST_P384", "ENCRYPT_DECRYPT"),
        ] {
            let err = resolve(Some(spec), None, Some(usage), "us-east-1").unwrap_err();
            assert!(
                err.to_string().starts_with("aws_param.KeyUsage:"),
                "{spec} {usage}: {err}"
            );
        }
        assert!(resolve(Some("RSA_1024"), None, None, "us-east-1").is_err());
        assert!(resolve(Some("RSA_2048"), Some("RSA_4096"), None, "us-east-1").is_err());
        assert!(resolve(Some("HMAC_256"), None, None, "cn-north-1").is_err());
    }

    #[test]
    fn key_types() {
        assert_eq!(key_type("SYMMETRIC_DEFAULT"), "symmetric");
        assert_eq!(key_type("HMAC_384"), "hmac");
        assert_eq!(key_type("RSA_2048"), "asymmetric");
    }
}
