//! Key policy templates (`/cckm/aws/templates`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::resource::Resource;

crate::with_principals! { lists;
    /// `POST /cckm/aws/templates`: a named policy, as a document (`policy`) or as the
    /// principal lists (exclusive).
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct TemplateCreate {
        pub name: String,
        /// The KMS container (name or id) the template is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kms: Option<String>,
        /// The AWS account the template is for (without `kms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub account_id: Option<String>,
        /// A key policy document (a JSON object, or a string holding one).
        #[serde(default, alias = "Policy", skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        pub policy: Option<Value>,
        /// Push a changed policy to the keys made from the template.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub auto_push: Option<bool>,
    }
}

crate::with_principals! { lists;
    /// `PATCH /cckm/aws/templates/{id}`: a new policy (document or principal lists) and/or
    /// `auto_push`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
    pub struct TemplateUpdate {
        /// A key policy document (a JSON object, or a string holding one).
        #[serde(default, alias = "Policy", skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Object>)]
        pub policy: Option<Value>,
        /// Push a changed policy to the keys made from the template.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub auto_push: Option<bool>,
    }
}

/// A policy template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyTemplate {
    #[serde(flatten)]
    pub resource: Resource,
    pub name: String,
    /// The KMS container, as it was given (its id or its name; null for a template made for
    /// an account).
    pub kms: Option<String>,
    pub account_id: String,
    /// The policy document (null when the template lists principals).
    #[schema(value_type = Option<Object>)]
    pub policy: Option<Value>,
    /// IAM users who can administer the keys.
    pub key_admins: Vec<String>,
    /// IAM roles that can administer the keys.
    pub key_admins_roles: Vec<String>,
    /// IAM users who can use the keys in cryptographic operations.
    pub key_users: Vec<String>,
    /// IAM roles that can use the keys in cryptographic operations.
    pub key_users_roles: Vec<String>,
    /// Other AWS accounts that can use the keys.
    pub external_accounts: Vec<String>,
    /// A changed policy is pushed to the keys made from the template.
    pub auto_push: bool,
    pub is_verified: bool,
}

/// What pushing a changed template to its keys did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AutoPushResult {
    /// How many keys got the new policy.
    pub keys_updated: u64,
    /// The keys that did not, by record id, with the error.
    pub failures: BTreeMap<String, String>,
}

/// `PATCH /cckm/aws/templates/{id}`: the template and what pushing it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateUpdated {
    #[serde(flatten)]
    pub template: PolicyTemplate,
    pub auto_push_result: AutoPushResult,
}
