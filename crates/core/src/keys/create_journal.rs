//! The create journal: every key creation (`POST /cckm/aws/keys`, upload-key's create,
//! replicate-key) writes a [`CreateIntent`] before CreateKey / ReplicateKey, and the AWS call
//! itself tags the new key `keyward_create_id=<intent id>`, so the key is findable before
//! anything else can fail. The intent is closed in the transaction that stores the new key's
//! record; the tag is then removed (and it is never shown: `read_back` hides it).
//!
//! An intent left open (a crash, or an AWS call whose answer was lost) is recovered by
//! [`Keyward::reconcile_creates`] at start-up, and by [`Keyward::follow_up_create`] in the
//! background right after a create whose answer was lost: the key is found by its tag
//! (ListKeys + ListResourceTags, as a rotation finds its successor), its alias made and its
//! record stored; if that cannot be done (the alias is taken meanwhile) the key is scheduled
//! for deletion (7 days). An intent whose key AWS never made is just closed.
//!
//! After an AWS timeout on a key action, [`Keyward::follow_up_action`] re-reads the key in the
//! background (bounded attempts with backoff) until the record shows what AWS did.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::import::answer_lost;
use super::kinds::MaterialOrigin;
use super::lifecycle::{KeyAction, KeyContext};
use super::policy::PolicyPrincipals;
use super::record::{AwsKeyView, KeyRecord};
use crate::audit::{Caller, Outcome};
use crate::authz::Principal;
use crate::connections::ConnectionTarget;
use crate::error::{AwsErrorKind, CoreError, CoreResult};
use crate::service::Keyward;

/// Tag a new AWS key carries from CreateKey until its record is stored (value: the intent id).
pub const CREATE_TAG: &str = "keyward_create_id";

/// Backoff between the background attempts (after an AWS timeout), seconds.
const FOLLOW_UP_BACKOFF: &[u64] = &[1, 2, 4, 8, 15, 30, 60];

/// What the create is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreatePurpose {
    /// `POST /cckm/aws/keys`.
    Create,
    /// The key of an upload-key: a recovered one is scheduled for deletion (its material was
    /// never imported), as upload-key does when its import fails.
    Upload,
    /// `POST .../replicate-key`.
    Replicate,
}

/// One key creation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateIntent {
    /// Also the value of the key's `keyward_create_id` tag.
    pub id: String,
    /// The request that creates the key (its Idempotency-Key entry is settled by recovery).
    pub request_id: String,
    pub purpose: CreatePurpose,
    /// The new record's id, chosen before the AWS call.
    pub record_id: String,
    /// Where the key is made: container and Region.
    pub kms_id: String,
    pub region: String,
    /// Full alias name (`alias/...`) to give the key.
    pub alias: Option<String>,
    /// What the record keeps of the request (stored flat, each list defaulting to empty).
    #[serde(flatten)]
    pub principals: PolicyPrincipals,
    pub policy_template_id: Option<String>,
    /// A replica's: its primary's.
    pub key_material_origin: Option<MaterialOrigin>,
    /// A replica's primary record (re-read once the replica is recorded).
    pub primary_record_id: Option<String>,
    /// A replica's AWS key id: a multi-Region replica has its primary's key id, so recovery
    /// finds it by DescribeKey in the replica's Region (and not only by its tag, which
    /// emulators may drop from ReplicateKey).
    #[serde(default)]
    pub primary_key_id: Option<String>,
    /// The audit record's detail (`replica of <arn>`).
    #[serde(default)]
    pub detail: String,
    /// Who asked (username), for the audit record of a recovered create.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl CreateIntent {
    fn audit_action(&self) -> &'static str {
        match self.purpose {
            CreatePurpose::Replicate => "key.replicate",
            _ => "key.create",
        }
    }

    /// The new key's record, from what AWS reads back.
    pub(crate) fn record(
        &self,
        ctx: &KeyContext,
        now: DateTime<Utc>,
        view: AwsKeyView,
    ) -> KeyRecord {
        let base = KeyRecord::new(
            self.record_id.clone(),
            &ctx.kms,
            &self.region,
            &ctx.connection.cloud_name,
            now,
            view,
        );
        KeyRecord {
            principals: self.principals.clone(),
            policy_template_id: self.policy_template_id.clone(),
            key_material_origin: self.key_material_origin.unwrap_or(base.key_material_origin),
            ..base
        }
    }

    fn caller(&self) -> Caller {
        Caller::new(
            Principal {
                username: self.created_by.clone(),
                ..Principal::system()
            },
            self.request_id.clone(),
        )
    }
}

