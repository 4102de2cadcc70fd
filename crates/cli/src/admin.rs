use std::path::PathBuf;

use clap::Subcommand;
use keyward_core::ports::{Passwords, Store};

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
    /// Lift a user's login lock and clear their failed-login count, working on the data
    /// directory directly (for a locked-out admin; the server may be running). Audited.
    Unlock {
        /// The user's name (any case).
        user: String,
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Set a user's password (from KEYWARD_NEW_PASSWORD or a prompt), lift their lock and
    /// revoke their refresh tokens, working on the data directory directly. Audited.
    ResetPassword {
        /// The user's name (any case).
        user: String,
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// Opens a data directory's store and finds a user by name.
async fn offline_user(
    data_dir: &std::path::Path,
    user: &str,
) -> Result<(keyward_store::SqliteStore, keyward_core::users::User), String> {
    let db = keyward_server::app::database_path(data_dir);
    if !db.exists() {
        return Err(format!("no Keyward database at {}", db.display()));
    }
    let store = keyward_server::app::open_store(data_dir)
        .await
        .map_err(|e| e.to_string())?;
    match store.get_user_by_name(user).await {
        Ok(Some(u)) => Ok((store, u)),
        Ok(None) => {
            store.close().await;
            Err(format!("no user named '{user}'"))
        }
        Err(e) => {
            store.close().await;
            Err(e.to_string())
        }
    }
}

/// The audit record of an offline admin command: the actor is the operating-system user.
fn offline_draft(action: &str, target: &str, detail: &str) -> keyward_core::audit::AuditDraft {
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    keyward_core::audit::AuditDraft {
        at: chrono::Utc::now(),
        actor: format!("offline:{os_user}"),
        action: action.into(),
        target: target.into(),
        outcome: keyward_core::audit::Outcome::Success,
        detail: detail.into(),
        request_id: "offline".into(),
    }
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
        AdminCommand::Unlock { user, data_dir } => {
            let (store, u) = offline_user(&data_dir, &user).await?;
            let draft = offline_draft(
                "user.unlock",
                &u.username,
                &format!("was {} failed logins", u.failed_logins),
            );
            let result = store.unlock_user(&u.id, &draft).await;
            store.close().await;
            result.map_err(|e| e.to_string())?;
            out.done(&format!("user {} is unlocked", u.username));
            Ok(())
        }
        AdminCommand::ResetPassword { user, data_dir } => {
            let password = crate::commands::secret_from_env_or_prompt(
                &["KEYWARD_NEW_PASSWORD"],
                &format!("New password for {user}: "),
            )?;
            keyward_core::users::check_password("KEYWARD_NEW_PASSWORD", &password)
                .map_err(|e| e.to_string())?;
            let (store, mut u) = offline_user(&data_dir, &user).await?;
            let passwords = keyward_crypto::Argon2Passwords::default();
            let hashed = match passwords.slot().await {
                Some(slot) => {
                    passwords
                        .hash(&slot, &keyward_core::secret::SecretString::new(password))
                        .await
                }
                None => Err(keyward_core::CoreError::internal("no password slot")),
            };
            let result = match hashed {
                Ok(hash) => {
                    u.password_hash = hash;
                    u.updated_at = chrono::Utc::now();
                    let draft = offline_draft("user.reset-password", &u.username, "lock lifted");
                    store.update_user(&u, true, &draft).await
                }
                Err(e) => Err(e),
            };
            store.close().await;
            result.map_err(|e| e.to_string())?;
            out.done(&format!(
                "password of {} set; the lock is lifted and their refresh tokens are revoked",
                u.username
            ));
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
