//! Key policies: the mutually exclusive ways to give one, and the document Keyward builds
//! from key administrators, users and external accounts.

use serde_json::{Value, json};

use crate::error::{CoreError, CoreResult};

/// How the caller asked for the key's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChoice {
    /// AWS's default key policy.
    Default,
    /// A document given as is.
    Document(String),
    /// Built from IAM users and roles and external accounts.
    Helpers(PolicyPrincipals),
    /// A stored policy template.
    Template(String),
}

/// The five principal lists a key policy is built from (declared once in core; a key record
/// and a template hold one, stored flat under these names).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PolicyPrincipals {
    pub key_admins: Vec<String>,
    pub key_admins_roles: Vec<String>,
    pub key_users: Vec<String>,
    pub key_users_roles: Vec<String>,
    pub external_accounts: Vec<String>,
}

impl PolicyPrincipals {
    /// The lists and the applied template, as a key record shows them.
    pub fn to_wire(
        &self,
        policytemplate: Option<String>,
    ) -> keyward_api::principals::KeyPrincipals {
        keyward_api::principals::KeyPrincipals {
            key_admins: self.key_admins.clone(),
            key_admins_roles: self.key_admins_roles.clone(),
            key_users: self.key_users.clone(),
            key_users_roles: self.key_users_roles.clone(),
            external_accounts: self.external_accounts.clone(),
            policytemplate,
        }
    }

    /// The lists as a key record shows them (CipherTrust's way, which Thales' Terraform
    /// provider expects): IAM users and roles as ARNs in the key's account
    /// (`arn:<partition>:iam::<account>:user/<name>`, `...:role/<name>`); external accounts
    /// as given.
    pub fn to_wire_arns(
        &self,
        partition: &str,
        account_id: &str,
        policytemplate: Option<String>,
    ) -> keyward_api::principals::KeyPrincipals {
        let iam = |kind: &str, names: &[String]| -> Vec<String> {
            names
                .iter()
                .map(|n| iam_arn(partition, account_id, kind, n))
                .collect()
        };
        keyward_api::principals::KeyPrincipals {
            key_admins: iam("user", &self.key_admins),
            key_admins_roles: iam("role", &self.key_admins_roles),
            key_users: iam("user", &self.key_users),
            key_users_roles: iam("role", &self.key_users_roles),
            external_accounts: self.external_accounts.clone(),
            policytemplate,
        }
    }

    /// Forgets every principal.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The raw inputs, before the exclusivity check.
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    pub policy: Option<Value>,
    pub key_admins: Option<Vec<String>>,
    pub key_admins_roles: Option<Vec<String>>,
    pub key_users: Option<Vec<String>>,
    pub key_users_roles: Option<Vec<String>>,
    pub external_accounts: Option<Vec<String>>,
    pub policytemplate: Option<String>,
}

const MAX_POLICY_LEN: usize = 131_072;

/// A principal of the key_* lists as an IAM ARN: a name in the key's account, or an ARN
/// given as such (key records show ARNs, so a client may send back what it read).
fn iam_arn(partition: &str, account_id: &str, kind: &str, name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        format!("arn:{partition}:iam::{account_id}:{kind}/{name}")
    }
}

fn is_iam_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
}

/// An IAM user or role name, or the ARN of one (`arn:<partition>:iam::<account>:<kind>/<name>`).
fn iam_name(field: &str, kind: &str, name: &str) -> CoreResult<()> {
    let ok = match name.strip_prefix("arn:") {
        Some(rest) => {
            let mut parts = rest.splitn(5, ':');
            let partition = parts.next().unwrap_or_default();
            let service = parts.next().unwrap_or_default();
            let region = parts.next().unwrap_or_default();
            let account = parts.next().unwrap_or_default();
            let resource = parts.next().unwrap_or_default();
            matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
                && service == "iam"
                && region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource
                    .strip_prefix(kind)
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(is_iam_name)
        }
        None => is_iam_name(name),
    };
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(format!(
            "{field}: '{}' is not an IAM {kind} name or {kind} ARN",
            crate::validate::shown(name)
        )))
    }
}