/// Removes the create tag from tags read from AWS: it is Keyward's bookkeeping, never part of
/// a record or an answer.
pub(crate) fn hide_create_tag(tags: &mut Vec<(String, String)>) {
    tags.retain(|(k, _)| k != CREATE_TAG);
}

/// What [`Keyward::reconcile_creates`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateRecovery {
    /// Records stored for keys AWS made.
    pub finished: u64,
    /// Keys scheduled for deletion (alias taken, upload-key's key, extra copies).
    pub abandoned: u64,
    /// Intents whose key AWS never made.
    pub closed: u64,
    /// Intents left for later (AWS could not be asked).
    pub pending: u64,
}

/// What became of one intent.
enum Outcome1 {
    Finished,
    Abandoned,
    NotInAws,
}

impl Keyward {
    /// The AWS keys of a target carrying the tag `tag`, with its value. ListKeys paged (1,000
    /// keys a page), then ListResourceTags of each key, `READ_CONCURRENCY` at a time (a key
    /// gone meanwhile is skipped).
    pub(crate) async fn find_tagged_keys(
        &self,
        t: &ConnectionTarget,
        tag: &str,
    ) -> CoreResult<Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.ports.keys.list_keys(t, marker.as_deref()).await?;
            // The page's keys' tags, a few keys at a time, in ListKeys' order.
            let tagged: Vec<Option<(String, String)>> =
                futures::stream::iter(page.key_ids.iter().cloned().map(|key_id| async move {
                    match self.ports.keys.key_tags(t, &key_id).await {
                        Ok(tags) => Ok(tags
                            .into_iter()
                            .find(|(k, _)| k == tag)
                            .map(|(_, v)| (key_id, v))),
                        Err(CoreError::Aws {
                            kind: AwsErrorKind::NotFound | AwsErrorKind::InvalidState,
                            ..
                        }) => Ok(None),
                        Err(e) => Err(e),
                    }
                }))
                .buffered(super::sync::READ_CONCURRENCY)
                .try_collect()
                .await?;
            found.extend(tagged.into_iter().flatten());
            match page.next_marker {
                Some(m) => marker = Some(m),
                None => return Ok(found),
            }
        }
    }

    /// Opens the journal entry of a create (before the AWS call) and returns the tag the new
    /// key must carry.
    pub(crate) async fn open_create(&self, intent: &CreateIntent) -> CoreResult<(String, String)> {
        self.ports.store.insert_create_intent(intent).await?;
        Ok((CREATE_TAG.to_string(), intent.id.clone()))
    }

    /// After an AWS call of a create failed: AWS refused, so it made nothing and the intent
    /// closes; or its answer was lost, and the intent stays open for recovery.
    pub(crate) async fn create_failed(&self, intent: &CreateIntent, e: &CoreError) {
        if answer_lost(e) {
            return;
        }
        if let Err(err) = self.ports.store.delete_create_intent(&intent.id).await {
            tracing::warn!(intent = %intent.id, error = %err, "could not close a create intent");
        }
    }

    /// Stores the record of a key just made and closes its intent, in one transaction. If a
    /// sync recorded the key first, that record keeps its id and takes what the create knows.
    /// Then the create tag is removed from the AWS key (a failure there only leaves the
    /// hidden tag).
    pub(crate) async fn finish_create(
        &self,
        intent: &CreateIntent,
        t: &ConnectionTarget,
        record: KeyRecord,
        draft: &crate::audit::AuditDraft,
    ) -> CoreResult<KeyRecord> {
        let store = &self.ports.store;
        let existing = store
            .find_key(&record.kms_id, &record.region, &record.aws.metadata.key_id)
            .await?;
        let record = match existing {
            Some(e) => {
                let merged = KeyRecord {
                    id: e.id,
                    created_at: e.created_at,
                    rotation_status: e.rotation_status,
                    rotated_from: e.rotated_from,
                    rotated_to: e.rotated_to,
                    rotated_at: e.rotated_at,
                    ..record
                };
                store
                    .finish_create(&merged, true, &intent.id, draft)
                    .await?;
                merged
            }
            None => {
                store
                    .finish_create(&record, false, &intent.id, draft)
                    .await?;
                record
            }
        };
        if let Err(e) = self
            .ports
            .keys
            .untag_key(t, &record.aws.metadata.key_id, &[CREATE_TAG.to_string()])
            .await
        {
            tracing::warn!(key = %record.id, error = %e, "could not remove the create tag (it stays hidden)");
        }
        Ok(record)
    }

    /// Schedules a key a create made but does not keep for deletion (7 days, AWS's least); a
    /// key pending deletion already is accepted.
    pub(crate) async fn delete_extra_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<()> {
        match self.ports.keys.schedule_key_deletion(t, key_id, 7).await {
            Ok(()) => Ok(()),
            Err(CoreError::Aws {
                kind: AwsErrorKind::InvalidState,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Finishes one open intent, given the keys found with its tag.
    async fn recover_create(
        &self,
        intent: &CreateIntent,
        ctx: &KeyContext,
        found: &[String],
    ) -> CoreResult<Outcome1> {
        let t = &ctx.target;
        let Some(key_id) = found.first() else {
            return Ok(Outcome1::NotInAws);
        };
        for extra in found.iter().skip(1) {
            tracing::warn!(intent = %intent.id, key_id = %extra, "a create made more than one key; scheduling the extra one for deletion");
            self.delete_extra_key(t, extra).await?;
        }
        let keys = &self.ports.keys;
        let caller = intent.caller();
        let mut abandon: Option<String> = None;
        if intent.purpose == CreatePurpose::Upload {
            abandon = Some("upload-key interrupted before its import".into());
        } else if let Some(a) = &intent.alias {
            let has = keys.key_aliases(t, key_id).await?;
            if !has.contains(a) {
                if keys.alias_exists(t, a).await? {
                    abandon = Some(format!("{a} was taken meanwhile"));
                } else {
                    keys.create_alias(t, a, key_id).await?;
                }
            }
        }
        if let Some(reason) = &abandon {
            self.delete_extra_key(t, key_id).await?;
            tracing::warn!(intent = %intent.id, key_id = %key_id, reason = %reason, "an interrupted create cannot be finished; its key is scheduled for deletion");
        }
        let view = self.read_back(t, key_id).await?;
        let record = intent.record(ctx, self.now(), view);
        let detail = match &abandon {
            None => format!("finished after an interruption {}", intent.detail)
                .trim_end()
                .to_string(),
            Some(r) => format!("interrupted create; key scheduled for deletion: {r}"),
        };
        let draft = self.draft(
            &caller,
            intent.audit_action(),
            &record.aws.metadata.arn,
            Outcome::Success,
            detail,
        );
        let record = self.finish_create(intent, t, record, &draft).await?;
        if abandon.is_some() {
            // A retry under the same Idempotency-Key runs afresh (and meets the taken alias).
            self.idempotency_settle(&intent.request_id, None).await;
            return Ok(Outcome1::Abandoned);
        }
        if let Some(primary_id) = &intent.primary_record_id
            && let Ok(Some(primary)) = self.ports.store.get_key(primary_id).await
            && let Ok(pctx) = self.record_context(&primary).await
        {
            self.reread_related(primary, &pctx.target).await;
        }
        self.idempotency_settle(
            &intent.request_id,
            serde_json::to_string(&record.to_wire())
                .ok()
                .map(|body| (201, body)),
        )
        .await;
        Ok(Outcome1::Finished)
    }

    /// Recovers open intents, grouped by where their keys are (one ListKeys per container and
    /// Region). `close_missing`: an intent whose key is not in AWS is closed (at start-up);
    /// otherwise it stays (the AWS call may still land).
    async fn recover_intents(
        &self,
        intents: Vec<CreateIntent>,
        close_missing: bool,
    ) -> CoreResult<CreateRecovery> {
        let mut out = CreateRecovery::default();
        let mut groups: BTreeMap<(String, String), Vec<CreateIntent>> = BTreeMap::new();
        for i in intents {
            groups
                .entry((i.kms_id.clone(), i.region.clone()))
                .or_default()
                .push(i);
        }
        for ((kms_id, region), intents) in groups {
            let Some(kms) = self.ports.store.get_kms(&kms_id).await? else {
                // The container was deleted: nothing of it can be recorded any more.
                for i in &intents {
                    self.ports.store.delete_create_intent(&i.id).await?;
                    self.idempotency_settle(&i.request_id, None).await;
                    out.closed += 1;
                }
                continue;
            };
            let ctx = self.key_context(kms, &region).await?;
            let tagged = match self.find_tagged_keys(&ctx.target, CREATE_TAG).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(kms = %kms_id, region = %region, error = %e, "cannot look for keys of interrupted creates yet");
                    out.pending += intents.len() as u64;
                    continue;
                }
            };
            for intent in intents {
                let mut found: Vec<String> = tagged
                    .iter()
                    .filter(|(_, v)| *v == intent.id)
                    .map(|(k, _)| k.clone())
                    .collect();
                if let (CreatePurpose::Replicate, Some(kid)) =
                    (intent.purpose, &intent.primary_key_id)
                {
                    match self.ports.keys.describe_key(&ctx.target, kid).await {
                        Ok(_) => found = vec![kid.clone()],
                        Err(CoreError::Aws {
                            kind: AwsErrorKind::NotFound,
                            ..
                        }) => found.clear(),
                        Err(e) => {
                            tracing::warn!(intent = %intent.id, error = %e, "cannot look for the replica of an interrupted replicate-key yet");
                            out.pending += 1;
                            continue;
                        }
                    }
                }
                match self.recover_create(&intent, &ctx, &found).await {
                    Ok(Outcome1::Finished) => out.finished += 1,
                    Ok(Outcome1::Abandoned) => out.abandoned += 1,
                    Ok(Outcome1::NotInAws) if close_missing => {
                        self.ports.store.delete_create_intent(&intent.id).await?;
                        self.idempotency_settle(&intent.request_id, None).await;
                        out.closed += 1;
                    }
                    Ok(Outcome1::NotInAws) => out.pending += 1,
                    Err(e @ CoreError::Aws { .. }) if !answer_lost(&e) => {
                        // AWS refused a step (the alias, the read-back): the key cannot be
                        // finished; it is scheduled for deletion and the intent closed.
                        tracing::warn!(intent = %intent.id, error = %e, "an interrupted create cannot be finished; scheduling its key for deletion");
                        let mut undone = true;
                        for k in &found {
                            if self.delete_extra_key(&ctx.target, k).await.is_err() {
                                undone = false;
                            }
                        }
                        if undone {
                            self.ports.store.delete_create_intent(&intent.id).await?;
                            self.idempotency_settle(&intent.request_id, None).await;
                            out.abandoned += 1;
                        } else {
                            out.pending += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(intent = %intent.id, error = %e, "cannot finish an interrupted create yet");
                        out.pending += 1;
                    }
                }
            }
        }
        Ok(out)
    }

    /// At start-up: finishes or closes every create a stop interrupted. (Like imports, this
    /// takes every open intent, including those of another live node sharing the store.)
    pub async fn reconcile_creates(&self) -> CoreResult<CreateRecovery> {
        let intents = self.ports.store.open_create_intents().await?;
        if intents.is_empty() {
            return Ok(CreateRecovery::default());
        }
        self.recover_intents(intents, true).await
    }

    /// After a create of this request lost AWS's answer: recovers its intents in the
    /// background, with backoff, until they are closed; after the last attempt one whose key
    /// is still not in AWS is closed (AWS would have answered long before).
    pub fn follow_up_create(self: &Arc<Self>, request_id: String) {
        let me = Arc::clone(self);
        self.ports.background.spawn(Box::pin(async move {
            let last = FOLLOW_UP_BACKOFF.len() - 1;
            for (attempt, secs) in FOLLOW_UP_BACKOFF.iter().enumerate() {
                me.ports.background.sleep(Duration::from_secs(*secs)).await;
                let intents: Vec<CreateIntent> = match me.ports.store.open_create_intents().await {
                    Ok(all) => all
                        .into_iter()
                        .filter(|i| i.request_id == request_id)
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the create journal");
                        continue;
                    }
                };
                if intents.is_empty() {
                    return;
                }
                match me.recover_intents(intents, attempt == last).await {
                    Ok(r) if r.pending == 0 => return,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not recover a create yet"),
                }
            }
        }));
    }

    /// After a key action whose AWS answer was lost (AWS may have carried it out): re-reads
    /// the key in the background, with backoff, storing what AWS shows, until the action's
    /// effect is visible or the attempts run out.
    pub fn follow_up_action(self: &Arc<Self>, record_id: String, action: KeyAction) {
        let me = Arc::clone(self);
        self.ports.background.spawn(Box::pin(async move {
            for secs in FOLLOW_UP_BACKOFF {
                me.ports.background.sleep(Duration::from_secs(*secs)).await;
                let Ok(Some(mut rec)) = me.ports.store.get_key(&record_id).await else {
                    return;
                };
                let Ok(ctx) = me.record_context(&rec).await else {
                    return;
                };
                let view = match me.read_back(&ctx.target, &rec.aws.metadata.key_id).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::debug!(key = %record_id, error = %e, "re-read after a timeout failed; trying again");
                        continue;
                    }
                };
                let done = action_visible(&action, &view);
                if view != rec.aws {
                    let now = me.now();
                    rec.aws = view;
                    rec.synced_at = now;
                    rec.updated_at = now;
                    let draft = me.draft(
                        &Caller::system(),
                        "key.refresh",
                        &rec.aws.metadata.arn,
                        Outcome::Success,
                        format!("re-read after an AWS timeout on {}", action.audit_name()),
                    );
                    if let Err(e) = me.ports.store.update_key(&rec, Some(&draft)).await {
                        tracing::warn!(key = %record_id, error = %e, "could not store a re-read key record");
                    }
                }
                if done {
                    return;
                }
            }
        }));
    }
}

