//! The key use cases: create, read, list, forget, and the actions on a key. Every write goes
//! to AWS first, then reads back what changed and stores the merged record with its audit.

use base64::Engine;
use keyward_api::keys as wire;

use super::create_journal::{CreateIntent, CreatePurpose};
use super::filter::KeyFilter;
use super::import::answer_lost;
use super::policy::{self, PolicyChoice, PolicyInputs, PolicyPrincipals};
use super::record::{AwsKeyView, KeyRecord};
use super::templates::TEMPLATE_TAG;
use super::{rules, spec};
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::connections::{AwsConnection, ConnectionTarget};
use crate::error::{AwsErrorKind, CoreError, CoreResult};
use crate::kms::KmsContainer;
use crate::paging::{ListQuery, Page};
use crate::ports::{NewKey, NewReplica};
use crate::service::Keyward;
use std::sync::Arc;

/// Where a key lives and how to reach it.
pub(crate) struct KeyContext {
    pub kms: KmsContainer,
    pub connection: AwsConnection,
    pub target: ConnectionTarget,
}

/// An action on one key (each is `POST /cckm/aws/keys/{id}/<action>`).
#[derive(Debug, Clone)]
pub enum KeyAction {
    ScheduleDeletion(i64),
    CancelDeletion,
    Enable,
    Disable,
    UpdateDescription(String),
    AddTags(Vec<(String, String)>),
    RemoveTags(Vec<String>),
    AddAlias(String),
    DeleteAlias(String),
    Policy(PolicyInputs, bool),
    EnableAutoRotation(Option<i64>),
    DisableAutoRotation,
    Refresh,
}

impl KeyAction {
    pub fn audit_name(&self) -> &'static str {
        match self {
            Self::ScheduleDeletion(_) => "key.schedule-deletion",
            Self::CancelDeletion => "key.cancel-deletion",
            Self::Enable => "key.enable",
            Self::Disable => "key.disable",
            Self::UpdateDescription(_) => "key.update-description",
            Self::AddTags(_) => "key.add-tags",
            Self::RemoveTags(_) => "key.remove-tags",
            Self::AddAlias(_) => "key.add-alias",
            Self::DeleteAlias(_) => "key.delete-alias",
            Self::Policy(..) => "key.policy",
            Self::EnableAutoRotation(_) => "key.enable-auto-rotation",
            Self::DisableAutoRotation => "key.disable-auto-rotation",
            Self::Refresh => "key.refresh",
        }
    }
}

fn create_tags(tags: &Option<Vec<wire::CreateTag>>) -> Vec<(String, String)> {
    tags.iter()
        .flatten()
        .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
        .collect()
}

/// `get-key-rotation-status`: AWS's answer for the key `arn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotationReport {
    pub arn: String,
    pub status: super::record::RotationStatus,
}

impl KeyRotationReport {
    pub fn to_wire(&self) -> keyward_api::key_record::KeyRotationStatus {
        let ts = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        keyward_api::key_record::KeyRotationStatus {
            key_id: self.arn.clone(),
            key_rotation_enabled: self.status.enabled,
            rotation_period_in_days: self.status.period_in_days,
            next_rotation_date: self.status.next_rotation_date.as_ref().map(ts),
            on_demand_rotation_start_date: self
                .status
                .on_demand_rotation_start_date
                .as_ref()
                .map(ts),
        }
    }
}

/// The public key of an asymmetric key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyPem {
    pub pem: String,
    pub arn: String,
    pub key_spec: String,
}

impl PublicKeyPem {
    pub fn to_wire(&self) -> keyward_api::key_record::PublicKey {
        keyward_api::key_record::PublicKey {
            public_key: self.pem.clone(),
            key_id: self.arn.clone(),
            key_spec: self.key_spec.clone(),
        }
    }
}

impl Keyward {
    /// The container, connection and AWS target of a container + Region.
    pub(crate) async fn key_context(
        &self,
        kms: KmsContainer,
        region: &str,
    ) -> CoreResult<KeyContext> {
        let connection = self
            .ports
            .store
            .get_connection(&kms.connection_id)
            .await?
            .ok_or_else(|| {
                CoreError::internal(format!("KMS container {} lost its connection", kms.id))
            })?;
        let target = self.connection_target(
            &connection,
            region,
            Some((&kms.assume_role_arn, &kms.assume_role_external_id)),
        )?;
        Ok(KeyContext {
            kms,
            connection,
            target,
        })
    }

