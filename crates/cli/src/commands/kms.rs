use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::segment;
use crate::client::Session;
use crate::output::Output;

const BASE: &str = "/cckm/aws/kms";

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
            let mut body = json!({"name": name, "account_id": account_id, "connection": connection, "regions": regions});
            if let Some(v) = assume_role_arn {
                body["assume_role_arn"] = Value::String(v);
            }
            if let Some(v) = assume_role_external_id {
                body["assume_role_external_id"] = Value::String(v);
            }
            out.object(&s.call(Method::POST, BASE, Some(&body)).await?);
        }
        KmsCommand::List => {
            let v = s
                .call(Method::GET, &format!("{BASE}?limit=-1"), None)
                .await?;
            out.list(&v, &["name", "id", "account_id", "connection", "regions"]);
        }
        KmsCommand::Get { kms } => {
            out.object(
                &s.call(Method::GET, &format!("{BASE}/{}", segment(&kms)), None)
                    .await?,
            );
        }
        KmsCommand::Delete { kms } => {
            s.call(Method::DELETE, &format!("{BASE}/{}", segment(&kms)), None)
                .await?;
            out.done(&format!("KMS container {kms} deleted"));
        }
    }
    Ok(())
}