/// Whether AWS's view of a key shows the action's effect (for actions whose effect cannot
/// be seen this way, never: the re-reads run out their attempts).
fn action_visible(action: &KeyAction, v: &AwsKeyView) -> bool {
    let state = v.metadata.key_state.as_str();
    match action {
        KeyAction::ScheduleDeletion(_) => state == "PendingDeletion",
        KeyAction::CancelDeletion => state != "PendingDeletion",
        KeyAction::Enable => state == "Enabled",
        KeyAction::Disable => state == "Disabled",
        KeyAction::UpdateDescription(d) => v.metadata.description == *d,
        KeyAction::AddTags(tags) => tags.iter().all(|t| v.tags.contains(t)),
        KeyAction::RemoveTags(keys) => !v.tags.iter().any(|(k, _)| keys.contains(k)),
        KeyAction::AddAlias(a) => {
            super::rules::alias("alias", a).is_ok_and(|full| v.aliases.contains(&full))
        }
        KeyAction::DeleteAlias(a) => {
            super::rules::alias("alias", a).is_ok_and(|full| !v.aliases.contains(&full))
        }
        KeyAction::EnableAutoRotation(_) => v.rotation.enabled,
        KeyAction::DisableAutoRotation => !v.rotation.enabled,
        KeyAction::Policy(..) | KeyAction::Refresh => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_tag_is_hidden() {
        let mut tags = vec![
            ("team".to_string(), "a".to_string()),
            (CREATE_TAG.to_string(), "x".to_string()),
        ];
        hide_create_tag(&mut tags);
        assert_eq!(tags, vec![("team".to_string(), "a".to_string())]);
    }

    #[test]
    fn an_action_is_visible_by_its_effect() {
        let mut v = AwsKeyView::default();
        v.metadata.key_state = "Enabled".into();
        assert!(!action_visible(&KeyAction::Disable, &v));
        v.metadata.key_state = "Disabled".into();
        assert!(action_visible(&KeyAction::Disable, &v));
        assert!(!action_visible(&KeyAction::Refresh, &v));
    }
}
