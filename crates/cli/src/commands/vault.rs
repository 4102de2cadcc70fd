use clap::Subcommand;
use keyward_api::vault::{VaultKey, VaultKeyCreate, VaultKeyParams};

use crate::client::Session;
use crate::output::{Cell, Output};

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

/// A vault key's fields, in reading order, for the table of one key.
fn key_rows(k: &VaultKey) -> Vec<(&'static str, String)> {
    vec![
        ("id", k.resource.id.cell()),
        ("name", k.name.cell()),
        ("algorithm", k.algorithm.cell()),
        ("size", k.size.cell()),
        ("used_by_aws_keys", k.used_by_aws_keys.cell()),
        ("createdAt", k.resource.created_at.cell()),
        ("updatedAt", k.resource.updated_at.cell()),
    ]
}

/// Prints one vault key: its fields, or the whole JSON with --json.
fn show_key(out: &Output, k: &VaultKey) {
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
        } => create(&s, out, name, size, material_env).await,
        VaultKeysCommand::List { name, limit, skip } => {
            let params = VaultKeyParams {
                limit: Some(limit),
                skip: Some(skip),
                name,
                sort: None,
            };
            list(&s, out, &params).await
        }
        VaultKeysCommand::Get { id } => get(&s, out, &id).await,
        VaultKeysCommand::Delete { id } => delete(&s, out, &id).await,
    }
}

async fn create(
    s: &Session,
    out: &Output,
    name: String,
    size: Option<i64>,
    material_env: Option<String>,
) -> Result<(), String> {
    let mut body = VaultKeyCreate {
        name,
        algorithm: Some("aes".into()),
        size,
        material: None,
        ..Default::default()
    };
    if let Some(var) = material_env {
        let material = std::env::var(&var)
            .ok()
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| format!("--material-env {var}: that environment variable is not set"))?;
        body.material = Some(material.trim().to_string());
        wipe(material);
    }
    let created = s.create_vault_key(&body).await;
    if let Some(m) = body.material.take() {
        wipe(m);
    }
    show_key(out, &created?);
    Ok(())
}

async fn list(s: &Session, out: &Output, params: &VaultKeyParams) -> Result<(), String> {
    out.list(
        &s.list_vault_keys(params).await?,
        &[
            "id",
            "name",
            "algorithm",
            "size",
            "used_by_aws_keys",
            "createdAt",
        ],
        |k| {
            vec![
                k.resource.id.cell(),
                k.name.cell(),
                k.algorithm.cell(),
                k.size.cell(),
                k.used_by_aws_keys.cell(),
                k.resource.created_at.cell(),
            ]
        },
    );
    Ok(())
}

async fn get(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    show_key(out, &s.get_vault_key(id).await?);
    Ok(())
}

async fn delete(s: &Session, out: &Output, id: &str) -> Result<(), String> {
    s.delete_vault_key(id).await?;
    out.done(&format!("vault key {id} deleted"));
    Ok(())
}