impl PolicyInputs {
    /// Applies CCKM's rule: Policy, policytemplate and the key_* lists are mutually exclusive;
    /// none of them means AWS's default policy. `policy_field` names the policy field in
    /// messages (`aws_param.Policy` or `policy`).
    pub fn choose(self, policy_field: &str) -> CoreResult<PolicyChoice> {
        let helpers = [
            &self.key_admins,
            &self.key_admins_roles,
            &self.key_users,
            &self.key_users_roles,
            &self.external_accounts,
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()));
        let given = [
            self.policy.is_some(),
            self.policytemplate.is_some(),
            helpers,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            return Err(CoreError::invalid(format!(
                "{policy_field}, policytemplate and key_admins/key_admins_roles/key_users/key_users_roles/external_accounts are mutually exclusive; give only one of them"
            )));
        }
        if let Some(p) = self.policy {
            let text = match p {
                Value::Object(_) => p.to_string(),
                Value::String(s) => match serde_json::from_str::<Value>(&s) {
                    Ok(Value::Object(_)) => s,
                    _ => {
                        return Err(CoreError::invalid(format!(
                            "{policy_field}: must be a JSON object (a key policy document)"
                        )));
                    }
                },
                _ => {
                    return Err(CoreError::invalid(format!(
                        "{policy_field}: must be a JSON object (a key policy document)"
                    )));
                }
            };
            if text.len() > MAX_POLICY_LEN {
                return Err(CoreError::invalid(format!(
                    "{policy_field}: must be at most {MAX_POLICY_LEN} characters"
                )));
            }
            let doc: Value = serde_json::from_str(&text)
                .map_err(|_| CoreError::invalid(format!("{policy_field}: not JSON")))?;
            if doc.get("Statement").is_none() {
                return Err(CoreError::invalid(format!(
                    "{policy_field}: a key policy needs a Statement"
                )));
            }
            return Ok(PolicyChoice::Document(text));
        }
        if let Some(t) = self.policytemplate {
            return Ok(PolicyChoice::Template(t));
        }
        if helpers {
            let p = PolicyPrincipals {
                key_admins: self.key_admins.unwrap_or_default(),
                key_admins_roles: self.key_admins_roles.unwrap_or_default(),
                key_users: self.key_users.unwrap_or_default(),
                key_users_roles: self.key_users_roles.unwrap_or_default(),
                external_accounts: self.external_accounts.unwrap_or_default(),
            };
            for n in p.key_admins.iter().chain(&p.key_users) {
                iam_name("key_admins/key_users", "user", n)?;
            }
            for n in p.key_admins_roles.iter().chain(&p.key_users_roles) {
                iam_name("key_admins_roles/key_users_roles", "role", n)?;
            }
            for a in &p.external_accounts {
                crate::validate::aws_account_id("external_accounts", a)?;
            }
            return Ok(PolicyChoice::Helpers(p));
        }
        Ok(PolicyChoice::Default)
    }
}

/// The actions key users get, by key usage.
fn user_actions(key_usage: &str) -> Vec<&'static str> {
    match key_usage {
        "SIGN_VERIFY" => vec![
            "kms:DescribeKey",
            "kms:GetPublicKey",
            "kms:Sign",
            "kms:Verify",
        ],
        "GENERATE_VERIFY_MAC" => vec!["kms:DescribeKey", "kms:GenerateMac", "kms:VerifyMac"],
        "KEY_AGREEMENT" => vec![
            "kms:DescribeKey",
            "kms:GetPublicKey",
            "kms:DeriveSharedSecret",
        ],
        _ => vec![
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:DescribeKey",
        ],
    }
}

