use std::path::PathBuf;

use clap::{Args, Subcommand};
use keyward_api::ListEnvelope;
use keyward_api::key_record::{AliasAvailable, KeyRotationState, KeyRotationStatus};
use keyward_api::keys::{
    ActionTag, AddTags, AliasBody, CreateKey, CreateKeyAwsParam, CreateTag, EnableAutoRotation,
    EnableRotationJob, ImportMaterial, KeyListParams, PolicyBody, RemoveTags, ReplicateKey,
    ScheduleDeletion, UpdateDescription, UpdatePrimaryRegion, UploadKey, VerifyAlias,
};
use keyward_api::list::PageParams;
use keyward_api::rotations::{RotateKey, Rotation, RotationState, RotationType};
use serde::Serialize;
use serde_json::Value;

use crate::client::{Empty, Key, Session};
use crate::output::{Cell, Output};
use crate::received::Shim;

/// Who may use and administer a key; builds the key policy (exclusive with --policy-file).
#[derive(Args)]
pub struct PolicyArgs {
    /// A key policy document (a JSON file).
    #[arg(long, value_name = "FILE")]
    policy_file: Option<PathBuf>,
    /// An IAM user who administers the key (repeat for several).
    #[arg(long = "key-admin", value_name = "USER")]
    key_admins: Vec<String>,
    /// An IAM role that administers the key (repeat for several).
    #[arg(long = "key-admin-role", value_name = "ROLE")]
    key_admins_roles: Vec<String>,
    /// An IAM user who uses the key (repeat for several).
    #[arg(long = "key-user", value_name = "USER")]
    key_users: Vec<String>,
    /// An IAM role that uses the key (repeat for several).
    #[arg(long = "key-user-role", value_name = "ROLE")]
    key_users_roles: Vec<String>,
    /// An AWS account that may use the key (repeat for several).
    #[arg(long = "external-account", value_name = "ACCOUNT_ID")]
    external_accounts: Vec<String>,
    /// A policy template's id.
    #[arg(long, value_name = "ID")]
    policy_template: Option<String>,
    /// Let AWS accept a policy that would lock everyone out of the key.
    #[arg(long)]
    bypass_policy_lockout_safety_check: bool,
}

impl PolicyArgs {
    /// The policy document from --policy-file, if any.
    fn document(&self) -> Result<Option<Value>, String> {
        let Some(path) = &self.policy_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))
    }

    /// The principal lists and the template given (top level of a body, as CCKM has them).
    fn helpers(&self) -> PolicyHelpers {
        let list = |l: &Vec<String>| (!l.is_empty()).then(|| l.clone());
        PolicyHelpers {
            key_admins: list(&self.key_admins),
            key_admins_roles: list(&self.key_admins_roles),
            key_users: list(&self.key_users),
            key_users_roles: list(&self.key_users_roles),
            external_accounts: list(&self.external_accounts),
            policytemplate: self.policy_template.clone(),
        }
    }

    /// `Some(true)` when the lockout check is to be bypassed (the field is left out otherwise).
    fn bypass(&self) -> Option<bool> {
        self.bypass_policy_lockout_safety_check.then_some(true)
    }
}

/// The principal lists and template given on the command line, for the body fields of the same
/// names (the api declares them on each body, from its `with_principals!` macro).
struct PolicyHelpers {
    key_admins: Option<Vec<String>>,
    key_admins_roles: Option<Vec<String>>,
    key_users: Option<Vec<String>>,
    key_users_roles: Option<Vec<String>>,
    external_accounts: Option<Vec<String>>,
    policytemplate: Option<String>,
}

/// How long imported material stays valid (exclusive; neither: it does not expire).
#[derive(Args)]
pub struct ValidityArgs {
    /// The material expires at this time (RFC 3339, at most 365 days ahead).
    #[arg(long, value_name = "RFC3339", conflicts_with = "expires_in")]
    valid_to: Option<String>,
    /// The material expires after this long: 30d or 12h.
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<String>,
}

