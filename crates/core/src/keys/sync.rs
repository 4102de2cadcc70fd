//! Inventory synchronisation (spec 1.6): list every key in each Region of the chosen KMS
//! containers, read each one with bounded concurrency, upsert the records (keys made outside
//! Keyward appear), and mark keys AWS no longer has as `gone`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use keyward_api::sync as wire;
pub use keyward_api::sync::{StartSync, SyncJobParams, SyncStatus};

use super::record::KeyRecord;
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{AwsErrorKind, CoreError, CoreResult};
use crate::kms::KmsContainer;
use crate::paging::{ListQuery, Page};
use crate::ports::KeyPage;
use crate::service::{Keyward, rfc3339};

/// How many keys are read from AWS at once within one Region.
pub const READ_CONCURRENCY: usize = 8;
pub const SORTABLE: &[&str] = &["createdAt", "updatedAt"];

/// The words of a container's entry in `detailed_status` (besides `failed: <reason>` and
/// `aborted`).
pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

/// A synchronisation job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJob {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub overall_status: SyncStatus,
    /// Per KMS container name: `in_progress`, `completed`, `failed: <reason>` or `aborted`.
    pub detailed_status: BTreeMap<String, String>,
    /// Container ids.
    pub kms: Vec<String>,
    /// Regions asked for; empty means every Region of each container.
    pub regions: Vec<String>,
    pub synchronize_all: bool,
    pub abort: bool,
    pub created_by: String,
    pub keys_seen: i64,
    pub keys_added: i64,
    pub keys_gone: i64,
}

impl SyncJob {
    pub fn to_wire(&self) -> wire::SyncJob {
        wire::SyncJob {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                format!("kylo:kylo:cckm:synchronize:{}", self.id),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            completed_at: self.completed_at.as_ref().map(rfc3339),
            overall_status: self.overall_status,
            detailed_status: self.detailed_status.clone(),
            cloud: "aws".into(),
            kms: self.kms.clone(),
            regions: self.regions.clone(),
            synchronize_all: self.synchronize_all,
            abort: self.abort,
            keys_seen: self.keys_seen,
            keys_added: self.keys_added,
            keys_gone: self.keys_gone,
        }
    }
}

/// What one Region's pass found.
#[derive(Debug, Default)]
struct RegionTally {
    seen: i64,
    added: i64,
    gone: i64,
}

impl Keyward {
    /// Validates and records a job; the caller runs it with [`Keyward::run_sync_job`].
    pub async fn create_sync_job(&self, caller: &Caller, req: StartSync) -> CoreResult<SyncJob> {
        self.audited(caller, "sync.start", "synchronization-job", async move {
            caller.principal.require(Permission::ManageCckm)?;
            if let Some(c) = &req.cloud
                && c != "aws" {
                    return Err(CoreError::invalid(format!("cloud: '{c}' is not supported; use aws")));
                }
            if req.synchronize_all && (!req.kms.is_empty() || !req.regions.is_empty()) {
                return Err(CoreError::invalid(
                    "synchronize_all: mutually exclusive with kms and regions; give one or the other",
                ));
            }
            if !req.synchronize_all && req.kms.is_empty() {
                return Err(CoreError::invalid(
                    "kms: give at least one KMS container (name or id), or synchronize_all: true",
                ));
            }
            for r in &req.regions {
                crate::validate::aws_region("regions", r)?;
            }
            let containers: Vec<KmsContainer> = if req.synchronize_all {
                self.ports
                    .store
                    .list_kms(&ListQuery::all())
                    .await?
                    .items
            } else {
                let mut out = Vec::new();
                for k in &req.kms {
                    let c = self.find_kms(k).await?.ok_or_else(|| {
                        CoreError::invalid(format!("kms: no KMS container has the name or id '{k}'"))
                    })?;
                    for r in &req.regions {
                        if !c.regions.contains(r) {
                            return Err(CoreError::invalid(format!(
                                "regions: '{r}' is not a Region of KMS container '{}'",
                                c.name
                            )));
                        }
                    }
                    if !out.iter().any(|o: &KmsContainer| o.id == c.id) {
                        out.push(c);
                    }
                }
                out
            };
            if containers.is_empty() {
                return Err(CoreError::invalid("synchronize_all: there is no KMS container to synchronise"));
            }
            let now = self.now();
            let job = SyncJob {
                id: self.new_id()?,
                created_at: now,
                updated_at: now,
                completed_at: None,
                overall_status: SyncStatus::InProgress,
                detailed_status: containers.iter().map(|c| (c.name.clone(), IN_PROGRESS.to_string())).collect(),
                kms: containers.iter().map(|c| c.id.clone()).collect(),
                regions: req.regions.clone(),
                synchronize_all: req.synchronize_all,
                abort: false,
                created_by: caller.principal.username.clone(),
                keys_seen: 0,
                keys_added: 0,
                keys_gone: 0,
            };
            let draft = self.draft(caller, "sync.start", &job.id, Outcome::Success, format!("{} container(s)", job.kms.len()));
            self.ports.store.insert_sync_job(&job, &draft).await?;
            Ok(job)
        })
        .await
    }

