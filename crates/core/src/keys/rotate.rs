//! Rotating an AWS key to a new one (`POST /cckm/aws/keys/{id}/rotate`, and what a rotation
//! job does): a new AWS key with the old key's spec, usage, policy, tags, description and
//! Region; for a BYOK key, new material from its source (a new vault key, or a new key in the
//! HSM); the aliases moved to the new key (with `retain_alias`, the old key keeps a
//! timestamped one); with `disable_encrypt`, a statement in the old key's policy denying new
//! encryptions. The old key stays Enabled so that old ciphertexts still decrypt.
//!
//! A rotation is journaled in the store (`begin_rotation` before the first AWS call, saved after
//! each step, closed by `finish_rotation`). Every step is idempotent and reads AWS's state, so a
//! rotation a crash interrupted is driven to its end by whichever node takes its expired lease,
//! or cleanly failed (the new key scheduled for deletion, the aliases moved back). The new key
//! carries a tag naming its rotation from CreateKey on until the end, so that a key AWS created
//! just before a crash is found, never made twice.

use chrono::{DateTime, Utc};
use keyward_api::rotations as wire;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kinds::{KeySource, MaterialOrigin, RecordRotationStatus, RotationState, RotationType};

use super::import::{Source, Tier, answer_lost, check_expiry, check_tier};
use super::record::KeyRecord;
use super::rules;
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::connections::ConnectionTarget;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::ports::NewKey;
use crate::service::Keyward;
use crate::service::{rfc3339, rfc3339_secs};

/// Tag the new key carries while its rotation is in progress (value: the rotation's id).
pub const ROTATION_TAG: &str = "keyward_rotation_id";
/// `Sid` of the statement `disable_encrypt` adds to the old key's policy.
pub const DENY_ENCRYPT_SID: &str = "KeywardDenyEncryptAfterRotation";
/// Marks an alias the old key keeps with `retain_alias` (`<alias>-rotated-<UTC time>`); such
/// aliases are not moved by later rotations.
pub const RETAINED_MARK: &str = "-rotated-";
/// What `disable_encrypt` denies on the old key.
pub const DENIED_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:ReEncryptTo",
];

/// The words of [`RotationState`] and [`RotationType`] stored in the rotations table.
pub const IN_PROGRESS: &str = RotationState::InProgress.as_str();
pub const COMPLETED: &str = RotationState::Completed.as_str();
pub const FAILED: &str = RotationState::Failed.as_str();
pub const TYPE_NEW_KEY: &str = RotationType::NewKey.as_str();
pub const TYPE_MATERIAL: &str = RotationType::Material.as_str();
pub const SORTABLE: &[&str] = &["createdAt", "updatedAt"];

/// Whom `disable_encrypt` denies encryption with the old key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyEncrypt {
    /// Principals of the key's own account.
    Account,
    /// Every principal, of any account.
    AllAccounts,
}

impl DenyEncrypt {
    /// The scope the two exclusive flags ask for (`<prefix>disable_encrypt`,
    /// `<prefix>disable_encrypt_on_all_accounts`); a 400 naming them when both are set.
    pub fn from_flags(prefix: &str, account: bool, all_accounts: bool) -> CoreResult<Option<Self>> {
        match (account, all_accounts) {
            (true, true) => Err(CoreError::invalid(format!(
                "{prefix}disable_encrypt_on_all_accounts: give it or {prefix}disable_encrypt, not both"
            ))),
            (_, true) => Ok(Some(Self::AllAccounts)),
            (true, false) => Ok(Some(Self::Account)),
            (false, false) => Ok(None),
        }
    }
}

