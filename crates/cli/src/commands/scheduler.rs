//! `keyward scheduler`: job configs (a cron schedule for a key rotation or an inventory
//! synchronisation), running them by hand, and their runs.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::keys::text;
use super::segment;
use crate::client::Session;
use crate::output::Output;

const CONFIGS: &str = "/scheduler/job-configs";
const RUNS: &str = "/scheduler/job-runs";

const OP_ROTATION: &str = "cckm_key_rotation";
const OP_SYNC: &str = "cckm_synchronization";

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
    operation: String,
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
fn parse_operation(v: &str) -> Result<String, String> {
    match v {
        "rotation" | "rotate" | OP_ROTATION => Ok(OP_ROTATION.to_string()),
        "sync" | "synchronization" | OP_SYNC => Ok(OP_SYNC.to_string()),
        _ => Err(format!(
            "'{v}' is not an operation: give rotation ({OP_ROTATION}) or sync ({OP_SYNC})"
        )),
    }
}

impl CreateArgs {
    /// The request body; flags of the other operation are refused here, before any request.
    fn body(&self) -> Result<Value, String> {
        let mut body = json!({
            "name": self.name,
            "operation": self.operation,
            "run_at": self.run_at,
            "disabled": self.disabled,
        });
        for (k, v) in [
            ("description", &self.description),
            ("start_date", &self.start_date),
            ("end_date", &self.end_date),
        ] {
            if let Some(v) = v {
                body[k] = Value::String(v.clone());
            }
        }
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
        if self.operation == OP_ROTATION {
            if !sync_flags.is_empty() {
                return Err(format!(
                    "{} only apply to a sync config, not to a rotation config",
                    sync_flags.join(", ")
                ));
            }
            let mut params = json!({
                "cloud_name": "aws",
                "aws_param": {
                    "retain_alias": self.retain_alias,
                    "rotate_material": self.rotate_material,
                },
            });
            if let Some(e) = &self.expiration {
                params["expiration"] = Value::String(e.clone());
            }
            if let Some(e) = &self.expire_in {
                params["expire_in"] = Value::String(e.clone());
            }
            body["cckm_key_rotation_params"] = params;
        } else {
            if !rotation_flags.is_empty() {
                return Err(format!(
                    "{} only apply to a rotation config, not to a sync config",
                    rotation_flags.join(", ")
                ));
            }
            if self.kms.is_empty() && !self.synchronize_all {
                return Err(
                    "a sync config needs --kms NAME_OR_ID (repeat for several) or --synchronize-all"
                        .to_string(),
                );
            }
            body["cckm_synchronization_params"] = json!({
                "cloud_name": "aws",
                "kms": self.kms,
                "synchronize_all": self.synchronize_all,
            });
        }
        Ok(body)
    }
}

/// `rotation` / `sync` for the tables, the full name for anything else.
fn short_operation(op: &Value) -> String {
    match op.as_str() {
        Some(OP_ROTATION) => "rotation".to_string(),
        Some(OP_SYNC) => "sync".to_string(),
        _ => text(op),
    }
}

/// One job config's fields, in reading order.
fn show_config(out: &Output, c: &Value) {
    let mut rows = vec![
        ("id", text(&c["id"])),
        ("name", text(&c["name"])),
        ("description", text(&c["description"])),
        ("operation", text(&c["operation"])),
        ("run_at", text(&c["run_at"])),
        ("run_on", text(&c["run_on"])),
        ("disabled", text(&c["disabled"])),
        ("start_date", text(&c["start_date"])),
        ("end_date", text(&c["end_date"])),
    ];
    let r = &c["cckm_key_rotation_params"];
    if r.is_object() {
        rows.extend([
            ("expiration", text(&r["expiration"])),
            ("expire_in", text(&r["expire_in"])),
            ("retain_alias", text(&r["aws_param"]["retain_alias"])),
            ("rotate_material", text(&r["aws_param"]["rotate_material"])),
        ]);
    }
    let sp = &c["cckm_synchronization_params"];
    if sp.is_object() {
        rows.extend([
            ("kms", text(&sp["kms"])),
            ("synchronize_all", text(&sp["synchronize_all"])),
        ]);
    }
    rows.extend([
        ("createdAt", text(&c["createdAt"])),
        ("updatedAt", text(&c["updatedAt"])),
    ]);
    out.fields(c, &rows);
}

