use clap::Subcommand;
use keyward_api::connections::AwsConnectionCreate;

use super::all_pages;
use super::secret_from_env_or_prompt;
use crate::client::Session;
use crate::output::{Cell, Output};

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
            let body = AwsConnectionCreate {
                name,
                access_key_id: Some(access_key_id),
                secret_access_key: Some(secret),
                aws_region: region,
                endpoint_url,
                assume_role_arn,
                assume_role_external_id,
                cloud_name,
                description,
                ..AwsConnectionCreate::default()
            };
            create(&s, out, &body).await
        }
        ConnectionsCommand::List => list(&s, out).await,
        ConnectionsCommand::Get { connection } => get(&s, out, &connection).await,
        ConnectionsCommand::Test { connection } => test(&s, out, &connection).await,
        ConnectionsCommand::Delete { connection } => delete(&s, out, &connection).await,
    }
}

async fn create(s: &Session, out: &Output, body: &AwsConnectionCreate) -> Result<(), String> {
    out.object(&s.create_connection(body).await?);
    Ok(())
}

async fn list(s: &Session, out: &Output) -> Result<(), String> {
    out.list(
        &s.list_connections(&all_pages()).await?,
        &[
            "name",
            "id",
            "access_key_id",
            "aws_region",
            "endpoint_url",
            "last_connection_ok",
        ],
        |c| {
            vec![
                c.name.cell(),
                c.id.cell(),
                c.access_key_id.cell(),
                c.aws_region.cell(),
                c.endpoint_url.cell(),
                c.last_connection_ok.cell(),
            ]
        },
    );
    Ok(())
}

async fn get(s: &Session, out: &Output, connection: &str) -> Result<(), String> {
    out.object(&s.get_connection(connection).await?);
    Ok(())
}

async fn test(s: &Session, out: &Output, connection: &str) -> Result<(), String> {
    let v = s.test_connection(connection).await?;
    if out.json {
        out.print_json(&v);
    } else if v.connection_ok {
        println!("connection {connection} works");
    }
    if !v.connection_ok {
        return Err(format!("connection {connection} failed: {}", v.error));
    }
    Ok(())
}

async fn delete(s: &Session, out: &Output, connection: &str) -> Result<(), String> {
    s.delete_connection(connection).await?;
    out.done(&format!("connection {connection} deleted"));
    Ok(())
}
