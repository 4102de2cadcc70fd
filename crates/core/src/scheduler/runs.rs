//! Job runs: one execution of a job config, started by the scheduler at a cron time or by
//! `POST /scheduler/job-configs/{id}/run`. A rotation run rotates each attached key on its
//! own (one key's failure is recorded and the others go on); a synchronization run runs an
//! inventory sync job.
//!
//! Several nodes may share the store: a scheduled run is claimed by inserting it (its config
//! and scheduled time are unique), and the claiming node holds a lease it renews after each
//! key. A run whose lease expired (its node stopped) is taken over by the next node's tick and
//! goes on with the keys it had not done.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_api::scheduler as wire;
pub use keyward_api::scheduler::{JobRunParams, KeyResultStatus, RunStatus, RunTrigger};
use keyward_api::sync::{StartSync, SyncStatus};
use serde::{Deserialize, Serialize};

use super::{JobConfig, JobOperation, timing};
use crate::audit::{Caller, Outcome};
use crate::authz::{Permission, Principal};
use crate::error::{CoreError, CoreResult};
use crate::keys::KeyFilter;
use crate::keys::filter::parse_window;
use crate::keys::rotate::{COMPLETED, DenyEncrypt, RotationPlan};
use crate::paging::{ListQuery, Page};
use crate::service::Keyward;
use crate::service::rfc3339;

pub const SORTABLE: &[&str] = &["createdAt", "updatedAt"];

/// What a run did with one key (stored in the run's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyResult {
    pub key_id: String,
    pub arn: String,
    pub status: KeyResultStatus,
    #[serde(default)]
    pub new_key_id: Option<String>,
    #[serde(default)]
    pub new_arn: Option<String>,
    #[serde(default)]
    pub message: String,
}

impl KeyResult {
    pub fn to_wire(&self) -> wire::KeyResult {
        wire::KeyResult {
            key_id: self.key_id.clone(),
            arn: self.arn.clone(),
            status: self.status,
            new_key_id: self.new_key_id.clone(),
            new_arn: self.new_arn.clone(),
            message: self.message.clone(),
        }
    }
}

/// A job run. The store keeps it as this type's JSON (the status words are the wire's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRun {
    pub id: String,
    pub job_config_id: String,
    pub job_config_name: String,
    pub operation: JobOperation,
    pub trigger: RunTrigger,
    /// The cron time a scheduled run is for (none for a manual run).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub sync_job_id: Option<String>,
    /// The keys a rotation run rotates (fixed when it starts; record ids).
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    #[serde(default)]
    pub results: Vec<KeyResult>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobRun {
    pub fn uri(&self) -> String {
        format!("kylo:kylo:scheduler:job-runs:{}", self.id)
    }

    pub fn to_wire(&self) -> wire::JobRun {
        wire::JobRun {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                self.uri(),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            job_config_id: self.job_config_id.clone(),
            job_config_name: self.job_config_name.clone(),
            operation: self.operation,
            trigger: self.trigger,
            status: self.status,
            started_at: rfc3339(&self.started_at),
            message: self.message.clone(),
            created_by: self.created_by.clone(),
            results: self.results.iter().map(KeyResult::to_wire).collect(),
            scheduled_for: self.scheduled_for.as_ref().map(rfc3339),
            finished_at: self.finished_at.as_ref().map(rfc3339),
            sync_job_id: self.sync_job_id.clone(),
        }
    }
}

fn scheduler_caller(run_id: &str) -> Caller {
    Caller::new(Principal::system(), format!("job-run:{run_id}"))
}

impl Keyward {
    fn new_run(
        &self,
        config: &JobConfig,
        trigger: RunTrigger,
        scheduled_for: Option<DateTime<Utc>>,
        created_by: &str,
    ) -> CoreResult<JobRun> {
        let now = self.now();
        Ok(JobRun {
            id: self.new_id()?,
            job_config_id: config.id.clone(),
            job_config_name: config.name.clone(),
            operation: config.operation,
            trigger,
            scheduled_for,
            status: RunStatus::Running,
            started_at: now,
            finished_at: None,
            message: String::new(),
            sync_job_id: None,
            targets: None,
            results: vec![],
            created_by: created_by.into(),
            created_at: now,
            updated_at: now,
        })
    }

