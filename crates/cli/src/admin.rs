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
    /// For benchmarks only (scripts/bench.sh): write COUNT realistic AWS key records (as a
    /// sync would store them, but made up: no AWS key exists behind them) into the containers
    /// named, spread over their Regions, through the store, 5,000 per transaction. Audited.
    #[command(hide = true)]
    SeedBenchRecords {
        /// The server's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// How many records to write.
        #[arg(long)]
        count: usize,
        /// KMS containers (names) to put them in; repeat. Default: every container.
        #[arg(long)]
        kms: Vec<String>,
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
        AdminCommand::SeedBenchRecords {
            data_dir,
            count,
            kms,
            root_key_file,
        } => {
            let (store, _) = open(&data_dir, root_key_file.as_deref()).await?;
            let result = seed_bench_records(&store, count, &kms).await;
            store.close().await;
            let written = result?;
            out.done(&format!("{written} benchmark key records written"));
            Ok(())
        }
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

/// The containers to seed into (by name; none named: all), each with its Regions.
async fn bench_containers(
    store: &keyward_store::SqliteStore,
    names: &[String],
) -> Result<Vec<keyward_core::kms::KmsContainer>, String> {
    let containers = if names.is_empty() {
        store
            .list_kms(&keyward_core::paging::ListQuery::all())
            .await
            .map_err(|e| e.to_string())?
            .items
    } else {
        let mut found = Vec::new();
        for name in names {
            match store.get_kms_by_name(name).await {
                Ok(Some(k)) => found.push(k),
                Ok(None) => return Err(format!("no KMS container named '{name}'")),
                Err(e) => return Err(e.to_string()),
            }
        }
        found
    };
    let containers: Vec<_> = containers
        .into_iter()
        .filter(|k| !k.regions.is_empty())
        .collect();
    if containers.is_empty() {
        return Err("no KMS container with a Region to put the records in".into());
    }
    Ok(containers)
}

/// Writes `count` made-up key records, 5,000 per transaction; returns how many.
async fn seed_bench_records(
    store: &keyward_store::SqliteStore,
    count: usize,
    names: &[String],
) -> Result<usize, String> {
    const BATCH: usize = 5_000;
    let containers = bench_containers(store, names).await?;
    let places: Vec<(&keyward_core::kms::KmsContainer, &str)> = containers
        .iter()
        .flat_map(|k| k.regions.iter().map(move |r| (k, r.as_str())))
        .collect();
    let start = chrono::Utc::now() - chrono::Duration::milliseconds(count as i64);
    let seed = start.timestamp_nanos_opt().unwrap_or_default() as u64;
    let mut written = 0;
    while written < count {
        let n = BATCH.min(count - written);
        let batch: Vec<_> = (written..written + n)
            .map(|i| {
                let (kms, region) = places[i % places.len()];
                bench_record(
                    seed,
                    i,
                    kms,
                    region,
                    start + chrono::Duration::milliseconds(i as i64),
                )
            })
            .collect();
        let draft = offline_draft(
            "key.seed-bench",
            &format!("{n} records"),
            "benchmark records (keyward admin seed-bench-records)",
        );
        store
            .insert_keys_batch(&batch, &draft)
            .await
            .map_err(|e| e.to_string())?;
        written += n;
    }
    Ok(written)
}

/// The `i`th benchmark record: mostly Enabled symmetric AWS_KMS keys with an alias, two tags,
/// AWS's default policy and rotation status, like a sync stores them; every 10th Disabled,
/// every 50th pending deletion, every 8th RSA_2048 for signing, every 10th (from the 4th)
/// EXTERNAL with material from the vault that expires, every 20th a multi-Region primary.
fn bench_record(
    seed: u64,
    i: usize,
    kms: &keyward_core::kms::KmsContainer,
    region: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> keyward_core::keys::KeyRecord {
    use keyward_core::keys::kinds::{KeySource, MaterialOrigin};
    use keyward_core::keys::record::MaterialBinding;
    use keyward_core::keys::{
        AwsKeyView, KeyMetadata, KeyRecord, MultiRegionConfiguration, RegionalKey, RotationStatus,
    };
    let account = if kms.account_id.is_empty() {
        "000000000000".to_string()
    } else {
        kms.account_id.clone()
    };
    let multi_region = i % 20 == 5;
    let key_id = if multi_region {
        format!("mrk-{}", made_up_id(seed, 2 * i as u64).replace('-', ""))
    } else {
        made_up_id(seed, 2 * i as u64)
    };
    let arn = format!("arn:aws:kms:{region}:{account}:key/{key_id}");
    let rsa = i % 8 == 1;
    let external = !rsa && i % 10 == 3;
    let (state, enabled, deletion_date) = if i % 50 == 7 {
        (
            "PendingDeletion",
            false,
            Some(at + chrono::Duration::days(7)),
        )
    } else if i % 10 == 9 {
        ("Disabled", false, None)
    } else {
        ("Enabled", true, None)
    };
    let valid_to = external.then(|| at + chrono::Duration::days(1 + (i % 365) as i64));
    let metadata = KeyMetadata {
        aws_account_id: account.clone(),
        key_id: key_id.clone(),
        arn: arn.clone(),
        creation_date: Some(at),
        enabled,
        description: format!("benchmark key {i}"),
        key_usage: if rsa {
            "SIGN_VERIFY"
        } else {
            "ENCRYPT_DECRYPT"
        }
        .into(),
        key_state: state.into(),
        deletion_date,
        valid_to,
        origin: if external { "EXTERNAL" } else { "AWS_KMS" }.into(),
        key_manager: "CUSTOMER".into(),
        key_spec: if rsa { "RSA_2048" } else { "SYMMETRIC_DEFAULT" }.into(),
        encryption_algorithms: if rsa {
            Vec::new()
        } else {
            vec!["SYMMETRIC_DEFAULT".into()]
        },
        signing_algorithms: if rsa {
            [
                "RSASSA_PSS_SHA_256",
                "RSASSA_PSS_SHA_384",
                "RSASSA_PSS_SHA_512",
                "RSASSA_PKCS1_V1_5_SHA_256",
                "RSASSA_PKCS1_V1_5_SHA_384",
                "RSASSA_PKCS1_V1_5_SHA_512",
            ]
            .map(String::from)
            .to_vec()
        } else {
            Vec::new()
        },
        mac_algorithms: Vec::new(),
        key_agreement_algorithms: Vec::new(),
        expiration_model: external.then(|| "KEY_MATERIAL_EXPIRES".into()),
        multi_region,
        multi_region_configuration: multi_region.then(|| MultiRegionConfiguration {
            key_type: "PRIMARY".into(),
            primary: Some(RegionalKey {
                arn: arn.clone(),
                region: region.into(),
            }),
            replicas: Vec::new(),
        }),
        pending_deletion_window_in_days: deletion_date.map(|_| 7),
    };
    let rotates = !rsa && !external && i.is_multiple_of(4);
    let aws = AwsKeyView {
        metadata,
        aliases: vec![format!("alias/bench-seed-{i}")],
        tags: vec![
            ("env".into(), ["dev", "test", "prod"][i % 3].into()),
            ("team".into(), format!("team-{}", i % 20)),
        ],
        policy: Some(format!(
            r#"{{"Version":"2012-10-17","Id":"key-default-1","Statement":[{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
        )),
        rotation: RotationStatus {
            enabled: rotates,
            period_in_days: rotates.then_some(365),
            next_rotation_date: rotates.then(|| at + chrono::Duration::days(365)),
            on_demand_rotation_start_date: None,
        },
    };
    let mut record = KeyRecord::new(
        made_up_id(seed, 2 * i as u64 + 1),
        kms,
        region,
        "aws",
        at,
        aws,
    );
    if external {
        record.key_material_origin = MaterialOrigin::Cckm;
        record.material = Some(MaterialBinding {
            local_key_id: format!("bench-vault-key-{}", i % 100),
            local_key_name: format!("bench-vault-key-{}", i % 100),
            key_source: KeySource::Local,
            valid_to,
            imported_at: Some(at),
        });
    }
    record
}

/// A UUID-shaped (version 4 layout) id, unique per (seed, n): splitmix64 of both.
fn made_up_id(seed: u64, n: u64) -> String {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix(seed ^ mix(n));
    let b = mix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}