/// One rotation: the journal entry while it is in progress, then its history record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    pub id: String,
    /// The key rotated (its record id), its AWS key id and ARN.
    pub key_record_id: String,
    pub old_key_id: String,
    pub old_arn: String,
    pub rotation_type: RotationType,
    pub status: RotationState,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub job_run_id: Option<String>,
    /// The new key's record id (chosen when the rotation begins).
    pub new_key_record_id: Option<String>,
    pub new_key_id: Option<String>,
    pub new_arn: Option<String>,
    /// CreateKey was (or may have been) sent: a restart looks for the new key by its tag.
    #[serde(default)]
    pub create_sent: bool,
    /// BYOK: the source tier, the source key (vault key id, or HSM key label) and name.
    pub source_key_tier: Option<KeySource>,
    pub source_key_identifier: Option<String>,
    pub source_key_name: Option<String>,
    pub valid_to: Option<DateTime<Utc>>,
    pub description: Option<String>,
    /// The old key's aliases, moved to the new key.
    pub aliases: Vec<String>,
    pub retain_alias: bool,
    /// Aliases the old key was given with `retain_alias`.
    pub retained_aliases: Vec<String>,
    pub disable_encrypt: Option<DenyEncrypt>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl KeyRotation {
    pub fn uri(&self) -> String {
        format!("kylo:kylo:cckm:aws-key-rotation:{}", self.id)
    }

    /// The rotation as `GET .../rotations` shows it (CCKM's rotation record and Keyward's
    /// links between the keys).
    pub fn to_wire(&self) -> wire::Rotation {
        let material = match self.rotation_type {
            RotationType::Material => true,
            RotationType::NewKey => false,
        };
        let completed = match self.status {
            RotationState::Completed => true,
            RotationState::InProgress | RotationState::Failed => false,
        };
        let tier = self.source_key_tier.map(KeySource::to_wire);
        wire::Rotation {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                self.uri(),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            rotation_type: self.rotation_type.to_wire(),
            status: self.status.to_wire(),
            error: self.error.clone(),
            rotated_from: self.key_record_id.clone(),
            rotated_from_arn: self.old_arn.clone(),
            key_material_origin: if self.source_key_tier.is_some() {
                MaterialOrigin::Cckm
            } else {
                MaterialOrigin::Native
            }
            .to_wire(),
            created_by: self.created_by.clone(),
            aws_param: wire::RotationAwsParam {
                key_id: self.new_arn.clone().unwrap_or_else(|| self.old_arn.clone()),
                rotation_date: rfc3339_secs(self.finished_at.as_ref().unwrap_or(&self.created_at)),
                rotation_type: material.then_some(wire::AwsRotationType::OnDemand),
                valid_to: self.valid_to.as_ref().map(rfc3339_secs),
                expiration_model: self.valid_to.map(|_| "KEY_MATERIAL_EXPIRES".to_string()),
            },
            rotated_to: self
                .new_key_record_id
                .clone()
                .filter(|_| !material && completed),
            // A failed rotation's new key was scheduled for deletion.
            rotated_to_arn: self.new_arn.clone().filter(|_| completed),
            abandoned_key_arn: self.new_arn.clone().filter(|_| !completed),
            job_run_id: self.job_run_id.clone(),
            source_key_tier: tier,
            key_source: tier,
            source_key_identifier: self.source_key_identifier.clone(),
            local_key_id: self.source_key_identifier.clone(),
            source_key_name: self.source_key_name.clone(),
            retained_aliases: self.retained_aliases.clone(),
        }
    }
}

pub use keyward_api::rotations::RotateKey;

/// A checked rotation request, from the API or from a rotation job.
#[derive(Debug, Clone, Default)]
pub(crate) struct RotationPlan {
    pub source_key_tier: Option<String>,
    pub source_key_id: Option<String>,
    pub valid_to: Option<DateTime<Utc>>,
    pub description: Option<String>,
    pub retain_alias: bool,
    pub disable_encrypt: Option<DenyEncrypt>,
    pub job_run_id: Option<String>,
}

/// `<alias>-rotated-<UTC time>`: the alias the old key keeps with `retain_alias`.
pub fn retained_alias(alias: &str, at: &DateTime<Utc>) -> String {
    format!("{alias}{RETAINED_MARK}{}", at.format("%Y%m%d%H%M%S"))
}

/// The old key's policy with the deny-encrypt statement added; `None` if it has it already.
pub fn with_deny_encrypt(
    policy: &str,
    scope: DenyEncrypt,
    partition: &str,
    account_id: &str,
) -> CoreResult<Option<String>> {
    let mut doc: Value = serde_json::from_str(policy).map_err(|_| {
        CoreError::Unprocessable(
            "disable_encrypt: the old key's policy is not a JSON document; it cannot be amended"
                .into(),
        )
    })?;
    let statements = doc
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            CoreError::Unprocessable(
                "disable_encrypt: the old key's policy has no Statement list to amend".into(),
            )
        })?;
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(Value::as_str) == Some(DENY_ENCRYPT_SID))
    {
        return Ok(None);
    }
    let principal = match scope {
        DenyEncrypt::Account => json!({"AWS": format!("arn:{partition}:iam::{account_id}:root")}),
        DenyEncrypt::AllAccounts => json!({"AWS": "*"}),
    };
    statements.push(json!({
        "Sid": DENY_ENCRYPT_SID,
        "Effect": "Deny",
        "Principal": principal,
        "Action": DENIED_ACTIONS,
        "Resource": "*",
    }));
    serde_json::to_string(&doc)
        .map(Some)
        .map_err(|e| CoreError::internal(format!("encoding a key policy: {e}")))
}

/// The policy without the deny-encrypt statement; `None` if it has none.
pub fn without_deny_encrypt(policy: &str) -> Option<String> {
    let mut doc: Value = serde_json::from_str(policy).ok()?;
    let statements = doc.get_mut("Statement")?.as_array_mut()?;
    let before = statements.len();
    statements.retain(|s| s.get("Sid").and_then(Value::as_str) != Some(DENY_ENCRYPT_SID));
    if statements.len() == before {
        return None;
    }
    serde_json::to_string(&doc).ok()
}

