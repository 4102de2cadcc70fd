//! `keyward scheduler`: job configs (a cron schedule for a key rotation or an inventory
//! synchronisation), running them by hand, and their runs.

use std::time::Duration;

use clap::{Args, Subcommand};
use keyward_api::ListEnvelope;
use keyward_api::list::PageParams;
use keyward_api::scheduler::{
    AwsRotationParams, JobConfig, JobConfigCreate, JobOperation, JobRun, JobRunParams,
    KeyResultStatus, RotationParams, RunStatus, SyncParams,
};

use super::all_pages;
use crate::client::Session;
use crate::output::{Cell, Output};

#[derive(Subcommand)]
pub enum SchedulerCommand {
    /// Job configs: a named cron schedule for a key rotation or an inventory synchronisation.
    #[command(subcommand)]
    Configs(ConfigsCommand),
    /// Job runs: what happened each time a config ran (on schedule or by hand).
    #[command(subcommand)]
    Runs(RunsCommand),
}

#[derive(Subcommand)]
pub enum ConfigsCommand {
    /// Create a job config.
    Create(Box<CreateArgs>),
    /// List job configs.
    List,
    /// Show one job config (id or name).
    Get {
        #[arg(value_name = "ID_OR_NAME")]
        config: String,
    },
    /// Delete a job config (id or name); refused while keys are attached to it.
    Delete {
        #[arg(value_name = "ID_OR_NAME")]
        config: String,
    },
    /// Run a job config now, whatever its schedule; shows the run.
    Run {
        #[arg(value_name = "ID_OR_NAME")]
        config: String,
        /// Follow the run to its end; exit non-zero if it failed or some keys failed.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
pub enum RunsCommand {
    /// List job runs, newest first.
    List {
        /// Only the runs of this job config (id or name).
        #[arg(long, value_name = "ID_OR_NAME")]
        config: Option<String>,
    },
    /// Show one job run and its per-key results.
    Get {
        #[arg(value_name = "RUN_ID")]
        id: String,
    },
}

#[derive(Args)]
pub struct CreateArgs {
    /// A unique name.
    #[arg(long)]
    name: String,
    /// rotation (cckm_key_rotation) or sync (cckm_synchronization).
    #[arg(long, value_parser = parse_operation, value_name = "rotation|sync")]
    operation: JobOperation,
    /// When it runs: a 5-field cron expression in UTC (minute hour day-of-month month
    /// day-of-week), e.g. "0 9 * * sat".
    #[arg(long, value_name = "CRON")]
    run_at: String,
    #[arg(long)]
    description: Option<String>,
    /// Create it disabled (it does not run on its schedule).
    #[arg(long)]
    disabled: bool,
    /// It runs from this time on (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    start_date: Option<String>,
    /// It runs until this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    end_date: Option<String>,
    /// Rotation: newly imported material expires after this long (30d or 12h).
    #[arg(long, value_name = "DURATION", help_heading = "Rotation")]
    expiration: Option<String>,
    /// Rotation: only keys whose material expires within this window are rotated (30d or 12h).
    #[arg(long, value_name = "DURATION", help_heading = "Rotation")]
    expire_in: Option<String>,
    /// Rotation: the old key keeps a timestamped alias (<alias>-rotated-<time>); its aliases
    /// move to the new key either way.
    #[arg(long, help_heading = "Rotation")]
    retain_alias: bool,
    /// Rotation: rotate the key material in place instead of making a new key.
    #[arg(long, help_heading = "Rotation")]
    rotate_material: bool,
    /// Sync: a KMS container to synchronise (name or id; repeat for several).
    #[arg(
        long = "kms",
        value_name = "NAME_OR_ID",
        conflicts_with = "synchronize_all",
        help_heading = "Synchronization"
    )]
    kms: Vec<String>,
    /// Sync: every KMS container.
    #[arg(long, help_heading = "Synchronization")]
    synchronize_all: bool,
}

/// `rotation`/`sync` or the full operation names.
fn parse_operation(v: &str) -> Result<JobOperation, String> {
    match v {
        "rotation" | "rotate" => Ok(JobOperation::KeyRotation),
        "sync" | "synchronization" => Ok(JobOperation::Synchronization),
        _ => JobOperation::parse(v).ok_or_else(|| {
            format!(
                "'{v}' is not an operation: give rotation ({}) or sync ({})",
                JobOperation::KeyRotation,
                JobOperation::Synchronization
            )
        }),
    }
}

