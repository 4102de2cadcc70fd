//! Bring your own key: importing material from Keyward's vault into an EXTERNAL AWS key
//! (seed 002), deleting it (seed 000), and creating-and-importing in one call (upload-key).
//!
//! An import is journaled: an intent is written before the first AWS call and closed, with
//! the updated record, after the last. The local key holding the material is stored before
//! any AWS call, so AWS never holds material Keyward has lost; an intent a crash left open is
//! reconciled at the next start from what AWS says about the key.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::lifecycle::KeyAction;
use super::record::{KeyRecord, MaterialBinding};
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::local_keys::LocalKey;
use crate::service::Keyward;

pub const WRAPPING_ALGORITHM: &str = "RSAES_OAEP_SHA_256";
pub const WRAPPING_KEY_SPEC: &str = "RSA_4096";
pub const MAX_VALIDITY_DAYS: i64 = 365;

/// An import in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportIntent {
    pub id: String,
    pub key_record_id: String,
    pub local_key_id: String,
    pub valid_to: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// `POST .../import-material`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMaterial {
    #[serde(default)]
    pub source_key_tier: Option<String>,
    #[serde(default)]
    pub source_key_identifier: Option<String>,
    #[serde(default)]
    pub key_expiration: Option<bool>,
    #[serde(default)]
    pub valid_to: Option<String>,
}

/// `POST .../delete-material`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteMaterial {
    #[serde(default)]
    pub key_material_id: Option<String>,
}

/// `POST /cckm/aws/upload-key`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadKey {
    pub kms: String,
    pub region: String,
    #[serde(default)]
    pub source_key_identifier: Option<String>,
    #[serde(default)]
    pub source_key_tier: Option<String>,
    #[serde(default)]
    pub key_expiration: Option<bool>,
    #[serde(default)]
    pub valid_to: Option<String>,
    #[serde(default)]
    pub aws_param: Option<Value>,
    #[serde(default)]
    pub key_admins: Option<Vec<String>>,
    #[serde(default)]
    pub key_admins_roles: Option<Vec<String>>,
    #[serde(default)]
    pub key_users: Option<Vec<String>>,
    #[serde(default)]
    pub key_users_roles: Option<Vec<String>>,
    #[serde(default)]
    pub external_accounts: Option<Vec<String>>,
    #[serde(default)]
    pub policytemplate: Option<String>,
}

/// The source tier; only Keyward's own vault for now.
fn check_tier(tier: Option<&str>) -> CoreResult<()> {
    match tier.unwrap_or("local") {
        "local" => Ok(()),
        "hsm-luna" | "dsm" => Err(CoreError::invalid(
            "source_key_tier: the HSM key source is not available in this version of Keyward; use local",
        )),
        other => Err(CoreError::invalid(format!(
            "source_key_tier: '{other}' is not a key source; use local"
        ))),
    }
}

/// `valid_to`: RFC 3339, in the future, at most 365 days ahead, only with key_expiration.
pub fn check_expiry(
    key_expiration: Option<bool>,
    valid_to: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<Option<DateTime<Utc>>> {
    match (key_expiration.unwrap_or(false), valid_to) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(CoreError::invalid(
            "valid_to: only allowed with key_expiration: true",
        )),
        (true, None) => Err(CoreError::invalid(
            "valid_to: required with key_expiration: true (RFC 3339, e.g. 2027-01-31T12:00:00Z)",
        )),
        (true, Some(v)) => {
            let t = DateTime::parse_from_rfc3339(v)
                .map_err(|_| {
                    CoreError::invalid(format!(
                        "valid_to: '{v}' is not an RFC 3339 time such as 2027-01-31T12:00:00Z"
                    ))
                })?
                .with_timezone(&Utc);
            if t <= now {
                return Err(CoreError::invalid(format!(
                    "valid_to: {v} is not in the future"
                )));
            }
            if t > now + Duration::days(MAX_VALIDITY_DAYS) {
                return Err(CoreError::invalid(format!(
                    "valid_to: {v} is more than {MAX_VALIDITY_DAYS} days ahead; AWS allows at most {MAX_VALIDITY_DAYS}"
                )));
            }
            Ok(Some(t))
        }
    }
}

