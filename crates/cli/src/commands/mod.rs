//! Client commands, one module per resource.

pub mod connections;
pub mod keys;
pub mod kms;
pub mod scheduler;
pub mod sync;
pub mod users;
pub mod vault;

use clap::Subcommand;
use keyward_api::list::PageParams;

use crate::output::Output;

#[derive(Subcommand)]
pub enum AwsCommand {
    /// AWS connections (credentials Keyward uses to reach AWS).
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// KMS containers (an AWS account and its Regions).
    #[command(subcommand)]
    Kms(kms::KmsCommand),
    /// AWS keys: create, list, and every action on a key.
    #[command(subcommand)]
    Keys(Box<keys::KeysCommand>),
    /// Synchronise Keyward's inventory with AWS (keys made elsewhere appear, deleted ones are
    /// marked gone), following the job with a progress display.
    Sync(sync::SyncArgs),
}

pub async fn run_aws(cmd: AwsCommand, out: &Output) -> Result<(), String> {
    match cmd {
        AwsCommand::Connections(c) => connections::run(c, out).await,
        AwsCommand::Kms(c) => kms::run(c, out).await,
        AwsCommand::Keys(c) => keys::run(*c, out).await,
        AwsCommand::Sync(a) => sync::run(a, out).await,
    }
}

/// Reads a secret from the first set environment variable, or prompts for it.
pub fn secret_from_env_or_prompt(vars: &[&str], prompt: &str) -> Result<String, String> {
    for v in vars {
        if let Ok(s) = std::env::var(v)
            && !s.is_empty()
        {
            return Ok(s);
        }
    }
    rpassword::prompt_password(prompt).map_err(|e| {
        format!(
            "cannot read it (set {} when there is no terminal): {e}",
            vars.join(" or ")
        )
    })
}

/// Every item of a list (`limit=-1`), optionally sorted.
pub fn all_pages() -> PageParams {
    PageParams {
        limit: Some(-1),
        ..PageParams::default()
    }
}

/// Percent-encodes one path segment.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