    /// `POST /scheduler/job-configs/{id}/run`: starts a run now (in the background).
    pub async fn start_job_run(
        self: &Arc<Self>,
        caller: &Caller,
        config_id: &str,
    ) -> CoreResult<JobRun> {
        let run = self
            .audited(caller, "job-run.start", config_id, async {
                caller.principal.require(Permission::ManageCckm)?;
                let config = self.find_job_config(config_id).await?.ok_or_else(|| {
                    CoreError::not_found(format!("job config {config_id} not found"))
                })?;
                let run = self.new_run(
                    &config,
                    RunTrigger::Manual,
                    None,
                    &caller.principal.username,
                )?;
                let draft = self.draft(
                    caller,
                    "job-run.start",
                    &config.name,
                    Outcome::Success,
                    format!("run {}", run.id),
                );
                self.ports
                    .store
                    .claim_job_run(&run, &self.lease(), &draft)
                    .await?;
                Ok(run)
            })
            .await?;
        self.spawn_job_run(run.id.clone());
        Ok(run)
    }

    fn spawn_job_run(self: &Arc<Self>, id: String) {
        let me = Arc::clone(self);
        self.ports.background.spawn(Box::pin(async move {
            if let Err(e) = me.execute_job_run(&id).await {
                tracing::error!(run = %id, error = %e, "job run failed");
            }
        }));
    }

