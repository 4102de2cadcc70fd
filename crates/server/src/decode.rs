//! How every JSON request body becomes its `api` type: decoded as CipherTrust decodes.
//!
//! CipherTrust's Go clients (Thales' Terraform provider among them) marshal whole structs, so an
//! unset string arrives as `""`, an unset pointer or slice as `null`, an unset time as
//! `"0001-01-01T00:00:00Z"`, and response-only fields (`uri`, `createdAt`, ...) come back in
//! create and update bodies. The one rule, applied by [`decode`] to every body:
//!
//! - a member of a typed object (a Rust struct of the request type) whose value is `null`, `""`
//!   or the zero time is treated as not sent: an optional field takes its default (`None`
//!   leaves a PATCH field unchanged), a required one is a 400 naming it;
//! - a member the type does not know is ignored; its path (never its value) is logged at
//!   debug level;
//! - a known member of the wrong JSON type is a 400 naming its path.
//!
//! The rule is driven by the type: it applies only where the type asks for a struct. Opaque
//! JSON (`serde_json::Value`: IAM policy documents, `meta`) and maps (`labels`) are handed over
//! exactly as received, so `""` inside them stays data; a string field that is given (say a
//! tag's `TagValue`, which defaults to `""` anyway) is never rewritten.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::Value;

/// Go's zero `time.Time`, as `encoding/json` writes it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// At most this many ignored member names are logged per body.
const MAX_LOGGED: usize = 32;

/// Decodes a JSON body (already parsed into a `Value`) into `T` by the rule above. The error
/// is the message of a 400: `request body: <path>: <what is wrong>`.
pub fn decode_value<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    let seen = Seen::default();
    let mut ignored: Vec<String> = Vec::new();
    let mut count = 0usize;
    let result = {
        let mut note = |path: serde_ignored::Path<'_>| {
            count += 1;
            if ignored.len() < MAX_LOGGED {
                ignored.push(path.to_string());
            }
        };
        let de = serde_ignored::Deserializer::new(Lenient(value, &seen), &mut note);
        serde_path_to_error::deserialize(de)
    };
    if count > 0 {
        tracing::debug!(
            fields = %ignored.join(", "),
            count,
            "request body: ignored members the type does not know"
        );
    }
    result.map_err(|e| {
        let path = e.path().to_string();
        let mut inner = e.into_inner().to_string();
        if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            let hint = seen.hint(field);
            inner.push_str(&hint);
        }
        if path == "." {
            format!("request body: {inner}")
        } else {
            format!("request body: {path}: {inner}")
        }
    })
}

/// Parses and decodes a JSON body; an empty body is an error (`from_slice` of nothing).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("request body is not valid JSON: {e}"))?;
    decode_value(&value)
}

/// `null`, `""` or the zero time: what a Go client sends for a field it did not set.
pub fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == ZERO_TIME,
        _ => false,
    }
}

/// Forwards each listed method to `serde_json`'s deserializer for `&Value` (not to
/// `deserialize_any`, so that its own handling of each type is kept).
macro_rules! forward_to_deserialize_any_but_value {
    ($($kind:ident)*) => {
        $(forward_one!($kind);)*
    };
}

macro_rules! forward_one {
    (bool) => { forward_one!(@simple deserialize_bool); };
    (i8) => { forward_one!(@simple deserialize_i8); };
    (i16) => { forward_one!(@simple deserialize_i16); };
    (i32) => { forward_one!(@simple deserialize_i32); };
    (i64) => { forward_one!(@simple deserialize_i64); };
    (i128) => { forward_one!(@simple deserialize_i128); };
    (u8) => { forward_one!(@simple deserialize_u8); };
    (u16) => { forward_one!(@simple deserialize_u16); };
    (u32) => { forward_one!(@simple deserialize_u32); };
    (u64) => { forward_one!(@simple deserialize_u64); };
    (u128) => { forward_one!(@simple deserialize_u128); };
    (f32) => { forward_one!(@simple deserialize_f32); };
    (f64) => { forward_one!(@simple deserialize_f64); };
    (char) => { forward_one!(@simple deserialize_char); };
    (str) => { forward_one!(@simple deserialize_str); };
    (string) => { forward_one!(@simple deserialize_string); };
    (bytes) => { forward_one!(@simple deserialize_bytes); };
    (byte_buf) => { forward_one!(@simple deserialize_byte_buf); };
    (unit) => { forward_one!(@simple deserialize_unit); };
    (map) => { forward_one!(@simple deserialize_map); };
    (identifier) => { forward_one!(@simple deserialize_identifier); };
    (ignored_any) => { forward_one!(@simple deserialize_ignored_any); };
    (unit_struct) => {
        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            de::Deserializer::deserialize_unit_struct(self.0, name, visitor)
        }
    };
    (enum) => {
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            de::Deserializer::deserialize_enum(self.0, name, variants, visitor)
        }
    };
    (@simple $method:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            de::Deserializer::$method(self.0, visitor)
        }
    };
}