    /// Starts a job and runs it in the background.
    pub async fn start_sync_job(
        self: &Arc<Self>,
        caller: &Caller,
        req: StartSync,
    ) -> CoreResult<SyncJob> {
        let job = self.create_sync_job(caller, req).await?;
        let me = Arc::clone(self);
        let id = job.id.clone();
        self.ports.background.spawn(Box::pin(async move {
            if let Err(e) = me.run_sync_job(&id).await {
                tracing::error!(job = %id, error = %e, "synchronization job failed");
            }
        }));
        Ok(job)
    }

    pub async fn get_sync_job(&self, caller: &Caller, id: &str) -> CoreResult<SyncJob> {
        caller.principal.require(Permission::ReadCckm)?;
        self.ports
            .store
            .get_sync_job(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("synchronization job {id} not found")))
    }

    pub async fn list_sync_jobs(
        &self,
        caller: &Caller,
        p: SyncJobParams,
    ) -> CoreResult<(ListQuery, Page<SyncJob>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse_parts(p.skip, p.limit, p.sort, SORTABLE)?;
        super::filter::one_of(
            "overall_status",
            p.overall_status.clone(),
            &SyncStatus::ALL.map(SyncStatus::as_str),
        )?;
        let kms_id = match &p.kms {
            Some(k) => Some(
                self.find_kms(k)
                    .await?
                    .map(|c| c.id)
                    .unwrap_or_else(|| k.clone()),
            ),
            None => None,
        };
        let page = self
            .ports
            .store
            .list_sync_jobs(
                p.id.as_deref(),
                p.overall_status.as_deref(),
                kms_id.as_deref(),
                &query,
            )
            .await?;
        Ok((query, page))
    }

    /// `POST .../{id}/cancel`: asks a running job to stop after the key it is reading.
    pub async fn cancel_sync_job(&self, caller: &Caller, id: &str) -> CoreResult<SyncJob> {
        self.audited(caller, "sync.cancel", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut job = self.ports.store.get_sync_job(id).await?.ok_or_else(|| {
                CoreError::not_found(format!("synchronization job {id} not found"))
            })?;
            if job.overall_status != SyncStatus::InProgress {
                return Err(CoreError::Unprocessable(format!(
                    "synchronization job {id} is {}; only a job in progress can be cancelled",
                    job.overall_status
                )));
            }
            job.abort = true;
            job.updated_at = self.now();
            let draft = self.draft(caller, "sync.cancel", id, Outcome::Success, "");
            self.ports.store.update_sync_job(&job, Some(&draft)).await?;
            Ok(job)
        })
        .await
    }

    /// Marks jobs a previous run of the server left in progress as failed (called at start).
    pub async fn fail_interrupted_sync_jobs(&self) -> CoreResult<u64> {
        let page = self
            .ports
            .store
            .list_sync_jobs(
                None,
                Some(SyncStatus::InProgress.as_str()),
                None,
                &ListQuery::all(),
            )
            .await?;
        let mut n = 0;
        for mut job in page.items {
            for status in job.detailed_status.values_mut() {
                if status == IN_PROGRESS {
                    *status = "failed: interrupted by a server restart".into();
                }
            }
            job.overall_status = SyncStatus::Failed;
            job.completed_at = Some(self.now());
            job.updated_at = self.now();
            self.ports.store.update_sync_job(&job, None).await?;
            n += 1;
        }
        Ok(n)
    }

    async fn sync_aborted(&self, id: &str) -> bool {
        matches!(self.ports.store.get_sync_job(id).await, Ok(Some(j)) if j.abort)
    }

    /// Runs a recorded job to its end.
    pub async fn run_sync_job(&self, id: &str) -> CoreResult<()> {
        let mut job =
            self.ports.store.get_sync_job(id).await?.ok_or_else(|| {
                CoreError::not_found(format!("synchronization job {id} not found"))
            })?;
        let mut any_failed = false;
        for kms_id in job.kms.clone() {
            let Some(kms) = self.ports.store.get_kms(&kms_id).await? else {
                // Its entry in detailed_status (by name) is marked after the loop.
                any_failed = true;
                continue;
            };
            let regions: Vec<String> = if job.regions.is_empty() {
                kms.regions.clone()
            } else {
                job.regions
                    .iter()
                    .filter(|r| kms.regions.contains(r))
                    .cloned()
                    .collect()
            };
            let mut status = COMPLETED.to_string();
            for region in &regions {
                if self.sync_aborted(id).await {
                    status = "aborted".into();
                    break;
                }
                match self.sync_region(id, &kms, region).await {
                    Ok(t) => {
                        job.keys_seen += t.seen;
                        job.keys_added += t.added;
                        job.keys_gone += t.gone;
                    }
                    Err(e) => {
                        any_failed = true;
                        status = format!("failed: {region}: {e}");
                        break;
                    }
                }
            }
            job.detailed_status.insert(kms.name.clone(), status);
            job.updated_at = self.now();
            let abort = self.sync_aborted(id).await;
            job.abort = abort;
            self.ports.store.update_sync_job(&job, None).await?;
        }
        // Every container still there got its status above: an entry still in progress is a
        // container deleted since the job started.
        for status in job.detailed_status.values_mut() {
            if status == IN_PROGRESS {
                *status = "failed: the KMS container was deleted".into();
            }
        }
        job.overall_status = if any_failed {
            SyncStatus::Failed
        } else {
            SyncStatus::Completed
        };
        job.abort = self.sync_aborted(id).await;
        job.completed_at = Some(self.now());
        job.updated_at = self.now();
        let caller = Caller::system();
        let draft = self.draft(
            &caller,
            "sync.finish",
            id,
            if any_failed {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            format!(
                "{} keys seen, {} added, {} gone",
                job.keys_seen, job.keys_added, job.keys_gone
            ),
        );
        self.ports.store.update_sync_job(&job, Some(&draft)).await?;
        Ok(())
    }

    /// One Region of a container. ListKeys is read a page (1,000 keys) at a time; the page's
    /// keys are read back with bounded concurrency (`READ_CONCURRENCY` keys, each one's five
    /// calls at once); the page's records are written in one transaction
    /// (`Store::upsert_synced_keys`, each new key audited `key.discover` inside it) while the
    /// next page is being read. Memory holds at most a few pages' records (one being written,
    /// one queued, one being read), however many keys the Region has.
    /// Then the records this pass did not touch (not synchronised since it started) are marked
    /// gone, unless the job was cancelled midway (not every key was seen).
    ///
    /// A crash (kill -9) between batches leaves every batch written so far whole (records and
    /// their audit records commit together) and nothing of the others; the job is failed at
    /// the next start (`fail_interrupted_sync_jobs`) and a new job finishes the work.
    async fn sync_region(
        &self,
        job_id: &str,
        kms: &KmsContainer,
        region: &str,
    ) -> CoreResult<RegionTally> {
        let ctx = self.key_context(kms.clone(), region).await?;
        let started = self.now();
        let target = &ctx.target;
        let keys = &self.ports.keys;
        let (mut batches, mut written) = futures::channel::mpsc::channel::<Vec<KeyRecord>>(1);
        let cloud_name = ctx.connection.cloud_name.clone();
        // Reads a ListKeys page, reads its keys back, hands the page's records to the writer,
        // and goes on with the next page while they are written.
        let reader = async move {
            let mut processed = 0usize;
            let mut marker: Option<String> = None;
            loop {
                let KeyPage {
                    key_ids,
                    next_marker,
                } = keys.list_keys(target, marker.as_deref()).await?;
                let mut batch = Vec::with_capacity(key_ids.len());
                let mut reads =
                    futures::stream::iter(key_ids.into_iter().map(|key_id| async move {
                        let view = self.read_back(target, &key_id).await;
                        (key_id, view)
                    }))
                    .buffer_unordered(READ_CONCURRENCY);
                let mut aborted = false;
                while let Some((key_id, view)) = reads.next().await {
                    processed += 1;
                    if processed.is_multiple_of(25) && self.sync_aborted(job_id).await {
                        aborted = true;
                        break;
                    }
                    let view = match view {
                        Ok(v) => v,
                        // Deleted between ListKeys and the reads: not touched, so marked gone.
                        Err(CoreError::Aws {
                            kind: AwsErrorKind::NotFound,
                            ..
                        }) => {
                            tracing::debug!(key_id = %key_id, "a listed key was gone when read");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if view.metadata.key_manager == "AWS" {
                        continue; // AWS managed keys are not Keyward's to manage.
                    }
                    let now = self.now();
                    batch.push(KeyRecord::new(
                        self.new_id()?,
                        kms,
                        region,
                        &cloud_name,
                        now,
                        view,
                    ));
                }
                drop(reads);
                // What was read is written, even when the job was cancelled midway.
                if !batch.is_empty() && batches.send(batch).await.is_err() {
                    // The writer stopped on an error, which try_join reports.
                    return Ok(aborted);
                }
                match next_marker {
                    Some(m) if !aborted => marker = Some(m),
                    _ => return Ok::<bool, CoreError>(aborted),
                }
            }
        };
        let writer = async {
            let mut tally = RegionTally::default();
            while let Some(batch) = written.next().await {
                let drafts = batch
                    .iter()
                    .map(|rec| {
                        self.draft(
                            &Caller::system(),
                            "key.discover",
                            &rec.aws.metadata.arn,
                            Outcome::Success,
                            format!("sync job {job_id}"),
                        )
                    })
                    .collect::<Vec<_>>();
                let added = self.ports.store.upsert_synced_keys(&batch, &drafts).await?;
                tally.seen += batch.len() as i64;
                tally.added += added as i64;
            }
            Ok::<RegionTally, CoreError>(tally)
        };
        let (aborted, mut tally) = futures::try_join!(reader, writer)?;
        if !aborted {
            // Records of keys AWS no longer lists in this Region: every record this pass did
            // not write (a record written meanwhile by a create or an action is as new).
            tally.gone = self
                .ports
                .store
                .mark_unsynced_gone(&kms.id, region, started, self.now())
                .await? as i64;
        }
        Ok(tally)
    }
}

impl KeyRecord {
    /// A stored record takes what a synchronisation read of its key: AWS's view, present
    /// again, synchronised now. Everything of Keyward's own (id, container, principals,
    /// template, material, rotation) stays as stored.
    pub fn absorb_sync(&mut self, fresh: &KeyRecord) {
        self.aws = fresh.aws.clone();
        self.gone = false;
        self.synced_at = fresh.synced_at;
        self.updated_at = fresh.updated_at;
    }
}