    pub async fn get_job_run(&self, caller: &Caller, id: &str) -> CoreResult<JobRun> {
        caller.principal.require(Permission::ReadCckm)?;
        self.ports
            .store
            .get_job_run(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("job run {id} not found")))
    }

    pub async fn list_job_runs(
        &self,
        caller: &Caller,
        p: JobRunParams,
    ) -> CoreResult<(ListQuery, Page<JobRun>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse_parts(p.skip, p.limit, p.sort, SORTABLE)?;
        crate::keys::filter::one_of(
            "status",
            p.status.clone(),
            &RunStatus::ALL.map(RunStatus::as_str),
        )?;
        let config_id = match &p.job_config_id {
            Some(c) => Some(
                self.find_job_config(c)
                    .await?
                    .map(|c| c.id)
                    .unwrap_or_else(|| c.clone()),
            ),
            None => None,
        };
        let page = self
            .ports
            .store
            .list_job_runs(config_id.as_deref(), p.status.as_deref(), &query)
            .await?;
        Ok((query, page))
    }

    /// Saves a run's progress; an error if another node took it over.
    async fn save_run(&self, run: &mut JobRun) -> CoreResult<()> {
        self.save_run_audited(run, None).await
    }

    async fn save_run_audited(
        &self,
        run: &mut JobRun,
        audit: Option<&crate::audit::AuditDraft>,
    ) -> CoreResult<()> {
        run.updated_at = self.now();
        if !self
            .ports
            .store
            .update_job_run(run, &self.lease(), audit)
            .await?
        {
            return Err(CoreError::conflict(format!(
                "job run {} was taken over by another node",
                run.id
            )));
        }
        Ok(())
    }

    /// Runs (or, after a takeover, resumes) a run this node holds, to its end.
    pub async fn execute_job_run(&self, id: &str) -> CoreResult<JobRun> {
        let _busy = self
            .work_on(id)
            .ok_or_else(|| CoreError::conflict(format!("job run {id} is running here already")))?;
        let mut run = self
            .ports
            .store
            .get_job_run(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("job run {id} not found")))?;
        let config = match self.ports.store.get_job_config(&run.job_config_id).await? {
            Some(c) => c,
            None => {
                run.message = "its job config was deleted".into();
                return self.end_run(run, RunStatus::Failed).await;
            }
        };
        match config.operation {
            JobOperation::KeyRotation => self.execute_rotation_run(run, &config).await,
            JobOperation::Synchronization => self.execute_sync_run(run, &config).await,
        }
    }

    async fn end_run(&self, mut run: JobRun, status: RunStatus) -> CoreResult<JobRun> {
        run.status = status;
        run.finished_at = Some(self.now());
        let outcome = match status {
            RunStatus::Completed => Outcome::Success,
            RunStatus::Running | RunStatus::CompletedWithErrors | RunStatus::Failed => {
                Outcome::Failure
            }
        };
        let draft = self.draft(
            &scheduler_caller(&run.id),
            "job-run.finish",
            &run.job_config_name,
            outcome,
            format!("run {}: {status}; {}", run.id, run.message),
        );
        self.save_run_audited(&mut run, Some(&draft)).await?;
        tracing::info!(run = %run.id, config = %run.job_config_name, status = status.as_str(), "job run finished");
        Ok(run)
    }

    async fn execute_sync_run(&self, mut run: JobRun, config: &JobConfig) -> CoreResult<JobRun> {
        if run.sync_job_id.is_some() {
            // Taken over from a stopped node: its sync job was failed at that node's restart.
            run.message = "interrupted by a server stop".into();
            return self.end_run(run, RunStatus::Failed).await;
        }
        let params = config.sync.clone().unwrap_or_default();
        let caller = scheduler_caller(&run.id);
        let job = match self
            .create_sync_job(
                &caller,
                StartSync {
                    kms: params.kms.clone(),
                    regions: vec![],
                    synchronize_all: params.synchronize_all,
                    cloud: Some(params.cloud_name.clone()),
                },
            )
            .await
        {
            Ok(j) => j,
            Err(e) => {
                run.message = e.to_string();
                return self.end_run(run, RunStatus::Failed).await;
            }
        };
        run.sync_job_id = Some(job.id.clone());
        self.save_run(&mut run).await?;
        let outcome = self.run_sync_job(&job.id).await;
        let job = self.ports.store.get_sync_job(&job.id).await?;
        let status = match (&outcome, job.as_ref().map(|j| j.overall_status)) {
            (Ok(()), Some(SyncStatus::Completed)) => RunStatus::Completed,
            (Ok(()), Some(SyncStatus::InProgress | SyncStatus::Failed) | None) | (Err(_), _) => {
                RunStatus::Failed
            }
        };
        run.message = match (outcome, job) {
            (Err(e), _) => e.to_string(),
            (Ok(()), Some(j)) => format!(
                "synchronization job {}: {} ({} keys seen, {} added, {} gone)",
                j.id, j.overall_status, j.keys_seen, j.keys_added, j.keys_gone
            ),
            (Ok(()), None) => "the synchronization job disappeared".into(),
        };
        self.end_run(run, status).await
    }

    async fn execute_rotation_run(
        &self,
        mut run: JobRun,
        config: &JobConfig,
    ) -> CoreResult<JobRun> {
        if run.targets.is_none() {
            let filter = KeyFilter {
                job_config_id: Some(config.id.clone()),
                gone: Some(false),
                ..Default::default()
            };
            let all = ListQuery::all();
            let keys = self.ports.store.list_keys(&filter, &all).await?.items;
            run.targets = Some(
                keys.into_iter()
                    .filter(|k| k.rotated_to.is_none())
                    .map(|k| k.id)
                    .collect(),
            );
            self.save_run(&mut run).await?;
        }
        let targets = run.targets.clone().unwrap_or_default();
        for key_id in targets {
            if run.results.iter().any(|r| r.key_id == key_id) {
                continue;
            }
            let result = self.rotate_for_run(&run, config, &key_id).await?;
            run.results.push(result);
            self.save_run(&mut run).await?;
        }
        let failed = run
            .results
            .iter()
            .filter(|r| r.status == KeyResultStatus::Failed)
            .count();
        let rotated = run
            .results
            .iter()
            .filter(|r| r.status == KeyResultStatus::Rotated)
            .count();
        let skipped = run.results.len() - failed - rotated;
        run.message = format!("{rotated} rotated, {failed} failed, {skipped} skipped");
        let status = if failed == 0 {
            RunStatus::Completed
        } else if rotated > 0 || skipped > 0 {
            RunStatus::CompletedWithErrors
        } else {
            RunStatus::Failed
        };
        self.end_run(run, status).await
    }

    /// Rotates one key of a rotation run; the key's failure is its result, not the run's.
    async fn rotate_for_run(
        &self,
        run: &JobRun,
        config: &JobConfig,
        key_id: &str,
    ) -> CoreResult<KeyResult> {
        let mut result = KeyResult {
            key_id: key_id.into(),
            arn: String::new(),
            status: KeyResultStatus::Skipped,
            new_key_id: None,
            new_arn: None,
            message: String::new(),
        };
        let Some(key) = self.ports.store.get_key(key_id).await? else {
            result.message = "the key's record was deleted".into();
            return Ok(result);
        };
        result.arn = key.aws.metadata.arn.clone();
        if let Some(to) = &key.rotated_to {
            // Rotated by this run before a takeover, or by someone else meanwhile.
            let mine = self
                .ports
                .store
                .list_rotations(key_id, &ListQuery::all())
                .await?
                .items
                .into_iter()
                .find(|r| r.job_run_id.as_deref() == Some(&run.id) && r.status == COMPLETED);
            if let Some(r) = mine {
                result.status = KeyResultStatus::Rotated;
                result.new_key_id = r.new_key_record_id;
                result.new_arn = r.new_arn;
            } else {
                result.message = format!("rotated already, to key {to}");
            }
            return Ok(result);
        }
        if key.gone || key.job_config_id.as_deref() != Some(config.id.as_str()) {
            result.message = "no longer attached to this job".into();
            return Ok(result);
        }
        let params = config.rotation.clone().unwrap_or_default();
        let m = &key.aws.metadata;
        // expire_in and rotation_after narrow the run to some keys; with both, a key that
        // meets either one is rotated.
        let expiring = match &params.expire_in {
            None => None,
            Some(window) => {
                let field = "cckm_key_rotation_params.expire_in";
                let by = crate::validate::add(field, self.now(), parse_window(field, window)?)?;
                let expires = m
                    .valid_to
                    .or_else(|| key.material.as_ref().and_then(|b| b.valid_to));
                Some(expires.is_some_and(|at| at <= by))
            }
        };
        let old_enough = match &params.rotation_after {
            None => None,
            Some(age) => {
                let field = "cckm_key_rotation_params.rotation_after";
                let made = key
                    .material
                    .as_ref()
                    .and_then(|b| b.imported_at)
                    .or(m.creation_date)
                    .unwrap_or(key.created_at);
                let due = crate::validate::add(field, made, parse_window(field, age)?)?;
                Some(due <= self.now())
            }
        };
        if !matches!((expiring, old_enough), (None, None))
            && expiring != Some(true)
            && old_enough != Some(true)
        {
            let mut why = Vec::new();
            if let Some(w) = &params.expire_in {
                why.push(format!("its material does not expire within {w}"));
            }
            if let Some(a) = &params.rotation_after {
                why.push(format!("its material is not {a} old yet"));
            }
            result.message = why.join(", and ");
            return Ok(result);
        }
        let caller = scheduler_caller(&run.id);
        let outcome = if params.aws_param.rotate_material
            && m.origin == "AWS_KMS"
            && m.key_spec == "SYMMETRIC_DEFAULT"
        {
            self.rotate_material_recorded(&caller, key_id, Some(run.id.clone()))
                .await
        } else {
            let settings = key.rotation_job.clone().unwrap_or_default();
            let byok = m.origin == "EXTERNAL";
            let valid_to = match (&params.expiration, byok) {
                (Some(e), true) => {
                    let field = "cckm_key_rotation_params.expiration";
                    Some(crate::validate::add(
                        field,
                        self.now(),
                        parse_window(field, e)?,
                    )?)
                }
                _ => None,
            };
            let encrypting = m.key_usage == "ENCRYPT_DECRYPT";
            let plan = RotationPlan {
                source_key_tier: (byok && !settings.auto_rotate_key_source.is_empty())
                    .then(|| settings.auto_rotate_key_source.clone()),
                source_key_id: None,
                valid_to,
                description: None,
                retain_alias: params.aws_param.retain_alias,
                disable_encrypt: if encrypting {
                    DenyEncrypt::from_flags(
                        "auto_rotate_",
                        settings.auto_rotate_disable_encrypt,
                        settings.auto_rotate_disable_encrypt_on_all_accounts,
                    )?
                } else {
                    None
                },
                job_run_id: Some(run.id.clone()),
            };
            self.rotate_with(&caller, key_id, plan).await
        };
        match outcome {
            Ok(new) => {
                result.status = KeyResultStatus::Rotated;
                if new.id != key_id {
                    result.new_key_id = Some(new.id.clone());
                    result.new_arn = Some(new.aws.metadata.arn.clone());
                } else {
                    result.message = "material rotated in place (RotateKeyOnDemand)".into();
                }
            }
            Err(e) => {
                result.status = KeyResultStatus::Failed;
                result.message = match e {
                    CoreError::Internal(_) => "internal error (see the server log)".into(),
                    other => other.to_string(),
                };
            }
        }
        Ok(result)
    }

    /// One pass of the scheduler: claims the runs that are due, takes over runs and rotations
    /// whose node stopped, and returns the ids of the runs this node now holds (to execute).
    pub async fn scheduler_tick(&self) -> CoreResult<Vec<String>> {
        let now = self.now();
        let mut mine = Vec::new();
        match self.reconcile_rotations().await {
            Ok((0, 0)) => {}
            Ok((done, failed)) => {
                tracing::warn!(done, failed, "took over interrupted rotations")
            }
            Err(e) => tracing::error!(error = %e, "could not take over interrupted rotations"),
        }
        let configs = self
            .ports
            .store
            .list_job_configs(&Default::default(), &ListQuery::all())
            .await?
            .items;
        for config in configs {
            let last = self.ports.store.last_scheduled_run(&config.id).await?;
            let fired_after = [Some(config.created_at), Some(config.updated_at), last]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(now);
            let Some(at) = timing::due_at(&config, fired_after, now)? else {
                continue;
            };
            let run = self.new_run(&config, RunTrigger::Schedule, Some(at), "scheduler")?;
            let draft = self.draft(
                &scheduler_caller(&run.id),
                "job-run.start",
                &config.name,
                Outcome::Success,
                format!("run {} scheduled for {}", run.id, rfc3339(&at)),
            );
            if self
                .ports
                .store
                .claim_job_run(&run, &self.lease(), &draft)
                .await?
            {
                tracing::info!(run = %run.id, config = %config.name, scheduled_for = %at, "job run started");
                mine.push(run.id);
            }
        }
        for run in self.ports.store.stale_job_runs(now).await? {
            if self.is_busy(&run.id) {
                // Running here: its lease ran out while a step was slow; renewed at the next.
                continue;
            }
            if self
                .ports
                .store
                .take_job_run(&run.id, &self.lease(), now)
                .await?
            {
                tracing::warn!(run = %run.id, config = %run.job_config_name, "took over a job run whose node stopped");
                mine.push(run.id);
            }
        }
        Ok(mine)
    }

    /// A scheduler pass whose runs are executed in the background.
    pub async fn scheduler_tick_and_run(self: &Arc<Self>) -> CoreResult<usize> {
        let ids = self.scheduler_tick().await?;
        let n = ids.len();
        for id in ids {
            self.spawn_job_run(id);
        }
        Ok(n)
    }
}