/// A deserializer over a received `Value` that applies the rule where the type asks for a
/// struct, and otherwise behaves as `serde_json`'s own deserializer for `&Value`.
struct Lenient<'a, 's>(&'a Value, &'s Seen);

/// The member names of the typed objects of a body (at most [`MAX_SEEN`]), and whether each was
/// sent unset: what a "missing field" message points at.
#[derive(Default)]
struct Seen(std::cell::RefCell<Vec<(String, bool)>>);

const MAX_SEEN: usize = 4096;

impl Seen {
    fn note(&self, key: &str, unset: bool) {
        let mut seen = self.0.borrow_mut();
        if seen.len() < MAX_SEEN {
            seen.push((key.to_string(), unset));
        }
    }

    /// What was sent for the required field `field`: the same name sent unset, or a member
    /// spelled like it (`TagKey` for `tag_key`).
    fn hint(&self, field: &str) -> String {
        let squash = |s: &str| {
            s.chars()
                .filter(|c| *c != '_' && *c != '-')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let wanted = squash(field);
        let seen = self.0.borrow();
        if seen.iter().any(|(k, unset)| *unset && k == field) {
            return " (required, and sent as \"\", null or the zero time, which count as not given)"
                .to_string();
        }
        match seen.iter().find(|(k, _)| k != field && squash(k) == wanted) {
            Some((k, _)) => format!(" (required; `{k}` was sent, which is not this field's name)"),
            None => " (required; \"\", null and the zero time count as not given)".to_string(),
        }
    }
}

impl<'de> de::Deserializer<'de> for Lenient<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        // Opaque: exactly as received.
        de::Deserializer::deserialize_any(self.0, visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => {
                let mut seq = LenientSeq(items.iter(), self.1);
                let out = visitor.visit_seq(&mut seq)?;
                if seq.0.len() == 0 {
                    Ok(out)
                } else {
                    Err(de::Error::invalid_length(items.len(), &"fewer elements"))
                }
            }
            other => de::Deserializer::deserialize_seq(other, visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(members) => visitor.visit_map(StructMembers {
                iter: members.iter(),
                value: None,
                seen: self.1,
            }),
            other => de::Deserializer::deserialize_struct(other, name, fields, visitor),
        }
    }

    forward_to_deserialize_any_but_value! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct map enum identifier ignored_any
    }
}

/// The elements of an array the type reads as a sequence (each by the rule).
struct LenientSeq<'a, 's>(std::slice::Iter<'a, Value>, &'s Seen);

impl<'de> de::SeqAccess<'de> for LenientSeq<'de, '_> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        match self.0.next() {
            Some(v) => seed.deserialize(Lenient(v, self.1)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// The members of an object the type reads as a struct, without those sent unset.
struct StructMembers<'a, 's> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
    seen: &'s Seen,
}

impl<'de> de::MapAccess<'de> for StructMembers<'de, '_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (key, value) in self.iter.by_ref() {
            let unset = is_unset(value);
            self.seen.note(key, unset);
            if unset {
                continue;
            }
            self.value = Some(value);
            let key: de::value::StrDeserializer<'_, serde_json::Error> =
                key.as_str().into_deserializer();
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Lenient(v, self.seen)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_api::connections::{AwsConnectionCreate, AwsConnectionUpdate};
    use keyward_api::keys::CreateKey;
    use keyward_api::scheduler::JobConfigCreate;
    use keyward_api::users::UserUpdate;
    use serde::Serialize;
    use serde_json::json;

    /// Decodes `sent` and `meant` into `T` and checks that they are the same request.
    fn same<T: DeserializeOwned + Serialize>(sent: Value, meant: Value) -> Value {
        let a: T = decode_value(&sent).unwrap_or_else(|e| panic!("{sent}: {e}"));
        let b: T = decode_value(&meant).unwrap_or_else(|e| panic!("{meant}: {e}"));
        let (a, b) = (
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap(),
        );
        assert_eq!(a, b, "{sent} should decode as {meant}");
        a
    }

    #[test]
    fn a_whole_go_struct_create_key_is_the_request_without_its_unset_fields() {
        let decoded = same::<CreateKey>(
            json!({
                "kms": "k1", "region": "ap-south-1",
                "id": "", "uri": "", "createdAt": ZERO_TIME, "updatedAt": "0001-01-01T00:00:00Z",
                "aws_param": {
                    "Alias": "", "Description": "", "CustomerMasterKeySpec": "", "KeySpec": "",
                    "KeyUsage": "", "Origin": "", "MultiRegion": null, "Policy": null,
                    "Tags": null, "BypassPolicyLockoutSafetyCheck": false,
                    "ValidTo": ZERO_TIME, "SomethingNew": {"deep": [1, 2]}
                },
                "key_admins": null, "key_users": [], "policytemplate": "",
                "external_accounts": null
            }),
            json!({
                "kms": "k1", "region": "ap-south-1",
                "aws_param": {"BypassPolicyLockoutSafetyCheck": false},
                "key_users": []
            }),
        );
        assert_eq!(
            decoded["aws_param"],
            json!({"BypassPolicyLockoutSafetyCheck": false})
        );
    }

