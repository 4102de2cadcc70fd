//! `keyward aws sync`: start an inventory synchronisation and follow it to its end.

use std::time::Duration;

use clap::Args;
use keyward_api::sync::{StartSync, SyncJob, SyncStatus};

use crate::client::Session;
use crate::output::Output;

#[derive(Args)]
pub struct SyncArgs {
    /// KMS containers to synchronise (name or id; repeat for several).
    #[arg(long = "kms", conflicts_with = "all")]
    kms: Vec<String>,
    /// Only these Regions of the containers (repeat for several).
    #[arg(long = "region", conflicts_with = "all")]
    regions: Vec<String>,
    /// Every KMS container.
    #[arg(long)]
    all: bool,
    /// Start the job and return at once (print its id).
    #[arg(long)]
    no_wait: bool,
}

fn status_line(job: &SyncJob) -> String {
    let containers = job
        .detailed_status
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} keys seen, {} new, {} gone · {containers}",
        job.keys_seen, job.keys_added, job.keys_gone
    )
}

pub async fn run(args: SyncArgs, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    let body = if args.all {
        StartSync {
            synchronize_all: true,
            ..StartSync::default()
        }
    } else {
        StartSync {
            kms: args.kms,
            regions: args.regions,
            ..StartSync::default()
        }
    };
    let job = s.start_sync(&body).await?;
    if args.no_wait {
        started(out, &job);
        return Ok(());
    }
    let job = follow(&s, out, job).await?;
    finished(out, &job)
}

/// Prints the job just started (--no-wait).
fn started(out: &Output, job: &SyncJob) {
    if out.json {
        out.print_json(job);
    } else {
        println!("synchronization job {} started", job.resource.id);
    }
}

/// Polls the job until it is no longer in progress, showing its progress.
async fn follow(s: &Session, out: &Output, mut job: SyncJob) -> Result<SyncJob, String> {
    let id = job.resource.id.clone();
    let bar = out.spinner();
    while job.overall_status == SyncStatus::InProgress {
        bar.set_message(status_line(&job));
        tokio::time::sleep(Duration::from_millis(500)).await;
        job = s.get_sync(&id).await?;
    }
    bar.finish_and_clear();
    Ok(job)
}

/// Prints the finished job; an error unless it completed.
fn finished(out: &Output, job: &SyncJob) -> Result<(), String> {
    if out.json {
        out.print_json(job);
    } else {
        println!(
            "synchronization {}: {}",
            job.overall_status,
            status_line(job)
        );
    }
    match job.overall_status {
        SyncStatus::Completed => Ok(()),
        SyncStatus::InProgress | SyncStatus::Failed => Err(format!(
            "synchronization job {} {}",
            job.resource.id, job.overall_status
        )),
    }
}
