//! `keyward aws sync`: start an inventory synchronisation and follow it to its end.

use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::segment;
use crate::client::Session;
use crate::output::Output;

const BASE: &str = "/cckm/aws/synchronization-jobs";

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

fn status_line(job: &Value) -> String {
    let containers = job["detailed_status"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "{} keys seen, {} new, {} gone · {containers}",
        job["keys_seen"], job["keys_added"], job["keys_gone"]
    )
}

pub async fn run(args: SyncArgs, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    let body = if args.all {
        json!({"synchronize_all": true})
    } else {
        json!({"kms": args.kms, "regions": args.regions})
    };
    let mut job = s.call(Method::POST, BASE, Some(&body)).await?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    if args.no_wait {
        if out.json {
            out.print_json(&job);
        } else {
            println!("synchronization job {id} started");
        }
        return Ok(());
    }
    let bar = out.spinner();
    while job["overall_status"] == "in_progress" {
        bar.set_message(status_line(&job));
        tokio::time::sleep(Duration::from_millis(500)).await;
        job = s
            .call(Method::GET, &format!("{BASE}/{}", segment(&id)), None)
            .await?;
    }
    bar.finish_and_clear();
    if out.json {
        out.print_json(&job);
    } else {
        println!(
            "synchronization {}: {}",
            job["overall_status"].as_str().unwrap_or(""),
            status_line(&job)
        );
    }
    if job["overall_status"] == "completed" {
        Ok(())
    } else {
        Err(format!(
            "synchronization job {id} {}",
            job["overall_status"].as_str().unwrap_or("failed")
        ))
    }
}
