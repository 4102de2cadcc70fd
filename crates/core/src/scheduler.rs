//! Scheduler job configs (`/scheduler/job-configs`): a named cron schedule with the
//! parameters of a key rotation or an inventory synchronization. Keys are attached to a
//! rotation config with `enable-rotation-job` (see `keys::rotation_job`). The scheduler
//! (`runs::scheduler_tick`) fires each config at its cron times (`timing`) as a job run.

use chrono::{DateTime, Utc};
use keyward_api::scheduler as wire;
pub use keyward_api::scheduler::{JobConfigCreate, JobConfigUpdate, JobOperation};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditDraft, Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::keys::filter::{KeyFilter, parse_window};
use crate::paging::{ListQuery, Page};
use crate::service::Keyward;
use crate::service::{rfc3339, rfc3339_secs};

pub mod runs;
pub mod timing;

pub const SORTABLE: &[&str] = &["name", "createdAt", "updatedAt"];

fn aws() -> String {
    "aws".into()
}

fn any() -> String {
    "any".into()
}

/// `aws_param` of a rotation config (as stored in the config's JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRotationParams {
    #[serde(default)]
    pub retain_alias: bool,
    #[serde(default)]
    pub rotate_material: bool,
}

/// The parameters of a rotation config (as stored in the config's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationParams {
    #[serde(default = "aws")]
    pub cloud_name: String,
    /// Expiry of newly imported material ("30d", "12h"); None: it does not expire.
    #[serde(default)]
    pub expiration: Option<String>,
    /// Only keys whose material expires within this window are rotated.
    #[serde(default)]
    pub expire_in: Option<String>,
    /// Only keys whose material is at least this old are rotated (absent from the stored
    /// JSON when not set, so configs stored before it read and write the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_after: Option<String>,
    #[serde(default)]
    pub aws_param: AwsRotationParams,
}

impl Default for RotationParams {
    fn default() -> Self {
        Self {
            cloud_name: aws(),
            expiration: None,
            expire_in: None,
            rotation_after: None,
            aws_param: AwsRotationParams::default(),
        }
    }
}

impl From<wire::RotationParams> for RotationParams {
    fn from(w: wire::RotationParams) -> Self {
        Self {
            cloud_name: w.cloud_name,
            expiration: w.expiration,
            expire_in: w.expire_in,
            rotation_after: w.rotation_after,
            aws_param: AwsRotationParams {
                retain_alias: w.aws_param.retain_alias,
                rotate_material: w.aws_param.rotate_material,
            },
        }
    }
}

impl RotationParams {
    pub fn to_wire(&self) -> wire::RotationParams {
        wire::RotationParams {
            cloud_name: self.cloud_name.clone(),
            expiration: self.expiration.clone(),
            expire_in: self.expire_in.clone(),
            rotation_after: self.rotation_after.clone(),
            aws_param: wire::AwsRotationParams {
                retain_alias: self.aws_param.retain_alias,
                rotate_material: self.aws_param.rotate_material,
            },
        }
    }
}

impl Default for SyncParams {
    fn default() -> Self {
        Self {
            cloud_name: aws(),
            kms: vec![],
            synchronize_all: false,
        }
    }
}

/// The parameters of a synchronization config (as stored); `kms` holds container ids once
/// stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    #[serde(default = "aws")]
    pub cloud_name: String,
    #[serde(default)]
    pub kms: Vec<String>,
    #[serde(default)]
    pub synchronize_all: bool,
}

impl From<wire::SyncParams> for SyncParams {
    fn from(w: wire::SyncParams) -> Self {
        Self {
            cloud_name: w.cloud_name,
            kms: w.kms,
            synchronize_all: w.synchronize_all,
        }
    }
}

impl SyncParams {
    pub fn to_wire(&self) -> wire::SyncParams {
        wire::SyncParams {
            cloud_name: self.cloud_name.clone(),
            kms: self.kms.clone(),
            synchronize_all: self.synchronize_all,
        }
    }
}