    #[test]
    fn a_whole_go_struct_connection_create_and_patch() {
        same::<AwsConnectionCreate>(
            json!({
                "name": "c1", "description": "", "access_key_id": "AKIA0000000000000000",
                "secret_access_key": "s", "assume_role_arn": "", "assume_role_external_id": "",
                "aws_region": "", "aws_sts_regional_endpoints": "", "cloud_name": "",
                "is_role_anywhere": null, "endpoint_url": "", "labels": null, "meta": null,
                "products": null, "id": "", "uri": "", "account": "", "createdAt": ZERO_TIME,
                "resource_url": "", "service": "", "category": ""
            }),
            json!({"name": "c1", "access_key_id": "AKIA0000000000000000", "secret_access_key": "s"}),
        );
        same::<AwsConnectionUpdate>(
            json!({"description": "", "secret_access_key": "", "access_key_id": null,
                   "aws_region": "eu-west-1", "labels": null, "updatedAt": ZERO_TIME, "name": "c1"}),
            // `name` is known to the PATCH (sent back unchanged by Go clients; checked in core).
            json!({"aws_region": "eu-west-1", "name": "c1"}),
        );
    }

    #[test]
    fn a_patch_with_empty_strings_changes_nothing() {
        let u: UserUpdate = decode_value(&json!({
            "password": "", "current_password": "", "name": "", "email": null, "groups": null,
            "username": "", "user_id": "", "last_login": ZERO_TIME, "logins_count": 0
        }))
        .unwrap();
        assert_eq!(serde_json::to_value(u).unwrap(), json!({}));
    }

    #[test]
    fn a_whole_go_struct_job_config_create() {
        same::<JobConfigCreate>(
            json!({
                "name": "rot", "description": "", "operation": "cckm_key_rotation",
                "run_at": "0 9 * * *", "run_on": "", "disabled": false,
                "start_date": ZERO_TIME, "end_date": "",
                "cckm_key_rotation_params": {"cloud_name": "", "expiration": "", "expire_in": "",
                                             "aws_param": null},
                "cckm_synchronization_params": null, "job_config_params": null,
                "id": "", "uri": "", "createdAt": ZERO_TIME
            }),
            json!({
                "name": "rot", "operation": "cckm_key_rotation", "run_at": "0 9 * * *",
                "disabled": false, "cckm_key_rotation_params": {}
            }),
        );
    }

    #[test]
    fn opaque_json_and_given_tag_values_are_kept_as_sent() {
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "", "Effect": "Allow", "Principal": {"AWS": ""},
                           "Action": "kms:*", "Resource": "*", "Condition": null}]
        });
        let k: CreateKey = decode_value(&json!({
            "kms": "k1", "region": "ap-south-1",
            "aws_param": {"Policy": policy, "Tags": [{"TagKey": "k", "TagValue": ""}]}
        }))
        .unwrap();
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v["aws_param"]["Policy"], policy);
        assert_eq!(
            v["aws_param"]["Tags"],
            json!([{"TagKey": "k", "TagValue": ""}])
        );

        let c: AwsConnectionCreate = decode_value(&json!({
            "name": "c1", "labels": {"team": "", "t": ZERO_TIME, "n": null},
            "meta": {"note": "", "list": ["", null]}
        }))
        .unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["labels"], json!({"team": "", "t": ZERO_TIME, "n": null}));
        assert_eq!(v["meta"], json!({"note": "", "list": ["", null]}));
    }

    #[test]
    fn a_known_field_of_the_wrong_type_is_named() {
        let e = decode_value::<CreateKey>(&json!({
            "kms": "k1", "region": "r", "aws_param": {"Tags": [{"TagKey": 5}]}
        }))
        .unwrap_err();
        assert!(e.contains("aws_param.Tags[0].TagKey"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
        let e = decode_value::<UserUpdate>(&json!({"groups": "admin"})).unwrap_err();
        assert!(e.contains("groups"), "{e}");
    }

    #[test]
    fn a_required_field_sent_empty_is_named() {
        for body in [
            json!({"kms": "", "region": "r", "aws_param": {}}),
            json!({"kms": null, "region": "r", "aws_param": {}}),
        ] {
            let e = decode_value::<CreateKey>(&body).unwrap_err();
            assert!(e.contains("kms"), "{e}");
        }
        let e = decode_value::<AwsConnectionCreate>(&json!({"name": ""})).unwrap_err();
        assert!(e.contains("name"), "{e}");
        assert!(e.contains("sent as"), "{e}");
        // A member spelled like a required field is pointed at.
        let e = decode_value::<keyward_api::keys::AddTags>(&json!({"tags": [{"TagKey": "o"}]}))
            .unwrap_err();
        assert!(e.contains("tags[0]: missing field `tag_key`"), "{e}");
        assert!(e.contains("`TagKey` was sent"), "{e}");
    }

    #[test]
    fn non_objects_are_refused_as_before() {
        assert!(decode_value::<CreateKey>(&json!([])).is_err());
        assert!(decode_value::<CreateKey>(&json!("")).is_err());
        assert!(decode::<CreateKey>(b"{").is_err());
    }
}