impl CreateArgs {
    fn body(&self) -> Result<JobConfigCreate, String> {
        let mut body = JobConfigCreate {
            name: self.name.clone(),
            operation: self.operation.as_str().to_string(),
            run_at: self.run_at.clone(),
            disabled: Some(self.disabled),
            description: self.description.clone(),
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            ..JobConfigCreate::default()
        };
        let rotation_flags: Vec<&str> = [
            ("--expiration", self.expiration.is_some()),
            ("--expire-in", self.expire_in.is_some()),
            ("--retain-alias", self.retain_alias),
            ("--rotate-material", self.rotate_material),
        ]
        .into_iter()
        .filter_map(|(f, given)| given.then_some(f))
        .collect();
        let sync_flags: Vec<&str> = [
            ("--kms", !self.kms.is_empty()),
            ("--synchronize-all", self.synchronize_all),
        ]
        .into_iter()
        .filter_map(|(f, given)| given.then_some(f))
        .collect();
        match self.operation {
            JobOperation::KeyRotation => {
                if !sync_flags.is_empty() {
                    return Err(format!(
                        "{} only apply to a sync config, not to a rotation config",
                        sync_flags.join(", ")
                    ));
                }
                body.cckm_key_rotation_params = Some(RotationParams {
                    cloud_name: "aws".into(),
                    expiration: self.expiration.clone(),
                    expire_in: self.expire_in.clone(),
                    rotation_after: None,
                    aws_param: AwsRotationParams {
                        retain_alias: self.retain_alias,
                        rotate_material: self.rotate_material,
                    },
                });
            }
            JobOperation::Synchronization => {
                if !rotation_flags.is_empty() {
                    return Err(format!(
                        "{} only apply to a rotation config, not to a sync config",
                        rotation_flags.join(", ")
                    ));
                }
                if self.kms.is_empty() && !self.synchronize_all {
                    let msg = "a sync config needs --kms NAME_OR_ID (repeat for several) or --synchronize-all";
                    return Err(msg.to_string());
                }
                body.cckm_synchronization_params = Some(SyncParams {
                    cloud_name: "aws".into(),
                    kms: self.kms.clone(),
                    synchronize_all: self.synchronize_all,
                });
            }
        }
        Ok(body)
    }
}

/// `rotation` or `sync` for the two operations.
fn short_operation(op: JobOperation) -> String {
    match op {
        JobOperation::KeyRotation => "rotation".to_string(),
        JobOperation::Synchronization => "sync".to_string(),
    }
}

/// Prints one job config: its fields, or the whole JSON with --json.
fn show_config(out: &Output, c: &JobConfig) {
    let mut rows = vec![
        ("id", c.resource.id.cell()),
        ("name", c.name.cell()),
        ("description", c.description.cell()),
        ("operation", c.operation.to_string()),
        ("run_at", c.run_at.cell()),
        ("run_on", c.run_on.cell()),
        ("disabled", c.disabled.cell()),
        ("start_date", c.start_date.cell()),
        ("end_date", c.end_date.cell()),
    ];
    if let Some(r) = &c.cckm_key_rotation_params {
        rows.extend([
            ("expiration", r.expiration.cell()),
            ("expire_in", r.expire_in.cell()),
            ("retain_alias", r.aws_param.retain_alias.cell()),
            ("rotate_material", r.aws_param.rotate_material.cell()),
        ]);
    }
    if let Some(sp) = &c.cckm_synchronization_params {
        rows.extend([
            ("kms", sp.kms.cell()),
            ("synchronize_all", sp.synchronize_all.cell()),
        ]);
    }
    rows.extend([
        ("createdAt", c.resource.created_at.cell()),
        ("updatedAt", c.resource.updated_at.cell()),
    ]);
    out.fields(c, &rows);
}

/// The table of job configs.
fn show_configs(out: &Output, v: &ListEnvelope<JobConfig>) {
    out.list(v, &["ID", "NAME", "OPERATION", "RUN AT", "DISABLED"], |c| {
        vec![
            c.resource.id.cell(),
            c.name.cell(),
            short_operation(c.operation),
            c.run_at.cell(),
            c.disabled.cell(),
        ]
    });
}

