use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{secret_from_env_or_prompt, segment};
use crate::client::Session;
use crate::output::Output;

const BASE: &str = "/connectionmgmt/services/aws/connections";

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// Add an AWS connection; the secret access key comes from AWS_SECRET_ACCESS_KEY or a prompt.
    Create {
        name: String,
        #[arg(long)]
        access_key_id: String,
        /// Default Region of the connection.
        #[arg(long)]
        region: Option<String>,
        /// Endpoint override (VPC or FIPS endpoint, or an emulator such as LocalStack).
        #[arg(long)]
        endpoint_url: Option<String>,
        #[arg(long)]
        assume_role_arn: Option<String>,
        #[arg(long)]
        assume_role_external_id: Option<String>,
        /// aws, aws-us-gov or aws-cn.
        #[arg(long)]
        cloud_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List connections.
    List,
    /// Show one connection (name or id).
    Get { connection: String },
    /// Try the connection's credentials against AWS.
    Test { connection: String },
    /// Delete a connection (name or id).
    Delete { connection: String },
}

pub async fn run(cmd: ConnectionsCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    match cmd {
        ConnectionsCommand::Create {
            name,
            access_key_id,
            region,
            endpoint_url,
            assume_role_arn,
            assume_role_external_id,
            cloud_name,
            description,
        } => {
            let secret =
                secret_from_env_or_prompt(&["AWS_SECRET_ACCESS_KEY"], "AWS secret access key: ")?;
            let mut body =
                json!({"name": name, "access_key_id": access_key_id, "secret_access_key": secret});
            for (k, v) in [
                ("aws_region", region),
                ("endpoint_url", endpoint_url),
                ("assume_role_arn", assume_role_arn),
                ("assume_role_external_id", assume_role_external_id),
                ("cloud_name", cloud_name),
                ("description", description),
            ] {
                if let Some(v) = v {
                    body[k] = Value::String(v);
                }
            }
            out.object(&s.call(Method::POST, BASE, Some(&body)).await?);
        }
        ConnectionsCommand::List => {
            let v = s
                .call(Method::GET, &format!("{BASE}?limit=-1"), None)
                .await?;
            out.list(
                &v,
                &[
                    "name",
                    "id",
                    "access_key_id",
                    "aws_region",
                    "endpoint_url",
                    "last_connection_ok",
                ],
            );
        }
        ConnectionsCommand::Get { connection } => {
            out.object(
                &s.call(
                    Method::GET,
                    &format!("{BASE}/{}", segment(&connection)),
                    None,
                )
                .await?,
            );
        }
        ConnectionsCommand::Test { connection } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("{BASE}/{}/test", segment(&connection)),
                    None,
                )
                .await?;
            let ok = v["connection_ok"].as_bool().unwrap_or(false);
            if out.json {
                out.print_json(&v);
            } else if ok {
                println!("connection {connection} works");
            }
            if !ok {
                return Err(format!(
                    "connection {connection} failed: {}",
                    v["error"].as_str().unwrap_or("unknown error")
                ));
            }
        }
        ConnectionsCommand::Delete { connection } => {
            s.call(
                Method::DELETE,
                &format!("{BASE}/{}", segment(&connection)),
                None,
            )
            .await?;
            out.done(&format!("connection {connection} deleted"));
        }
    }
    Ok(())
}
