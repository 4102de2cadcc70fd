use std::path::PathBuf;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::segment;
use crate::client::Session;
use crate::output::Output;

const BASE: &str = "/cckm/aws/keys";

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

    /// Adds the key_* lists and the template to a body (top level, as CCKM has them).
    fn add_helpers(&self, body: &mut Value) {
        for (k, list) in [
            ("key_admins", &self.key_admins),
            ("key_admins_roles", &self.key_admins_roles),
            ("key_users", &self.key_users),
            ("key_users_roles", &self.key_users_roles),
            ("external_accounts", &self.external_accounts),
        ] {
            if !list.is_empty() {
                body[k] = json!(list);
            }
        }
        if let Some(t) = &self.policy_template {
            body["policytemplate"] = Value::String(t.clone());
        }
    }
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
    /// Adds key_expiration and valid_to to an import or upload body when a validity is given.
    fn add_to(&self, body: &mut Value) -> Result<(), String> {
        let valid_to = match (&self.valid_to, &self.expires_in) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => keyward_core::validate::add(
                "--expires-in",
                chrono::Utc::now(),
                window("--expires-in", d)?,
            )
            .map_err(|e| e.to_string())?
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (None, None) => return Ok(()),
        };
        body["key_expiration"] = Value::Bool(true);
        body["valid_to"] = Value::String(valid_to);
        Ok(())
    }
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
    List {
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
    },
    /// Show one key (its id, or alias/NAME when one key has that alias).
    Get { id: String },
    /// Create a key in AWS and keep its record.
    Create {
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
    },
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
    Rotate {
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
    },
    /// Attach the key to a scheduled rotation job (a cckm_key_rotation job config).
    EnableRotationJob {
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
    },
    /// Detach the key from its scheduled rotation job.
    DisableRotationJob { id: String },
    /// The key's rotations (as the old or the new key), oldest first.
    Rotations { id: String },
    /// Re-read the key from AWS.
    Refresh { id: String },
    /// Replicate a multi-Region primary key to another Region; shows the replica.
    Replicate {
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
    },
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
    ImportMaterial {
        id: String,
        /// The vault key (name or id) whose material goes in.
        #[arg(long, value_name = "NAME|ID")]
        source_key: Option<String>,
        /// Where the source key lives: local (Keyward's vault, the default).
        #[arg(long)]
        tier: Option<String>,
        #[command(flatten)]
        validity: ValidityArgs,
    },
    /// Delete an EXTERNAL key's imported material in AWS (the key goes to PendingImport; the
    /// vault key stays, so the same material can be imported again).
    DeleteMaterial { id: String },
    /// Create an EXTERNAL key and import material into it in one call.
    Upload {
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
    },
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

