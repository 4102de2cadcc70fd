use clap::Subcommand;
use keyward_api::kms::KmsCreate;

use super::all_pages;
use crate::client::Session;
use crate::output::{Cell, Output};

#[derive(Subcommand)]
pub enum KmsCommand {
    /// Add a KMS container: an AWS account reached through a connection, in some Regions.
    Create {
        name: String,
        #[arg(long)]
        account_id: String,
        /// The connection's name or id.
        #[arg(long)]
        connection: String,
        /// A Region (repeat for several).
        #[arg(long = "region", required = true)]
        regions: Vec<String>,
        #[arg(long)]
        assume_role_arn: Option<String>,
        #[arg(long)]
        assume_role_external_id: Option<String>,
    },
    /// List KMS containers.
    List,
    /// Show one KMS container (name or id).
    Get { kms: String },
    /// Delete a KMS container (name or id).
    Delete { kms: String },
}

pub async fn run(cmd: KmsCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    match cmd {
        KmsCommand::Create {
            name,
            account_id,
            connection,
            regions,
            assume_role_arn,
            assume_role_external_id,
        } => {
            let body = KmsCreate {
                name,
                account_id,
                connection,
                regions,
                assume_role_arn,
                assume_role_external_id,
            };
            create(&s, out, &body).await
        }
        KmsCommand::List => list(&s, out).await,
        KmsCommand::Get { kms } => get(&s, out, &kms).await,
        KmsCommand::Delete { kms } => delete(&s, out, &kms).await,
    }
}

async fn create(s: &Session, out: &Output, body: &KmsCreate) -> Result<(), String> {
    out.object(&s.create_kms(body).await?);
    Ok(())
}

async fn list(s: &Session, out: &Output) -> Result<(), String> {
    out.list(
        &s.list_kms(&all_pages()).await?,
        &["name", "id", "account_id", "connection", "regions"],
        |k| {
            vec![
                k.name.cell(),
                k.resource.id.cell(),
                k.account_id.cell(),
                k.connection.cell(),
                k.regions.cell(),
            ]
        },
    );
    Ok(())
}

async fn get(s: &Session, out: &Output, kms: &str) -> Result<(), String> {
    out.object(&s.get_kms(kms).await?);
    Ok(())
}

async fn delete(s: &Session, out: &Output, kms: &str) -> Result<(), String> {
    s.delete_kms(kms).await?;
    out.done(&format!("KMS container {kms} deleted"));
    Ok(())
}
