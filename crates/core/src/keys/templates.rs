//! Key policy templates (`/cckm/aws/templates`): a named policy, given as a document or as
//! key administrators, users and external accounts, applied to keys by id. Keys made from a
//! template carry the reserved tag `cckm_policy_template_id`; with `auto_push` a change to
//! the template is pushed to those keys.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_api::templates as wire;
use serde::{Deserialize, Serialize};

use super::filter::KeyFilter;
use super::lifecycle::KeyAction;
use super::policy::{PolicyChoice, PolicyInputs, PolicyPrincipals};
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::service::{Keyward, rfc3339};

pub const TEMPLATE_TAG: &str = "cckm_policy_template_id";
pub const SORTABLE: &[&str] = &["name", "createdAt", "updatedAt"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTemplate {
    pub id: String,
    pub name: String,
    pub kms_id: Option<String>,
    /// The container as the client named it (its id or its name), echoed in `kms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_ref: Option<String>,
    pub account_id: String,
    /// A policy document, or `None` when the template lists principals.
    pub policy: Option<String>,
    /// The principals, when the template lists them (stored flat, as before).
    #[serde(flatten)]
    pub principals: PolicyPrincipals,
    pub auto_push: bool,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PolicyTemplate {
    pub fn to_wire(&self) -> wire::PolicyTemplate {
        let p = &self.principals;
        wire::PolicyTemplate {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                format!("kylo:kylo:cckm:aws-policy-template:{}", self.id),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            name: self.name.clone(),
            kms: self.kms_ref.clone().or_else(|| self.kms_id.clone()),
            account_id: self.account_id.clone(),
            policy: self
                .policy
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()),
            key_admins: p.key_admins.clone(),
            key_admins_roles: p.key_admins_roles.clone(),
            key_users: p.key_users.clone(),
            key_users_roles: p.key_users_roles.clone(),
            external_accounts: p.external_accounts.clone(),
            auto_push: self.auto_push,
            is_verified: self.is_verified,
        }
    }
}

pub use keyward_api::templates::{TemplateCreate, TemplateUpdate};

/// What pushing a changed template to the keys made from it did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoPush {
    pub keys_updated: u64,
    /// Record id -> why the key was not updated.
    pub failures: BTreeMap<String, String>,
}

impl AutoPush {
    pub fn to_wire(&self) -> wire::AutoPushResult {
        wire::AutoPushResult {
            keys_updated: self.keys_updated,
            failures: self.failures.clone(),
        }
    }
}

/// Applies a policy choice (never a template) to a template's fields.
fn set_policy(t: &mut PolicyTemplate, choice: PolicyChoice) -> CoreResult<()> {
    match choice {
        PolicyChoice::Document(d) => {
            t.policy = Some(d);
            t.principals.clear();
        }
        PolicyChoice::Helpers(p) => {
            t.policy = None;
            t.principals = p;
        }
        PolicyChoice::Default | PolicyChoice::Template(_) => {
            return Err(CoreError::invalid(
                "policy: a template needs a policy document or key_admins/key_admins_roles/key_users/key_users_roles/external_accounts",
            ));
        }
    }
    Ok(())
}

impl Keyward {
    pub async fn find_template(&self, id_or_name: &str) -> CoreResult<Option<PolicyTemplate>> {
        if let Some(t) = self.ports.store.get_template(id_or_name).await? {
            return Ok(Some(t));
        }
        self.ports.store.get_template_by_name(id_or_name).await
    }

