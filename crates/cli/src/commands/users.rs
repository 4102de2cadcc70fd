use clap::Subcommand;
use keyward_api::list::PageParams;
use keyward_api::users::{ChangePassword, UserCreate, UserUpdate};

use super::{all_pages, secret_from_env_or_prompt};
use crate::client::Session;
use crate::output::{Cell, Output};

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
    let all = s.list_users(&all_pages()).await?;
    all.resources
        .into_iter()
        .find(|u| {
            u.username == user
                || u.user_id == user
                || u.user_id.strip_prefix("local|") == Some(user)
        })
        .map(|u| u.user_id)
        .ok_or_else(|| format!("no user named or with id '{user}'"))
}

pub async fn run(cmd: UsersCommand, out: &Output) -> Result<(), String> {
    let s = Session::load().await?;
    match cmd {
        UsersCommand::List { limit, skip } => list(&s, out, limit, skip).await,
        UsersCommand::Get { user } => get(&s, out, &user).await,
        UsersCommand::Create {
            username,
            groups,
            name,
            email,
        } => create(&s, out, username, groups, name, email).await,
        UsersCommand::Passwd { user } if user.eq_ignore_ascii_case(s.username()) => {
            change_own_password(&s, out, &user).await
        }
        UsersCommand::Passwd { user } => reset_password(&s, out, &user).await,
        UsersCommand::Delete { user } => delete(&s, out, &user).await,
    }
}

async fn list(s: &Session, out: &Output, limit: i64, skip: i64) -> Result<(), String> {
    let page = PageParams {
        limit: Some(limit),
        skip: Some(skip),
        sort: None,
    };
    out.list(
        &s.list_users(&page).await?,
        &["username", "user_id", "groups", "last_login", "created_at"],
        |u| {
            vec![
                u.username.cell(),
                u.user_id.cell(),
                u.groups.cell(),
                u.last_login.cell(),
                u.created_at.cell(),
            ]
        },
    );
    Ok(())
}

async fn get(s: &Session, out: &Output, user: &str) -> Result<(), String> {
    let id = user_id(s, user).await?;
    out.object(&s.get_user(&id).await?);
    Ok(())
}

async fn create(
    s: &Session,
    out: &Output,
    username: String,
    groups: Vec<String>,
    name: Option<String>,
    email: Option<String>,
) -> Result<(), String> {
    let password = secret_from_env_or_prompt(
        &["KEYWARD_NEW_PASSWORD"],
        &format!("Password for {username}: "),
    )?;
    let body = UserCreate {
        username,
        password,
        name,
        email,
        groups,
    };
    out.object(&s.create_user(&body).await?);
    Ok(())
}

async fn change_own_password(s: &Session, out: &Output, user: &str) -> Result<(), String> {
    let current = secret_from_env_or_prompt(
        &["KEYWARD_CURRENT_PASSWORD"],
        &format!("Current password for {user}: "),
    )?;
    let password = secret_from_env_or_prompt(
        &["KEYWARD_NEW_PASSWORD"],
        &format!("New password for {user}: "),
    )?;
    s.change_own_password(&ChangePassword {
        username: s.username().to_string(),
        password: current,
        new_password: password,
        auth_domain: None,
    })
    .await?;
    out.done("your password is changed; your refresh tokens are revoked (log in again)");
    Ok(())
}

async fn reset_password(s: &Session, out: &Output, user: &str) -> Result<(), String> {
    let id = user_id(s, user).await?;
    let password = secret_from_env_or_prompt(
        &["KEYWARD_NEW_PASSWORD"],
        &format!("New password for {user}: "),
    )?;
    let body = UserUpdate {
        password: Some(password),
        ..UserUpdate::default()
    };
    s.update_user(&id, &body).await?;
    out.done(&format!(
        "password of {user} changed; their refresh tokens are revoked"
    ));
    Ok(())
}

async fn delete(s: &Session, out: &Output, user: &str) -> Result<(), String> {
    let id = user_id(s, user).await?;
    s.delete_user(&id).await?;
    out.done(&format!("user {user} deleted"));
    Ok(())
}