/// `2 rotated, 1 failed` from a run's per-key results (`none` when there are none).
fn results_summary(run: &JobRun) -> String {
    if run.results.is_empty() {
        return "none".to_string();
    }
    [
        KeyResultStatus::Rotated,
        KeyResultStatus::Failed,
        KeyResultStatus::Skipped,
    ]
    .into_iter()
    .filter_map(|status| {
        let n = run.results.iter().filter(|r| r.status == status).count();
        (n > 0).then(|| format!("{n} {}", status.as_str()))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// The run's config: its name, or its id when the name is not known.
fn run_config(run: &JobRun) -> String {
    if run.job_config_name.is_empty() {
        run.job_config_id.clone()
    } else {
        run.job_config_name.clone()
    }
}

/// Prints one run: its fields and its per-key results, or the whole JSON with --json.
fn show_run(out: &Output, run: &JobRun) {
    let mut rows = vec![
        ("id", run.resource.id.cell()),
        (
            "config",
            format!("{} ({})", run_config(run), run.job_config_id),
        ),
        ("operation", run.operation.to_string()),
        ("trigger", run.trigger.as_str().to_string()),
    ];
    if let Some(t) = &run.scheduled_for {
        rows.push(("scheduled_for", t.clone()));
    }
    rows.extend([
        ("status", run.status.to_string()),
        ("started_at", run.started_at.cell()),
        ("finished_at", run.finished_at.cell()),
        ("message", run.message.cell()),
    ]);
    if let Some(j) = &run.sync_job_id {
        rows.push(("sync_job_id", j.clone()));
    }
    rows.push(("keys", results_summary(run)));
    out.fields(run, &rows);
    if out.json {
        return;
    }
    let results: Vec<Vec<String>> = run
        .results
        .iter()
        .map(|r| {
            vec![
                r.key_id.cell(),
                r.status.as_str().to_string(),
                r.new_key_id.cell(),
                r.message.cell(),
            ]
        })
        .collect();
    if !results.is_empty() {
        let total = i64::try_from(results.len()).unwrap_or(i64::MAX);
        out.rows(&["KEY", "STATUS", "NEW KEY", "MESSAGE"], &results, total);
    }
}

/// The table of runs.
fn show_runs(out: &Output, v: &ListEnvelope<JobRun>) {
    out.list(
        v,
        &[
            "ID", "CONFIG", "TRIGGER", "STATUS", "STARTED", "FINISHED", "KEYS",
        ],
        |r| {
            vec![
                r.resource.id.cell(),
                run_config(r),
                r.trigger.as_str().to_string(),
                r.status.to_string(),
                r.started_at.cell(),
                r.finished_at.cell(),
                results_summary(r),
            ]
        },
    );
}

/// An error naming the failed keys when the run failed or completed with errors.
fn verdict(run: &JobRun) -> Result<(), String> {
    match run.status {
        RunStatus::Running | RunStatus::Completed => return Ok(()),
        RunStatus::Failed | RunStatus::CompletedWithErrors => {}
    }
    let failed: Vec<String> = run
        .results
        .iter()
        .filter(|r| r.status == KeyResultStatus::Failed)
        .map(|r| {
            let key = if r.key_id.is_empty() {
                r.arn.clone()
            } else {
                r.key_id.clone()
            };
            if r.message.is_empty() {
                key
            } else {
                format!("{key} ({})", r.message)
            }
        })
        .collect();
    let mut msg = format!("job run {} {}", run.resource.id, run.status);
    if !run.message.is_empty() {
        msg.push_str(&format!(": {}", run.message));
    }
    if !failed.is_empty() {
        msg.push_str(&format!("; failed keys: {}", failed.join(", ")));
    }
    Err(msg)
}

/// Polls a run until it is no longer running, showing its progress.
async fn follow(s: &Session, out: &Output, mut run: JobRun) -> Result<JobRun, String> {
    let id = run.resource.id.clone();
    if id.is_empty() {
        let json = serde_json::to_string(&run).unwrap_or_default();
        return Err(format!("the server's job run has no id: {json}"));
    }
    let bar = out.spinner();
    while run.status == RunStatus::Running {
        bar.set_message(format!(
            "job run {id} running; keys: {}",
            results_summary(&run)
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        run = s.get_job_run(&id).await?;
    }
    bar.finish_and_clear();
    Ok(run)
}

pub async fn run(cmd: SchedulerCommand, out: &Output) -> Result<(), String> {
    if let SchedulerCommand::Configs(ConfigsCommand::Create(args)) = &cmd {
        // The flags are checked before logging in, so a mistake costs no request.
        let body = args.body()?;
        let s = Session::load().await?;
        return create_config(&s, out, &body).await;
    }
    let s = Session::load().await?;
    match cmd {
        SchedulerCommand::Configs(c) => match c {
            // Handled above, before logging in.
            ConfigsCommand::Create(_) => Ok(()),
            ConfigsCommand::List => list_configs(&s, out).await,
            ConfigsCommand::Get { config } => get_config(&s, out, &config).await,
            ConfigsCommand::Delete { config } => delete_config(&s, out, &config).await,
            ConfigsCommand::Run { config, wait } => run_config_now(&s, out, &config, wait).await,
        },
        SchedulerCommand::Runs(r) => match r {
            RunsCommand::List { config } => list_runs(&s, out, config).await,
            RunsCommand::Get { id } => get_run(&s, out, &id).await,
        },
    }
}

async fn create_config(s: &Session, out: &Output, body: &JobConfigCreate) -> Result<(), String> {
    show_config(out, &s.create_job_config(body).await?);
    Ok(())
}

async fn list_configs(s: &Session, out: &Output) -> Result<(), String> {
    let page = PageParams {
        sort: Some("name".into()),
        ..all_pages()
    };
    show_configs(out, &s.list_job_configs(&page).await?);
    Ok(())
}

async fn get_config(s: &Session, out: &Output, config: &str) -> Result<(), String> {
    show_config(out, &s.get_job_config(config).await?);
    Ok(())
}

async fn delete_config(s: &Session, out: &Output, config: &str) -> Result<(), String> {
    s.delete_job_config(config).await?;
    out.done(&format!("job config {config} deleted"));
    Ok(())
}

async fn run_config_now(s: &Session, out: &Output, config: &str, wait: bool) -> Result<(), String> {
    let id = s.get_job_config(config).await?.resource.id;
    let mut run = s.run_job_config(&id).await?;
    if wait {
        run = follow(s, out, run).await?;
    }
    show_run(out, &run);
    if wait {
        verdict(&run)?;
    }
    Ok(())
}

async fn list_runs(s: &Session, out: &Output, config: Option<String>) -> Result<(), String> {
    let mut params = JobRunParams {
        limit: Some(-1),
        sort: Some("-createdAt".into()),
        ..JobRunParams::default()
    };
    if let Some(config) = config {
        // A name becomes its config's id; a deleted config's runs are still listed by the id
        // given.
        let id = match s.get_job_config(&config).await {
            Ok(c) => c.resource.id,
            Err(_) => config,
        };
        params.job_config_id = Some(id);
    }
    show_runs(out, &s.list_job_runs(&params).await?);
    Ok(())
}

async fn get_run(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    show_run(out, &s.get_job_run(id).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A run from the fields given, the others (and each result's others) filled in.
    fn run_of(v: serde_json::Value) -> JobRun {
        let mut run = json!({
            "id": "r0", "uri": "", "account": "", "application": "", "devAccount": "",
            "createdAt": "", "updatedAt": "", "job_config_id": "c1", "job_config_name": "",
            "operation": "cckm_key_rotation", "trigger": "manual", "status": "completed",
            "started_at": "", "message": "", "created_by": "admin", "results": [],
        });
        for (k, val) in v.as_object().unwrap() {
            run[k] = val.clone();
        }
        for r in run["results"].as_array_mut().unwrap() {
            let mut full = json!({
                "key_id": "", "arn": "", "status": "rotated", "new_key_id": null,
                "new_arn": null, "message": "",
            });
            for (k, val) in r.as_object().unwrap() {
                full[k] = val.clone();
            }
            *r = full;
        }
        serde_json::from_value(run).unwrap()
    }

    #[test]
    fn operations_have_short_and_full_names() {
        let (rotation, sync) = (JobOperation::KeyRotation, JobOperation::Synchronization);
        assert_eq!(parse_operation("rotation"), Ok(rotation));
        assert_eq!(parse_operation("cckm_key_rotation"), Ok(rotation));
        assert_eq!(parse_operation("sync"), Ok(sync));
        assert_eq!(parse_operation("cckm_synchronization"), Ok(sync));
        assert!(parse_operation("backup").is_err());
    }

    #[test]
    fn results_are_summarised_in_a_fixed_order() {
        let run = run_of(json!({"results": [
            {"status": "failed"}, {"status": "rotated"}, {"status": "skipped"}, {"status": "rotated"}
        ]}));
        assert_eq!(results_summary(&run), "2 rotated, 1 failed, 1 skipped");
        assert_eq!(results_summary(&run_of(json!({"results": []}))), "none");
    }

    #[test]
    fn a_failed_run_names_its_failed_keys() {
        let run = run_of(
            json!({"id": "r1", "status": "completed_with_errors", "message": "", "results": [
                {"key_id": "k1", "status": "rotated", "message": ""},
                {"key_id": "k2", "status": "failed", "message": "AccessDenied"},
                {"key_id": "", "arn": "arn:aws:kms:x", "status": "failed", "message": ""},
            ]}),
        );
        let err = verdict(&run).unwrap_err();
        assert!(err.contains("completed_with_errors"), "{err}");
        assert!(err.contains("k2 (AccessDenied)"), "{err}");
        assert!(err.contains("arn:aws:kms:x"), "{err}");
        assert!(!err.contains("k1"), "{err}");
        assert!(verdict(&run_of(json!({"status": "completed"}))).is_ok());
    }
}