    pub async fn create_template(
        &self,
        caller: &Caller,
        req: TemplateCreate,
    ) -> CoreResult<PolicyTemplate> {
        let target = req.name.clone();
        self.audited(caller, "template.create", &target, async move {
            caller.principal.require(Permission::ManageCckm)?;
            crate::validate::lookup_name("name", &req.name)?;
            let (kms_id, account_id) = match (&req.kms, &req.account_id) {
                (Some(k), _) => {
                    let c = self.find_kms(k).await?.ok_or_else(|| {
                        CoreError::invalid(format!(
                            "kms: no KMS container has the name or id '{k}'"
                        ))
                    })?;
                    if let Some(a) = &req.account_id
                        && *a != c.account_id
                    {
                        return Err(CoreError::invalid(format!(
                            "account_id: {a} is not the account of KMS container '{}' ({})",
                            c.name, c.account_id
                        )));
                    }
                    (Some(c.id), c.account_id)
                }
                (None, Some(a)) => {
                    crate::validate::aws_account_id("account_id", a)?;
                    (None, a.clone())
                }
                (None, None) => {
                    return Err(CoreError::invalid(
                        "kms: give the KMS container (or account_id) the template is for",
                    ));
                }
            };
            let choice = PolicyInputs {
                policy: req.policy,
                key_admins: req.key_admins,
                key_admins_roles: req.key_admins_roles,
                key_users: req.key_users,
                key_users_roles: req.key_users_roles,
                external_accounts: req.external_accounts,
                policytemplate: None,
            }
            .choose("policy")?;
            if self
                .ports
                .store
                .get_template_by_name(&req.name)
                .await?
                .is_some()
            {
                return Err(CoreError::conflict(format!(
                    "a policy template named '{}' already exists",
                    req.name
                )));
            }
            let now = self.now();
            let mut t = PolicyTemplate {
                id: self.new_id()?,
                name: req.name,
                kms_ref: kms_id.as_ref().and(req.kms.clone()),
                kms_id,
                account_id,
                policy: None,
                principals: PolicyPrincipals::default(),
                auto_push: req.auto_push.unwrap_or(false),
                is_verified: false,
                created_at: now,
                updated_at: now,
            };
            set_policy(&mut t, choice)?;
            let draft = self.draft(caller, "template.create", &t.name, Outcome::Success, "");
            self.ports.store.insert_template(&t, &draft).await?;
            Ok(t)
        })
        .await
    }