/// The key's Keyward id: the id itself, or the one key record (not gone) with alias/NAME.
async fn key_id(s: &Session, id: &str) -> Result<String, String> {
    if !id.starts_with("alias/") {
        return Ok(id.to_string());
    }
    let v = s
        .call(
            Method::GET,
            &format!("{BASE}?alias={}&gone=false&limit=-1", segment(id)),
            None,
        )
        .await?;
    let found = v["resources"].as_array().cloned().unwrap_or_default();
    match found.as_slice() {
        [one] => one["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| format!("the key with {id} has no id")),
        [] => Err(format!("no key has the alias {id}")),
        many => Err(format!(
            "{} keys have the alias {id} (in {}); give the key's id",
            many.len(),
            many.iter()
                .map(|k| format!(
                    "{} {}",
                    k["kms"].as_str().unwrap_or_default(),
                    k["region"].as_str().unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `METHOD /cckm/aws/keys/{id}{rest}` for the key given by its id or alias/NAME; returns the
/// server's answer.
async fn key_call(
    s: &Session,
    method: Method,
    id: &str,
    rest: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let id = key_id(s, id).await?;
    s.call(method, &format!("{BASE}/{}{rest}", segment(&id)), body)
        .await
}

/// A JSON value as a table cell: strings bare, arrays joined with commas, null empty.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `k=v, k2=v2` from `[{TagKey, TagValue}]`.
fn tags_text(tags: &Value) -> String {
    tags.as_array()
        .map(|a| {
            a.iter()
                .map(|t| format!("{}={}", text(&t["TagKey"]), text(&t["TagValue"])))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A key's main fields, in reading order, for the table of one key.
fn key_rows(k: &Value) -> Vec<(&'static str, String)> {
    let p = &k["aws_param"];
    let mut multi_region = text(&p["MultiRegion"]);
    if let Some(t) = p["MultiRegionConfiguration"]["MultiRegionKeyType"].as_str() {
        multi_region = format!("{multi_region} ({t})");
    }
    let mut rotation = text(&p["KeyRotationEnabled"]);
    if let Some(d) = p["RotationPeriodInDays"].as_i64() {
        rotation = format!("{rotation} (every {d} days)");
    }
    let mut rows = vec![
        ("id", text(&k["id"])),
        ("alias", text(&p["Alias"])),
        ("KeyID", text(&p["KeyID"])),
        ("Arn", text(&p["Arn"])),
        ("KeyState", text(&p["KeyState"])),
        ("KeySpec", text(&p["CustomerMasterKeySpec"])),
        ("KeyUsage", text(&p["KeyUsage"])),
        ("Origin", text(&p["Origin"])),
        ("MultiRegion", multi_region),
        ("KeyRotationEnabled", rotation),
    ];
    if !p["DeletionDate"].is_null() {
        rows.push(("DeletionDate", text(&p["DeletionDate"])));
    }
    rows.extend([
        ("region", text(&k["region"])),
        ("kms", text(&k["kms"])),
        ("Tags", tags_text(&p["Tags"])),
        ("Description", text(&p["Description"])),
        ("gone", text(&k["gone"])),
        ("synced_at", text(&k["synced_at"])),
    ]);
    for field in [
        "job_config_id",
        "rotation_status",
        "rotated_from",
        "rotated_to",
        "rotated_at",
    ] {
        let value = text(&k[field]);
        if !value.is_empty() {
            rows.push((field, value));
        }
    }
    rows
}

/// Prints one key record: its main fields, or the whole JSON with --json.
fn show_key(out: &Output, k: &Value) {
    out.fields(k, &key_rows(k));
}

/// The list's table: one flat row per key.
fn show_list(out: &Output, v: &Value) {
    out.list_of(
        v,
        &[
            "id", "alias", "KeyID", "region", "KeyState", "KeySpec", "kms",
        ],
        |k| {
            let p = &k["aws_param"];
            json!({
                "id": k["id"],
                "alias": p["Alias"],
                "KeyID": p["KeyID"],
                "region": k["region"],
                "KeyState": p["KeyState"],
                "KeySpec": p["CustomerMasterKeySpec"],
                "kms": k["kms"],
            })
        },
    );
}

/// The table of keys whose imported material expires soon.
fn show_expiring(out: &Output, v: &Value) {
    out.list_of(
        v,
        &["id", "alias", "KeyID", "ValidTo", "local_key_name"],
        |k| {
            let p = &k["aws_param"];
            let valid_to = match p["ValidTo"].as_str() {
                Some(t) => t.to_string(),
                None => "n/a (not reported by AWS)".to_string(),
            };
            json!({
                "id": k["id"],
                "alias": p["Alias"],
                "KeyID": p["KeyID"],
                "ValidTo": valid_to,
                "local_key_name": k["local_key_name"],
            })
        },
    );
}

/// The table of a key's rotations.
fn show_rotations(out: &Output, v: &Value) {
    out.list_of(v, &["ID", "TYPE", "STATUS", "FROM", "TO", "AT"], |r| {
        let at = match r["aws_param"]["RotationDate"].as_str() {
            Some(d) => d.to_string(),
            None => text(&r["createdAt"]),
        };
        json!({
            "ID": r["id"],
            "TYPE": r["rotation_type"],
            "STATUS": r["status"],
            "FROM": r["rotated_from"],
            "TO": r["rotated_to"],
            "AT": at,
        })
    });
    if out.json {
        return;
    }
    // A failed rotation's reason.
    for r in v["resources"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(e) = r["error"].as_str().filter(|e| !e.is_empty()) {
            println!("{}: {e}", text(&r["id"]));
        }
    }
}

pub async fn run(cmd: KeysCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    // POST /cckm/aws/keys/{id}/<action> with a body; returns the server's answer.
    let action = |id: String, name: &'static str, body: Value| {
        let s = &s;
        async move { key_call(s, Method::POST, &id, &format!("/{name}"), Some(&body)).await }
    };
    match cmd {
        KeysCommand::List {
            kms,
            region,
            alias,
            keystate,
            origin,
            keyid,
            keyusage,
            key_spec,
            tags,
            gone,
            limit,
            skip,
            sort,
        } => {
            let mut query = format!("?limit={limit}&skip={skip}");
            let tags = (!tags.is_empty()).then(|| tags.join(","));
            for (k, v) in [
                ("kms", kms),
                ("region", region),
                ("alias", alias),
                ("keystate", keystate),
                ("origin", origin),
                ("keyid", keyid),
                ("keyusage", keyusage),
                ("CustomerMasterKeySpec", key_spec),
                ("tags", tags),
                ("gone", gone.map(|g| g.to_string())),
                ("sort", sort),
            ] {
                if let Some(v) = v {
                    query.push_str(&format!("&{k}={}", segment(&v)));
                }
            }
            show_list(
                out,
                &s.call(Method::GET, &format!("{BASE}{query}"), None).await?,
            );
        }
        KeysCommand::Get { id } => show_key(out, &key_call(&s, Method::GET, &id, "", None).await?),
        KeysCommand::Create {
            kms,
            region,
            alias,
            description,
            key_spec,
            key_usage,
            origin,
            multi_region,
            tags,
            policy,
        } => {
            let mut param = json!({});
            for (k, v) in [
                ("Alias", alias),
                ("Description", description),
                ("CustomerMasterKeySpec", key_spec),
                ("KeyUsage", key_usage),
                ("Origin", origin),
            ] {
                if let Some(v) = v {
                    param[k] = Value::String(v);
                }
            }
            if multi_region {
                param["MultiRegion"] = Value::Bool(true);
            }
            let tags = parse_tags(&tags)?;
            if !tags.is_empty() {
                param["Tags"] = tags
                    .iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect();
            }
            if let Some(doc) = policy.document()? {
                param["Policy"] = doc;
            }
            if policy.bypass_policy_lockout_safety_check {
                param["BypassPolicyLockoutSafetyCheck"] = Value::Bool(true);
            }
            let mut body = json!({"kms": kms, "region": region, "aws_param": param});
            policy.add_helpers(&mut body);
            show_key(out, &s.call(Method::POST, BASE, Some(&body)).await?);
        }
        KeysCommand::Delete { id } => {
            let id = key_id(&s, &id).await?;
            s.call(Method::DELETE, &format!("{BASE}/{}", segment(&id)), None)
                .await?;
            out.done(&format!(
                "key record {id} forgotten; the key itself is untouched in AWS (schedule-deletion deletes it there)"
            ));
        }
        KeysCommand::ScheduleDeletion { id, days } => {
            show_key(
                out,
                &action(id, "schedule-deletion", json!({"days": days})).await?,
            );
        }
        KeysCommand::CancelDeletion { id } => {
            show_key(out, &action(id, "cancel-deletion", json!({})).await?);
        }
        KeysCommand::Enable { id } => show_key(out, &action(id, "enable", json!({})).await?),
        KeysCommand::Disable { id } => show_key(out, &action(id, "disable", json!({})).await?),
        KeysCommand::UpdateDescription { id, description } => {
            show_key(
                out,
                &action(
                    id,
                    "update-description",
                    json!({"description": description}),
                )
                .await?,
            );
        }
        KeysCommand::Tag { id, tags } => {
            let tags: Vec<Value> = parse_tags(&tags)?
                .into_iter()
                .map(|(k, v)| json!({"tag_key": k, "tag_value": v}))
                .collect();
            show_key(out, &action(id, "add-tags", json!({"tags": tags})).await?);
        }
        KeysCommand::Untag { id, keys } => {
            show_key(
                out,
                &action(id, "remove-tags", json!({"tags": keys})).await?,
            );
        }
        KeysCommand::AddAlias { id, alias } => {
            show_key(
                out,
                &action(id, "add-alias", json!({"alias": alias})).await?,
            );
        }
        KeysCommand::DeleteAlias { id, alias } => {
            show_key(
                out,
                &action(id, "delete-alias", json!({"alias": alias})).await?,
            );
        }
        KeysCommand::Policy { id, policy } => {
            let mut body = json!({});
            if let Some(doc) = policy.document()? {
                body["policy"] = doc;
            }
            if policy.bypass_policy_lockout_safety_check {
                body["BypassPolicyLockoutSafetyCheck"] = Value::Bool(true);
            }
            policy.add_helpers(&mut body);
            show_key(out, &action(id, "policy", body).await?);
        }
        KeysCommand::EnableAutoRotation { id, days } => {
            let body = match days {
                Some(d) => json!({"rotation_period_in_days": d}),
                None => json!({}),
            };
            show_key(out, &action(id, "enable-auto-rotation", body).await?);
        }
        KeysCommand::DisableAutoRotation { id } => {
            show_key(out, &action(id, "disable-auto-rotation", json!({})).await?);
        }
        KeysCommand::RotationStatus { id } => {
            out.object(&action(id, "get-key-rotation-status", json!({})).await?);
        }
        KeysCommand::RotateMaterial { id } => {
            show_key(out, &action(id, "rotate-material", json!({})).await?);
        }
        KeysCommand::Rotate {
            id,
            source_key_tier,
            source_key_id,
            disable_encrypt,
            disable_encrypt_on_all_accounts,
            description,
            validity,
            retain_alias,
        } => {
            let mut body = json!({});
            for (k, v) in [
                ("source_key_tier", source_key_tier),
                ("source_key_id", source_key_id),
                ("description", description),
            ] {
                if let Some(v) = v {
                    body[k] = Value::String(v);
                }
            }
            for (k, on) in [
                ("disable_encrypt", disable_encrypt),
                (
                    "disable_encrypt_on_all_accounts",
                    disable_encrypt_on_all_accounts,
                ),
                ("retain_alias", retain_alias),
            ] {
                if on {
                    body[k] = Value::Bool(true);
                }
            }
            validity.add_to(&mut body)?;
            let old = key_id(&s, &id).await?;
            let new = s
                .call(
                    Method::POST,
                    &format!("{BASE}/{}/rotate", segment(&old)),
                    Some(&body),
                )
                .await?;
            show_key(out, &new);
            if !out.json {
                println!("rotated {old} -> {}", text(&new["id"]));
            }
        }
        KeysCommand::EnableRotationJob {
            id,
            job_config,
            key_source,
            disable_encrypt,
            disable_encrypt_on_all_accounts,
        } => {
            let mut body = json!({
                "job_config_id": job_config,
                "auto_rotate_disable_encrypt": disable_encrypt,
                "auto_rotate_disable_encrypt_on_all_accounts": disable_encrypt_on_all_accounts,
            });
            if let Some(k) = key_source {
                body["auto_rotate_key_source"] = Value::String(k);
            }
            show_key(out, &action(id, "enable-rotation-job", body).await?);
        }
        KeysCommand::DisableRotationJob { id } => {
            let k = key_call(&s, Method::POST, &id, "/disable-rotation-job", None).await?;
            show_key(out, &k);
        }
        KeysCommand::Rotations { id } => {
            let rest = "/rotations?limit=-1&sort=createdAt";
            show_rotations(out, &key_call(&s, Method::GET, &id, rest, None).await?);
        }
        KeysCommand::Refresh { id } => show_key(out, &action(id, "refresh", json!({})).await?),
        KeysCommand::Replicate {
            id,
            region,
            kms,
            alias,
            description,
            tags,
        } => {
            let mut body = json!({"replica_region": region});
            if let Some(k) = kms {
                body["kms"] = Value::String(k);
            }
            let mut param = json!({});
            if let Some(a) = alias {
                param["Alias"] = Value::String(a);
            }
            if let Some(d) = description {
                param["Description"] = Value::String(d);
            }
            let tags = parse_tags(&tags)?;
            if !tags.is_empty() {
                param["Tags"] = tags
                    .iter()
                    .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
                    .collect();
            }
            body["aws_param"] = param;
            show_key(out, &action(id, "replicate-key", body).await?);
        }
        KeysCommand::UpdatePrimaryRegion { id, region } => {
            show_key(
                out,
                &action(
                    id,
                    "update-primary-region",
                    json!({"PrimaryRegion": region}),
                )
                .await?,
            );
        }
        KeysCommand::PublicKey { id } => {
            let v = key_call(&s, Method::GET, &id, "/download-public-key", None).await?;
            if out.json {
                out.print_json(&v);
            } else {
                print!("{}", v["public_key"].as_str().unwrap_or_default());
            }
        }
        KeysCommand::ImportMaterial {
            id,
            source_key,
            tier,
            validity,
        } => {
            let mut body = json!({});
            if let Some(t) = tier {
                body["source_key_tier"] = Value::String(t);
            }
            if let Some(k) = source_key {
                body["source_key_identifier"] = Value::String(k);
            }
            validity.add_to(&mut body)?;
            show_key(out, &action(id, "import-material", body).await?);
        }
        KeysCommand::DeleteMaterial { id } => {
            show_key(out, &action(id, "delete-material", json!({})).await?);
        }
        KeysCommand::Upload {
            kms,
            region,
            source_key,
            tier,
            validity,
            alias,
            description,
        } => {
            let mut body = json!({"kms": kms, "region": region});
            if let Some(t) = tier {
                body["source_key_tier"] = Value::String(t);
            }
            if let Some(k) = source_key {
                body["source_key_identifier"] = Value::String(k);
            }
            validity.add_to(&mut body)?;
            let mut param = json!({});
            if let Some(a) = alias {
                param["Alias"] = Value::String(a);
            }
            if let Some(d) = description {
                param["Description"] = Value::String(d);
            }
            body["aws_param"] = param;
            show_key(
                out,
                &s.call(Method::POST, "/cckm/aws/upload-key", Some(&body))
                    .await?,
            );
        }
        KeysCommand::Expiring { within } => {
            let v = s
                .call(
                    Method::GET,
                    &format!(
                        "{BASE}?expiring_within={}&gone=false&limit=-1&sort=createdAt",
                        segment(&within)
                    ),
                    None,
                )
                .await?;
            show_expiring(out, &v);
        }
        KeysCommand::VerifyAlias { kms, region, alias } => {
            let v = s
                .call(
                    Method::POST,
                    "/cckm/aws/alias/verify",
                    Some(&json!({"alias": alias, "region": region, "kms": kms})),
                )
                .await?;
            if out.json {
                out.print_json(&v);
            } else {
                let bare = alias.strip_prefix("alias/").unwrap_or(&alias);
                println!("alias/{bare} is available in {region} of {kms}");
            }
        }
    }
    Ok(())
}
