//! An AWS account in LocalStack, read and used directly (raw AWS JSON 1.1 requests, not
//! through Keyward nor the tests' proxy), to check what Keyward did there.

use base64::Engine;
use serde_json::{Value, json};

use super::{DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, fresh_localstack_account, kms_raw_as, tag_pairs};

/// A test's AWS account in LocalStack: its access key id and its account id.
pub struct Aws {
    pub access_key: String,
    pub account: String,
}

impl Aws {
    /// An account of the test's own, empty (see [`fresh_localstack_account`]).
    pub fn fresh() -> Self {
        let (access_key, account) = fresh_localstack_account();
        Self {
            access_key,
            account,
        }
    }

    /// LocalStack's default account, which every test that uses it shares.
    pub fn default_account() -> Self {
        Self {
            access_key: DEFAULT_ACCESS_KEY.to_string(),
            account: DEFAULT_ACCOUNT.to_string(),
        }
    }

    /// A raw request as this account; returns the HTTP status and the body.
    pub async fn call(&self, op: &str, body: Value) -> (u16, Value) {
        kms_raw_as(&self.access_key, op, body).await
    }

    /// The ids of every key in the account (pending deletion included).
    pub async fn key_ids(&self) -> Vec<String> {
        let (status, body) = self.call("ListKeys", json!({"Limit": 1000})).await;
        assert_eq!(status, 200, "ListKeys: {body}");
        body["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["KeyId"].as_str().unwrap().to_string())
            .collect()
    }

    /// How many keys the account has (pending deletion included).
    pub async fn key_count(&self) -> usize {
        self.key_ids().await.len()
    }

    /// DescribeKey's KeyMetadata of a key id, ARN or alias.
    pub async fn describe(&self, key: &str) -> Value {
        let (status, body) = self.call("DescribeKey", json!({"KeyId": key})).await;
        assert_eq!(status, 200, "DescribeKey {key}: {body}");
        body["KeyMetadata"].clone()
    }

    /// A key's state (`Enabled`, `PendingImport`...).
    pub async fn key_state(&self, key: &str) -> String {
        self.describe(key).await["KeyState"]
            .as_str()
            .expect("KeyState")
            .to_string()
    }

    /// The ARN of the key an alias points at.
    pub async fn alias_target(&self, alias: &str) -> String {
        self.describe(alias).await["Arn"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A key's tags, as (key, value) pairs.
    pub async fn tags(&self, key_id: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .call("ListResourceTags", json!({"KeyId": key_id}))
            .await;
        assert_eq!(status, 200, "ListResourceTags {key_id}: {body}");
        tag_pairs(&body["Tags"])
    }

    /// Encrypts with a key id, ARN or alias; returns (ciphertext, the ARN of the key used).
    pub async fn encrypt(&self, key: &str, plaintext: &[u8]) -> (String, String) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(plaintext);
        let (status, body) = self
            .call("Encrypt", json!({"KeyId": key, "Plaintext": b64}))
            .await;
        assert_eq!(status, 200, "Encrypt with {key}: {body}");
        (
            body["CiphertextBlob"].as_str().unwrap().to_string(),
            body["KeyId"].as_str().unwrap().to_string(),
        )
    }

    pub async fn decrypt(&self, blob: &str) -> Vec<u8> {
        let (status, body) = self.call("Decrypt", json!({"CiphertextBlob": blob})).await;
        assert_eq!(status, 200, "Decrypt: {body}");
        base64::engine::general_purpose::STANDARD
            .decode(body["Plaintext"].as_str().unwrap())
            .unwrap()
    }
}
