//! issue10: the wire types the CLI needs that `keyward_api` does not have yet. Everything here
//! is a stand-in, one section per resource, each marked with the `keyward_api` type that is to
//! replace it; the commands use these names and fields only, so replacing a section is a matter
//! of swapping the `use` (and renaming a field where the api type spells it differently).
//!
//! A response stand-in is a [`Shim`]: the JSON exactly as the server sent it (what `--json`
//! prints, so nothing the CLI does not read is lost) and a typed view of the fields the CLI
//! reads, reached through `Deref` the same way an api type's fields are. Request stand-ins are
//! plain serde structs that write the body the server reads. The view may be the `keyward_api`
//! type itself: AWS key records (`client::Key`), rotations and the answers of
//! get-key-rotation-status, download-public-key and alias verify are read that way, so that
//! `--json` still prints them as received.

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
