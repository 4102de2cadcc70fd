use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::{secret_from_env_or_prompt, segment};
use crate::client::Session;
use crate::output::Output;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users.
    List {
        #[arg(long, default_value_t = -1)]
        limit: i64,
        #[arg(long, default_value_t = 0)]
        skip: i64,
    },
    /// Show one user (name or id).
    Get { user: String },
    /// Create a user; the password comes from KEYWARD_NEW_PASSWORD or a prompt.
    Create {
        username: String,
        /// Group: admin, "CCKM Admins" or "CCKM Users" (repeat for several).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Change a user's password (from KEYWARD_NEW_PASSWORD or a prompt). Your own password
    /// needs the current one too (KEYWARD_CURRENT_PASSWORD or a prompt); an admin resetting
    /// another user's does not.
    Passwd { user: String },
    /// Delete a user (name or id).
    Delete { user: String },
}

/// Finds a user's id from a name or an id.
async fn user_id(s: &Session, user: &str) -> Result<String, String> {
    let all = s
        .call(Method::GET, "/usermgmt/users?limit=-1", None)
        .await?;
    let found = all["resources"].as_array().and_then(|items| {
        items.iter().find(|u| {
            u["username"].as_str() == Some(user)
                || u["user_id"].as_str() == Some(user)
                || u["user_id"]
                    .as_str()
                    .and_then(|id| id.strip_prefix("local|"))
                    == Some(user)
        })
    });
    found
        .and_then(|u| u["user_id"].as_str().map(String::from))
        .ok_or_else(|| format!("no user named or with id '{user}'"))
}

pub async fn run(cmd: UsersCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    match cmd {
        UsersCommand::List { limit, skip } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/usermgmt/users?limit={limit}&skip={skip}"),
                    None,
                )
                .await?;
            out.list(
                &v,
                &["username", "user_id", "groups", "last_login", "created_at"],
            );
        }
        UsersCommand::Get { user } => {
            let id = user_id(&s, &user).await?;
            out.object(
                &s.call(
                    Method::GET,
                    &format!("/usermgmt/users/{}", segment(&id)),
                    None,
                )
                .await?,
            );
        }
        UsersCommand::Create {
            username,
            groups,
            name,
            email,
        } => {
            let password = secret_from_env_or_prompt(
                &["KEYWARD_NEW_PASSWORD"],
                &format!("Password for {username}: "),
            )?;
            let mut body = json!({"username": username, "password": password, "groups": groups});
            if let Some(n) = name {
                body["name"] = Value::String(n);
            }
            if let Some(e) = email {
                body["email"] = Value::String(e);
            }
            out.object(&s.call(Method::POST, "/usermgmt/users", Some(&body)).await?);
        }
        UsersCommand::Passwd { user } if user.eq_ignore_ascii_case(s.username()) => {
            let current = secret_from_env_or_prompt(
                &["KEYWARD_CURRENT_PASSWORD"],
                &format!("Current password for {user}: "),
            )?;
            let password = secret_from_env_or_prompt(
                &["KEYWARD_NEW_PASSWORD"],
                &format!("New password for {user}: "),
            )?;
            s.call_without_token(
                Method::PATCH,
                "/auth/changepw",
                &json!({"username": s.username(), "password": current, "new_password": password}),
            )
            .await?;
            out.done("your password is changed; your refresh tokens are revoked (log in again)");
        }
        UsersCommand::Passwd { user } => {
            let id = user_id(&s, &user).await?;
            let password = secret_from_env_or_prompt(
                &["KEYWARD_NEW_PASSWORD"],
                &format!("New password for {user}: "),
            )?;
            s.call(
                Method::PATCH,
                &format!("/usermgmt/users/{}", segment(&id)),
                Some(&json!({"password": password})),
            )
            .await?;
            out.done(&format!(
                "password of {user} changed; their refresh tokens are revoked"
            ));
        }
        UsersCommand::Delete { user } => {
            let id = user_id(&s, &user).await?;
            s.call(
                Method::DELETE,
                &format!("/usermgmt/users/{}", segment(&id)),
                None,
            )
            .await?;
            out.done(&format!("user {user} deleted"));
        }
    }
    Ok(())
}
