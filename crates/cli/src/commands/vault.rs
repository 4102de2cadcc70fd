use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::segment;
use crate::client::Session;
use crate::output::Output;

const BASE: &str = "/vault/keys2";

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Keys in Keyward's vault: the material imported into EXTERNAL AWS keys.
    #[command(subcommand)]
    Keys(VaultKeysCommand),
}

#[derive(Subcommand)]
pub enum VaultKeysCommand {
    /// Create an AES key in the vault; its material is generated unless --material-env names it.
    Create {
        name: String,
        /// 128, 192 or 256 (default 256; AWS imports need 256).
        #[arg(long)]
        size: Option<i64>,
        /// An environment variable holding known material as hex (never on the command line).
        #[arg(long, value_name = "VAR")]
        material_env: Option<String>,
    },
    /// List vault keys.
    List {
        /// Only the key with this name.
        #[arg(long)]
        name: Option<String>,
        /// -1 for all.
        #[arg(long, default_value_t = -1)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        skip: i64,
    },
    /// Show one vault key's metadata (its id or name); the material is never shown.
    Get { id: String },
    /// Delete a vault key (refused while an AWS key uses its material).
    Delete { id: String },
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// A vault key's fields, in reading order, for the table of one key.
fn key_rows(k: &Value) -> Vec<(&'static str, String)> {
    vec![
        ("id", text(&k["id"])),
        ("name", text(&k["name"])),
        ("algorithm", text(&k["algorithm"])),
        ("size", text(&k["size"])),
        ("used_by_aws_keys", text(&k["used_by_aws_keys"])),
        ("createdAt", text(&k["createdAt"])),
        ("updatedAt", text(&k["updatedAt"])),
    ]
}

/// Prints one vault key: its fields, or the whole JSON with --json.
fn show_key(out: &Output, k: &Value) {
    out.fields(k, &key_rows(k));
}

/// Overwrites a copy of the material before its memory is freed (best effort: the request
/// body reqwest serialized is not reachable from here).
fn wipe(secret: String) {
    let mut bytes = secret.into_bytes();
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
}

pub async fn run(cmd: VaultCommand, out: &Output) -> Result<(), String> {
    let VaultCommand::Keys(cmd) = cmd;
    let s = Session::load().await?;
    match cmd {
        VaultKeysCommand::Create {
            name,
            size,
            material_env,
        } => {
            let mut body = json!({"name": name, "algorithm": "aes"});
            if let Some(size) = size {
                body["size"] = json!(size);
            }
            if let Some(var) = material_env {
                let material = std::env::var(&var)
                    .ok()
                    .filter(|m| !m.trim().is_empty())
                    .ok_or_else(|| {
                        format!("--material-env {var}: that environment variable is not set")
                    })?;
                body["material"] = Value::String(material.trim().to_string());
                wipe(material);
            }
            let created = s.call(Method::POST, BASE, Some(&body)).await;
            if let Some(Value::String(m)) = body.get_mut("material") {
                wipe(std::mem::take(m));
            }
            show_key(out, &created?);
        }
        VaultKeysCommand::List { name, limit, skip } => {
            let mut query = format!("?limit={limit}&skip={skip}");
            if let Some(n) = name {
                query.push_str(&format!("&name={}", segment(&n)));
            }
            let v = s.call(Method::GET, &format!("{BASE}{query}"), None).await?;
            out.list(
                &v,
                &[
                    "id",
                    "name",
                    "algorithm",
                    "size",
                    "used_by_aws_keys",
                    "createdAt",
                ],
            );
        }
        VaultKeysCommand::Get { id } => {
            let k = s
                .call(Method::GET, &format!("{BASE}/{}", segment(&id)), None)
                .await?;
            show_key(out, &k);
        }
        VaultKeysCommand::Delete { id } => {
            s.call(Method::DELETE, &format!("{BASE}/{}", segment(&id)), None)
                .await?;
            out.done(&format!("vault key {id} deleted"));
        }
    }
    Ok(())
}
