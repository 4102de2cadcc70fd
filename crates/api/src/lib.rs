//! Wire types of Keyward's REST API, spelled exactly as CipherTrust Manager / CCKM spells them.
//! Shared by the server (which renders them) and the CLI (which reads them). serde only.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod connections;
pub mod error;
pub mod key_record;
pub mod keys;
pub mod kms;
pub mod list;
pub mod principals;
pub mod resource;
pub mod rotations;
pub mod scheduler;
pub mod sync;
pub mod templates;
pub mod users;
pub mod vault;

pub use error::ErrorBody;
pub use list::ListEnvelope;

#[cfg(test)]
mod props {
    //! Arbitrary JSON into every request type: a value or an error, never a panic; and a
    //! request that was read is written back the same.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    /// Field names the request types use, so that arbitrary objects often get past the
    /// unknown-field check and into the fields' own types.
    const NAMES: &[&str] = &[
        "name",
        "description",
        "kms",
        "region",
        "regions",
        "alias",
        "aws_param",
        "Alias",
        "Description",
        "KeyUsage",
        "KeySpec",
        "CustomerMasterKeySpec",
        "Origin",
        "MultiRegion",
        "Tags",
        "TagKey",
        "TagValue",
        "tags",
        "days",
        "policy",
        "key_admins",
        "key_users",
        "external_accounts",
        "policytemplate",
        "rotation_period_in_days",
        "ReplicaRegion",
        "PrimaryRegion",
        "username",
        "password",
        "groups",
        "email",
        "grant_type",
        "refresh_token",
        "access_key_id",
        "secret_access_key",
        "endpoint_url",
        "aws_region",
        "account_id",
        "connection",
        "skip",
        "limit",
        "sort",
        "expiring_within",
        "labels",
        "meta",
        "products",
        "current_password",
        "new_password",
        "source_key_tier",
        "source_key_identifier",
        "source_key_id",
        "key_expiration",
        "valid_to",
        "retain_alias",
        "auto_push",
        "job_config_id",
        "key_material_id",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<String>().prop_map(Value::from),
            "[0-9]{1,20}[dh]".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            proptest::sample::select(NAMES).prop_map(String::from),
                            any::<String>()
                        ],
                        inner
                    ),
                    0..6
                )
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn check<T: DeserializeOwned + Serialize>(v: &Value) -> Result<(), TestCaseError> {
        let text = v.to_string();
        if let Ok(t) = serde_json::from_str::<T>(&text) {
            // What was read is written and read back without loss or panic.
            let back = serde_json::to_value(&t).unwrap();
            prop_assert!(serde_json::from_value::<T>(back).is_ok());
        }
        let _ = serde_json::from_value::<T>(v.clone());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn every_request_type_reads_any_json_without_panic(v in json()) {
            use crate::{accounts, auth, connections, keys, kms, list, users};
            check::<auth::TokenRequest>(&v)?;
            check::<connections::AwsConnectionCreate>(&v)?;
            check::<connections::AwsConnectionUpdate>(&v)?;
            check::<keys::CreateKey>(&v)?;
            check::<keys::ScheduleDeletion>(&v)?;
            check::<keys::UpdateDescription>(&v)?;
            check::<keys::AddTags>(&v)?;
            check::<keys::RemoveTags>(&v)?;
            check::<keys::AliasBody>(&v)?;
            check::<keys::PolicyBody>(&v)?;
            check::<keys::EnableAutoRotation>(&v)?;
            check::<keys::ReplicateKey>(&v)?;
            check::<keys::UpdatePrimaryRegion>(&v)?;
            check::<keys::VerifyAlias>(&v)?;
            check::<keys::KeyListParams>(&v)?;
            check::<keys::ImportMaterial>(&v)?;
            check::<keys::DeleteMaterial>(&v)?;
            check::<keys::UploadKey>(&v)?;
            check::<keys::EnableRotationJob>(&v)?;
            check::<crate::rotations::RotateKey>(&v)?;
            check::<crate::templates::TemplateCreate>(&v)?;
            check::<crate::templates::TemplateUpdate>(&v)?;
            check::<accounts::AccountDetailsRequest>(&v)?;
            check::<kms::KmsCreate>(&v)?;
            check::<kms::KmsUpdate>(&v)?;
            check::<list::PageParams>(&v)?;
            check::<users::UserCreate>(&v)?;
            check::<users::UserUpdate>(&v)?;
        }

        /// Query strings (the list filters) from arbitrary text.
        #[test]
        fn query_types_read_any_text_without_panic(q in any::<String>(), k in proptest::sample::select(NAMES), val in any::<String>()) {
            let _ = serde_json::from_value::<crate::keys::KeyListParams>(Value::String(q.clone()));
            let obj = serde_json::json!({ k: val });
            let _ = serde_json::from_value::<crate::keys::KeyListParams>(obj.clone());
            let _ = serde_json::from_value::<crate::list::PageParams>(obj);
        }
    }
}