/// What a failed rotation's record says (never the text of an internal error).
fn public_message(e: &CoreError) -> String {
    match e {
        CoreError::Internal(_) => "internal error (see the server log)".into(),
        other => other.to_string(),
    }
}

impl Keyward {
    /// `POST /cckm/aws/keys/{id}/rotate`: returns the new key's record.
    pub async fn rotate_key(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        id: &str,
        req: RotateKey,
    ) -> CoreResult<KeyRecord> {
        // The permission check and the request's validation run inside `audited`, so a
        // refused rotation is recorded; the rotation itself writes its own records.
        let plan = self
            .audited(caller, "key.rotate", id, async move {
                caller.principal.require(Permission::ManageCckm)?;
                let disable_encrypt = DenyEncrypt::from_flags(
                    "",
                    req.disable_encrypt.unwrap_or(false),
                    req.disable_encrypt_on_all_accounts.unwrap_or(false),
                )?;
                Ok(RotationPlan {
                    source_key_tier: req.source_key_tier,
                    source_key_id: req.source_key_id,
                    valid_to: check_expiry(
                        req.key_expiration,
                        req.valid_to.as_deref(),
                        self.now(),
                    )?,
                    description: req.description,
                    retain_alias: req.retain_alias.unwrap_or(false),
                    disable_encrypt,
                    job_run_id: None,
                })
            })
            .await?;
        // The rotation runs on its own task: a client that disconnects (which drops this
        // request's future) does not stop it between two AWS steps.
        let (tx, rx) = futures::channel::oneshot::channel();
        let (me, caller, id) = (std::sync::Arc::clone(self), caller.clone(), id.to_string());
        self.ports.background.spawn(Box::pin(async move {
            let _ = tx.send(me.rotate_with(&caller, &id, plan).await);
        }));
        rx.await
            .map_err(|_| CoreError::internal("the rotation task stopped without an answer"))?
    }

    /// Checks a rotation before anything is sent to AWS.
    async fn check_rotation(&self, old: &KeyRecord, plan: &RotationPlan) -> CoreResult<()> {
        let m = &old.aws.metadata;
        if let Some(to) = &old.rotated_to {
            return Err(CoreError::Unprocessable(format!(
                "rotate: key {} was rotated already, to key {to}; rotate that key instead",
                old.id
            )));
        }
        // Whether a rotation is in progress is the store's to say (begin_rotation), not the
        // record's rotation_status, which a concurrent write may have left stale.
        // A BYOK key whose material expired or was deleted (PendingImport) is rotated too: its
        // successor gets new material, which is what a rotation job is for.
        let byok_without_material = m.key_state == "PendingImport" && old.material.is_some();
        if !matches!(m.key_state.as_str(), "Enabled" | "Disabled") && !byok_without_material {
            return Err(CoreError::Unprocessable(format!(
                "rotate: AWS key {} is {}; only Enabled or Disabled keys (and BYOK keys whose material expired) are rotated",
                m.arn, m.key_state
            )));
        }
        if m.multi_region {
            return Err(CoreError::Unprocessable(format!(
                "rotate: AWS key {} is multi-Region; Keyward does not rotate multi-Region keys to a new key (use rotate-material for a symmetric primary)",
                m.arn
            )));
        }
        if let Some(d) = &plan.description {
            rules::description("description", d)?;
        }
        if plan.disable_encrypt.is_some() && m.key_usage != "ENCRYPT_DECRYPT" {
            return Err(CoreError::invalid(format!(
                "disable_encrypt: applies to ENCRYPT_DECRYPT keys; this key's usage is {}",
                m.key_usage
            )));
        }
        if plan.retain_alias {
            let sample = self.now();
            for a in old
                .aws
                .aliases
                .iter()
                .filter(|a| !a.contains(RETAINED_MARK))
            {
                let kept = retained_alias(a, &sample);
                if kept.len() > rules::MAX_ALIAS_LEN {
                    return Err(CoreError::invalid(format!(
                        "retain_alias: alias {a} is too long to keep with a timestamp ({} characters; AWS allows {})",
                        kept.len(),
                        rules::MAX_ALIAS_LEN
                    )));
                }
            }
        }
        match m.origin.as_str() {
            "AWS_KMS" => {
                if plan.source_key_tier.is_some() || plan.source_key_id.is_some() {
                    return Err(CoreError::invalid(
                        "source_key_tier: only for keys with imported material (Origin EXTERNAL); AWS makes the new key's material",
                    ));
                }
                if plan.valid_to.is_some() {
                    return Err(CoreError::invalid(
                        "key_expiration: only for keys with imported material (Origin EXTERNAL)",
                    ));
                }
            }
            "EXTERNAL" => {
                let Some(bound) = &old.material else {
                    return Err(CoreError::Unprocessable(format!(
                        "rotate: AWS key {} holds material Keyward did not import, so Keyward cannot give its successor material of the same kind",
                        m.arn
                    )));
                };
                let tier = check_tier(
                    Some(
                        plan.source_key_tier
                            .as_deref()
                            .unwrap_or(bound.key_source.as_str()),
                    ),
                    self.ports.hsm.is_some(),
                )?;
                if let Some(id) = &plan.source_key_id {
                    let chosen = match tier {
                        Tier::Local => {
                            let k = self.find_local_key(id).await?.ok_or_else(|| {
                                CoreError::invalid(format!(
                                    "source_key_id: no key named or with id '{id}' in the vault"
                                ))
                            })?;
                            if k.size != 256 {
                                return Err(CoreError::invalid(format!(
                                    "source_key_id: vault key '{}' is AES-{}; AWS needs 256-bit material",
                                    k.name, k.size
                                )));
                            }
                            k.id
                        }
                        Tier::Hsm => self
                            .hsm()?
                            .find_secret_key(id)
                            .await?
                            .ok_or_else(|| {
                                CoreError::invalid(format!(
                                    "source_key_id: no secret key labelled (or with handle) '{id}' in the HSM"
                                ))
                            })?
                            .id(),
                    };
                    if chosen == bound.local_key_id {
                        return Err(CoreError::invalid(format!(
                            "source_key_id: '{id}' is the material the key holds now; a rotation needs new material"
                        )));
                    }
                }
            }
            other => {
                return Err(CoreError::Unprocessable(format!(
                    "rotate: keys with Origin {other} are not rotated by Keyward"
                )));
            }
        }
        Ok(())
    }

