use std::path::PathBuf;

use clap::Subcommand;

use keyward_core::ports::{Passwords, Store};

use crate::output::Output;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Re-seal every stored secret under a new key-encryption key, on the running server you
    /// are logged in to (admin only).
    RotateKek,
    /// Recompute the audit trail's MAC chain (keyed by the root key); exits non-zero if a
    /// record was edited or removed.
    VerifyAudit {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The root key file, when it is not data_dir/root.key (the server's root_key_file).
        #[arg(long)]
        root_key_file: Option<PathBuf>,
        /// A signed checkpoint (`kwcp1....`, from the server log, audit_checkpoint_file or
        /// `keyward admin audit-checkpoint`): the trail must still hold that checkpoint's
        /// record with that MAC, so a trail cut below it or rewritten fails.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Print a signed checkpoint of the audit chain's current head (keep it somewhere the
    /// server cannot write; check the trail against it with `verify-audit --expect-head`).
    AuditCheckpoint {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The root key file, when it is not data_dir/root.key.
        #[arg(long)]
        root_key_file: Option<PathBuf>,
    },
    /// Lift a user's login lock and clear their failed-login count, working on the data
    /// directory directly (for a locked-out admin; the server may be running). Audited.
    Unlock {
        /// The user's name (any case).
        user: String,
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The root key file, when it is not data_dir/root.key.
        #[arg(long)]
        root_key_file: Option<PathBuf>,
    },
    /// Set a user's password (from KEYWARD_NEW_PASSWORD or a prompt), lift their lock and
    /// revoke their refresh tokens, working on the data directory directly. Audited.
    ResetPassword {
        /// The user's name (any case).
        user: String,
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The root key file, when it is not data_dir/root.key.
        #[arg(long)]
        root_key_file: Option<PathBuf>,
    },
}

/// Opens a data directory's store and finds a user by name.
async fn offline_user(
    data_dir: &std::path::Path,
    root_key_file: Option<&std::path::Path>,
    user: &str,
) -> Result<(keyward_store::SqliteStore, keyward_core::users::User), String> {
    let (store, _) = open(data_dir, root_key_file).await?;
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

async fn open(
    data_dir: &std::path::Path,
    root_key_file: Option<&std::path::Path>,
) -> Result<(keyward_store::SqliteStore, keyward_crypto::CheckpointSigner), String> {
    let db = keyward_server::app::database_path(data_dir);
    if !db.exists() {
        return Err(format!("no Keyward database at {}", db.display()));
    }
    keyward_server::app::open_store(data_dir, root_key_file)
        .await
        .map_err(|e| e.to_string())
}

/// `keyward admin checkpoint --json`.
#[derive(serde::Serialize)]
struct CheckpointOut<'a> {
    checkpoint: String,
    seq: i64,
    head: &'a str,
    at: i64,
    public_key: String,
}

/// `keyward admin verify-audit --json`.
#[derive(serde::Serialize)]
struct VerifyOut<'a> {
    records: i64,
    intact: bool,
    problems: &'a [String],
}

pub async fn run(cmd: AdminCommand, out: &Output) -> Result<(), String> {
    match cmd {
        AdminCommand::RotateKek => {
            let s = crate::client::Session::load().await?;
            let v = s.rotate_kek().await?;
            if out.json {
                out.print_json(&v);
            } else {
                println!(
                    "key-encryption key {} is active; {} secrets re-sealed",
                    v.kek_id, v.resealed
                );
            }
            Ok(())
        }
        AdminCommand::Unlock {
            user,
            data_dir,
            root_key_file,
        } => {
            let (store, u) = offline_user(&data_dir, root_key_file.as_deref(), &user).await?;
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
        AdminCommand::ResetPassword {
            user,
            data_dir,
            root_key_file,
        } => {
            let password = crate::commands::secret_from_env_or_prompt(
                &["KEYWARD_NEW_PASSWORD"],
                &format!("New password for {user}: "),
            )?;
            keyward_core::users::check_password("KEYWARD_NEW_PASSWORD", &password)
                .map_err(|e| e.to_string())?;
            let (store, mut u) = offline_user(&data_dir, root_key_file.as_deref(), &user).await?;
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
        AdminCommand::AuditCheckpoint {
            data_dir,
            root_key_file,
        } => {
            let (store, signer) = open(&data_dir, root_key_file.as_deref()).await?;
            let cp = keyward_server::audit_checkpoints::current(
                &store,
                &signer,
                &keyward_core::ports::SystemClock,
            )
            .await
            .map_err(|e| e.to_string());
            store.close().await;
            let cp = cp?.ok_or("the audit trail is empty: nothing to checkpoint")?;
            if out.json {
                out.print_json(&CheckpointOut {
                    checkpoint: cp.to_token(),
                    seq: cp.checkpoint.seq,
                    head: &cp.checkpoint.head,
                    at: cp.checkpoint.at,
                    public_key: signer.public_key_hex(),
                });
            } else {
                println!("{}", cp.to_token());
            }
            Ok(())
        }
        AdminCommand::VerifyAudit {
            data_dir,
            root_key_file,
            expect_head,
        } => {
            let expect = match &expect_head {
                None => None,
                Some(token) => Some(
                    keyward_core::audit::SignedCheckpoint::parse(token)
                        .map_err(|e| format!("--expect-head: {e}"))?,
                ),
            };
            let (store, signer) = open(&data_dir, root_key_file.as_deref()).await?;
            if expect.as_ref().is_some_and(|cp| !signer.verify(cp)) {
                store.close().await;
                return Err("--expect-head: the checkpoint's signature does not verify under this data directory's root key (forged, altered, or from another deployment)".into());
            }
            let expected = expect
                .as_ref()
                .map(|cp| (cp.checkpoint.seq, cp.checkpoint.head.clone()));
            let report = store
                .verify_audit_expecting(expected.as_ref())
                .await
                .map_err(|e| e.to_string());
            store.close().await;
            let report = report?;
            if out.json {
                out.print_json(&VerifyOut {
                    records: report.records,
                    intact: report.is_intact(),
                    problems: &report.problems,
                });
            } else if report.is_intact() {
                println!("audit trail intact: {} records", report.records);
                if let Some(cp) = &expect {
                    println!(
                        "it still holds checkpoint record {} with the checkpoint's MAC",
                        cp.checkpoint.seq
                    );
                }
            } else {
                println!("audit trail BROKEN ({} records):", report.records);
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            if report.is_intact() {
                Ok(())
            } else {
                Err("the audit trail did not verify (see the problems above)".into())
            }
        }
    }
}
