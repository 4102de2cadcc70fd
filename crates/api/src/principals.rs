//! The ways to name a key policy's principals, as CCKM spells them: five lists (IAM users and
//! roles who administer or use the key, AWS accounts that may use it) and `policytemplate`.
//!
//! Declared once here. Responses flatten [`KeyPrincipals`]; request types get the same fields
//! from the [`with_principals!`] macro instead, because `flatten` buffers the members as
//! untyped content, where the server's decoding rule (`server/src/decode.rs`: `""`, `null` and
//! the zero time mean "not sent", unknown members ignored and logged) could not reach them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A key's principals and policy template, in a key record (empty lists are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyPrincipals {
    /// IAM users who can administer the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_admins: Vec<String>,
    /// IAM roles that can administer the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_admins_roles: Vec<String>,
    /// IAM users who can use the key in cryptographic operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_users: Vec<String>,
    /// IAM roles that can use the key in cryptographic operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_users_roles: Vec<String>,
    /// Other AWS accounts that can use the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_accounts: Vec<String>,
    /// Id of the policy template applied to the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policytemplate: Option<String>,
}

/// Declares a request struct with, after its own fields, the five principal lists
/// (`lists`) or the lists and `policytemplate` (`lists_and_template`), each optional. The
/// struct's own fields must end with a comma.
#[macro_export]
macro_rules! with_principals {
    (lists_and_template; $(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $crate::with_principals! { lists; $(#[$m])* pub struct $name {
            $($body)*
            /// Id (or name) of a policy template to apply; exclusive with the policy and the lists.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub policytemplate: Option<String>,
        } }
    };
    (lists; $(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            $($body)*
            /// IAM users who can administer the key.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key_admins: Option<Vec<String>>,
            /// IAM roles that can administer the key.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key_admins_roles: Option<Vec<String>>,
            /// IAM users who can use the key in cryptographic operations.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key_users: Option<Vec<String>>,
            /// IAM roles that can use the key in cryptographic operations.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub key_users_roles: Option<Vec<String>>,
            /// Other AWS accounts that can use the key.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub external_accounts: Option<Vec<String>>,
        }
    };
}
