//! `keyward`: the server (`keyward serve`) and its command-line client.

mod admin;
mod client;
mod commands;
mod output;
mod received;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: a CCKM-compatible cloud key manager for AWS KMS"
)]
struct Cli {
    /// Print JSON instead of tables (client commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Offline administration of a data directory.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Log in to a Keyward server and keep a refresh token for the other commands.
    Login(client::LoginArgs),
    /// Forget the stored refresh token (and revoke it on the server).
    Logout,
    /// Manage users.
    #[command(subcommand)]
    Users(commands::users::UsersCommand),
    /// AWS connections and KMS containers.
    #[command(subcommand)]
    Aws(commands::AwsCommand),
    /// Scheduled jobs: key rotation and inventory synchronisation configs, and their runs.
    #[command(subcommand)]
    Scheduler(commands::scheduler::SchedulerCommand),
    /// Keyward's key vault (material for EXTERNAL AWS keys).
    #[command(subcommand)]
    Vault(commands::vault::VaultCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = output::Output { json: cli.json };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Admin(cmd) => admin::run(cmd, &out).await,
            Command::Login(args) => client::login(args, &out).await,
            Command::Logout => client::logout(&out).await,
            Command::Users(cmd) => commands::users::run(cmd, &out).await,
            Command::Aws(cmd) => commands::run_aws(cmd, &out).await,
            Command::Scheduler(cmd) => commands::scheduler::run(cmd, &out).await,
            Command::Vault(cmd) => commands::vault::run(cmd, &out).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
