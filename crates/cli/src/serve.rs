use std::path::PathBuf;

use clap::Args;
use keyward_server::Settings;

#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file of settings (see --print-default-config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve HTTPS on, e.g. 127.0.0.1:8443 (port 0: any free port).
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the database, root key and generated certificate.
    #[arg(long)]
    data_dir: Option<String>,
    /// PEM certificate chain to serve instead of the self-signed one.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
    /// Print every setting with its default value, as TOML, and exit.
    #[arg(long)]
    print_default_config: bool,
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    if args.print_default_config {
        print!("{}", Settings::default_toml());
        return Ok(());
    }
    let mut settings = Settings::load(args.config.as_deref(), |k| std::env::var(k).ok())
        .map_err(|e| e.to_string())?;
    if let Some(v) = args.listen {
        settings.listen = v;
    }
    if let Some(v) = args.data_dir {
        settings.data_dir = v;
    }
    if let (Some(c), Some(k)) = (args.tls_cert, args.tls_key) {
        settings.tls_cert = c;
        settings.tls_key = k;
    }
    settings.check().map_err(|e| e.to_string())?;
    keyward_server::telemetry::init_logging(&settings.log_format, &settings.log_level);
    keyward_server::run(settings)
        .await
        .map_err(|e| e.to_string())
}