fn show_configs(out: &Output, v: &Value) {
    out.list_of(v, &["ID", "NAME", "OPERATION", "RUN AT", "DISABLED"], |c| {
        json!({
            "ID": c["id"],
            "NAME": c["name"],
            "OPERATION": short_operation(&c["operation"]),
            "RUN AT": c["run_at"],
            "DISABLED": c["disabled"],
        })
    });
}

/// `2 rotated, 1 failed` from a run's results; `none` without results.
fn results_summary(run: &Value) -> String {
    let results = run["results"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if results.is_empty() {
        return "none".to_string();
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in results {
        let status = r["status"].as_str().unwrap_or("unknown").to_string();
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    let order = |s: &str| match s {
        "rotated" => 0,
        "failed" => 1,
        "skipped" => 2,
        _ => 3,
    };
    counts.sort_by_key(|(s, _)| order(s));
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The config column of a run: its name, or its id when the name is unknown.
fn run_config(run: &Value) -> String {
    match run["job_config_name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => text(&run["job_config_id"]),
    }
}

/// One run: its fields, then a table of its per-key results.
fn show_run(out: &Output, run: &Value) {
    let mut rows = vec![
        ("id", text(&run["id"])),
        (
            "config",
            format!("{} ({})", run_config(run), text(&run["job_config_id"])),
        ),
        ("operation", text(&run["operation"])),
        ("trigger", text(&run["trigger"])),
    ];
    if !run["scheduled_for"].is_null() {
        rows.push(("scheduled_for", text(&run["scheduled_for"])));
    }
    rows.extend([
        ("status", text(&run["status"])),
        ("started_at", text(&run["started_at"])),
        ("finished_at", text(&run["finished_at"])),
        ("message", text(&run["message"])),
    ]);
    if !run["sync_job_id"].is_null() {
        rows.push(("sync_job_id", text(&run["sync_job_id"])));
    }
    rows.push(("keys", results_summary(run)));
    out.fields(run, &rows);
    if out.json {
        return;
    }
    let results: Vec<Value> = run["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    json!({
                        "KEY": r["key_id"],
                        "STATUS": r["status"],
                        "NEW KEY": r["new_key_id"],
                        "MESSAGE": r["message"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !results.is_empty() {
        let total = results.len();
        out.list(
            &json!({"total": total, "resources": results}),
            &["KEY", "STATUS", "NEW KEY", "MESSAGE"],
        );
    }
}

fn show_runs(out: &Output, v: &Value) {
    out.list_of(
        v,
        &[
            "ID", "CONFIG", "TRIGGER", "STATUS", "STARTED", "FINISHED", "KEYS",
        ],
        |r| {
            json!({
                "ID": r["id"],
                "CONFIG": run_config(r),
                "TRIGGER": r["trigger"],
                "STATUS": r["status"],
                "STARTED": r["started_at"],
                "FINISHED": r["finished_at"],
                "KEYS": results_summary(r),
            })
        },
    );
}

/// A finished run's verdict: Err naming the failed keys when it failed or some keys failed.
fn verdict(run: &Value) -> Result<(), String> {
    let status = run["status"].as_str().unwrap_or_default();
    if status != "failed" && status != "completed_with_errors" {
        return Ok(());
    }
    let failed: Vec<String> = run["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["status"] == "failed")
                .map(|r| {
                    let key = match r["key_id"].as_str() {
                        Some(k) if !k.is_empty() => k.to_string(),
                        _ => text(&r["arn"]),
                    };
                    match r["message"].as_str() {
                        Some(m) if !m.is_empty() => format!("{key} ({m})"),
                        _ => key,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut msg = format!("job run {} {status}", text(&run["id"]));
    if let Some(m) = run["message"].as_str().filter(|m| !m.is_empty()) {
        msg.push_str(&format!(": {m}"));
    }
    if !failed.is_empty() {
        msg.push_str(&format!("; failed keys: {}", failed.join(", ")));
    }
    Err(msg)
}

/// Polls the run every second while it is running.
async fn follow(s: &Session, out: &Output, mut run: Value) -> Result<Value, String> {
    let id = text(&run["id"]);
    if id.is_empty() {
        return Err(format!("the server's job run has no id: {run}"));
    }
    let bar = out.spinner();
    while run["status"] == "running" {
        bar.set_message(format!(
            "job run {id} running; keys: {}",
            results_summary(&run)
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        run = s
            .call(Method::GET, &format!("{RUNS}/{}", segment(&id)), None)
            .await?;
    }
    bar.finish_and_clear();
    Ok(run)
}

/// `GET /scheduler/job-configs/{config}`: a config by its id or name.
async fn get_config(s: &Session, config: &str) -> Result<Value, String> {
    s.call(Method::GET, &format!("{CONFIGS}/{}", segment(config)), None)
        .await
}

pub async fn run(cmd: SchedulerCommand, out: &Output) -> Result<(), String> {
    if let SchedulerCommand::Configs(ConfigsCommand::Create(args)) = &cmd {
        // The flags are checked before logging in, so a mistake costs no request.
        let body = args.body()?;
        let s = Session::load().await?;
        show_config(out, &s.call(Method::POST, CONFIGS, Some(&body)).await?);
        return Ok(());
    }
    let s = Session::load().await?;
    match cmd {
        SchedulerCommand::Configs(c) => match c {
            // Handled above, before logging in.
            ConfigsCommand::Create(_) => {}
            ConfigsCommand::List => {
                let v = s
                    .call(Method::GET, &format!("{CONFIGS}?limit=-1&sort=name"), None)
                    .await?;
                show_configs(out, &v);
            }
            ConfigsCommand::Get { config } => show_config(out, &get_config(&s, &config).await?),
            ConfigsCommand::Delete { config } => {
                s.call(
                    Method::DELETE,
                    &format!("{CONFIGS}/{}", segment(&config)),
                    None,
                )
                .await?;
                out.done(&format!("job config {config} deleted"));
            }
            ConfigsCommand::Run { config, wait } => {
                let id = text(&get_config(&s, &config).await?["id"]);
                let mut run = s
                    .call(
                        Method::POST,
                        &format!("{CONFIGS}/{}/run", segment(&id)),
                        Some(&json!({})),
                    )
                    .await?;
                if wait {
                    run = follow(&s, out, run).await?;
                }
                show_run(out, &run);
                if wait {
                    verdict(&run)?;
                }
            }
        },
        SchedulerCommand::Runs(r) => match r {
            RunsCommand::List { config } => {
                let mut query = format!("{RUNS}?limit=-1&sort=-createdAt");
                if let Some(config) = config {
                    // A name becomes its config's id; a deleted config's runs are still
                    // listed by the id given.
                    let id = match get_config(&s, &config).await {
                        Ok(c) => c["id"].as_str().map_or(config.clone(), String::from),
                        Err(_) => config,
                    };
                    query.push_str(&format!("&job_config_id={}", segment(&id)));
                }
                show_runs(out, &s.call(Method::GET, &query, None).await?);
            }
            RunsCommand::Get { id } => {
                let run = s
                    .call(Method::GET, &format!("{RUNS}/{}", segment(&id)), None)
                    .await?;
                show_run(out, &run);
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_have_short_and_full_names() {
        assert_eq!(parse_operation("rotation"), Ok(OP_ROTATION.to_string()));
        assert_eq!(parse_operation(OP_ROTATION), Ok(OP_ROTATION.to_string()));
        assert_eq!(parse_operation("sync"), Ok(OP_SYNC.to_string()));
        assert_eq!(parse_operation(OP_SYNC), Ok(OP_SYNC.to_string()));
        assert!(parse_operation("backup").is_err());
    }

    #[test]
    fn results_are_summarised_in_a_fixed_order() {
        let run = json!({"results": [
            {"status": "failed"}, {"status": "rotated"}, {"status": "skipped"}, {"status": "rotated"}
        ]});
        assert_eq!(results_summary(&run), "2 rotated, 1 failed, 1 skipped");
        assert_eq!(results_summary(&json!({"results": []})), "none");
    }

    #[test]
    fn a_failed_run_names_its_failed_keys() {
        let run = json!({"id": "r1", "status": "completed_with_errors", "message": "", "results": [
            {"key_id": "k1", "status": "rotated", "message": ""},
            {"key_id": "k2", "status": "failed", "message": "AccessDenied"},
            {"key_id": "", "arn": "arn:aws:kms:x", "status": "failed", "message": ""},
        ]});
        let err = verdict(&run).unwrap_err();
        assert!(err.contains("completed_with_errors"), "{err}");
        assert!(err.contains("k2 (AccessDenied)"), "{err}");
        assert!(err.contains("arn:aws:kms:x"), "{err}");
        assert!(!err.contains("k1"), "{err}");
        assert!(verdict(&json!({"status": "completed"})).is_ok());
    }
}