impl ValidityArgs {
    /// key_expiration and valid_to of an import, upload or rotate body (none when no validity
    /// is given).
    fn validity(&self) -> Result<Validity, String> {
        let valid_to = match (&self.valid_to, &self.expires_in) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => keyward_core::validate::add(
                "--expires-in",
                chrono::Utc::now(),
                window("--expires-in", d)?,
            )
            .map_err(|e| e.to_string())?
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (None, None) => return Ok(Validity::default()),
        };
        Ok(Validity {
            key_expiration: Some(true),
            valid_to: Some(valid_to),
        })
    }
}

/// `key_expiration` and `valid_to`, the fields of the same names in the rotate, import and
/// upload bodies.
#[derive(Default)]
struct Validity {
    key_expiration: Option<bool>,
    valid_to: Option<String>,
}

/// `30d` or `12h` as a duration (bounded; never zero).
fn window(flag: &str, v: &str) -> Result<chrono::Duration, String> {
    match keyward_core::validate::window(flag, v) {
        Ok(d) if d > chrono::Duration::zero() => Ok(d),
        Ok(_) => Err(format!("{flag}: '{v}' must be longer than zero")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List key records (filters are ANDed).
    List(ListArgs),
    /// Show one key (its id, or alias/NAME when one key has that alias).
    Get { id: String },
    /// Create a key in AWS and keep its record.
    Create(CreateArgs),
    /// Forget Keyward's record of a key; the key itself stays in AWS.
    Delete { id: String },
    /// Schedule the key's deletion in AWS after 7 to 30 days.
    ScheduleDeletion {
        id: String,
        #[arg(long)]
        days: i64,
    },
    /// Cancel a scheduled deletion (the key ends Disabled).
    CancelDeletion { id: String },
    /// Enable the key.
    Enable { id: String },
    /// Disable the key.
    Disable { id: String },
    /// Replace the key's description.
    UpdateDescription { id: String, description: String },
    /// Add or replace tags: KEY=VALUE ...
    Tag {
        id: String,
        #[arg(required = true, value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// Remove tags by key.
    Untag {
        id: String,
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Add an alias (without alias/).
    AddAlias { id: String, alias: String },
    /// Delete one of the key's aliases.
    DeleteAlias { id: String, alias: String },
    /// Replace the key policy: --policy-file FILE, or --key-admin/--key-user/--external-account.
    Policy {
        id: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Turn on automatic rotation (symmetric AWS_KMS keys).
    EnableAutoRotation {
        id: String,
        /// Rotation period, 90 to 2560 days (AWS's default 365).
        #[arg(long)]
        days: Option<i64>,
    },
    /// Turn off automatic rotation.
    DisableAutoRotation { id: String },
    /// Ask AWS whether and when the key rotates.
    RotationStatus { id: String },
    /// Rotate the key material now (on demand).
    RotateMaterial { id: String },
    /// Rotate the key the CCKM way: a new AWS key replaces it and takes its aliases; the old
    /// key stays enabled so old ciphertexts still decrypt (shows the new key).
    Rotate(RotateArgs),
    /// Attach the key to a scheduled rotation job (a cckm_key_rotation job config).
    EnableRotationJob(EnableRotationJobArgs),
    /// Detach the key from its scheduled rotation job.
    DisableRotationJob { id: String },
    /// The key's rotations (as the old or the new key), oldest first.
    Rotations { id: String },
    /// Re-read the key from AWS.
    Refresh { id: String },
    /// Replicate a multi-Region primary key to another Region; shows the replica.
    Replicate(ReplicateArgs),
    /// Make the replica in this Region the multi-Region key's primary.
    UpdatePrimaryRegion {
        id: String,
        #[arg(long)]
        region: String,
    },
    /// Print an asymmetric key's public key (PEM).
    PublicKey { id: String },
    /// Import material from Keyward's vault into an EXTERNAL key (a new vault key is made and
    /// named after the AWS key when --source-key is not given).
    ImportMaterial(ImportMaterialArgs),
    /// Delete an EXTERNAL key's imported material in AWS (the key goes to PendingImport; the
    /// vault key stays, so the same material can be imported again).
    DeleteMaterial { id: String },
    /// Create an EXTERNAL key and import material into it in one call.
    Upload(UploadArgs),
    /// Keys whose imported material expires within a window.
    Expiring {
        /// The window: 30d or 12h.
        #[arg(long, default_value = "30d")]
        within: String,
    },
    /// Check that an alias is free in a container's Region.
    VerifyAlias {
        #[arg(long)]
        kms: String,
        #[arg(long)]
        region: String,
        alias: String,
    },
}

#[derive(Args)]
pub struct ListArgs {
    /// KMS container name.
    #[arg(long)]
    kms: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// Alias, with or without alias/.
    #[arg(long)]
    alias: Option<String>,
    /// Enabled, Disabled, PendingDeletion, PendingImport, ...
    #[arg(long)]
    keystate: Option<String>,
    /// AWS_KMS or EXTERNAL.
    #[arg(long)]
    origin: Option<String>,
    /// The AWS key id.
    #[arg(long)]
    keyid: Option<String>,
    /// ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, ...
    #[arg(long)]
    keyusage: Option<String>,
    /// SYMMETRIC_DEFAULT, RSA_2048, HMAC_256, ...
    #[arg(long)]
    key_spec: Option<String>,
    /// Keys carrying this tag: KEY or KEY=VALUE (repeat for several).
    #[arg(long = "tag", value_name = "KEY[=VALUE]")]
    tags: Vec<String>,
    /// Only keys AWS no longer has (`--gone false`: only keys it has).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    gone: Option<bool>,
    /// -1 for all.
    #[arg(long, default_value_t = -1)]
    limit: i64,
    #[arg(long, default_value_t = 0)]
    skip: i64,
    /// Comma-separated fields, `-` for descending: createdAt, updatedAt, region, synced_at, keystate.
    #[arg(long)]
    sort: Option<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// KMS container name or id.
    #[arg(long)]
    kms: String,
    /// One of the container's Regions.
    #[arg(long)]
    region: String,
    /// Alias (without alias/).
    #[arg(long)]
    alias: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// SYMMETRIC_DEFAULT (default), RSA_2048, ECC_NIST_P256, HMAC_256, ...
    #[arg(long)]
    key_spec: Option<String>,
    /// Defaults per key spec: ENCRYPT_DECRYPT, SIGN_VERIFY or GENERATE_VERIFY_MAC.
    #[arg(long)]
    key_usage: Option<String>,
    /// AWS_KMS (default) or EXTERNAL.
    #[arg(long)]
    origin: Option<String>,
    /// A multi-Region primary key.
    #[arg(long)]
    multi_region: bool,
    /// A tag KEY=VALUE (repeat for several).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    #[command(flatten)]
    policy: PolicyArgs,
}

#[derive(Args)]
pub struct RotateArgs {
    id: String,
    /// Where the new key's material comes from (EXTERNAL keys): local (Keyward's vault)
    /// or hsm-luna.
    #[arg(long, value_parser = ["local", "hsm-luna"])]
    source_key_tier: Option<String>,
    /// The source key (name or id) whose material goes into the new key (default: a
    /// new one).
    #[arg(long, value_name = "NAME|ID")]
    source_key_id: Option<String>,
    /// Disable encryption with the old key in this account (it can still decrypt).
    #[arg(long, conflicts_with = "disable_encrypt_on_all_accounts")]
    disable_encrypt: bool,
    /// Disable encryption with the old key in every account.
    #[arg(long)]
    disable_encrypt_on_all_accounts: bool,
    /// The new key's description.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    validity: ValidityArgs,
    /// The old key keeps a timestamped alias (<alias>-rotated-<time>); its aliases move
    /// to the new key either way.
    #[arg(long)]
    retain_alias: bool,
}

#[derive(Args)]
pub struct EnableRotationJobArgs {
    id: String,
    /// The job config (id or name).
    #[arg(long, value_name = "ID_OR_NAME")]
    job_config: String,
    /// Where the new keys' material comes from: local (the default) or hsm-luna.
    #[arg(long, value_parser = ["local", "hsm-luna"])]
    key_source: Option<String>,
    /// On each rotation, disable encryption with the old key in this account.
    #[arg(long, conflicts_with = "disable_encrypt_on_all_accounts")]
    disable_encrypt: bool,
    /// On each rotation, disable encryption with the old key in every account.
    #[arg(long)]
    disable_encrypt_on_all_accounts: bool,
}

#[derive(Args)]
pub struct ReplicateArgs {
    id: String,
    /// The replica's Region.
    #[arg(long)]
    region: String,
    /// The replica's KMS container (default: the primary's).
    #[arg(long)]
    kms: Option<String>,
    /// The replica's alias.
    #[arg(long)]
    alias: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// A tag KEY=VALUE for the replica (repeat for several).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
}

#[derive(Args)]
pub struct ImportMaterialArgs {
    id: String,
    /// The vault key (name or id) whose material goes in.
    #[arg(long, value_name = "NAME|ID")]
    source_key: Option<String>,
    /// Where the source key lives: local (Keyward's vault, the default).
    #[arg(long)]
    tier: Option<String>,
    #[command(flatten)]
    validity: ValidityArgs,
}

#[derive(Args)]
pub struct UploadArgs {
    /// KMS container name or id.
    #[arg(long)]
    kms: String,
    /// One of the container's Regions.
    #[arg(long)]
    region: String,
    /// The vault key (name or id) whose material goes in (default: a new one).
    #[arg(long, value_name = "NAME|ID")]
    source_key: Option<String>,
    /// Where the source key lives: local (Keyward's vault, the default).
    #[arg(long)]
    tier: Option<String>,
    #[command(flatten)]
    validity: ValidityArgs,
    /// Alias (without alias/).
    #[arg(long)]
    alias: Option<String>,
    #[arg(long)]
    description: Option<String>,
}

/// Splits KEY=VALUE arguments.
fn parse_tags(tags: &[String]) -> Result<Vec<(String, String)>, String> {
    tags.iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    format!("tag '{t}': write it as KEY=VALUE (KEY= for an empty value)")
                })
        })
        .collect()
}

/// KEY=VALUE arguments as `aws_param.Tags` (none when there are none).
fn create_tags(tags: &[String]) -> Result<Option<Vec<CreateTag>>, String> {
    let tags = parse_tags(tags)?;
    Ok((!tags.is_empty()).then(|| {
        tags.into_iter()
            .map(|(tag_key, tag_value)| CreateTag { tag_key, tag_value })
            .collect()
    }))
}

/// The key's Keyward id: the id itself, or the one key record (not gone) with alias/NAME.
async fn key_id(s: &Session, id: &str) -> Result<String, String> {
    if !id.starts_with("alias/") {
        return Ok(id.to_string());
    }
    let params = KeyListParams {
        alias: Some(id.to_string()),
        gone: Some(false),
        limit: Some(-1),
        ..KeyListParams::default()
    };
    let found = s.list_keys(&params).await?.resources;
    match found.as_slice() {
        [one] => Ok(one.resource.id.clone()),
        [] => Err(format!("no key has the alias {id}")),
        many => Err(format!(
            "{} keys have the alias {id} (in {}); give the key's id",
            many.len(),
            many.iter()
                .map(|k| format!("{} {}", k.kms, k.region))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `POST /cckm/aws/keys/{id}/{action}` with a body, for the key given by its id or
/// alias/NAME; the key record the server answers with.
async fn action<B: Serialize>(s: &Session, id: &str, name: &str, body: &B) -> Result<Key, String> {
    let id = key_id(s, id).await?;
    s.key_action(&id, name, body).await
}

/// `k=v, k2=v2` from `[{TagKey, TagValue}]`.
fn tags_text(tags: &[CreateTag]) -> String {
    tags.iter()
        .map(|t| format!("{}={}", t.tag_key, t.tag_value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A key's main fields, in reading order, for the table of one key.
fn key_rows(k: &Key) -> Vec<(&'static str, String)> {
    let p = &k.aws_param;
    let mut multi_region = p.multi_region.cell();
    if let Some(c) = &p.multi_region_configuration {
        multi_region = format!("{multi_region} ({})", c.multi_region_key_type);
    }
    let mut rotation = p.key_rotation_enabled.cell();
    if let Some(d) = p.rotation_period_in_days {
        rotation = format!("{rotation} (every {d} days)");
    }
    let mut rows = vec![
        ("id", k.resource.id.cell()),
        ("alias", p.alias.cell()),
        ("KeyID", p.key_id.cell()),
        ("Arn", p.arn.cell()),
        ("KeyState", p.key_state.cell()),
        ("KeySpec", p.customer_master_key_spec.cell()),
        ("KeyUsage", p.key_usage.cell()),
        ("Origin", p.origin.cell()),
        ("MultiRegion", multi_region),
        ("KeyRotationEnabled", rotation),
    ];
    if let Some(d) = &p.deletion_date {
        rows.push(("DeletionDate", d.clone()));
    }
    rows.extend([
        ("region", k.region.cell()),
        ("kms", k.kms.cell()),
        ("Tags", tags_text(&p.tags)),
        ("Description", p.description.cell()),
        ("gone", k.gone.cell()),
        ("synced_at", k.synced_at.cell()),
    ]);
    for (field, value) in [
        ("job_config_id", k.job_config_id.cell()),
        ("rotation_status", k.rotation_status.cell()),
        ("rotated_from", k.rotated_from.cell()),
        ("rotated_to", k.rotated_to.cell()),
        ("rotated_at", k.rotated_at.cell()),
    ] {
        if !value.is_empty() {
            rows.push((field, value));
        }
    }
    rows
}

/// Prints one key record: its main fields, or the whole JSON with --json.
fn show_key(out: &Output, k: &Key) {
    out.fields(k, &key_rows(k));
}

/// The list's table: one flat row per key.
fn show_list(out: &Output, v: &ListEnvelope<Key>) {
    out.list(
        v,
        &[
            "id", "alias", "KeyID", "region", "KeyState", "KeySpec", "kms",
        ],
        |k| {
            let p = &k.aws_param;
            vec![
                k.resource.id.cell(),
                p.alias.cell(),
                p.key_id.cell(),
                k.region.cell(),
                p.key_state.cell(),
                p.customer_master_key_spec.cell(),
                k.kms.cell(),
            ]
        },
    );
}

/// The table of keys whose imported material expires soon.
fn show_expiring(out: &Output, v: &ListEnvelope<Key>) {
    out.list(
        v,
        &["id", "alias", "KeyID", "ValidTo", "local_key_name"],
        |k| {
            let p = &k.aws_param;
            let valid_to = match &p.valid_to {
                Some(t) => t.clone(),
                None => "n/a (not reported by AWS)".to_string(),
            };
            vec![
                k.resource.id.cell(),
                p.alias.cell(),
                p.key_id.cell(),
                valid_to,
                k.local_key_name.cell(),
            ]
        },
    );
}

/// The table of a key's rotations.
fn show_rotations(out: &Output, v: &ListEnvelope<Shim<Rotation>>) {
    out.list(v, &["ID", "TYPE", "STATUS", "FROM", "TO", "AT"], |r| {
        vec![
            r.resource.id.cell(),
            r.rotation_type.cell(),
            r.status.cell(),
            r.rotated_from.cell(),
            r.rotated_to.cell(),
            r.aws_param.rotation_date.cell(),
        ]
    });
    if out.json {
        return;
    }
    // A failed rotation's reason.
    for r in &v.resources {
        if !r.error.is_empty() {
            println!("{}: {}", r.resource.id, r.error);
        }
    }
}

/// The wire words of the status and kind enums (their serde names), for the tables.
impl Cell for KeyRotationState {
    fn cell(&self) -> String {
        match self {
            KeyRotationState::None => "",
            KeyRotationState::InProgress => "in_progress",
            KeyRotationState::Rotated => "rotated",
            KeyRotationState::Failed => "failed",
        }
        .to_string()
    }
}

impl Cell for RotationType {
    fn cell(&self) -> String {
        match self {
            RotationType::NewKey => "new_key",
            RotationType::Material => "material",
        }
        .to_string()
    }
}

impl Cell for RotationState {
    fn cell(&self) -> String {
        match self {
            RotationState::InProgress => "in_progress",
            RotationState::Completed => "completed",
            RotationState::Failed => "failed",
        }
        .to_string()
    }
}

pub async fn run(cmd: KeysCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    let s = &s;
    match cmd {
        KeysCommand::List(a) => list(s, out, &a.params()).await,
        KeysCommand::Get { id } => get(s, out, &id).await,
        KeysCommand::Create(a) => create(s, out, &a.body()?).await,
        KeysCommand::Delete { id } => delete(s, out, &id).await,
        KeysCommand::ScheduleDeletion { id, days } => {
            act(s, out, &id, "schedule-deletion", &ScheduleDeletion { days }).await
        }
        KeysCommand::CancelDeletion { id } => simple(s, out, &id, "cancel-deletion").await,
        KeysCommand::Enable { id } => simple(s, out, &id, "enable").await,
        KeysCommand::Disable { id } => simple(s, out, &id, "disable").await,
        KeysCommand::UpdateDescription { id, description } => {
            let body = UpdateDescription { description };
            act(s, out, &id, "update-description", &body).await
        }
        KeysCommand::Tag { id, tags } => tag(s, out, &id, &tags).await,
        KeysCommand::Untag { id, keys } => {
            act(s, out, &id, "remove-tags", &RemoveTags { tags: keys }).await
        }
        KeysCommand::AddAlias { id, alias } => {
            act(s, out, &id, "add-alias", &AliasBody { alias }).await
        }
        KeysCommand::DeleteAlias { id, alias } => {
            act(s, out, &id, "delete-alias", &AliasBody { alias }).await
        }
        KeysCommand::Policy { id, policy } => set_policy(s, out, &id, &policy).await,
        KeysCommand::EnableAutoRotation { id, days } => {
            let body = EnableAutoRotation {
                rotation_period_in_days: days,
            };
            act(s, out, &id, "enable-auto-rotation", &body).await
        }
        KeysCommand::DisableAutoRotation { id } => {
            simple(s, out, &id, "disable-auto-rotation").await
        }
        KeysCommand::RotationStatus { id } => rotation_status(s, out, &id).await,
        KeysCommand::RotateMaterial { id } => simple(s, out, &id, "rotate-material").await,
        KeysCommand::Rotate(a) => rotate(s, out, &a.id, &a.body()?).await,
        KeysCommand::EnableRotationJob(a) => {
            act(s, out, &a.id, "enable-rotation-job", &a.body()).await
        }
        KeysCommand::DisableRotationJob { id } => disable_rotation_job(s, out, &id).await,
        KeysCommand::Rotations { id } => rotations(s, out, &id).await,
        KeysCommand::Refresh { id } => simple(s, out, &id, "refresh").await,
        KeysCommand::Replicate(a) => act(s, out, &a.id, "replicate-key", &a.body()?).await,
        KeysCommand::UpdatePrimaryRegion { id, region } => {
            let body = UpdatePrimaryRegion {
                primary_region: region,
            };
            act(s, out, &id, "update-primary-region", &body).await
        }
        KeysCommand::PublicKey { id } => public_key(s, out, &id).await,
        KeysCommand::ImportMaterial(a) => act(s, out, &a.id, "import-material", &a.body()?).await,
        KeysCommand::DeleteMaterial { id } => simple(s, out, &id, "delete-material").await,
        KeysCommand::Upload(a) => upload(s, out, &a.body()?).await,
        KeysCommand::Expiring { within } => expiring(s, out, within).await,
        KeysCommand::VerifyAlias { kms, region, alias } => {
            verify_alias(s, out, VerifyAlias { alias, region, kms }).await
        }
    }
}

impl ListArgs {
    fn params(&self) -> KeyListParams {
        KeyListParams {
            limit: Some(self.limit),
            skip: Some(self.skip),
            kms: self.kms.clone(),
            region: self.region.clone(),
            alias: self.alias.clone(),
            keystate: self.keystate.clone(),
            origin: self.origin.clone(),
            keyid: self.keyid.clone(),
            keyusage: self.keyusage.clone(),
            customer_master_key_spec: self.key_spec.clone(),
            tags: (!self.tags.is_empty()).then(|| self.tags.join(",")),
            gone: self.gone,
            sort: self.sort.clone(),
            ..KeyListParams::default()
        }
    }
}

impl CreateArgs {
    fn body(&self) -> Result<CreateKey, String> {
        let policy = &self.policy;
        let aws_param = CreateKeyAwsParam {
            alias: self.alias.clone(),
            description: self.description.clone(),
            customer_master_key_spec: self.key_spec.clone(),
            key_usage: self.key_usage.clone(),
            origin: self.origin.clone(),
            multi_region: self.multi_region.then_some(true),
            tags: create_tags(&self.tags)?,
            policy: policy.document()?,
            bypass_policy_lockout_safety_check: policy.bypass(),
            ..CreateKeyAwsParam::default()
        };
        let h = policy.helpers();
        Ok(CreateKey {
            kms: self.kms.clone(),
            region: self.region.clone(),
            aws_param,
            key_admins: h.key_admins,
            key_admins_roles: h.key_admins_roles,
            key_users: h.key_users,
            key_users_roles: h.key_users_roles,
            external_accounts: h.external_accounts,
            policytemplate: h.policytemplate,
        })
    }
}

impl RotateArgs {
    fn body(&self) -> Result<RotateKey, String> {
        let validity = self.validity.validity()?;
        Ok(RotateKey {
            source_key_tier: self.source_key_tier.clone(),
            source_key_id: self.source_key_id.clone(),
            description: self.description.clone(),
            disable_encrypt: self.disable_encrypt.then_some(true),
            disable_encrypt_on_all_accounts: self.disable_encrypt_on_all_accounts.then_some(true),
            retain_alias: self.retain_alias.then_some(true),
            key_expiration: validity.key_expiration,
            valid_to: validity.valid_to,
        })
    }
}

impl EnableRotationJobArgs {
    fn body(&self) -> EnableRotationJob {
        // Both flags are always sent, false included.
        EnableRotationJob {
            job_config_id: Some(self.job_config.clone()),
            auto_rotate_disable_encrypt: Some(self.disable_encrypt),
            auto_rotate_disable_encrypt_on_all_accounts: Some(self.disable_encrypt_on_all_accounts),
            auto_rotate_key_source: self.key_source.clone(),
        }
    }
}

impl ReplicateArgs {
    fn body(&self) -> Result<ReplicateKey, String> {
        Ok(ReplicateKey {
            replica_region: self.region.clone(),
            kms: self.kms.clone(),
            aws_param: CreateKeyAwsParam {
                alias: self.alias.clone(),
                description: self.description.clone(),
                tags: create_tags(&self.tags)?,
                ..CreateKeyAwsParam::default()
            },
            ..ReplicateKey::default()
        })
    }
}

impl ImportMaterialArgs {
    fn body(&self) -> Result<ImportMaterial, String> {
        let validity = self.validity.validity()?;
        Ok(ImportMaterial {
            source_key_tier: self.tier.clone(),
            source_key_identifier: self.source_key.clone(),
            key_expiration: validity.key_expiration,
            valid_to: validity.valid_to,
        })
    }
}

impl UploadArgs {
    fn body(&self) -> Result<UploadKey, String> {
        let validity = self.validity.validity()?;
        // The api leaves `aws_param` untyped (the server reads it, so that a refused upload is
        // audited); the CLI writes it as a create's `aws_param`.
        let aws_param = CreateKeyAwsParam {
            alias: self.alias.clone(),
            description: self.description.clone(),
            ..CreateKeyAwsParam::default()
        };
        let aws_param = serde_json::to_value(&aws_param).map_err(|e| format!("aws_param: {e}"))?;
        Ok(UploadKey {
            kms: self.kms.clone(),
            region: self.region.clone(),
            source_key_tier: self.tier.clone(),
            source_key_identifier: self.source_key.clone(),
            key_expiration: validity.key_expiration,
            valid_to: validity.valid_to,
            aws_param: Some(aws_param),
            ..UploadKey::default()
        })
    }
}

async fn list(s: &Session, out: &Output, params: &KeyListParams) -> Result<(), String> {
    show_list(out, &s.list_keys(params).await?);
    Ok(())
}

async fn get(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    show_key(out, &s.get_key(&id).await?);
    Ok(())
}

async fn create(s: &Session, out: &Output, body: &CreateKey) -> Result<(), String> {
    show_key(out, &s.create_key(body).await?);
    Ok(())
}

async fn delete(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    s.delete_key(&id).await?;
    out.done(&format!(
        "key record {id} forgotten; the key itself is untouched in AWS (schedule-deletion deletes it there)"
    ));
    Ok(())
}

/// A key action with a body whose answer is the key, shown.
async fn act<B: Serialize>(
    s: &Session,
    out: &Output,
    id: &str,
    name: &str,
    body: &B,
) -> Result<(), String> {
    show_key(out, &action(s, id, name, body).await?);
    Ok(())
}

async fn upload(s: &Session, out: &Output, body: &UploadKey) -> Result<(), String> {
    show_key(out, &s.upload_key(body).await?);
    Ok(())
}

/// An action that takes an empty body and answers with the key.
async fn simple(s: &Session, out: &Output, id: &str, name: &str) -> Result<(), String> {
    show_key(out, &action(s, id, name, &Empty {}).await?);
    Ok(())
}

async fn tag(s: &Session, out: &Output, id: &str, tags: &[String]) -> Result<(), String> {
    let body = AddTags {
        tags: parse_tags(tags)?
            .into_iter()
            .map(|(tag_key, tag_value)| ActionTag { tag_key, tag_value })
            .collect(),
    };
    show_key(out, &action(s, id, "add-tags", &body).await?);
    Ok(())
}

async fn set_policy(
    s: &Session,
    out: &Output,
    id: &str,
    policy: &PolicyArgs,
) -> Result<(), String> {
    let h = policy.helpers();
    let body = PolicyBody {
        policy: policy.document()?,
        key_admins: h.key_admins,
        key_admins_roles: h.key_admins_roles,
        key_users: h.key_users,
        key_users_roles: h.key_users_roles,
        external_accounts: h.external_accounts,
        policytemplate: h.policytemplate,
        bypass_policy_lockout_safety_check: policy.bypass(),
    };
    show_key(out, &action(s, id, "policy", &body).await?);
    Ok(())
}

async fn rotation_status(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    let status: Shim<KeyRotationStatus> = s
        .key_action(&id, "get-key-rotation-status", &Empty {})
        .await?;
    out.object(&status);
    Ok(())
}

async fn rotate(s: &Session, out: &Output, id: &str, body: &RotateKey) -> Result<(), String> {
    let old = key_id(s, id).await?;
    let new: Key = s.key_action(&old, "rotate", body).await?;
    show_key(out, &new);
    if !out.json {
        println!("rotated {old} -> {}", new.resource.id);
    }
    Ok(())
}

async fn disable_rotation_job(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    show_key(out, &s.key_action_bare(&id, "disable-rotation-job").await?);
    Ok(())
}

async fn rotations(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    let page = PageParams {
        limit: Some(-1),
        sort: Some("createdAt".into()),
        ..PageParams::default()
    };
    show_rotations(out, &s.key_rotations(&id, &page).await?);
    Ok(())
}

async fn public_key(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    let id = key_id(s, id).await?;
    let v = s.public_key(&id).await?;
    if out.json {
        out.print_json(&v);
    } else {
        print!("{}", v.public_key);
    }
    Ok(())
}

async fn expiring(s: &Session, out: &Output, within: String) -> Result<(), String> {
    let params = KeyListParams {
        expiring_within: Some(within),
        gone: Some(false),
        limit: Some(-1),
        sort: Some("createdAt".into()),
        ..KeyListParams::default()
    };
    show_expiring(out, &s.list_keys(&params).await?);
    Ok(())
}

async fn verify_alias(s: &Session, out: &Output, body: VerifyAlias) -> Result<(), String> {
    let v: Shim<AliasAvailable> = s.verify_alias(&body).await?;
    if out.json {
        out.print_json(&v);
    } else {
        let bare = body.alias.strip_prefix("alias/").unwrap_or(&body.alias);
        println!(
            "alias/{bare} is available in {} of {}",
            body.region, body.kms
        );
    }
    Ok(())
}
