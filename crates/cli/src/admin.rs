use std::path::PathBuf;

use clap::Subcommand;
use keyward_core::ports::Store;

use crate::output::Output;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Re-seal every stored secret under a new key-encryption key, on the running server you
    /// are logged in to (admin only).
    RotateKek,
    /// Recompute the audit trail's hash chain; exits non-zero if a record was edited or removed.
    VerifyAudit {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: AdminCommand, out: &Output) -> Result<(), String> {
    match cmd {
        AdminCommand::RotateKek => {
            let s = crate::client::Session::load().await?;
            let v = s
                .call(reqwest::Method::POST, "/admin/rotate-kek", None)
                .await?;
            if out.json {
                out.print_json(&v);
            } else {
                println!(
                    "key-encryption key {} is active; {} secrets re-sealed",
                    v["kek_id"], v["resealed"]
                );
            }
            Ok(())
        }
        AdminCommand::VerifyAudit { data_dir } => {
            let db = keyward_server::app::database_path(&data_dir);
            if !db.exists() {
                return Err(format!("no Keyward database at {}", db.display()));
            }
            let store = keyward_server::app::open_store(&data_dir)
                .await
                .map_err(|e| e.to_string())?;
            let report = store.verify_audit().await.map_err(|e| e.to_string())?;
            store.close().await;
            if out.json {
                out.print_json(&serde_json::json!({
                    "records": report.records,
                    "intact": report.is_intact(),
                    "problems": report.problems,
                }));
            } else if report.is_intact() {
                println!("audit trail intact: {} records", report.records);
            } else {
                println!("audit trail BROKEN ({} records):", report.records);
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            if report.is_intact() {
                Ok(())
            } else {
                Err("the audit trail has been tampered with".into())
            }
        }
    }
}
