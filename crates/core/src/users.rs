//! Users and their groups.

use chrono::{DateTime, Utc};
use keyward_api::list::PageParams;
use keyward_api::users as wire;

use crate::audit::{Caller, Outcome};
use crate::authz::{GROUP_ADMIN, KNOWN_GROUPS, Permission};
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::secret::SecretString;
use crate::service::{Keyward, rfc3339};
use crate::validate;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;
pub const SORTABLE: &[&str] = &["username", "createdAt", "updatedAt"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login: Option<DateTime<Utc>>,
    pub failed_logins: i64,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl User {
    pub fn to_wire(&self) -> wire::User {
        wire::User {
            user_id: format!("local|{}", self.id),
            username: self.username.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
            created_at: rfc3339(&self.created_at),
            updated_at: rfc3339(&self.updated_at),
            last_login: self.last_login.as_ref().map(rfc3339),
            failed_logins_count: self.failed_logins,
            locked_until: self.locked_until.as_ref().map(rfc3339),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == GROUP_ADMIN)
    }
}

/// Accepts `local|<uuid>` (as CipherTrust writes user ids) or the bare uuid.
pub fn bare_user_id(id: &str) -> &str {
    id.strip_prefix("local|").unwrap_or(id)
}

pub fn check_password(field: &str, password: &str) -> CoreResult<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(CoreError::invalid(format!(
            "{field}: must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(CoreError::invalid(format!(
            "{field}: must be at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

fn check_groups(groups: &[String]) -> CoreResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        if !KNOWN_GROUPS.contains(&g.as_str()) {
            return Err(CoreError::invalid(format!(
                "groups: unknown group '{g}'; known groups are {}",
                KNOWN_GROUPS.join(", ")
            )));
        }
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    Ok(out)
}

fn check_email(email: &str) -> CoreResult<()> {
    validate::text("email", email, 254)?;
    if !email.is_empty() && !email.contains('@') {
        return Err(CoreError::invalid("email: must be an e-mail address"));
    }
    Ok(())
}

/// What the first start did about the admin user.
#[derive(Debug)]
pub enum AdminBootstrap {
    /// Users existed already.
    Existing,
    /// Created with the password given in the environment.
    Created,
    /// Created with a generated password, to be shown once.
    CreatedWithGeneratedPassword(SecretString),
}

impl Keyward {
    /// On first start, creates the `admin` user (group `admin`).
    pub async fn bootstrap_admin(
        &self,
        password: Option<SecretString>,
    ) -> CoreResult<AdminBootstrap> {
        if self.ports.store.count_users().await? > 0 {
            return Ok(AdminBootstrap::Existing);
        }
        let (password, generated) = match password {
            Some(p) => {
                check_password("KEYWARD_ADMIN_PASSWORD", p.expose())?;
                (p, false)
            }
            None => {
                let raw = self.ports.random.bytes(18)?;
                let s: String = raw
                    .expose()
                    .iter()
                    .map(|b| {
                        const ALPHABET: &[u8] =
                            b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
                        ALPHABET[*b as usize % ALPHABET.len()] as char
                    })
                    .collect();
                (SecretString::new(s), true)
            }
        };
        let slot = self.password_slot().await?;
        let password_hash = self.ports.passwords.hash(&slot, &password).await?;
        drop(slot);
        let now = self.now();
        let user = User {
            id: self.new_id()?,
            username: "admin".into(),
            name: "Administrator".into(),
            email: String::new(),
            groups: vec![GROUP_ADMIN.into()],
            password_hash,
            created_at: now,
            updated_at: now,
            last_login: None,
            failed_logins: 0,
            last_failed_at: None,
            locked_until: None,
        };
        let caller = Caller::system();
        let draft = self.draft(
            &caller,
            "user.create",
            "admin",
            Outcome::Success,
            "first start",
        );
        self.ports.store.insert_user(&user, &draft).await?;
        Ok(if generated {
            AdminBootstrap::CreatedWithGeneratedPassword(password)
        } else {
            AdminBootstrap::Created
        })
    }

    pub async fn create_user(&self, caller: &Caller, req: wire::UserCreate) -> CoreResult<User> {
        let target = req.username.clone();
        self.audited(caller, "user.create", &target, async {
            caller.principal.require(Permission::ManageUsers)?;
            validate::name("username", &req.username)?;
            validate::text("username", &req.username, 64)?;
            check_password("password", &req.password)?;
            let name = req.name.unwrap_or_default();
            validate::text("name", &name, 128)?;
            let email = req.email.unwrap_or_default();
            check_email(&email)?;
            let groups = check_groups(&req.groups)?;
            if self
                .ports
                .store
                .get_user_by_name(&req.username)
                .await?
                .is_some()
            {
                return Err(CoreError::conflict(format!(
                    "a user named '{}' already exists",
                    req.username
                )));
            }
            let password = SecretString::new(req.password);
            let slot = self.password_slot().await?;
            let password_hash = self.ports.passwords.hash(&slot, &password).await?;
            drop(slot);
            let now = self.now();
            let user = User {
                id: self.new_id()?,
                username: req.username,
                name,
                email,
                groups,
                password_hash,
                created_at: now,
                updated_at: now,
                last_login: None,
                failed_logins: 0,
                last_failed_at: None,
                locked_until: None,
            };
            let draft = self.draft(caller, "user.create", &user.username, Outcome::Success, "");
            self.ports.store.insert_user(&user, &draft).await?;
            Ok(user)
        })
        .await
    }

    pub async fn list_users(
        &self,
        caller: &Caller,
        page: &PageParams,
    ) -> CoreResult<(ListQuery, Page<User>)> {
        caller.principal.require(Permission::ManageUsers)?;
        let query = ListQuery::parse(page, SORTABLE)?;
        let result = self.ports.store.list_users(&query).await?;
        Ok((query, result))
    }

    /// Admins may read anyone; every user may read themselves.
    pub async fn get_user(&self, caller: &Caller, id: &str) -> CoreResult<User> {
        let id = bare_user_id(id);
        if caller.principal.user_id != id {
            caller.principal.require(Permission::ManageUsers)?;
        }
        self.ports
            .store
            .get_user(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("user {id} not found")))
    }

    /// Admins may change anything; a user may change their own name, e-mail and password.
    /// Changing one's own password needs the current one (`current_password`), admins too, so a
    /// stolen access token cannot become a permanent takeover; an admin resetting another
    /// user's password does not give it. A password change clears the lock and revokes the
    /// user's refresh tokens.
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: &str,
        req: wire::UserUpdate,
        client: &str,
    ) -> CoreResult<User> {
        let id = bare_user_id(id).to_string();
        self.audited(caller, "user.update", &id.clone(), async move {
            let is_self = caller.principal.user_id == id;
            if !is_self || req.groups.is_some() {
                caller.principal.require(Permission::ManageUsers)?;
            }
            let mut user = self
                .ports
                .store
                .get_user(&id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("user {id} not found")))?;
            let mut changed = Vec::new();
            if let Some(name) = req.name {
                validate::text("name", &name, 128)?;
                user.name = name;
                changed.push("name");
            }
            if let Some(email) = req.email {
                check_email(&email)?;
                user.email = email;
                changed.push("email");
            }
            if let Some(groups) = req.groups {
                let groups = check_groups(&groups)?;
                if user.is_admin() && !groups.iter().any(|g| g == GROUP_ADMIN) {
                    self.refuse_removing_last_admin(&user.id).await?;
                }
                user.groups = groups;
                changed.push("groups");
            }
            let mut new_password = false;
            if let Some(pw) = req.password {
                check_password("password", &pw)?;
                if is_self {
                    let current = req.current_password.map(SecretString::new).ok_or_else(|| {
                        CoreError::invalid("current_password: required to change your own password")
                    })?;
                    let slot = self.password_slot().await?;
                    self.check_user_password(slot, &user, &current, client, "user.update", caller)
                        .await
                        .map_err(|e| match e {
                            CoreError::Unauthorized(_) => {
                                CoreError::Forbidden("current_password: wrong password".into())
                            }
                            other => other,
                        })?;
                }
                user.password_hash = self.hash_new_password(SecretString::new(pw)).await?;
                new_password = true;
                changed.push("password");
            } else if req.current_password.is_some() {
                return Err(CoreError::invalid(
                    "current_password: give it only together with password",
                ));
            }
            if changed.is_empty() {
                return Err(CoreError::invalid(
                    "body: nothing to change; give one of password, name, email, groups",
                ));
            }
            user.updated_at = self.now();
            let detail = format!("changed {}", changed.join(", "));
            let draft = self.draft(
                caller,
                "user.update",
                &user.username,
                Outcome::Success,
                detail,
            );
            self.ports
                .store
                .update_user(&user, new_password, &draft)
                .await?;
            Ok(user)
        })
        .await
    }

    async fn hash_new_password(&self, password: SecretString) -> CoreResult<String> {
        let slot = self.password_slot().await?;
        self.ports.passwords.hash(&slot, &password).await
    }

    /// `PATCH /api/v1/auth/changepw` (CipherTrust's): anyone who knows a user's current
    /// password may set a new one, with no token. The check counts against the login limits.
    pub async fn change_password(
        &self,
        req: wire::ChangePassword,
        client: &str,
        request_id: &str,
    ) -> CoreResult<()> {
        if req.username.is_empty() {
            return Err(CoreError::invalid("username: required"));
        }
        if let Some(d) = req.auth_domain.as_deref().filter(|d| !d.is_empty())
            && d != "local_account"
        {
            return Err(CoreError::invalid(format!(
                "auth_domain: '{d}' is not available; only local_account is"
            )));
        }
        check_password("new_password", &req.new_password)?;
        let caller = Caller::new(
            crate::authz::Principal {
                user_id: String::new(),
                username: req.username.clone(),
                groups: vec![],
            },
            request_id,
        );
        let current = SecretString::new(req.password);
        let slot = self.password_slot().await?;
        let Some(mut user) = self.ports.store.get_user_by_name(&req.username).await? else {
            return Err(self
                .refuse_unknown_user(
                    slot,
                    &req.username,
                    &current,
                    client,
                    "user.change-password",
                    &caller,
                )
                .await);
        };
        self.check_user_password(
            slot,
            &user,
            &current,
            client,
            "user.change-password",
            &caller,
        )
        .await?;
        user.password_hash = self
            .hash_new_password(SecretString::new(req.new_password))
            .await?;
        user.updated_at = self.now();
        let caller = Caller::new(self.principal_of(&user), request_id);
        let draft = self.draft(
            &caller,
            "user.change-password",
            &user.username,
            Outcome::Success,
            "",
        );
        self.ports.store.update_user(&user, true, &draft).await
    }

    async fn refuse_removing_last_admin(&self, user_id: &str) -> CoreResult<()> {
        let all = self.ports.store.list_users(&ListQuery::all()).await?;
        let other_admins = all
            .items
            .iter()
            .filter(|u| u.id != user_id && u.is_admin())
            .count();
        if other_admins == 0 {
            return Err(CoreError::Conflict(
                "this is the last user in group admin; make another admin first".into(),
            ));
        }
        Ok(())
    }

    pub async fn delete_user(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        let id = bare_user_id(id).to_string();
        self.audited(caller, "user.delete", &id.clone(), async move {
            caller.principal.require(Permission::ManageUsers)?;
            let user = self
                .ports
                .store
                .get_user(&id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("user {id} not found")))?;
            if user.id == caller.principal.user_id {
                return Err(CoreError::Conflict("you cannot delete yourself".into()));
            }
            if user.is_admin() {
                self.refuse_removing_last_admin(&user.id).await?;
            }
            let draft = self.draft(caller, "user.delete", &user.username, Outcome::Success, "");
            self.ports.store.delete_user(&user.id, &draft).await?;
            Ok(())
        })
        .await
    }
}