    pub async fn get_template(&self, caller: &Caller, id: &str) -> CoreResult<PolicyTemplate> {
        caller.principal.require(Permission::ReadCckm)?;
        self.find_template(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("policy template {id} not found")))
    }

    pub async fn list_templates(
        &self,
        caller: &Caller,
        page: &keyward_api::list::PageParams,
    ) -> CoreResult<(ListQuery, Page<PolicyTemplate>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse(page, SORTABLE)?;
        Ok((
            query.clone(),
            self.ports.store.list_templates(&query).await?,
        ))
    }

    async fn keys_using_template(&self, id: &str) -> CoreResult<Vec<super::record::KeyRecord>> {
        let filter = KeyFilter {
            tags: vec![(TEMPLATE_TAG.to_string(), Some(id.to_string()))],
            gone: Some(false),
            ..Default::default()
        };
        // Keys pending deletion cannot take a new policy: they are left out.
        Ok(self
            .ports
            .store
            .list_keys(&filter, &ListQuery::all())
            .await?
            .items
            .into_iter()
            .filter(crate::kms::is_live_key)
            .collect())
    }

    /// Changes a template; with auto_push, re-applies it to every key made from it and
    /// returns how many keys were updated and which failed.
    pub async fn update_template(
        &self,
        caller: &Caller,
        id: &str,
        req: TemplateUpdate,
    ) -> CoreResult<(PolicyTemplate, AutoPush)> {
        self.audited(caller, "template.update", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut t = self
                .find_template(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("policy template {id} not found")))?;
            let lists_given = [
                &req.key_admins,
                &req.key_admins_roles,
                &req.key_users,
                &req.key_users_roles,
                &req.external_accounts,
            ]
            .iter()
            .any(|l| l.is_some());
            // Lists on a template that lists principals are patched one by one, as Thales'
            // provider sends them: a list left out (null) stays, `[]` empties it, a list
            // replaces it. A policy document replaces everything.
            let inputs = if req.policy.is_none() && t.policy.is_none() && lists_given {
                let p = &t.principals;
                let merged = PolicyInputs {
                    policy: None,
                    key_admins: Some(req.key_admins.unwrap_or_else(|| p.key_admins.clone())),
                    key_admins_roles: Some(
                        req.key_admins_roles
                            .unwrap_or_else(|| p.key_admins_roles.clone()),
                    ),
                    key_users: Some(req.key_users.unwrap_or_else(|| p.key_users.clone())),
                    key_users_roles: Some(
                        req.key_users_roles
                            .unwrap_or_else(|| p.key_users_roles.clone()),
                    ),
                    external_accounts: Some(
                        req.external_accounts
                            .unwrap_or_else(|| p.external_accounts.clone()),
                    ),
                    policytemplate: None,
                };
                let empty = [
                    &merged.key_admins,
                    &merged.key_admins_roles,
                    &merged.key_users,
                    &merged.key_users_roles,
                    &merged.external_accounts,
                ]
                .iter()
                .all(|l| l.as_ref().is_none_or(Vec::is_empty));
                if empty {
                    return Err(CoreError::invalid(
                        "key_admins/key_admins_roles/key_users/key_users_roles/external_accounts: this change would leave the template with no principals; give at least one, or a policy document",
                    ));
                }
                merged
            } else {
                PolicyInputs {
                    policy: req.policy,
                    key_admins: req.key_admins,
                    key_admins_roles: req.key_admins_roles,
                    key_users: req.key_users,
                    key_users_roles: req.key_users_roles,
                    external_accounts: req.external_accounts,
                    policytemplate: None,
                }
            };
            let choice = inputs.choose("policy")?;
            let policy_changed = choice != PolicyChoice::Default;
            if !policy_changed && req.auto_push.is_none() {
                return Err(CoreError::invalid(
                    "body: nothing to change; give a policy, key_* lists or auto_push",
                ));
            }
            if policy_changed {
                set_policy(&mut t, choice)?;
            }
            if let Some(a) = req.auto_push {
                t.auto_push = a;
            }
            t.updated_at = self.now();
            let draft = self.draft(caller, "template.update", &t.name, Outcome::Success, "");
            self.ports.store.update_template(&t, &draft).await?;
            let mut push = AutoPush::default();
            if t.auto_push && policy_changed {
                for key in self.keys_using_template(&t.id).await? {
                    let action = KeyAction::Policy(
                        PolicyInputs {
                            policytemplate: Some(t.id.clone()),
                            ..Default::default()
                        },
                        false,
                    );
                    match self.key_action(caller, &key.id, action).await {
                        Ok(_) => push.keys_updated += 1,
                        Err(e) => {
                            push.failures.insert(key.id.clone(), e.to_string());
                        }
                    }
                }
            }
            Ok((t, push))
        })
        .await
    }

    /// Deletes a template. Keys made from it that are pending deletion in AWS (or gone from
    /// it) are detached from it, each audited, in the same transaction: Terraform's destroy
    /// only schedules the keys' deletion before it deletes the template. A live key that uses
    /// it keeps it (409).
    pub async fn delete_template(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "template.delete", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let t = self
                .find_template(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("policy template {id} not found")))?;
            let filter = KeyFilter {
                tags: vec![(TEMPLATE_TAG.to_string(), Some(t.id.clone()))],
                ..Default::default()
            };
            let keys = self
                .ports
                .store
                .list_keys(&filter, &ListQuery::all())
                .await?
                .items;
            let users = keys
                .iter()
                .filter(|k| crate::kms::is_live_key(k))
                .count();
            if users > 0 {
                return Err(CoreError::conflict(format!(
                    "policy template '{}' is applied to {users} key(s) that are not pending deletion; apply another policy to them first",
                    t.name
                )));
            }
            let detach: Vec<(String, crate::audit::AuditDraft)> = keys
                .iter()
                .filter(|k| k.policy_template_id.as_deref() == Some(t.id.as_str()))
                .map(|k| {
                    let draft = self.draft(
                        caller,
                        "key.detach-template",
                        &k.aws.metadata.arn,
                        Outcome::Success,
                        format!(
                            "detached from policy template '{}', deleted while the key is {}",
                            t.name,
                            if k.gone {
                                "gone from AWS"
                            } else {
                                k.aws.metadata.key_state.as_str()
                            }
                        ),
                    );
                    (k.id.clone(), draft)
                })
                .collect();
            let detail = if detach.is_empty() {
                String::new()
            } else {
                format!("detached {} key(s) pending deletion", detach.len())
            };
            let draft = self.draft(caller, "template.delete", &t.name, Outcome::Success, detail);
            self.ports
                .store
                .delete_template(&t.id, &detach, &draft)
                .await?;
            Ok(())
        })
        .await
    }
}