/// The policy document for administrators, users and external accounts, in the layout of
/// AWS's console-made policies. The account root keeps full access so the key can never be
/// locked out of IAM's control.
pub fn build(p: &PolicyPrincipals, partition: &str, account_id: &str, key_usage: &str) -> String {
    let iam = |kind: &str, name: &str| iam_arn(partition, account_id, kind, name);
    let admins: Vec<String> = p
        .key_admins
        .iter()
        .map(|n| iam("user", n))
        .chain(p.key_admins_roles.iter().map(|n| iam("role", n)))
        .collect();
    let users: Vec<String> = p
        .key_users
        .iter()
        .map(|n| iam("user", n))
        .chain(p.key_users_roles.iter().map(|n| iam("role", n)))
        .chain(
            p.external_accounts
                .iter()
                .map(|a| format!("arn:{partition}:iam::{a}:root")),
        )
        .collect();
    let mut statements = vec![json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:{partition}:iam::{account_id}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })];
    if !admins.is_empty() {
        statements.push(json!({
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": admins},
            "Action": [
                "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"
            ],
            "Resource": "*"
        }));
    }
    if !users.is_empty() {
        statements.push(json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": users.clone()},
            "Action": user_actions(key_usage),
            "Resource": "*"
        }));
        statements.push(json!({
            "Sid": "Allow attachment of persistent resources",
            "Effect": "Allow",
            "Principal": {"AWS": users},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}
        }));
    }
    json!({"Version": "2012-10-17", "Id": "keyward-key-policy", "Statement": statements})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusivity() {
        let both = PolicyInputs {
            policy: Some(json!({"Statement": []})),
            key_users: Some(vec!["bob".into()]),
            ..Default::default()
        };
        assert!(
            both.choose("aws_param.Policy")
                .unwrap_err()
                .to_string()
                .contains("mutually exclusive")
        );
        assert_eq!(
            PolicyInputs::default().choose("policy").unwrap(),
            PolicyChoice::Default
        );
        let doc = PolicyInputs {
            policy: Some(json!({"Version": "2012-10-17", "Statement": []})),
            ..Default::default()
        };
        assert!(matches!(
            doc.choose("policy").unwrap(),
            PolicyChoice::Document(_)
        ));
        let bad = PolicyInputs {
            policy: Some(json!([1])),
            ..Default::default()
        };
        assert!(bad.choose("policy").is_err());
        let empty_lists = PolicyInputs {
            key_users: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(empty_lists.choose("policy").unwrap(), PolicyChoice::Default);
    }

    #[test]
    fn built_policy_names_the_principals() {
        let p = PolicyPrincipals {
            key_admins: vec!["alice".into()],
            key_users_roles: vec!["app".into()],
            external_accounts: vec!["111122223333".into()],
            ..Default::default()
        };
        let doc: Value =
            serde_json::from_str(&build(&p, "aws", "000000000000", "ENCRYPT_DECRYPT")).unwrap();
        let text = doc.to_string();
        assert!(text.contains("arn:aws:iam::000000000000:root"));
        assert!(text.contains("arn:aws:iam::000000000000:user/alice"));
        assert!(text.contains("arn:aws:iam::000000000000:role/app"));
        assert!(text.contains("arn:aws:iam::111122223333:root"));
        assert!(text.contains("kms:Encrypt"));
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 4);
    }

    /// Key records show principals as ARNs; a client may send those back: an ARN of the
    /// right kind is taken as it is (in whatever account it names), anything else is a 400.
    #[test]
    fn principals_may_be_names_or_arns_of_their_kind() {
        let lists = |users: &[&str], roles: &[&str]| PolicyInputs {
            key_users: Some(users.iter().map(|s| s.to_string()).collect()),
            key_users_roles: Some(roles.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let ok = lists(
            &["bob", "arn:aws:iam::111122223333:user/ops/alice"],
            &["arn:aws-cn:iam::000000000000:role/app"],
        );
        let PolicyChoice::Helpers(p) = ok.choose("policy").unwrap() else {
            panic!("helpers")
        };
        let doc = build(&p, "aws", "000000000000", "ENCRYPT_DECRYPT");
        assert!(doc.contains("arn:aws:iam::000000000000:user/bob"), "{doc}");
        assert!(
            doc.contains("arn:aws:iam::111122223333:user/ops/alice"),
            "{doc}"
        );
        assert!(!doc.contains("user/arn:"), "{doc}");
        let wire = p.to_wire_arns("aws", "000000000000", None);
        assert_eq!(
            wire.key_users[1],
            "arn:aws:iam::111122223333:user/ops/alice"
        );
        for bad in [
            lists(&["arn:aws:iam::111122223333:role/app"], &[]),
            lists(&[], &["arn:aws:iam::111122223333:user/bob"]),
            lists(&["arn:aws:iam::1111:user/bob"], &[]),
            lists(&["arn:aws:s3:::bucket"], &[]),
            lists(&["arn:aws:iam::111122223333:user/"], &[]),
            lists(&["bob:x"], &[]),
        ] {
            assert!(bad.choose("policy").is_err());
        }
    }
}
