//! Answers kept as the server sent them. A [`Shim`] holds the JSON exactly as received (what
//! `--json` prints, so nothing the CLI does not read is lost, in the server's order) and the
//! `keyward_api` type read from it, reached through `Deref`: AWS key records (`client::Key`),
//! rotations and the answers of get-key-rotation-status, download-public-key and alias verify.
//! The commands read the api type's fields, so a field renamed in `api` breaks the CLI build.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A response as received (`json`) with a typed view of the fields the CLI reads.
#[derive(Debug, Clone)]
pub struct Shim<V> {
    pub json: Value,
    view: V,
}

impl<V> Deref for Shim<V> {
    type Target = V;
    fn deref(&self) -> &V {
        &self.view
    }
}

impl<'de, V: DeserializeOwned> Deserialize<'de> for Shim<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = Value::deserialize(d)?;
        let view = V::deserialize(&json).map_err(serde::de::Error::custom)?;
        Ok(Self { json, view })
    }
}

impl<V> Serialize for Shim<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use keyward_api::key_record::KeyRotationStatus;
    use serde_json::json;

    use super::Shim;

    /// An api type read through a Shim: its fields are the api type's, and it writes back the
    /// JSON received, fields the api type does not know and nulls included.
    #[test]
    fn shim_reads_the_api_type_and_keeps_the_json() {
        let sent = json!({
            "KeyId": "arn:aws:kms:us-east-1:000000000000:key/k1",
            "KeyRotationEnabled": true,
            "NextRotationDate": null,
            "SomethingNew": 1
        });
        let got: Shim<KeyRotationStatus> = match serde_json::from_value(sent.clone()) {
            Ok(v) => v,
            Err(e) => panic!("unreadable: {e}"),
        };
        assert!(got.key_rotation_enabled);
        assert_eq!(got.rotation_period_in_days, None);
        assert_eq!(serde_json::to_value(&got).ok(), Some(sent));
    }
}