/// A job config. The store keeps it as this type's JSON (`operation` is the wire word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConfig {
    pub id: String,
    pub name: String,
    pub description: String,
    pub operation: JobOperation,
    /// 5-field cron, UTC.
    pub run_at: String,
    #[serde(default = "any")]
    pub run_on: String,
    pub disabled: bool,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub rotation: Option<RotationParams>,
    pub sync: Option<SyncParams>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl JobConfig {
    pub fn uri(&self) -> String {
        format!("kylo:kylo:scheduler:job-configs:{}", self.id)
    }

    pub fn to_wire(&self) -> wire::JobConfig {
        wire::JobConfig {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                self.uri(),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            name: self.name.clone(),
            description: self.description.clone(),
            operation: self.operation,
            run_at: self.run_at.clone(),
            run_on: self.run_on.clone(),
            disabled: self.disabled,
            start_date: self.start_date.as_ref().map(rfc3339_secs),
            end_date: self.end_date.as_ref().map(rfc3339_secs),
            cckm_key_rotation_params: self.rotation.as_ref().map(RotationParams::to_wire),
            cckm_synchronization_params: self.sync.as_ref().map(SyncParams::to_wire),
            job_config_params: match self.operation {
                JobOperation::KeyRotation => self
                    .rotation
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r.to_wire()).ok()),
                JobOperation::Synchronization => self
                    .sync
                    .as_ref()
                    .and_then(|p| serde_json::to_value(p.to_wire()).ok()),
            },
        }
    }
}

/// An AWS key state in which the key only waits for AWS to delete it (what a `terraform
/// destroy` leaves): such a key no longer holds on to its job config or vault key.
pub(crate) fn scheduled_for_deletion(key_state: &str) -> bool {
    matches!(key_state, "PendingDeletion" | "PendingReplicaDeletion")
}

/// What `GET /scheduler/job-configs` is narrowed to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobConfigFilter {
    pub operation: Option<JobOperation>,
    pub name: Option<String>,
}

/// The operation a request names, or a 400 naming the field.
fn operation(v: &str) -> CoreResult<JobOperation> {
    JobOperation::parse(v).ok_or_else(|| {
        CoreError::invalid(format!(
            "operation: '{v}' is not one of {}",
            JobOperation::ALL.map(JobOperation::as_str).join(", ")
        ))
    })
}

