//! `enable-rotation-job` / `disable-rotation-job`: attach a key to a `cckm_key_rotation`
//! job config, or detach it. Only Keyward's record changes (nothing is sent to AWS); the
//! record and its audit are stored in one transaction, which refuses a config deleted
//! meanwhile. The scheduler's runs of the config rotate the attached keys (`scheduler::runs`).

use serde::{Deserialize, Serialize};

use super::record::KeyRecord;
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::scheduler::JobOperation;
use crate::service::Keyward;

/// `ciphertrust` (what Thales' Terraform provider sends) means Keyward's own vault, like
/// `local`; the word given is kept, and shown in the record's labels.
pub const KEY_SOURCES: &[&str] = &["local", "ciphertrust", "hsm-luna"];

/// How an attached rotation job rotates the key (kept in the record while attached).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationJobSettings {
    pub auto_rotate_key_source: String,
    pub auto_rotate_disable_encrypt: bool,
    pub auto_rotate_disable_encrypt_on_all_accounts: bool,
}

/// `POST /cckm/aws/keys/{id}/enable-rotation-job` (the body is a wire type).
pub use keyward_api::keys::EnableRotationJob;

impl Keyward {
    pub async fn enable_rotation_job(
        &self,
        caller: &Caller,
        id: &str,
        req: EnableRotationJob,
    ) -> CoreResult<KeyRecord> {
        let name = "key.enable-rotation-job";
        self.audited(caller, name, id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_for_action(id).await?;
            let wanted = req
                .job_config_id
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    CoreError::invalid("job_config_id: required (a cckm_key_rotation job config)")
                })?;
            let source = req.auto_rotate_key_source.unwrap_or_else(|| "local".into());
            if !KEY_SOURCES.contains(&source.as_str()) {
                return Err(CoreError::invalid(format!(
                    "auto_rotate_key_source: '{source}' is not one of {}",
                    KEY_SOURCES.join(", ")
                )));
            }
            if source == "hsm-luna" && self.ports.hsm.is_none() {
                return Err(CoreError::invalid(
                    "auto_rotate_key_source: hsm-luna needs an HSM, and none is configured in this Keyward (settings pkcs11_module, pkcs11_token, pkcs11_pin)",
                ));
            }
            let disable_encrypt = req.auto_rotate_disable_encrypt.unwrap_or(false);
            let on_all = req
                .auto_rotate_disable_encrypt_on_all_accounts
                .unwrap_or(false);
            super::rotate::DenyEncrypt::from_flags("auto_rotate_", disable_encrypt, on_all)?;
            let config = self.find_job_config(wanted).await?.ok_or_else(|| {
                CoreError::invalid(format!(
                    "job_config_id: no job config has the id or name '{wanted}'"
                ))
            })?;
            match config.operation {
                JobOperation::KeyRotation => {}
                JobOperation::Synchronization => {
                    return Err(CoreError::invalid(format!(
                        "job_config_id: job config '{}' has operation {}, not {}",
                        config.name,
                        config.operation,
                        JobOperation::KeyRotation
                    )));
                }
            }
            rec.job_config_id = Some(config.id.clone());
            rec.rotation_job = Some(RotationJobSettings {
                auto_rotate_key_source: source,
                auto_rotate_disable_encrypt: disable_encrypt,
                auto_rotate_disable_encrypt_on_all_accounts: on_all,
            });
            rec.updated_at = self.now();
            let draft = self.draft(caller, name, &rec.aws.metadata.arn, Outcome::Success, config.id.clone());
            match self.ports.store.update_key(&rec, Some(&draft)).await {
                Err(CoreError::Conflict(_)) => Err(CoreError::invalid(format!(
                    "job_config_id: job config '{}' was deleted meanwhile",
                    config.name
                ))),
                other => other.map(|()| rec),
            }
        })
        .await
    }

    /// Detaches the key from its rotation job (nothing to do if none is attached).
    pub async fn disable_rotation_job(&self, caller: &Caller, id: &str) -> CoreResult<KeyRecord> {
        let name = "key.disable-rotation-job";
        self.audited(caller, name, id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_for_action(id).await?;
            let detail = rec.job_config_id.take().unwrap_or_default();
            rec.rotation_job = None;
            rec.updated_at = self.now();
            let draft = self.draft(
                caller,
                name,
                &rec.aws.metadata.arn,
                Outcome::Success,
                detail,
            );
            self.ports.store.update_key(&rec, Some(&draft)).await?;
            Ok(rec)
        })
        .await
    }
}