impl Keyward {
    /// The local key whose material goes into this AWS key, created when none is named.
    async fn source_for(
        &self,
        caller: &Caller,
        rec: &KeyRecord,
        identifier: Option<&str>,
    ) -> CoreResult<LocalKey> {
        let spec = rec.aws.metadata.key_spec.as_str();
        if !matches!(spec, "SYMMETRIC_DEFAULT" | "HMAC_256") {
            return Err(CoreError::invalid(format!(
                "import-material: keys of spec {spec} cannot take material from Keyward's vault (AES keys); SYMMETRIC_DEFAULT and HMAC_256 can"
            )));
        }
        let bound = rec.material.as_ref();
        let key = match (identifier, bound) {
            (Some(id), bound) => {
                let key = self.find_local_key(id).await?.ok_or_else(|| {
                    CoreError::invalid(format!(
                        "source_key_identifier: no key named or with id '{id}' in the vault"
                    ))
                })?;
                if let Some(b) = bound
                    && b.local_key_id != key.id
                {
                    return Err(CoreError::invalid(format!(
                        "source_key_identifier: AWS accepts only the material imported before; this key's material is vault key '{}' ({})",
                        b.local_key_name, b.local_key_id
                    )));
                }
                key
            }
            (None, Some(b)) => self.find_local_key(&b.local_key_id).await?.ok_or_else(|| {
                CoreError::internal(format!(
                    "vault key {} bound to an AWS key is missing",
                    b.local_key_id
                ))
            })?,
            (None, None) => {
                let name = format!("aws-{}", rec.aws.metadata.key_id);
                match self.ports.store.get_local_key_by_name(&name).await? {
                    Some(existing) => existing,
                    None => {
                        let material = self.ports.random.bytes(32)?;
                        self.insert_local_key(caller, &name, 256, material).await?
                    }
                }
            }
        };
        if key.size != 256 {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: vault key '{}' is AES-{}; AWS needs 256-bit material for {spec}",
                key.name, key.size
            )));
        }
        Ok(key)
    }

    /// `POST .../import-material` (seed 002).
    pub async fn import_material(
        &self,
        caller: &Caller,
        id: &str,
        req: ImportMaterial,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.import-material", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let rec = self.key_record_for_byok(id).await?;
            check_tier(req.source_key_tier.as_deref())?;
            let valid_to = check_expiry(req.key_expiration, req.valid_to.as_deref(), self.now())?;
            let local = self
                .source_for(caller, &rec, req.source_key_identifier.as_deref())
                .await?;
            self.run_import(caller, rec, &local, valid_to).await
        })
        .await
    }

    async fn key_record_for_byok(&self, id: &str) -> CoreResult<KeyRecord> {
        let rec = self
            .ports
            .store
            .get_key(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("AWS key {id} not found")))?;
        if rec.gone {
            return Err(CoreError::Unprocessable(format!(
                "AWS key {} no longer exists in AWS (gone)",
                rec.aws.metadata.arn
            )));
        }
        if rec.aws.metadata.origin != "EXTERNAL" {
            return Err(CoreError::invalid(format!(
                "import-material: only keys with Origin EXTERNAL take imported material; this key's Origin is {}",
                rec.aws.metadata.origin
            )));
        }
        Ok(rec)
    }

    /// The journaled import itself.
    async fn run_import(
        &self,
        caller: &Caller,
        mut rec: KeyRecord,
        local: &LocalKey,
        valid_to: Option<DateTime<Utc>>,
    ) -> CoreResult<KeyRecord> {
        let ctx = self.record_context(&rec).await?;
        let key_id = rec.aws.metadata.key_id.clone();
        let intent = ImportIntent {
            id: self.new_id()?,
            key_record_id: rec.id.clone(),
            local_key_id: local.id.clone(),
            valid_to,
            created_at: self.now(),
        };
        self.ports.store.insert_import_intent(&intent).await?;
        let attempt = async {
            let params = self
                .ports
                .keys
                .get_parameters_for_import(
                    &ctx.target,
                    &key_id,
                    WRAPPING_ALGORITHM,
                    WRAPPING_KEY_SPEC,
                )
                .await?;
            let wrapped = {
                let material = self.local_key_material(local)?;
                self.ports
                    .wrapper
                    .wrap(&material, &params.public_key, WRAPPING_ALGORITHM)?
            };
            self.ports
                .keys
                .import_key_material(
                    &ctx.target,
                    &key_id,
                    &params.import_token,
                    &wrapped,
                    valid_to,
                )
                .await
        };
        if let Err(e) = attempt.await {
            // AWS holds nothing new: the intent closes with nothing to do.
            self.ports.store.delete_import_intent(&intent.id).await?;
            return Err(e);
        }
        let view = self.read_back(&ctx.target, &key_id).await?;
        let now = self.now();
        rec.aws = view;
        rec.key_material_origin = "cckm".into();
        rec.material = Some(MaterialBinding {
            local_key_id: local.id.clone(),
            local_key_name: local.name.clone(),
            key_source: "local".into(),
            valid_to,
            imported_at: Some(now),
        });
        rec.synced_at = now;
        rec.updated_at = now;
        let detail = format!(
            "material from vault key {}{}",
            local.name,
            valid_to
                .map(|t| format!(", valid to {}", t.to_rfc3339()))
                .unwrap_or_default()
        );
        let draft = self.draft(
            caller,
            "key.import-material",
            &rec.aws.metadata.arn,
            Outcome::Success,
            detail,
        );
        self.ports
            .store
            .finish_import(&rec, &intent.id, &draft)
            .await?;
        Ok(rec)
    }

    /// `POST .../delete-material` (seed 000): the key goes to PendingImport; the vault key
    /// stays, so the same material can be imported again.
    pub async fn delete_material(
        &self,
        caller: &Caller,
        id: &str,
        req: DeleteMaterial,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.delete-material", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_record_for_byok(id).await?;
            if let Some(m) = &req.key_material_id {
                let ok = m.len() == 64
                    && m.chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
                if !ok {
                    return Err(CoreError::invalid(
                        "key_material_id: must be 64 lower-case hex digits",
                    ));
                }
            }
            let ctx = self.record_context(&rec).await?;
            let key_id = rec.aws.metadata.key_id.clone();
            self.ports
                .keys
                .delete_imported_key_material(&ctx.target, &key_id)
                .await?;
            let view = self.read_back(&ctx.target, &key_id).await?;
            let now = self.now();
            rec.aws = view;
            rec.synced_at = now;
            rec.updated_at = now;
            let draft = self.draft(
                caller,
                "key.delete-material",
                &rec.aws.metadata.arn,
                Outcome::Success,
                "",
            );
            self.ports.store.update_key(&rec, Some(&draft)).await?;
            Ok(rec)
        })
        .await
    }

    /// `POST /cckm/aws/upload-key`: an EXTERNAL key made and given material in one call. If the
    /// import fails, the new key is scheduled for deletion so nothing half-made remains.
    pub async fn upload_key(&self, caller: &Caller, req: UploadKey) -> CoreResult<KeyRecord> {
        caller.principal.require(Permission::ManageCckm)?;
        check_tier(req.source_key_tier.as_deref())?;
        let mut aws_param = req
            .aws_param
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        let obj = aws_param
            .as_object_mut()
            .ok_or_else(|| CoreError::invalid("aws_param: must be an object"))?;
        let param_valid_to = obj
            .remove("ValidTo")
            .and_then(|v| v.as_str().map(String::from));
        match obj.get("Origin").and_then(Value::as_str) {
            None | Some("EXTERNAL") => {}
            Some(o) => {
                return Err(CoreError::invalid(format!(
                    "aws_param.Origin: an uploaded key is EXTERNAL, not {o}"
                )));
            }
        }
        obj.insert("Origin".into(), Value::String("EXTERNAL".into()));
        let valid_to_text = req.valid_to.clone().or(param_valid_to);
        let valid_to = check_expiry(req.key_expiration, valid_to_text.as_deref(), self.now())?;
        if let Some(id) = &req.source_key_identifier
            && self.find_local_key(id).await?.is_none()
        {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: no key named or with id '{id}' in the vault"
            )));
        }
        let create: keyward_api::keys::CreateKey = serde_json::from_value(serde_json::json!({
            "kms": req.kms,
            "region": req.region,
            "aws_param": aws_param,
            "key_admins": req.key_admins,
            "key_admins_roles": req.key_admins_roles,
            "key_users": req.key_users,
            "key_users_roles": req.key_users_roles,
            "external_accounts": req.external_accounts,
            "policytemplate": req.policytemplate,
        }))
        .map_err(|e| CoreError::invalid(format!("aws_param: {e}")))?;
        let rec = self.create_key(caller, create).await?;
        let imported = async {
            let local = self
                .source_for(caller, &rec, req.source_key_identifier.as_deref())
                .await?;
            self.run_import(caller, rec.clone(), &local, valid_to).await
        }
        .await;
        match imported {
            Ok(r) => Ok(r),
            Err(e) => {
                let undo = self
                    .key_action(caller, &rec.id, KeyAction::ScheduleDeletion(7))
                    .await;
                tracing::warn!(key = %rec.id, undo_ok = undo.is_ok(), error = %e, "upload-key: import failed; the new key is scheduled for deletion");
                Err(e)
            }
        }
    }

    /// Closes the intents a crash left open (called at start): where AWS has the material the
    /// import is finished in Keyward's records; where it does not, the intent is dropped.
    /// Returns (finished, dropped); an intent AWS cannot be asked about stays for next time.
    pub async fn reconcile_imports(&self) -> CoreResult<(u64, u64)> {
        let (mut finished, mut dropped) = (0, 0);
        for intent in self.ports.store.open_import_intents().await? {
            let (Some(mut rec), Some(local)) = (
                self.ports.store.get_key(&intent.key_record_id).await?,
                self.ports.store.get_local_key(&intent.local_key_id).await?,
            ) else {
                self.ports.store.delete_import_intent(&intent.id).await?;
                dropped += 1;
                continue;
            };
            let ctx = self.record_context(&rec).await?;
            let view = match self.read_back(&ctx.target, &rec.aws.metadata.key_id).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(intent = %intent.id, error = %e, "cannot reconcile an interrupted import yet");
                    continue;
                }
            };
            let has_material = matches!(view.metadata.key_state.as_str(), "Enabled" | "Disabled");
            rec.aws = view;
            rec.synced_at = self.now();
            if has_material {
                rec.key_material_origin = "cckm".into();
                rec.material = Some(MaterialBinding {
                    local_key_id: local.id.clone(),
                    local_key_name: local.name.clone(),
                    key_source: "local".into(),
                    valid_to: intent.valid_to,
                    imported_at: Some(intent.created_at),
                });
                rec.updated_at = self.now();
                let draft = self.draft(
                    &Caller::system(),
                    "key.import-material",
                    &rec.aws.metadata.arn,
                    Outcome::Success,
                    "finished after a restart",
                );
                self.ports
                    .store
                    .finish_import(&rec, &intent.id, &draft)
                    .await?;
                finished += 1;
            } else {
                self.ports.store.delete_import_intent(&intent.id).await?;
                self.ports.store.update_key(&rec, None).await?;
                dropped += 1;
            }
        }
        Ok((finished, dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(check_expiry(None, None, now).unwrap(), None);
        assert!(check_expiry(Some(false), Some("2027-01-01T00:00:00Z"), now).is_err());
        assert!(
            check_expiry(Some(true), None, now)
                .unwrap_err()
                .to_string()
                .starts_with("valid_to:")
        );
        assert!(
            check_expiry(Some(true), Some("2020-12-04T06:51:18.505860192Z"), now)
                .unwrap_err()
                .to_string()
                .contains("not in the future")
        );
        assert!(
            check_expiry(Some(true), Some("2028-01-01T00:00:00Z"), now)
                .unwrap_err()
                .to_string()
                .contains("365")
        );
        assert!(check_expiry(Some(true), Some("tomorrow"), now).is_err());
        let ok = check_expiry(Some(true), Some("2027-07-03T14:24:00Z"), now).unwrap();
        assert_eq!(ok.unwrap().to_rfc3339(), "2027-07-03T14:24:00+00:00");
    }
}
