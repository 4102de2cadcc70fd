//! Key operations (the `CloudKeys` port) over aws-sdk-kms.

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, KeySpec, KeyUsageType, OriginType, Tag, WrappingKeySpec,
};
use chrono::{DateTime, Utc};
use keyward_core::connections::ConnectionTarget;
use keyward_core::keys::{KeyMetadata, RotationStatus};
use keyward_core::ports::{CloudKeys, ImportParameters, KeyPage, NewKey, NewReplica};
use keyward_core::{CoreError, CoreResult};

use crate::convert;
use crate::{AwsKms, map_sdk_error, observe};

/// The policy name AWS uses for every key policy (the emulator needs it sent explicitly).
const POLICY_NAME: &str = "default";

/// Keys a ListKeys page asks for: AWS's largest page, so that listing a Region of n keys takes
/// n / 1,000 calls.
pub const LIST_KEYS_PAGE: i32 = 1000;

/// Awaits one AWS call: waits for the rate limit, records metrics, maps errors.
pub(crate) async fn call<T, E, R>(
    kms: &AwsKms,
    t: &ConnectionTarget,
    operation: &'static str,
    context: &str,
    fut: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> CoreResult<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    kms.limits
        .acquire(&t.connection_id, &t.region, operation)
        .await;
    let started = Instant::now();
    let result = fut.await;
    observe(operation, started, result.is_ok());
    result.map_err(|e| map_sdk_error(context, e))
}

fn tags(tags: &[(String, String)]) -> CoreResult<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| CoreError::invalid(format!("tags: {e}")))
        })
        .collect()
}

fn is_code(e: &CoreError, code: &str) -> bool {
    matches!(e, CoreError::Aws { code: c, .. } if c == code)
}

#[async_trait]
impl CloudKeys for AwsKms {
    async fn create_key(&self, t: &ConnectionTarget, key: &NewKey) -> CoreResult<KeyMetadata> {
        let client = self.clients.client(t).await;
        let mut req = client
            .create_key()
            .key_spec(KeySpec::from(key.key_spec.as_str()))
            .key_usage(KeyUsageType::from(key.key_usage.as_str()))
            .origin(OriginType::from(key.origin.as_str()))
            .multi_region(key.multi_region)
            .bypass_policy_lockout_safety_check(key.bypass_policy_lockout_safety_check)
            .set_tags(if key.tags.is_empty() {
                None
            } else {
                Some(tags(&key.tags)?)
            });
        if !key.description.is_empty() {
            req = req.description(&key.description);
        }
        if let Some(p) = &key.policy {
            req = req.policy(p);
        }
        // Not retried by the SDK: CreateKey is not idempotent, and a retry after an answer
        // lost on the way back would make a second key. The caller sees the failure (and a
        // rotation looks for the key it may have made by its tag).
        let once = aws_sdk_kms::config::Builder::default()
            .retry_config(aws_config::retry::RetryConfig::disabled());
        let send = req.customize().config_override(once).send();
        let out = call(self, t, "CreateKey", "Error Creating AWS Key", send).await?;
        out.key_metadata()
            .map(convert::metadata)
            .ok_or_else(|| CoreError::internal("CreateKey returned no key metadata"))
    }

    async fn describe_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<KeyMetadata> {
        let client = self.clients.client(t).await;
        let out = call(
            self,
            t,
            "DescribeKey",
            "Error Describing AWS Key",
            client.describe_key().key_id(key_id).send(),
        )
        .await?;
        out.key_metadata()
            .map(convert::metadata)
            .ok_or_else(|| CoreError::internal("DescribeKey returned no key metadata"))
    }