    /// Begins, drives and closes one rotation to a new key; returns the new key's record.
    pub(crate) async fn rotate_with(
        &self,
        caller: &Caller,
        id: &str,
        plan: RotationPlan,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.rotate", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut old = self.key_for_action(id).await?;
            self.check_rotation(&old, &plan).await?;
            // What AWS says now (aliases or tags may have changed outside Keyward).
            let ctx = self.record_context(&old).await?;
            old.aws = self.read_back(&ctx.target, &old.aws.metadata.key_id).await?;
            old.synced_at = self.now();
            self.check_rotation(&old, &plan).await?;
            let now = self.now();
            let byok = old.aws.metadata.origin == "EXTERNAL";
            let r = KeyRotation {
                id: self.new_id()?,
                key_record_id: old.id.clone(),
                old_key_id: old.aws.metadata.key_id.clone(),
                old_arn: old.aws.metadata.arn.clone(),
                rotation_type: RotationType::NewKey,
                status: RotationState::InProgress,
                error: String::new(),
                job_run_id: plan.job_run_id.clone(),
                new_key_record_id: Some(self.new_id()?),
                new_key_id: None,
                new_arn: None,
                create_sent: false,
                // The tier was checked above (check_tier) for a BYOK key.
                source_key_tier: byok.then(|| {
                    plan.source_key_tier
                        .as_deref()
                        .and_then(KeySource::parse)
                        .unwrap_or_else(|| {
                            old.material
                                .as_ref()
                                .map_or(KeySource::Local, |b| b.key_source)
                        })
                }),
                source_key_identifier: plan.source_key_id.clone(),
                source_key_name: None,
                valid_to: plan.valid_to,
                description: plan.description.clone(),
                aliases: old
                    .aws
                    .aliases
                    .iter()
                    .filter(|a| !a.contains(RETAINED_MARK))
                    .cloned()
                    .collect(),
                retain_alias: plan.retain_alias,
                retained_aliases: vec![],
                disable_encrypt: plan.disable_encrypt,
                created_by: caller.principal.username.clone(),
                created_at: now,
                updated_at: now,
                finished_at: None,
            };
            old.rotation_status = RecordRotationStatus::InProgress;
            old.updated_at = now;
            let draft = self.draft(
                caller,
                "key.rotate-begin",
                &old.aws.metadata.arn,
                Outcome::Success,
                format!("rotation {}", r.id),
            );
            let _busy = self.work_on(&r.id);
            self.ports
                .store
                .begin_rotation(&r, &old, &self.lease(), &draft)
                .await?;
            match self.drive_rotation(caller, r.clone()).await {
                Ok(new) => Ok(new),
                Err(e) => {
                    let latest = self.ports.store.get_rotation(&r.id).await?.unwrap_or(r);
                    if let Err(undo) = self.abandon_rotation(caller, latest, &e).await {
                        tracing::error!(rotation_error = %e, error = %undo, "a failed rotation could not be undone yet; it is retried once its lease expires");
                    }
                    Err(e)
                }
            }
        })
        .await
    }

    /// Saves a step; an error if another node took the rotation over.
    async fn save_rotation(&self, r: &mut KeyRotation) -> CoreResult<()> {
        r.updated_at = self.now();
        if !self.ports.store.update_rotation(r, &self.lease()).await? {
            return Err(CoreError::conflict(format!(
                "rotation {} was taken over by another node",
                r.id
            )));
        }
        Ok(())
    }

    /// The AWS keys a rotation created, found by their tag (after a crash around CreateKey).
    /// Normally none or one; more only if a CreateKey was sent again after its answer was lost.
    async fn find_rotation_keys(
        &self,
        t: &ConnectionTarget,
        rotation_id: &str,
    ) -> CoreResult<Vec<String>> {
        Ok(self
            .find_tagged_keys(t, ROTATION_TAG)
            .await?
            .into_iter()
            .filter(|(_, v)| v == rotation_id)
            .map(|(k, _)| k)
            .collect())
    }

    /// Carries a rotation from wherever it stands to its end. Each step checks what AWS and
    /// the store hold already, so it is safe to run again after a crash.
    async fn drive_rotation(&self, caller: &Caller, mut r: KeyRotation) -> CoreResult<KeyRecord> {
        let mut old = self
            .ports
            .store
            .get_key(&r.key_record_id)
            .await?
            .ok_or_else(|| {
                CoreError::not_found(format!("AWS key {} not found", r.key_record_id))
            })?;
        let ctx = self.record_context(&old).await?;
        let t = &ctx.target;
        let keys = &self.ports.keys;
        let new_record_id = match &r.new_key_record_id {
            Some(id) => id.clone(),
            None => {
                let id = self.new_id()?;
                r.new_key_record_id = Some(id.clone());
                id
            }
        };
        // 1. The new AWS key, made once. What CreateKey answered, and what it was sent, if it
        // is made here (step 2 then reads nothing back).
        let mut made: Option<(super::record::KeyMetadata, NewKey)> = None;
        let new_key_id = match r.new_key_id.clone() {
            Some(k) => k,
            None => {
                let mut found = if r.create_sent {
                    self.find_rotation_keys(t, &r.id).await?
                } else {
                    vec![]
                };
                // Keep one successor; any other the rotation made goes away.
                for extra in found.iter().skip(1) {
                    tracing::warn!(rotation = %r.id, key_id = %extra, "a rotation made more than one key; scheduling the extra one for deletion");
                    self.delete_extra_key(t, extra).await?;
                }
                let key_id = match found.drain(..).next() {
                    Some(k) => k,
                    None => {
                        r.create_sent = true;
                        self.save_rotation(&mut r).await?;
                        let m = &old.aws.metadata;
                        let policy = keys.key_policy(t, &r.old_key_id).await?;
                        let policy = without_deny_encrypt(&policy).unwrap_or(policy);
                        let mut tags: Vec<(String, String)> = old
                            .aws
                            .tags
                            .iter()
                            .filter(|(k, _)| k != ROTATION_TAG)
                            .cloned()
                            .collect();
                        tags.push((ROTATION_TAG.into(), r.id.clone()));
                        let new_key = NewKey {
                            description: r
                                .description
                                .clone()
                                .unwrap_or_else(|| m.description.clone()),
                            key_spec: m.key_spec.clone(),
                            key_usage: m.key_usage.clone(),
                            origin: m.origin.clone(),
                            multi_region: false,
                            policy: Some(policy),
                            bypass_policy_lockout_safety_check: false,
                            tags,
                        };
                        let metadata = keys.create_key(t, &new_key).await?;
                        let key_id = metadata.key_id.clone();
                        made = Some((metadata, new_key));
                        key_id
                    }
                };
                r.new_key_id = Some(key_id.clone());
                self.save_rotation(&mut r).await?;
                key_id
            }
        };
        // 2. Its record.
        let mut new = match self.ports.store.get_key(&new_record_id).await? {
            Some(rec) => rec,
            None => {
                let view = match made.take() {
                    Some((metadata, sent)) => self.made_key_view(t, metadata, vec![], &sent).await,
                    None => self.read_back(t, &new_key_id).await?,
                };
                let now = self.now();
                let rec = KeyRecord {
                    rotation_status: RecordRotationStatus::InProgress,
                    principals: old.principals.clone(),
                    policy_template_id: old.policy_template_id.clone(),
                    rotated_from: Some(old.id.clone()),
                    ..KeyRecord::new(
                        new_record_id.clone(),
                        &ctx.kms,
                        &old.region,
                        &old.cloud_name,
                        now,
                        view,
                    )
                };
                let draft = self.draft(
                    caller,
                    "key.create",
                    &rec.aws.metadata.arn,
                    Outcome::Success,
                    format!("successor of {} (rotation {})", r.old_arn, r.id),
                );
                self.ports.store.insert_key(&rec, &draft).await?;
                rec
            }
        };
        if r.new_arn.is_none() {
            r.new_arn = Some(new.aws.metadata.arn.clone());
            self.save_rotation(&mut r).await?;
        }
        // 3. New material for a BYOK key, from its source.
        if new.aws.metadata.origin == "EXTERNAL" && new.aws.metadata.key_state == "PendingImport" {
            let tier = check_tier(
                r.source_key_tier.map(KeySource::as_str),
                self.ports.hsm.is_some(),
            )?;
            let source = self
                .source(caller, &new, tier, r.source_key_identifier.as_deref())
                .await?;
            r.source_key_identifier = Some(match &source {
                Source::Local(k) => k.id.clone(),
                Source::Hsm(k) => k.label.clone(),
            });
            r.source_key_name = Some(source.name());
            self.save_rotation(&mut r).await?;
            new = self
                .run_import(caller, new, &source, r.valid_to, true)
                .await?;
        }
        // 4. The aliases move; with retain_alias the old key keeps a timestamped one.
        for a in &r.aliases {
            keys.update_alias(t, a, &new_key_id).await?;
        }
        if r.retain_alias {
            for a in r.aliases.clone() {
                let kept = retained_alias(&a, &r.created_at);
                if !keys.alias_exists(t, &kept).await? {
                    keys.create_alias(t, &kept, &r.old_key_id).await?;
                }
                if !r.retained_aliases.contains(&kept) {
                    r.retained_aliases.push(kept);
                }
            }
            self.save_rotation(&mut r).await?;
        }
        // 5. No new ciphertexts under the old key.
        if let Some(scope) = r.disable_encrypt {
            let policy = keys.key_policy(t, &r.old_key_id).await?;
            if let Some(amended) = with_deny_encrypt(
                &policy,
                scope,
                &ctx.connection.cloud_name,
                &old.aws.metadata.aws_account_id,
            )? {
                keys.put_key_policy(t, &r.old_key_id, &amended, false)
                    .await?;
            }
        }
        // 6. Done: the tag goes, both records are read back and saved with the closed rotation.
        keys.untag_key(t, &new_key_id, &[ROTATION_TAG.to_string()])
            .await?;
        let (old_view, new_view) = futures::try_join!(
            self.read_back(t, &r.old_key_id),
            self.read_back(t, &new_key_id)
        )?;
        let now = self.now();
        new.aws = new_view;
        new.rotation_status = RecordRotationStatus::None;
        new.rotated_from = Some(old.id.clone());
        new.job_config_id = old.job_config_id.take();
        new.rotation_job = old.rotation_job.take();
        new.synced_at = now;
        new.updated_at = now;
        old.aws = old_view;
        old.rotation_status = RecordRotationStatus::Rotated;
        old.rotated_to = Some(new.id.clone());
        old.rotated_at = Some(now);
        old.synced_at = now;
        old.updated_at = now;
        r.status = RotationState::Completed;
        r.finished_at = Some(now);
        r.updated_at = now;
        let draft = self.draft(
            caller,
            "key.rotate",
            &r.old_arn,
            Outcome::Success,
            format!("new key {}", new.aws.metadata.arn),
        );
        self.ports
            .store
            .finish_rotation(&r, &[&old, &new], &self.lease(), &draft)
            .await?;
        Ok(new)
    }

    /// Undoes what a failed rotation did in AWS (aliases back to the old key, the kept aliases
    /// and the deny statement removed, the new key scheduled for deletion) and closes it as
    /// failed. An error leaves it open, to be retried once its lease expires.
    async fn abandon_rotation(
        &self,
        caller: &Caller,
        mut r: KeyRotation,
        cause: &CoreError,
    ) -> CoreResult<()> {
        // Only the holder undoes: a node that lost the rotation to another must not.
        self.save_rotation(&mut r).await?;
        let Some(mut old) = self.ports.store.get_key(&r.key_record_id).await? else {
            // The old key's record was forgotten meanwhile: only the journal closes.
            r.status = RotationState::Failed;
            r.error = public_message(cause);
            r.finished_at = Some(self.now());
            let draft = self.draft(
                caller,
                "key.rotate-abandon",
                &r.old_arn,
                Outcome::Failure,
                r.error.clone(),
            );
            return self
                .ports
                .store
                .finish_rotation(&r, &[], &self.lease(), &draft)
                .await;
        };
        let ctx = self.record_context(&old).await?;
        let t = &ctx.target;
        let keys = &self.ports.keys;
        let mut made: Vec<String> = r.new_key_id.iter().cloned().collect();
        if r.create_sent {
            for k in self.find_rotation_keys(t, &r.id).await? {
                if !made.contains(&k) {
                    made.push(k);
                }
            }
        }
        for extra in made.iter().skip(1) {
            self.delete_extra_key(t, extra).await?;
        }
        let mut new_rec: Option<KeyRecord> = None;
        if let Some(new_key_id) = made.first() {
            let on_new = keys.key_aliases(t, new_key_id).await?;
            for a in r.aliases.iter().filter(|a| on_new.contains(a)) {
                keys.update_alias(t, a, &r.old_key_id).await?;
            }
            for a in &r.retained_aliases {
                if keys.alias_exists(t, a).await? {
                    keys.delete_alias(t, a).await?;
                }
            }
            if r.disable_encrypt.is_some() {
                let policy = keys.key_policy(t, &r.old_key_id).await?;
                if let Some(restored) = without_deny_encrypt(&policy) {
                    keys.put_key_policy(t, &r.old_key_id, &restored, false)
                        .await?;
                }
            }
            self.delete_extra_key(t, new_key_id).await?;
            let record_id = r.new_key_record_id.clone().unwrap_or_default();
            if let Some(mut rec) = self.ports.store.get_key(&record_id).await? {
                if let Ok(view) = self.read_back(t, new_key_id).await {
                    rec.aws = view;
                }
                rec.rotation_status = RecordRotationStatus::Failed;
                rec.synced_at = self.now();
                rec.updated_at = self.now();
                new_rec = Some(rec);
            }
        }
        if let Ok(view) = self.read_back(t, &r.old_key_id).await {
            old.aws = view;
            old.synced_at = self.now();
        }
        old.rotation_status = RecordRotationStatus::Failed;
        old.updated_at = self.now();
        r.status = RotationState::Failed;
        r.error = public_message(cause);
        r.finished_at = Some(self.now());
        r.updated_at = self.now();
        let draft = self.draft(
            caller,
            "key.rotate-abandon",
            &r.old_arn,
            Outcome::Failure,
            r.error.clone(),
        );
        let mut changed: Vec<&KeyRecord> = vec![&old];
        if let Some(n) = &new_rec {
            changed.push(n);
        }
        self.ports
            .store
            .finish_rotation(&r, &changed, &self.lease(), &draft)
            .await
    }

    /// `POST .../rotate-material`: RotateKeyOnDemand, recorded in the key's rotation history.
    pub async fn rotate_material(&self, caller: &Caller, id: &str) -> CoreResult<KeyRecord> {
        self.rotate_material_recorded(caller, id, None).await
    }

    /// Rotates a native symmetric key's material in place (RotateKeyOnDemand), recorded in the
    /// key's rotation history.
    pub(crate) async fn rotate_material_recorded(
        &self,
        caller: &Caller,
        id: &str,
        job_run_id: Option<String>,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.rotate-material", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_for_action(id).await?;
            let m = &rec.aws.metadata;
            if m.key_spec != "SYMMETRIC_DEFAULT" || m.origin != "AWS_KMS" {
                return Err(CoreError::invalid(format!(
                    "rotate-material: AWS rotates material in place only for symmetric keys with Origin AWS_KMS; this key is {} with Origin {}",
                    m.key_spec, m.origin
                )));
            }
            let now = self.now();
            let mut r = KeyRotation {
                id: self.new_id()?,
                key_record_id: rec.id.clone(),
                old_key_id: m.key_id.clone(),
                old_arn: m.arn.clone(),
                rotation_type: RotationType::Material,
                status: RotationState::InProgress,
                error: String::new(),
                job_run_id,
                new_key_record_id: None,
                new_key_id: None,
                new_arn: None,
                create_sent: false,
                source_key_tier: None,
                source_key_identifier: None,
                source_key_name: None,
                valid_to: None,
                description: None,
                aliases: vec![],
                retain_alias: false,
                retained_aliases: vec![],
                disable_encrypt: None,
                created_by: caller.principal.username.clone(),
                created_at: now,
                updated_at: now,
                finished_at: None,
            };
            let before = rec.rotation_status;
            rec.rotation_status = RecordRotationStatus::InProgress;
            let draft = self.draft(caller, "key.rotate-begin", &r.old_arn, Outcome::Success, format!("rotation {} (material)", r.id));
            self.ports.store.begin_rotation(&r, &rec, &self.lease(), &draft).await?;
            let ctx = self.record_context(&rec).await?;
            let outcome = self.ports.keys.rotate_key_on_demand(&ctx.target, &r.old_key_id).await;
            if let Ok(view) = self.read_back(&ctx.target, &r.old_key_id).await {
                rec.aws = view;
                rec.synced_at = self.now();
            }
            rec.updated_at = self.now();
            r.finished_at = Some(self.now());
            r.updated_at = self.now();
            let result = match &outcome {
                Ok(()) => {
                    r.status = RotationState::Completed;
                    rec.rotation_status = match before {
                        RecordRotationStatus::Failed => RecordRotationStatus::None,
                        RecordRotationStatus::None
                        | RecordRotationStatus::InProgress
                        | RecordRotationStatus::Rotated => before,
                    };
                    let draft = self.draft(caller, "key.rotate-material", &r.old_arn, Outcome::Success, format!("rotation {}", r.id));
                    self.ports.store.finish_rotation(&r, &[&rec], &self.lease(), &draft).await
                }
                Err(e) => {
                    r.status = RotationState::Failed;
                    r.error = public_message(e);
                    rec.rotation_status = RecordRotationStatus::Failed;
                    let draft = self.draft(caller, "key.rotate-abandon", &r.old_arn, Outcome::Failure, r.error.clone());
                    self.ports.store.finish_rotation(&r, &[&rec], &self.lease(), &draft).await
                }
            };
            outcome?;
            result?;
            Ok(rec)
        })
        .await
    }

    /// Takes over the rotations whose node stopped (their lease expired) and drives each to
    /// its end, or fails it cleanly. Returns (completed, failed).
    pub async fn reconcile_rotations(&self) -> CoreResult<(u64, u64)> {
        let (mut done, mut failed) = (0, 0);
        let now = self.now();
        for r in self.ports.store.stale_rotations(now).await? {
            let Some(_busy) = self.work_on(&r.id) else {
                continue;
            };
            if !self
                .ports
                .store
                .take_rotation(&r.id, &self.lease(), now)
                .await?
            {
                continue;
            }
            let caller = Caller::new(
                crate::authz::Principal::system(),
                format!("rotation:{}", r.id),
            );
            if r.rotation_type == RotationType::Material {
                // One AWS call whose answer was lost: whether AWS rotated is unknown.
                let cause = CoreError::Unprocessable(
                    "interrupted by a server stop; see get-key-rotation-status for whether AWS rotated the material".into(),
                );
                self.abandon_rotation(&caller, r, &cause).await?;
                failed += 1;
                continue;
            }
            match self.drive_rotation(&caller, r.clone()).await {
                Ok(_) => done += 1,
                Err(e) => {
                    tracing::warn!(rotation = %r.id, error = %e, "an interrupted rotation cannot be finished; undoing it");
                    if answer_lost(&e) {
                        // AWS is unreachable: try again once the lease expires.
                        continue;
                    }
                    let latest = self.ports.store.get_rotation(&r.id).await?.unwrap_or(r);
                    self.abandon_rotation(&caller, latest, &e).await?;
                    failed += 1;
                }
            }
        }
        Ok((done, failed))
    }

    /// `GET /cckm/aws/keys/{id}/rotations`: the rotations the key took part in.
    pub async fn list_rotations(
        &self,
        caller: &Caller,
        id: &str,
        page: &keyward_api::list::PageParams,
    ) -> CoreResult<(ListQuery, Page<KeyRotation>)> {
        caller.principal.require(Permission::ReadCckm)?;
        if self.ports.store.get_key(id).await?.is_none() {
            return Err(CoreError::not_found(format!("AWS key {id} not found")));
        }
        let query = ListQuery::parse(page, SORTABLE)?;
        let items = self.ports.store.list_rotations(id, &query).await?;
        Ok((query, items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}"#;

    #[test]
    fn deny_encrypt_is_added_once_and_removed() {
        let amended = with_deny_encrypt(POLICY, DenyEncrypt::Account, "aws", "000000000000")
            .unwrap()
            .unwrap();
        let doc: Value = serde_json::from_str(&amended).unwrap();
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[1]["Sid"], DENY_ENCRYPT_SID);
        assert_eq!(st[1]["Effect"], "Deny");
        assert_eq!(st[1]["Principal"]["AWS"], "arn:aws:iam::000000000000:root");
        assert!(
            st[1]["Action"]
                .as_array()
                .unwrap()
                .contains(&json!("kms:Encrypt"))
        );
        assert_eq!(
            with_deny_encrypt(&amended, DenyEncrypt::Account, "aws", "000000000000").unwrap(),
            None
        );
        let all = with_deny_encrypt(POLICY, DenyEncrypt::AllAccounts, "aws", "1")
            .unwrap()
            .unwrap();
        assert!(all.contains(r#""Principal":{"AWS":"*"}"#));
        let restored = without_deny_encrypt(&amended).unwrap();
        let back: Value = serde_json::from_str(&restored).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(POLICY).unwrap());
        assert_eq!(without_deny_encrypt(POLICY), None);
        assert!(with_deny_encrypt("not json", DenyEncrypt::Account, "aws", "1").is_err());
    }

    #[test]
    fn retained_alias_is_timestamped() {
        let at = DateTime::parse_from_rfc3339("2026-11-27T21:05:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retained_alias("alias/app", &at),
            "alias/app-rotated-20261127210509"
        );
    }
}