/// Checks a 5-field cron expression (minute hour day-of-month month day-of-week), UTC.
pub fn cron(field: &str, v: &str) -> CoreResult<croner::Cron> {
    let fields = v.split_whitespace().count();
    if fields != 5 {
        return Err(CoreError::invalid(format!(
            "{field}: '{v}' is not a 5-field cron expression (minute hour day-of-month month day-of-week); it has {fields} field(s)"
        )));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(v)
        .map_err(|e| {
            CoreError::invalid(format!(
                "{field}: '{v}' is not a valid cron expression: {e}"
            ))
        })
}

/// A `run_at` for a stored config: a valid cron expression that matches some time after
/// `now` (one that never does, like `0 0 30 2 *`, would cost every scheduler tick a search
/// back to croner's year limit, for nothing).
pub fn schedule(field: &str, v: &str, now: DateTime<Utc>) -> CoreResult<croner::Cron> {
    let c = cron(field, v)?;
    if c.find_next_occurrence(&now, false).is_err() {
        return Err(CoreError::invalid(format!(
            "{field}: '{}' never matches a date (like February 30)",
            crate::validate::shown(v)
        )));
    }
    Ok(c)
}

fn date(field: &str, v: &str) -> CoreResult<DateTime<Utc>> {
    crate::validate::time(field, v)
}

fn cloud(field: &str, v: &str) -> CoreResult<()> {
    if v != "aws" {
        return Err(CoreError::invalid(format!(
            "{field}: '{v}' is not supported; only 'aws'"
        )));
    }
    Ok(())
}

impl Keyward {
    pub async fn find_job_config(&self, id_or_name: &str) -> CoreResult<Option<JobConfig>> {
        if let Some(c) = self.ports.store.get_job_config(id_or_name).await? {
            return Ok(Some(c));
        }
        self.ports.store.get_job_config_by_name(id_or_name).await
    }

    /// Checks a whole config (after a create or an update) and resolves its KMS containers
    /// to ids.
    async fn check_job_config(&self, c: &mut JobConfig) -> CoreResult<()> {
        crate::validate::lookup_name("name", &c.name)?;
        schedule("run_at", &c.run_at, self.now())?;
        if c.run_on != "any" {
            return Err(CoreError::invalid(format!(
                "run_on: '{}' is not supported; only 'any'",
                c.run_on
            )));
        }
        if c.description.chars().count() > 1024 {
            return Err(CoreError::invalid(
                "description: must be at most 1024 characters",
            ));
        }
        if let (Some(s), Some(e)) = (&c.start_date, &c.end_date)
            && e <= s
        {
            return Err(CoreError::invalid(format!(
                "end_date: {} is not after start_date {}",
                rfc3339_secs(e),
                rfc3339_secs(s)
            )));
        }
        match c.operation {
            JobOperation::KeyRotation => {
                if c.sync.is_some() {
                    return Err(CoreError::invalid(
                        "cckm_synchronization_params: not allowed for operation cckm_key_rotation (give cckm_key_rotation_params)",
                    ));
                }
                let r = c.rotation.get_or_insert_with(RotationParams::default);
                cloud("cckm_key_rotation_params.cloud_name", &r.cloud_name)?;
                // AWS takes imported material valid for at most 365 days.
                let year = chrono::Duration::days(crate::keys::import::MAX_VALIDITY_DAYS);
                if let Some(x) = &r.expiration {
                    let d = parse_window("cckm_key_rotation_params.expiration", x)?;
                    if d < chrono::Duration::hours(1) || d > year {
                        return Err(CoreError::invalid(format!(
                            "cckm_key_rotation_params.expiration: '{x}' must be from 1h to 365d (AWS keeps imported material at most 365 days)"
                        )));
                    }
                }
                if let Some(x) = &r.expire_in {
                    let d = parse_window("cckm_key_rotation_params.expire_in", x)?;
                    if d > year {
                        return Err(CoreError::invalid(format!(
                            "cckm_key_rotation_params.expire_in: '{x}' must be at most 365d"
                        )));
                    }
                }
                if let Some(x) = &r.rotation_after {
                    let d = parse_window("cckm_key_rotation_params.rotation_after", x)?;
                    if d > year * 10 {
                        return Err(CoreError::invalid(format!(
                            "cckm_key_rotation_params.rotation_after: '{x}' must be at most 3650d"
                        )));
                    }
                }
            }
            JobOperation::Synchronization => {
                if c.rotation.is_some() {
                    return Err(CoreError::invalid(
                        "cckm_key_rotation_params: not allowed for operation cckm_synchronization (give cckm_synchronization_params)",
                    ));
                }
                let s = c.sync.as_mut().ok_or_else(|| {
                    CoreError::invalid(
                        "cckm_synchronization_params: required for operation cckm_synchronization",
                    )
                })?;
                cloud("cckm_synchronization_params.cloud_name", &s.cloud_name)?;
                if s.synchronize_all && !s.kms.is_empty() {
                    return Err(CoreError::invalid(
                        "cckm_synchronization_params: give kms or synchronize_all, not both",
                    ));
                }
                if !s.synchronize_all && s.kms.is_empty() {
                    return Err(CoreError::invalid(
                        "cckm_synchronization_params.kms: give at least one KMS container (or synchronize_all)",
                    ));
                }
                let mut ids = Vec::with_capacity(s.kms.len());
                for k in &s.kms {
                    let kms = self.find_kms(k).await?.ok_or_else(|| {
                        CoreError::invalid(format!(
                            "cckm_synchronization_params.kms: no KMS container has the name or id '{k}'"
                        ))
                    })?;
                    if !ids.contains(&kms.id) {
                        ids.push(kms.id);
                    }
                }
                s.kms = ids;
            }
        }
        Ok(())
    }

    async fn job_config_name_free(&self, name: &str, own_id: Option<&str>) -> CoreResult<()> {
        match self.ports.store.get_job_config_by_name(name).await? {
            Some(other) if Some(other.id.as_str()) != own_id => Err(CoreError::conflict(format!(
                "a job config named '{name}' already exists"
            ))),
            _ => Ok(()),
        }
    }

    pub async fn create_job_config(
        &self,
        caller: &Caller,
        req: JobConfigCreate,
    ) -> CoreResult<JobConfig> {
        let target = req.name.clone();
        self.audited(caller, "job-config.create", &target, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let now = self.now();
            // Checked in the order they always were: the dates, the name, the operation.
            let start_date = req
                .start_date
                .as_deref()
                .map(|d| date("start_date", d))
                .transpose()?;
            let end_date = req
                .end_date
                .as_deref()
                .map(|d| date("end_date", d))
                .transpose()?;
            crate::validate::lookup_name("name", &req.name)?;
            let mut c = JobConfig {
                id: self.new_id()?,
                name: req.name,
                description: req.description.unwrap_or_default(),
                operation: operation(&req.operation)?,
                run_at: req.run_at,
                run_on: req.run_on.unwrap_or_else(any),
                disabled: req.disabled.unwrap_or(false),
                start_date,
                end_date,
                rotation: req.cckm_key_rotation_params.map(RotationParams::from),
                sync: req.cckm_synchronization_params.map(SyncParams::from),
                created_at: now,
                updated_at: now,
            };
            self.check_job_config(&mut c).await?;
            self.job_config_name_free(&c.name, None).await?;
            let draft = self.draft(caller, "job-config.create", &c.name, Outcome::Success, "");
            self.ports.store.insert_job_config(&c, &draft).await?;
            Ok(c)
        })
        .await
    }

    pub async fn get_job_config(&self, caller: &Caller, id: &str) -> CoreResult<JobConfig> {
        caller.principal.require(Permission::ReadCckm)?;
        self.find_job_config(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("job config {id} not found")))
    }

    pub async fn list_job_configs(
        &self,
        caller: &Caller,
        p: wire::JobConfigListParams,
    ) -> CoreResult<(ListQuery, Page<JobConfig>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse_parts(p.skip, p.limit, p.sort, SORTABLE)?;
        let filter = JobConfigFilter {
            operation: p.operation.as_deref().map(operation).transpose()?,
            name: p.name,
        };
        Ok((
            query.clone(),
            self.ports.store.list_job_configs(&filter, &query).await?,
        ))
    }

    pub async fn update_job_config(
        &self,
        caller: &Caller,
        id: &str,
        req: JobConfigUpdate,
    ) -> CoreResult<JobConfig> {
        self.audited(caller, "job-config.update", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut c = self
                .find_job_config(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("job config {id} not found")))?;
            if let Some(op) = &req.operation
                && op != c.operation.as_str()
            {
                return Err(CoreError::invalid(format!(
                    "operation: cannot change ({} to {op}); make a new job config",
                    c.operation
                )));
            }
            if let Some(n) = req.name {
                c.name = n;
            }
            if let Some(d) = req.description {
                c.description = d;
            }
            if let Some(r) = req.run_at {
                c.run_at = r;
            }
            if let Some(r) = req.run_on {
                c.run_on = r;
            }
            if let Some(d) = req.disabled {
                c.disabled = d;
            }
            if let Some(d) = &req.start_date {
                c.start_date = Some(date("start_date", d)?);
            }
            if let Some(d) = &req.end_date {
                c.end_date = Some(date("end_date", d)?);
            }
            if let Some(r) = req.cckm_key_rotation_params {
                c.rotation = Some(r.into());
            }
            if let Some(s) = req.cckm_synchronization_params {
                c.sync = Some(s.into());
            }
            self.check_job_config(&mut c).await?;
            self.job_config_name_free(&c.name, Some(&c.id)).await?;
            c.updated_at = self.now();
            let draft = self.draft(caller, "job-config.update", &c.name, Outcome::Success, "");
            self.ports.store.update_job_config(&c, &draft).await?;
            Ok(c)
        })
        .await
    }

    pub async fn delete_job_config(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "job-config.delete", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let c = self
                .find_job_config(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("job config {id} not found")))?;
            // Keys scheduled for deletion (what `terraform destroy` leaves before it deletes
            // the config) or gone from AWS are detached in the same transaction, so none is
            // left naming a config that no longer exists; a live key keeps it.
            let attached = self
                .ports
                .store
                .list_keys(
                    &KeyFilter {
                        job_config_id: Some(c.id.clone()),
                        ..Default::default()
                    },
                    &ListQuery::all(),
                )
                .await?
                .items;
            let (pending, live): (Vec<_>, Vec<_>) = attached
                .into_iter()
                .partition(|k| k.gone || scheduled_for_deletion(&k.aws.metadata.key_state));
            if !live.is_empty() {
                return Err(CoreError::conflict(format!(
                    "job config '{}' is attached to {} key(s) not scheduled for deletion; disable-rotation-job on them first",
                    c.name,
                    live.len()
                )));
            }
            let detached: Vec<(String, AuditDraft)> = pending
                .iter()
                .map(|k| {
                    (
                        k.id.clone(),
                        self.draft(
                            caller,
                            "key.disable-rotation-job",
                            &k.aws.metadata.arn,
                            Outcome::Success,
                            format!(
                                "{}: detached when job config '{}' was deleted (the key is {})",
                                c.id,
                                c.name,
                                if k.gone { "gone from AWS" } else { k.aws.metadata.key_state.as_str() }
                            ),
                        ),
                    )
                })
                .collect();
            let detail = if detached.is_empty() {
                String::new()
            } else {
                format!("detached from {} key(s) pending deletion", detached.len())
            };
            let draft = self.draft(caller, "job-config.delete", &c.name, Outcome::Success, detail);
            // The store refuses too (in its transaction) if a live key is attached meanwhile.
            self.ports
                .store
                .delete_job_config_detaching(&c.id, &detached, &draft)
                .await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_takes_five_fields_only() {
        assert!(cron("run_at", "0 9 * * sat").is_ok());
        assert!(cron("run_at", "*/5 0-23 1,15 JAN-DEC 0-6").is_ok());
        for bad in [
            "",
            "0 9 * *",
            "0 0 9 * * sat",
            "61 * * * *",
            "* 24 * * *",
            "nonsense",
            "@daily",
        ] {
            let e = cron("run_at", bad).unwrap_err().to_string();
            assert!(e.contains("run_at"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_schedule_that_never_matches_is_refused() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for never in ["0 0 30 2 *", "0 0 31 4 *"] {
            let e = schedule("run_at", never, now).unwrap_err().to_string();
            assert!(
                e.starts_with("run_at: ") && e.contains("never matches"),
                "{e}"
            );
        }
        assert!(schedule("run_at", "0 0 29 2 *", now).is_ok());
        assert!(schedule("run_at", "0 9 * * sat", now).is_ok());
    }

    #[test]
    fn dates_are_bounded() {
        assert!(date("start_date", "2027-01-01T00:00:00Z").is_ok());
        let e = date("end_date", "0000-01-01T00:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("end_date: "), "{e}");
    }

    mod props {
        use super::super::{DateTime, JobConfig, JobOperation, Utc, cron, date, schedule, timing};
        use proptest::prelude::*;

        fn field() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("*".to_string()),
                "[0-9]{1,3}",
                "[0-9]{1,2}-[0-9]{1,2}",
                "\\*/[0-9]{1,3}",
                "[0-9]{1,2}(,[0-9]{1,2}){0,3}",
                "(JAN|FEB|MON|SUN|L|W|#|\\?)[0-9A-Z#]{0,3}",
                any::<String>(),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any `run_at` gives a schedule or a 400 naming the field; a schedule that is
            /// taken answers `due_at` (the scheduler's question) without a panic.
            #[test]
            fn cron_never_panics(fields in proptest::collection::vec(field(), 0..7), raw in any::<String>()) {
                let _ = cron("run_at", &raw);
                let expr = fields.join(" ");
                let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z").unwrap().with_timezone(&Utc);
                match schedule("run_at", &expr, now) {
                    Ok(_) => {
                        let c = JobConfig {
                            id: "c".into(), name: "c".into(), description: String::new(),
                            operation: JobOperation::KeyRotation, run_at: expr.clone(),
                            run_on: "any".into(), disabled: false, start_date: None,
                            end_date: None, rotation: None, sync: None,
                            created_at: now, updated_at: now,
                        };
                        let at = timing::due_at(&c, now - chrono::Duration::days(400), now).unwrap();
                        if let Some(at) = at {
                            prop_assert!(at <= now);
                        }
                    }
                    Err(e) => prop_assert!(e.to_string().starts_with("run_at: "), "{e}"),
                }
            }

            #[test]
            fn dates_never_panic(v in any::<String>(), y in 0u32..=99999) {
                let _ = date("start_date", &v);
                let _ = date("start_date", &format!("{y:04}-02-29T23:59:60+23:59"));
            }
        }
    }
}