    pub(crate) async fn record_context(&self, rec: &KeyRecord) -> CoreResult<KeyContext> {
        let kms = self
            .ports
            .store
            .get_kms(&rec.kms_id)
            .await?
            .ok_or_else(|| CoreError::internal(format!("key {} lost its KMS container", rec.id)))?;
        self.key_context(kms, &rec.region).await
    }

    /// Reads everything Keyward shows about a key from AWS, the independent calls at once.
    pub(crate) async fn read_back(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<AwsKeyView> {
        let keys = &self.ports.keys;
        let (metadata, aliases, mut tags, policy, rotation) = futures::try_join!(
            keys.describe_key(t, key_id),
            keys.key_aliases(t, key_id),
            keys.key_tags(t, key_id),
            keys.key_policy(t, key_id),
            keys.key_rotation_status(t, key_id),
        )?;
        super::create_journal::hide_create_tag(&mut tags);
        Ok(AwsKeyView {
            metadata,
            aliases,
            tags,
            policy: Some(policy),
            rotation: rotation.unwrap_or_default(),
        })
    }

    /// What Keyward knows of a key it has just made, without asking AWS again: CreateKey's
    /// metadata (aliases, tags and policy do not change it), the aliases it gave the key, the
    /// tags it sent (the create tag hidden) and the policy it sent; automatic rotation is off on
    /// every new key. Only a policy AWS chose itself (none was sent) is read, with
    /// GetKeyPolicy; if that fails the record goes without it until the next read.
    pub(crate) async fn made_key_view(
        &self,
        t: &ConnectionTarget,
        metadata: super::record::KeyMetadata,
        aliases: Vec<String>,
        new_key: &NewKey,
    ) -> AwsKeyView {
        let policy = match &new_key.policy {
            Some(p) => Some(p.clone()),
            None => match self.ports.keys.key_policy(t, &metadata.key_id).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(key_id = %metadata.key_id, error = %e, "could not read a new key's policy; storing the record without it");
                    None
                }
            },
        };
        let mut tags = new_key.tags.clone();
        super::create_journal::hide_create_tag(&mut tags);
        let mut aliases = aliases;
        aliases.sort();
        AwsKeyView {
            metadata,
            aliases,
            tags,
            policy,
            rotation: Default::default(),
        }
    }

    async fn policy_document(
        &self,
        choice: &PolicyChoice,
        ctx: &KeyContext,
        key_usage: &str,
    ) -> CoreResult<Option<String>> {
        Ok(match choice {
            PolicyChoice::Default => None,
            PolicyChoice::Document(d) => Some(d.clone()),
            PolicyChoice::Helpers(p) => Some(policy::build(
                p,
                &ctx.connection.cloud_name,
                &ctx.kms.account_id,
                key_usage,
            )),
            PolicyChoice::Template(id) => {
                let t = self.find_template(id).await?.ok_or_else(|| {
                    CoreError::invalid(format!(
                        "policytemplate: no policy template has the name or id '{id}'"
                    ))
                })?;
                if t.account_id != ctx.kms.account_id {
                    return Err(CoreError::invalid(format!(
                        "policytemplate: template '{}' is for account {}, not {}",
                        t.name, t.account_id, ctx.kms.account_id
                    )));
                }
                match &t.policy {
                    Some(doc) => Some(doc.clone()),
                    None => Some(policy::build(
                        &t.principals,
                        &ctx.connection.cloud_name,
                        &ctx.kms.account_id,
                        key_usage,
                    )),
                }
            }
        })
    }

    /// Finds a container by name or id for a key request; a 400 naming `field` if unknown.
    async fn kms_for_key(&self, field: &str, kms: &str, region: &str) -> CoreResult<KmsContainer> {
        if kms.is_empty() {
            return Err(CoreError::invalid(format!(
                "{field}: required (a KMS container's name or id)"
            )));
        }
        let container = self.find_kms(kms).await?.ok_or_else(|| {
            CoreError::invalid(format!(
                "{field}: no KMS container has the name or id '{kms}'"
            ))
        })?;
        if !container.regions.iter().any(|r| r == region) {
            return Err(CoreError::invalid(format!(
                "region: '{region}' is not a Region of KMS container '{}' ({})",
                container.name,
                container.regions.join(", ")
            )));
        }
        Ok(container)
    }

    /// `POST /cckm/aws/keys`. A create whose AWS answer was lost is finished in the
    /// background (`follow_up_create`).
    pub async fn create_key(
        self: &Arc<Self>,
        caller: &Caller,
        req: wire::CreateKey,
    ) -> CoreResult<KeyRecord> {
        let result = self
            .create_key_for(caller, req, CreatePurpose::Create)
            .await;
        self.follow_up_lost_create(caller, &result);
        result
    }

    /// Starts the background recovery of the request's creates when AWS's answer was lost.
    pub(crate) fn follow_up_lost_create<T>(
        self: &Arc<Self>,
        caller: &Caller,
        result: &CoreResult<T>,
    ) {
        if let Err(e) = result
            && answer_lost(e)
        {
            self.follow_up_create(caller.request_id.clone());
        }
    }

    /// A journaled create (see `create_journal.rs`).
    pub(crate) async fn create_key_for(
        &self,
        caller: &Caller,
        req: wire::CreateKey,
        purpose: CreatePurpose,
    ) -> CoreResult<KeyRecord> {
        let target_name = req
            .aws_param
            .alias
            .clone()
            .unwrap_or_else(|| req.kms.clone());
        self.audited(caller, "key.create", &target_name, async move {
            caller.principal.require(Permission::ManageCckm)?;
            if req.region.is_empty() {
                return Err(CoreError::invalid("region: required"));
            }
            let p = &req.aws_param;
            let (key_spec, key_usage) = spec::resolve(
                p.customer_master_key_spec.as_deref(),
                p.key_spec.as_deref(),
                p.key_usage.as_deref(),
                &req.region,
            )?;
            let origin = p.origin.clone().unwrap_or_else(|| "AWS_KMS".into());
            if origin != "AWS_KMS" && origin != "EXTERNAL" {
                return Err(CoreError::invalid(format!(
                    "aws_param.Origin: '{origin}' is not supported; use AWS_KMS or EXTERNAL"
                )));
            }
            let description = p.description.clone().unwrap_or_default();
            rules::description("aws_param.Description", &description)?;
            let alias = p.alias.as_deref().map(|a| rules::alias("aws_param.Alias", a)).transpose()?;
            let tags = create_tags(&p.tags);
            rules::tags("aws_param.Tags", &tags)?;
            rules::not_reserved_tag("aws_param.Tags", tags.iter().map(|(k, _)| k))?;
            let choice = PolicyInputs {
                policy: p.policy.clone(),
                key_admins: req.key_admins.clone(),
                key_admins_roles: req.key_admins_roles.clone(),
                key_users: req.key_users.clone(),
                key_users_roles: req.key_users_roles.clone(),
                external_accounts: req.external_accounts.clone(),
                policytemplate: req.policytemplate.clone(),
            }
            .choose("aws_param.Policy")?;
            let kms = self.kms_for_key("kms", &req.kms, &req.region).await?;
            let ctx = self.key_context(kms, &req.region).await?;
            let policy = self.policy_document(&choice, &ctx, &key_usage).await?;
            if let Some(a) = &alias
                && self.ports.keys.alias_exists(&ctx.target, a).await? {
                    return Err(CoreError::conflict(format!(
                        "aws_param.Alias: {a} already exists in {} of account {}",
                        req.region, ctx.kms.account_id
                    )));
                }
            let mut tags = tags;
            let template_id = match &choice {
                PolicyChoice::Template(t) => {
                    let id = self.find_template(t).await?.map(|t| t.id).unwrap_or_default();
                    tags.push((TEMPLATE_TAG.to_string(), id.clone()));
                    Some(id)
                }
                _ => None,
            };
            let principals = match &choice {
                PolicyChoice::Helpers(p) => p.clone(),
                _ => Default::default(),
            };
            let now = self.now();
            let intent = CreateIntent {
                id: self.new_id()?,
                request_id: caller.request_id.clone(),
                purpose,
                record_id: self.new_id()?,
                kms_id: ctx.kms.id.clone(),
                region: req.region.clone(),
                alias: alias.clone(),
                principals,
                policy_template_id: template_id.clone(),
                key_material_origin: None,
                primary_record_id: None,
                primary_key_id: None,
                detail: String::new(),
                created_by: caller.principal.username.clone(),
                created_at: now,
            };
            if tags.len() >= rules::MAX_TAGS {
                return Err(CoreError::invalid(format!(
                    "aws_param.Tags: at most {} tags (Keyward's own tags take the rest of AWS's {})",
                    rules::MAX_TAGS - 1 - usize::from(template_id.is_some()),
                    rules::MAX_TAGS
                )));
            }
            // Journaled before CreateKey; the key is tagged with the intent in CreateKey itself.
            tags.push(self.open_create(&intent).await?);
            let new_key = NewKey {
                description,
                key_spec,
                key_usage,
                origin: origin.clone(),
                multi_region: p.multi_region.unwrap_or(false),
                policy,
                bypass_policy_lockout_safety_check: p.bypass_policy_lockout_safety_check.unwrap_or(false),
                tags,
            };
            let metadata = match self.ports.keys.create_key(&ctx.target, &new_key).await {
                Ok(m) => m,
                Err(e) => {
                    self.create_failed(&intent, &e).await;
                    return Err(e);
                }
            };
            if let Some(a) = &alias
                && let Err(e) = self.ports.keys.create_alias(&ctx.target, a, &metadata.key_id).await {
                    if answer_lost(&e) {
                        // CreateAlias may have been carried out: recovery finishes the key or
                        // schedules it for deletion.
                        return Err(e);
                    }
                    // Leave nothing half-made: the new key goes away with its alias request.
                    let undo = self.delete_extra_key(&ctx.target, &metadata.key_id).await;
                    tracing::warn!(key_id = %metadata.key_id, undo_ok = undo.is_ok(), "alias creation failed; new key scheduled for deletion");
                    if undo.is_ok() {
                        self.create_failed(&intent, &e).await;
                    }
                    return Err(e);
                }
            // Nothing is read back that Keyward knows already (see `made_key_view`).
            let view = self
                .made_key_view(&ctx.target, metadata, alias.iter().cloned().collect(), &new_key)
                .await;
            let record = intent.record(&ctx, self.now(), view);
            if let Some(t) = &template_id {
                self.ports.store.mark_template_verified(t).await?;
            }
            let draft = self.draft(caller, "key.create", &record.aws.metadata.arn, Outcome::Success, "");
            self.finish_create(&intent, &ctx.target, record, &draft).await
        })
        .await
    }

    pub async fn get_key(&self, caller: &Caller, id: &str) -> CoreResult<KeyRecord> {
        caller.principal.require(Permission::ReadCckm)?;
        self.ports
            .store
            .get_key(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("AWS key {id} not found")))
    }

    pub async fn list_keys(
        &self,
        caller: &Caller,
        params: wire::KeyListParams,
    ) -> CoreResult<(ListQuery, Page<KeyRecord>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let (filter, query) = KeyFilter::parse(params, self.now())?;
        let page = self.ports.store.list_keys(&filter, &query).await?;
        Ok((query, page))
    }

    /// `DELETE /cckm/aws/keys/{id}`: forgets Keyward's record; the AWS key is untouched.
    pub async fn delete_key_record(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "key.delete-record", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let rec = self
                .ports
                .store
                .get_key(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("AWS key {id} not found")))?;
            let draft = self.draft(
                caller,
                "key.delete-record",
                &rec.aws.metadata.arn,
                Outcome::Success,
                "",
            );
            self.ports.store.delete_key(id, &draft).await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn key_for_action(&self, id: &str) -> CoreResult<KeyRecord> {
        let rec = self
            .ports
            .store
            .get_key(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("AWS key {id} not found")))?;
        if rec.gone {
            return Err(CoreError::Unprocessable(format!(
                "AWS key {} no longer exists in AWS (gone); only its record remains",
                rec.aws.metadata.arn
            )));
        }
        Ok(rec)
    }

    /// Checks an action's input; nothing is sent to AWS when this fails.
    fn check_action(&self, rec: &KeyRecord, action: &KeyAction) -> CoreResult<()> {
        let m = &rec.aws.metadata;
        match action {
            KeyAction::ScheduleDeletion(days) => {
                rules::deletion_days(*days)?;
            }
            KeyAction::UpdateDescription(d) => rules::description("description", d)?,
            KeyAction::AddTags(tags) => {
                rules::tags("tags", tags)?;
                rules::not_reserved_tag("tags", tags.iter().map(|(k, _)| k))?;
                let existing: std::collections::HashSet<&str> =
                    rec.aws.tags.iter().map(|(k, _)| k.as_str()).collect();
                let new = tags
                    .iter()
                    .filter(|(k, _)| !existing.contains(k.as_str()))
                    .count();
                if existing.len() + new > rules::MAX_TAGS {
                    return Err(CoreError::invalid(format!(
                        "tags: the key has {} tags; AWS allows at most {}",
                        existing.len(),
                        rules::MAX_TAGS
                    )));
                }
            }
            KeyAction::RemoveTags(keys) => {
                rules::tag_keys("tags", keys)?;
                // Removing the template's tag detaches the key from its template (Thales'
                // provider does so before it schedules a key's deletion); setting it by hand
                // stays refused.
                rules::not_reserved_tag("tags", keys.iter().filter(|k| *k != TEMPLATE_TAG))?;
            }
            KeyAction::AddAlias(a) | KeyAction::DeleteAlias(a) => {
                rules::alias("alias", a)?;
            }
            KeyAction::EnableAutoRotation(period) => {
                if let Some(p) = period.filter(|d| *d != 0) {
                    rules::rotation_period(p)?;
                }
                if m.key_spec != "SYMMETRIC_DEFAULT" || m.origin != "AWS_KMS" {
                    return Err(CoreError::invalid(format!(
                        "enable-auto-rotation: only symmetric keys with Origin AWS_KMS rotate automatically; this key is {} with Origin {}",
                        m.key_spec, m.origin
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An action asked through the API: `key_action`, and when AWS's answer was lost (a
    /// timeout: AWS may have carried the action out all the same) the record is re-read in
    /// the background until it shows what AWS did (`follow_up_action`).
    pub async fn act_on_key(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        action: KeyAction,
    ) -> CoreResult<KeyRecord> {
        let result = self.key_action(caller, id, action.clone()).await;
        if let Err(e) = &result
            && answer_lost(e)
        {
            self.follow_up_action(id.to_string(), action);
        }
        result
    }

    /// Runs one action on a key and returns the re-read record.
    pub async fn key_action(
        &self,
        caller: &Caller,
        id: &str,
        action: KeyAction,
    ) -> CoreResult<KeyRecord> {
        let name = action.audit_name();
        self.audited(caller, name, id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_for_action(id).await?;
            self.check_action(&rec, &action)?;
            let policy_choice = match &action {
                KeyAction::Policy(inputs, _) => Some(inputs.clone().choose("policy")?),
                _ => None,
            };
            let ctx = self.record_context(&rec).await?;
            let t = &ctx.target;
            let key_id = rec.aws.metadata.key_id.clone();
            let keys = &self.ports.keys;
            let mut detail = String::new();
            match &action {
                KeyAction::ScheduleDeletion(days) => {
                    keys.schedule_key_deletion(t, &key_id, *days as i32).await?;
                    detail = format!("{days} days");
                }
                KeyAction::CancelDeletion => keys.cancel_key_deletion(t, &key_id).await?,
                KeyAction::Enable => keys.enable_key(t, &key_id).await?,
                KeyAction::Disable => keys.disable_key(t, &key_id).await?,
                KeyAction::UpdateDescription(d) => keys.update_key_description(t, &key_id, d).await?,
                KeyAction::AddTags(tags) => {
                    keys.tag_key(t, &key_id, tags).await?;
                    detail = tags.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(",");
                }
                KeyAction::RemoveTags(tag_keys) => {
                    keys.untag_key(t, &key_id, tag_keys).await?;
                    if tag_keys.iter().any(|k| k == TEMPLATE_TAG) {
                        rec.policy_template_id = None;
                    }
                    detail = tag_keys.join(",");
                }
                KeyAction::AddAlias(a) => {
                    let full = rules::alias("alias", a)?;
                    keys.create_alias(t, &full, &key_id).await?;
                    detail = full;
                }
                KeyAction::DeleteAlias(a) => {
                    let full = rules::alias("alias", a)?;
                    if !rec.aws.aliases.contains(&full) {
                        return Err(CoreError::invalid(format!(
                            "alias: {full} is not an alias of this key (its aliases: {})",
                            rec.aws.aliases.join(", ")
                        )));
                    }
                    keys.delete_alias(t, &full).await?;
                    detail = full;
                }
                KeyAction::Policy(_, bypass) => {
                    let choice = policy_choice.clone().unwrap_or(PolicyChoice::Default);
                    let document = match self.policy_document(&choice, &ctx, &rec.aws.metadata.key_usage).await? {
                        Some(d) => d,
                        None => {
                            return Err(CoreError::invalid(
                                "policy: give a policy document, policytemplate or key_admins/key_users/external_accounts",
                            ));
                        }
                    };
                    keys.put_key_policy(t, &key_id, &document, *bypass).await?;
                    let had_template = rec.aws.tags.iter().any(|(k, _)| k == TEMPLATE_TAG);
                    match &choice {
                        PolicyChoice::Template(name) => {
                            let id = self.find_template(name).await?.map(|t| t.id).unwrap_or_default();
                            keys.tag_key(t, &key_id, &[(TEMPLATE_TAG.to_string(), id.clone())]).await?;
                            rec.policy_template_id = Some(id);
                        }
                        _ if had_template => {
                            keys.untag_key(t, &key_id, &[TEMPLATE_TAG.to_string()]).await?;
                            rec.policy_template_id = None;
                        }
                        _ => {}
                    }
                }
                KeyAction::EnableAutoRotation(p) => {
                    // 0 (what Thales' Terraform provider sends when no period is set) means
                    // AWS's default period, as no period does.
                    let period = p.filter(|d| *d != 0).map(|d| d as i32);
                    keys.enable_key_rotation(t, &key_id, period).await?;
                }
                KeyAction::DisableAutoRotation => keys.disable_key_rotation(t, &key_id).await?,
                KeyAction::Refresh => {}
            }
            let view = match self.read_back(t, &key_id).await {
                Ok(v) => v,
                Err(CoreError::Aws { kind: AwsErrorKind::NotFound, .. })
                    if matches!(action, KeyAction::Refresh) =>
                {
                    // AWS no longer has the key: the record says so.
                    rec.gone = true;
                    rec.synced_at = self.now();
                    rec.updated_at = self.now();
                    let draft = self.draft(caller, name, &rec.aws.metadata.arn, Outcome::Success, "gone from AWS");
                    self.ports.store.update_key(&rec, Some(&draft)).await?;
                    return Ok(rec);
                }
                Err(e) => return Err(e),
            };
            if let Some(PolicyChoice::Helpers(p)) = &policy_choice {
                rec.principals = p.clone();
            } else if policy_choice.is_some() {
                rec.principals.clear();
            }
            let now = self.now();
            rec.aws = view;
            rec.synced_at = now;
            rec.updated_at = now;
            let draft = self.draft(caller, name, &rec.aws.metadata.arn, Outcome::Success, detail);
            self.ports.store.update_key(&rec, Some(&draft)).await?;
            Ok(rec)
        })
        .await
    }

    /// `POST .../get-key-rotation-status`: AWS's answer, read now.
    pub async fn key_rotation_status(
        &self,
        caller: &Caller,
        id: &str,
    ) -> CoreResult<KeyRotationReport> {
        caller.principal.require(Permission::ReadCckm)?;
        let rec = self.key_for_action(id).await?;
        let ctx = self.record_context(&rec).await?;
        let status = self
            .ports
            .keys
            .key_rotation_status(&ctx.target, &rec.aws.metadata.key_id)
            .await?
            .unwrap_or_default();
        Ok(KeyRotationReport {
            arn: rec.aws.metadata.arn,
            status,
        })
    }

    /// `GET .../download-public-key`: the public key of an asymmetric key, PEM.
    pub async fn download_public_key(&self, caller: &Caller, id: &str) -> CoreResult<PublicKeyPem> {
        caller.principal.require(Permission::ReadCckm)?;
        let rec = self.key_for_action(id).await?;
        if spec::key_kind(&rec.aws.metadata.key_spec) != super::kinds::KeyKind::Asymmetric {
            return Err(CoreError::invalid(format!(
                "download-public-key: only asymmetric keys have a public key; this key is {}",
                rec.aws.metadata.key_spec
            )));
        }
        let ctx = self.record_context(&rec).await?;
        let der = self
            .ports
            .keys
            .public_key(&ctx.target, &rec.aws.metadata.key_id)
            .await?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(PublicKeyPem {
            pem,
            arn: rec.aws.metadata.arn,
            key_spec: rec.aws.metadata.key_spec,
        })
    }

    /// `POST /cckm/aws/alias/verify`: Ok when the alias is free in that container and Region
    /// (a taken alias is a conflict).
    pub async fn verify_alias(&self, caller: &Caller, req: wire::VerifyAlias) -> CoreResult<()> {
        caller.principal.require(Permission::ReadCckm)?;
        let full = rules::alias("alias", &req.alias)?;
        crate::validate::aws_region("region", &req.region)?;
        let kms = self.kms_for_key("kms", &req.kms, &req.region).await?;
        let ctx = self.key_context(kms, &req.region).await?;
        if self.ports.keys.alias_exists(&ctx.target, &full).await? {
            Err(CoreError::conflict(format!(
                "{full} already exists in {}",
                req.region
            )))
        } else {
            Ok(())
        }
    }

    /// `POST .../replicate-key`: returns the replica's new record. Journaled like a create.
    pub async fn replicate_key(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        req: wire::ReplicateKey,
    ) -> CoreResult<KeyRecord> {
        let result = self.replicate_key_once(caller, id, req).await;
        self.follow_up_lost_create(caller, &result);
        result
    }

    async fn replicate_key_once(
        &self,
        caller: &Caller,
        id: &str,
        req: wire::ReplicateKey,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.replicate", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let primary = self.key_for_action(id).await?;
            let m = &primary.aws.metadata;
            let is_primary = m.multi_region_configuration.as_ref().is_some_and(|c| c.key_type == "PRIMARY");
            if !m.multi_region || !is_primary {
                return Err(CoreError::invalid(
                    "replicate-key: only a multi-Region primary key can be replicated (create it with MultiRegion true)",
                ));
            }
            crate::validate::aws_region("replica_region", &req.replica_region)?;
            if req.replica_region == primary.region {
                return Err(CoreError::invalid("replica_region: must differ from the primary key's Region"));
            }
            let p = &req.aws_param;
            let description = p.description.clone();
            if let Some(d) = &description {
                rules::description("aws_param.Description", d)?;
            }
            let mut tags = create_tags(&p.tags);
            tags.extend(req.tags.iter().flatten().map(|t| (t.tag_key.clone(), t.tag_value.clone())));
            rules::tags("tags", &tags)?;
            rules::not_reserved_tag("tags", tags.iter().map(|(k, _)| k))?;
            let alias = p.alias.as_deref().map(|a| rules::alias("aws_param.Alias", a)).transpose()?;
            let choice = PolicyInputs {
                policy: p.policy.clone(),
                key_admins: req.key_admins.clone(),
                key_admins_roles: req.key_admins_roles.clone(),
                key_users: req.key_users.clone(),
                key_users_roles: req.key_users_roles.clone(),
                external_accounts: req.external_accounts.clone(),
                policytemplate: req.policytemplate.clone(),
            }
            .choose("aws_param.Policy")?;
            let replica_kms = match &req.kms {
                Some(k) => self.kms_for_key("kms", k, &req.replica_region).await?,
                None => {
                    let own = self
                        .ports
                        .store
                        .get_kms(&primary.kms_id)
                        .await?
                        .ok_or_else(|| CoreError::internal("key lost its KMS container"))?;
                    self.kms_for_key("kms", &own.id, &req.replica_region).await?
                }
            };
            let primary_ctx = self.record_context(&primary).await?;
            let replica_ctx = self.key_context(replica_kms, &req.replica_region).await?;
            let policy = self.policy_document(&choice, &replica_ctx, &m.key_usage).await?;
            if let Some(a) = &alias
                && self.ports.keys.alias_exists(&replica_ctx.target, a).await? {
                    return Err(CoreError::conflict(format!(
                        "aws_param.Alias: {a} already exists in {}",
                        req.replica_region
                    )));
                }
            let intent = CreateIntent {
                id: self.new_id()?,
                request_id: caller.request_id.clone(),
                purpose: CreatePurpose::Replicate,
                record_id: self.new_id()?,
                kms_id: replica_ctx.kms.id.clone(),
                region: req.replica_region.clone(),
                alias: alias.clone(),
                principals: PolicyPrincipals::default(),
                policy_template_id: None,
                key_material_origin: Some(primary.key_material_origin),
                primary_record_id: Some(primary.id.clone()),
                primary_key_id: Some(m.key_id.clone()),
                detail: format!("replica of {}", m.arn),
                created_by: caller.principal.username.clone(),
                created_at: self.now(),
            };
            if tags.len() >= rules::MAX_TAGS {
                return Err(CoreError::invalid(format!(
                    "tags: at most {} tags (Keyward's own tag takes the last of AWS's {})",
                    rules::MAX_TAGS - 1,
                    rules::MAX_TAGS
                )));
            }
            tags.push(self.open_create(&intent).await?);
            let replica = NewReplica {
                replica_region: req.replica_region.clone(),
                description,
                policy,
                bypass_policy_lockout_safety_check: p.bypass_policy_lockout_safety_check.unwrap_or(false),
                tags,
            };
            let meta = match self.ports.keys.replicate_key(&primary_ctx.target, &m.key_id, &replica).await {
                Ok(meta) => meta,
                Err(e) => {
                    self.create_failed(&intent, &e).await;
                    return Err(e);
                }
            };
            if let Some(a) = &alias
                && let Err(e) = self.ports.keys.create_alias(&replica_ctx.target, a, &meta.key_id).await {
                    if answer_lost(&e) {
                        // Recovery finishes the replica, or schedules it for deletion.
                        return Err(e);
                    }
                    let undo = self.delete_extra_key(&replica_ctx.target, &meta.key_id).await;
                    tracing::warn!(key_id = %meta.key_id, undo_ok = undo.is_ok(), "alias creation failed; new replica scheduled for deletion");
                    if undo.is_ok() {
                        self.create_failed(&intent, &e).await;
                    }
                    return Err(e);
                }
            let view = self
                .read_back(&replica_ctx.target, &meta.key_id)
                .await
                .unwrap_or_else(|_| AwsKeyView { metadata: meta.clone(), ..Default::default() });
            let record = intent.record(&replica_ctx, self.now(), view);
            let draft = self.draft(caller, "key.replicate", &record.aws.metadata.arn, Outcome::Success, intent.detail.clone());
            let record = self.finish_create(&intent, &replica_ctx.target, record, &draft).await?;
            // The primary changed in AWS too (it lists the new replica).
            self.reread_related(primary.clone(), &primary_ctx.target).await;
            Ok(record)
        })
        .await
    }

    /// `POST .../update-primary-region`: makes the replica in that Region the primary.
    pub async fn update_primary_region(
        &self,
        caller: &Caller,
        id: &str,
        req: wire::UpdatePrimaryRegion,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.update-primary-region", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_for_action(id).await?;
            crate::validate::aws_region("PrimaryRegion", &req.primary_region)?;
            // Checked against AWS's current configuration: the stored record may predate a
            // replication or a change of primary made through another record of the key.
            let ctx = self.record_context(&rec).await?;
            let cfg = self
                .ports
                .keys
                .describe_key(&ctx.target, &rec.aws.metadata.key_id)
                .await?
                .multi_region_configuration
                .ok_or_else(|| {
                    CoreError::invalid("update-primary-region: the key is not a multi-Region key")
                })?;
            let current_primary = cfg.primary.clone().map(|p| p.region).unwrap_or_default();
            if req.primary_region == current_primary {
                return Err(CoreError::invalid(format!(
                    "PrimaryRegion: {} is already the primary Region",
                    req.primary_region
                )));
            }
            if !cfg.replicas.iter().any(|r| r.region == req.primary_region) {
                return Err(CoreError::invalid(format!(
                    "PrimaryRegion: the key has no replica in {} (replicas: {})",
                    req.primary_region,
                    cfg.replicas
                        .iter()
                        .map(|r| r.region.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            // AWS takes the call in the current primary's Region.
            let primary_target = ConnectionTarget {
                region: current_primary.clone(),
                ..ctx.target.clone()
            };
            self.ports
                .keys
                .update_primary_region(
                    &primary_target,
                    &rec.aws.metadata.key_id,
                    &req.primary_region,
                )
                .await?;
            let view = self
                .read_back(&ctx.target, &rec.aws.metadata.key_id)
                .await?;
            let now = self.now();
            rec.aws = view;
            rec.synced_at = now;
            rec.updated_at = now;
            let draft = self.draft(
                caller,
                "key.update-primary-region",
                &rec.aws.metadata.arn,
                Outcome::Success,
                req.primary_region.clone(),
            );
            self.ports.store.update_key(&rec, Some(&draft)).await?;
            // The key in the other Region changed too (primary <-> replica): re-read
            // Keyward's record of it, if it has one in this container.
            for region in [&current_primary, &req.primary_region] {
                if *region == rec.region {
                    continue;
                }
                if let Some(other) = self
                    .ports
                    .store
                    .find_key(&rec.kms_id, region, &rec.aws.metadata.key_id)
                    .await?
                {
                    let target = ConnectionTarget {
                        region: region.clone(),
                        ..ctx.target.clone()
                    };
                    self.reread_related(other, &target).await;
                }
            }
            Ok(rec)
        })
        .await
    }

    /// Re-reads and stores another record of an AWS key that a write changed in AWS (the
    /// primary after ReplicateKey; the other Region's key after UpdatePrimaryRegion). The write
    /// itself succeeded, so a failure here only leaves that record to the next refresh or
    /// synchronization.
    pub(crate) async fn reread_related(&self, mut rec: KeyRecord, target: &ConnectionTarget) {
        match self.read_back(target, &rec.aws.metadata.key_id).await {
            Ok(view) => {
                let now = self.now();
                rec.aws = view;
                rec.synced_at = now;
                rec.updated_at = now;
                if let Err(e) = self.ports.store.update_key(&rec, None).await {
                    tracing::warn!(key = %rec.id, error = %e, "could not store a re-read key record");
                }
            }
            Err(e) => {
                tracing::warn!(key = %rec.id, error = %e, "could not re-read a key record that another write changed");
            }
        }
    }
}