    async fn key_aliases(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<Vec<String>> {
        let client = self.clients.client(t).await;
        let mut aliases = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = client
                .list_aliases()
                .key_id(key_id)
                .set_marker(marker.clone())
                .limit(100);
            let out = call(
                self,
                t,
                "ListAliases",
                "Error Listing AWS Key Aliases",
                req.send(),
            )
            .await?;
            aliases.extend(
                out.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name().map(String::from)),
            );
            marker = out
                .next_marker()
                .map(String::from)
                .filter(|_| out.truncated());
            if marker.is_none() {
                break;
            }
        }
        aliases.sort();
        Ok(aliases)
    }

    async fn key_tags(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<Vec<(String, String)>> {
        let client = self.clients.client(t).await;
        let mut tags = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = client
                .list_resource_tags()
                .key_id(key_id)
                .set_marker(marker.clone())
                .limit(50);
            let out = call(
                self,
                t,
                "ListResourceTags",
                "Error Listing AWS Key Tags",
                req.send(),
            )
            .await?;
            tags.extend(
                out.tags()
                    .iter()
                    .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
            );
            marker = out
                .next_marker()
                .map(String::from)
                .filter(|_| out.truncated());
            if marker.is_none() {
                break;
            }
        }
        Ok(tags)
    }

    async fn key_policy(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<String> {
        let client = self.clients.client(t).await;
        let req = client
            .get_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME);
        let out = call(
            self,
            t,
            "GetKeyPolicy",
            "Error Getting AWS Key Policy",
            req.send(),
        )
        .await?;
        Ok(out.policy().unwrap_or_default().to_string())
    }

    async fn key_rotation_status(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<Option<RotationStatus>> {
        let client = self.clients.client(t).await;
        let req = client.get_key_rotation_status().key_id(key_id);
        match call(
            self,
            t,
            "GetKeyRotationStatus",
            "Error Getting AWS Key Rotation Status",
            req.send(),
        )
        .await
        {
            Ok(out) => Ok(Some(RotationStatus {
                enabled: out.key_rotation_enabled(),
                period_in_days: out.rotation_period_in_days(),
                next_rotation_date: convert::time(out.next_rotation_date()),
                on_demand_rotation_start_date: convert::time(out.on_demand_rotation_start_date()),
            })),
            Err(e) if is_code(&e, "UnsupportedOperationException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn schedule_key_deletion(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        days: i32,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .schedule_key_deletion()
            .key_id(key_id)
            .pending_window_in_days(days);
        call(
            self,
            t,
            "ScheduleKeyDeletion",
            "Error Scheduling AWS Key Deletion",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn cancel_key_deletion(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "CancelKeyDeletion",
            "Error Cancelling AWS Key Deletion",
            client.cancel_key_deletion().key_id(key_id).send(),
        )
        .await
        .map(|_| ())
    }

    async fn enable_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "EnableKey",
            "Error Enabling AWS Key",
            client.enable_key().key_id(key_id).send(),
        )
        .await
        .map(|_| ())
    }

    async fn disable_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "DisableKey",
            "Error Disabling AWS Key",
            client.disable_key().key_id(key_id).send(),
        )
        .await
        .map(|_| ())
    }

    async fn update_key_description(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        description: &str,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .update_key_description()
            .key_id(key_id)
            .description(description);
        call(
            self,
            t,
            "UpdateKeyDescription",
            "Error Updating AWS Key Description",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn tag_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        new_tags: &[(String, String)],
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .tag_resource()
            .key_id(key_id)
            .set_tags(Some(tags(new_tags)?));
        call(
            self,
            t,
            "TagResource",
            "Error Adding AWS Key Tags",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn untag_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        tag_keys: &[String],
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .untag_resource()
            .key_id(key_id)
            .set_tag_keys(Some(tag_keys.to_vec()));
        call(
            self,
            t,
            "UntagResource",
            "Error Removing AWS Key Tags",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn create_alias(
        &self,
        t: &ConnectionTarget,
        alias: &str,
        key_id: &str,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id);
        call(
            self,
            t,
            "CreateAlias",
            "Error Creating AWS Key Alias",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn update_alias(
        &self,
        t: &ConnectionTarget,
        alias: &str,
        key_id: &str,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .update_alias()
            .alias_name(alias)
            .target_key_id(key_id);
        call(
            self,
            t,
            "UpdateAlias",
            "Error Updating AWS Key Alias",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn delete_alias(&self, t: &ConnectionTarget, alias: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "DeleteAlias",
            "Error Deleting AWS Key Alias",
            client.delete_alias().alias_name(alias).send(),
        )
        .await
        .map(|_| ())
    }

    /// One DescribeKey of `alias/<name>`, whatever the number of aliases in the Region: an
    /// answer means the alias exists (it names a key), NotFoundException that it is free.
    /// AccessDeniedException (a caller allowed ListAliases but not DescribeKey on the key the
    /// alias names) falls back to scanning ListAliases, the only other way to know.
    async fn alias_exists(&self, t: &ConnectionTarget, alias: &str) -> CoreResult<bool> {
        let client = self.clients.client(t).await;
        let probe = call(
            self,
            t,
            "DescribeKey",
            "Error Checking AWS Key Alias",
            client.describe_key().key_id(alias).send(),
        )
        .await;
        match probe {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "NotFoundException") => Ok(false),
            Err(e) if is_code(&e, "AccessDeniedException") => self.alias_listed(t, alias).await,
            Err(e) => Err(e),
        }
    }
    async fn put_key_policy(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        policy: &str,
        bypass: bool,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .put_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .policy(policy)
            .bypass_policy_lockout_safety_check(bypass);
        call(
            self,
            t,
            "PutKeyPolicy",
            "Error Updating AWS Key Policy",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn enable_key_rotation(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        period: Option<i32>,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .enable_key_rotation()
            .key_id(key_id)
            .set_rotation_period_in_days(period);
        call(
            self,
            t,
            "EnableKeyRotation",
            "Error Enabling AWS Key Rotation",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn disable_key_rotation(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "DisableKeyRotation",
            "Error Disabling AWS Key Rotation",
            client.disable_key_rotation().key_id(key_id).send(),
        )
        .await
        .map(|_| ())
    }

    async fn rotate_key_on_demand(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        call(
            self,
            t,
            "RotateKeyOnDemand",
            "Error Rotating AWS Key Material",
            client.rotate_key_on_demand().key_id(key_id).send(),
        )
        .await
        .map(|_| ())
    }

    async fn replicate_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        replica: &NewReplica,
    ) -> CoreResult<KeyMetadata> {
        let client = self.clients.client(t).await;
        let mut req = client
            .replicate_key()
            .key_id(key_id)
            .replica_region(&replica.replica_region)
            .bypass_policy_lockout_safety_check(replica.bypass_policy_lockout_safety_check)
            .set_tags(if replica.tags.is_empty() {
                None
            } else {
                Some(tags(&replica.tags)?)
            });
        if let Some(d) = &replica.description {
            req = req.description(d);
        }
        if let Some(p) = &replica.policy {
            req = req.policy(p);
        }
        let out = call(
            self,
            t,
            "ReplicateKey",
            "Error Replicating AWS Key",
            req.send(),
        )
        .await?;
        out.replica_key_metadata()
            .map(convert::metadata)
            .ok_or_else(|| CoreError::internal("ReplicateKey returned no replica metadata"))
    }

    async fn update_primary_region(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        primary_region: &str,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client
            .update_primary_region()
            .key_id(key_id)
            .primary_region(primary_region);
        call(
            self,
            t,
            "UpdatePrimaryRegion",
            "Error Updating AWS Key Primary Region",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn public_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<Vec<u8>> {
        let client = self.clients.client(t).await;
        let out = call(
            self,
            t,
            "GetPublicKey",
            "Error Downloading AWS Public Key",
            client.get_public_key().key_id(key_id).send(),
        )
        .await?;
        Ok(out
            .public_key()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default())
    }

    async fn list_keys(&self, t: &ConnectionTarget, marker: Option<&str>) -> CoreResult<KeyPage> {
        let client = self.clients.client(t).await;
        let req = client
            .list_keys()
            .limit(LIST_KEYS_PAGE)
            .set_marker(marker.map(String::from));
        let out = call(self, t, "ListKeys", "Error Listing AWS Keys", req.send()).await?;
        Ok(KeyPage {
            key_ids: out
                .keys()
                .iter()
                .filter_map(|k| k.key_id().map(String::from))
                .collect(),
            next_marker: out
                .next_marker()
                .map(String::from)
                .filter(|_| out.truncated()),
        })
    }

    async fn get_parameters_for_import(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        wrapping_algorithm: &str,
        wrapping_key_spec: &str,
    ) -> CoreResult<ImportParameters> {
        let client = self.clients.client(t).await;
        let req = client
            .get_parameters_for_import()
            .key_id(key_id)
            .wrapping_algorithm(AlgorithmSpec::from(wrapping_algorithm))
            .wrapping_key_spec(WrappingKeySpec::from(wrapping_key_spec));
        let out = call(
            self,
            t,
            "GetParametersForImport",
            "Error Getting AWS Import Parameters",
            req.send(),
        )
        .await?;
        Ok(ImportParameters {
            public_key: out
                .public_key()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
            import_token: out
                .import_token()
                .map(|b| b.as_ref().to_vec())
                .unwrap_or_default(),
        })
    }

    async fn import_key_material(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        import_token: &[u8],
        encrypted_material: &[u8],
        valid_to: Option<DateTime<Utc>>,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let mut req = client
            .import_key_material()
            .key_id(key_id)
            .import_token(Blob::new(import_token))
            .encrypted_key_material(Blob::new(encrypted_material));
        req = match valid_to {
            Some(v) => req
                .expiration_model(ExpirationModelType::KeyMaterialExpires)
                .valid_to(aws_smithy_types::DateTime::from_secs(v.timestamp())),
            None => req.expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
        };
        call(
            self,
            t,
            "ImportKeyMaterial",
            "Error Importing AWS Key Material",
            req.send(),
        )
        .await
        .map(|_| ())
    }

    async fn delete_imported_key_material(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<()> {
        let client = self.clients.client(t).await;
        let req = client.delete_imported_key_material().key_id(key_id);
        call(
            self,
            t,
            "DeleteImportedKeyMaterial",
            "Error Deleting AWS Key Material",
            req.send(),
        )
        .await
        .map(|_| ())
    }
}

impl AwsKms {
    /// Whether ListAliases lists `alias` (pages through every alias of the Region).
    async fn alias_listed(&self, t: &ConnectionTarget, alias: &str) -> CoreResult<bool> {
        let client = self.clients.client(t).await;
        let mut marker: Option<String> = None;
        loop {
            let req = client.list_aliases().set_marker(marker.clone()).limit(100);
            let out = call(
                self,
                t,
                "ListAliases",
                "Error Listing AWS Key Aliases",
                req.send(),
            )
            .await?;
            if out.aliases().iter().any(|a| a.alias_name() == Some(alias)) {
                return Ok(true);
            }
            marker = out
                .next_marker()
                .map(String::from)
                .filter(|_| out.truncated());
            if marker.is_none() {
                return Ok(false);
            }
        }
    }
}
