//! Logging in: the password and refresh-token grants, login throttling and lockout, refresh
//! token revocation, and turning a bearer token back into a [`Principal`].

use chrono::{DateTime, Duration, Utc};
use keyward_api::auth::{TokenRequest, TokenResponse};

use crate::audit::{Caller, Outcome};
use crate::authz::{Permission, Principal};
use crate::error::{CoreError, CoreResult};
use crate::ports::AccessClaims;
use crate::secret::SecretString;
use crate::service::Keyward;
use crate::users::User;

/// A refresh token as stored: only its digest, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: String,
    pub user_id: String,
    pub digest: String,
    pub client_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const WRONG_CREDENTIALS: &str = "Wrong username or password.";
const INVALID_REFRESH: &str = "Invalid refresh token: it is unknown, expired or revoked.";
/// The longest wait imposed between two failed attempts before the lock.
const MAX_SLOWDOWN_SECS: i64 = 60;

/// A well-formed argon2id hash of a random password, verified against when the user does not
/// exist, so that an unknown user costs the same time as a wrong password.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qVQmuK2XMhbRbn/xQ+6e2V7kThRjNOr0Ki6SvP5HEW8";

impl Keyward {
    /// `POST /api/v1/auth/tokens`.
    pub async fn issue_token(
        &self,
        req: TokenRequest,
        request_id: &str,
    ) -> CoreResult<TokenResponse> {
        match req.grant_type.as_deref().unwrap_or("password") {
            "password" => {
                let username = req.username.filter(|u| !u.is_empty()).ok_or_else(|| {
                    CoreError::invalid("username: required with grant_type password")
                })?;
                let password = req.password.map(SecretString::new).ok_or_else(|| {
                    CoreError::invalid("password: required with grant_type password")
                })?;
                if let Some(c) = req.connection.as_deref()
                    && c != "local_account"
                {
                    return Err(CoreError::invalid(format!(
                        "connection: '{c}' is not available; only local_account is"
                    )));
                }
                self.password_grant(&username, &password, request_id).await
            }
            "refresh_token" => {
                let token = req
                    .refresh_token
                    .filter(|t| !t.is_empty())
                    .map(SecretString::new)
                    .ok_or_else(|| {
                        CoreError::invalid("refresh_token: required with grant_type refresh_token")
                    })?;
                self.refresh_grant(&token, request_id).await
            }
            other => Err(CoreError::invalid(format!(
                "grant_type: '{other}' is not supported; use password or refresh_token"
            ))),
        }
    }

    fn login_caller(&self, username: &str, request_id: &str) -> Caller {
        Caller::new(
            Principal {
                user_id: String::new(),
                username: username.to_string(),
                groups: vec![],
            },
            request_id,
        )
    }

    /// How long the user must still wait before another attempt, if at all.
    fn login_wait(&self, user: &User, now: DateTime<Utc>) -> Option<CoreError> {
        if let Some(until) = user.locked_until
            && until > now
        {
            let secs = (until - now).num_seconds().max(1);
            return Some(CoreError::TooManyAttempts {
                message: format!(
                    "user {} is locked after {} failed logins; try again in {secs} s or ask an admin to reset the password",
                    user.username, user.failed_logins
                ),
                retry_after_secs: secs as u64,
            });
        }
        let over = user.failed_logins - self.settings.login_slowdown_after;
        if over >= 0
            && let Some(last) = user.last_failed_at
        {
            let wait = 1i64 << over.clamp(0, 6);
            let wait = wait.min(MAX_SLOWDOWN_SECS);
            let ready = last + Duration::seconds(wait);
            if ready > now {
                let secs = (ready - now).num_seconds().max(1);
                return Some(CoreError::TooManyAttempts {
                    message: format!(
                        "too many failed logins for user {}; try again in {secs} s",
                        user.username
                    ),
                    retry_after_secs: secs as u64,
                });
            }
        }
        None
    }

    async fn password_grant(
        &self,
        username: &str,
        password: &SecretString,
        request_id: &str,
    ) -> CoreResult<TokenResponse> {
        let caller = self.login_caller(username, request_id);
        let store = &self.ports.store;
        let Some(mut user) = store.get_user_by_name(username).await? else {
            self.ports.passwords.verify(password, DUMMY_HASH).await;
            let draft = self.draft(
                &caller,
                "auth.login",
                username,
                Outcome::Denied,
                "unknown user",
            );
            store.append_audit(&draft).await?;
            return Err(CoreError::Unauthorized(WRONG_CREDENTIALS.into()));
        };
        let now = self.now();
        if let Some(err) = self.login_wait(&user, now) {
            let draft = self.draft(
                &caller,
                "auth.login",
                username,
                Outcome::Denied,
                err.to_string(),
            );
            store.append_audit(&draft).await?;
            return Err(err);
        }
        if !self
            .ports
            .passwords
            .verify(password, &user.password_hash)
            .await
        {
            user.failed_logins += 1;
            user.last_failed_at = Some(now);
            let mut detail = format!("wrong password ({} in a row)", user.failed_logins);
            if user.failed_logins >= self.settings.login_lock_after {
                user.locked_until = Some(now + Duration::seconds(self.settings.login_lock_secs));
                detail.push_str("; user locked");
            }
            store.update_login_state(&user).await?;
            let draft = self.draft(&caller, "auth.login", username, Outcome::Denied, detail);
            store.append_audit(&draft).await?;
            return Err(CoreError::Unauthorized(WRONG_CREDENTIALS.into()));
        }
        // The password check takes a while: the token's life starts now, not before it.
        let now = self.now();
        user.failed_logins = 0;
        user.last_failed_at = None;
        user.locked_until = None;
        user.last_login = Some(now);
        store.update_login_state(&user).await?;

        let refresh_secret = self.new_refresh_secret()?;
        let client_id = self.new_id()?;
        let record = RefreshToken {
            id: self.new_id()?,
            user_id: user.id.clone(),
            digest: self.ports.tokens.digest(refresh_secret.expose()),
            client_id: client_id.clone(),
            created_at: now,
            expires_at: now + Duration::seconds(self.settings.refresh_token_ttl_secs),
            revoked_at: None,
        };
        let caller = Caller::new(self.principal_of(&user), request_id);
        let draft = self.draft(&caller, "auth.login", username, Outcome::Success, "");
        store.insert_refresh_token(&record, &draft).await?;
        self.token_response(&user, &record, refresh_secret, now)
    }

    async fn refresh_grant(
        &self,
        token: &SecretString,
        request_id: &str,
    ) -> CoreResult<TokenResponse> {
        let now = self.now();
        let digest = self.ports.tokens.digest(token.expose());
        let record = self
            .ports
            .store
            .get_refresh_token_by_digest(&digest)
            .await?
            .filter(|r| r.revoked_at.is_none() && r.expires_at > now)
            .ok_or_else(|| CoreError::Unauthorized(INVALID_REFRESH.into()))?;
        let user = self
            .ports
            .store
            .get_user(&record.user_id)
            .await?
            .ok_or_else(|| CoreError::Unauthorized(INVALID_REFRESH.into()))?;
        if let Some(until) = user.locked_until
            && until > now
        {
            return Err(CoreError::Unauthorized(format!(
                "user {} is locked",
                user.username
            )));
        }
        let caller = Caller::new(self.principal_of(&user), request_id);
        let draft = self.draft(&caller, "auth.refresh", &record.id, Outcome::Success, "");
        self.ports.store.append_audit(&draft).await?;
        self.token_response(&user, &record, token.clone(), now)
    }

    fn new_refresh_secret(&self) -> CoreResult<SecretString> {
        let raw = self.ports.random.bytes(32)?;
        let mut s = String::with_capacity(64);
        for b in raw.expose() {
            s.push_str(&format!("{b:02x}"));
        }
        Ok(SecretString::new(s))
    }

    fn principal_of(&self, user: &User) -> Principal {
        Principal {
            user_id: user.id.clone(),
            username: user.username.clone(),
            groups: user.groups.clone(),
        }
    }

    fn token_response(
        &self,
        user: &User,
        record: &RefreshToken,
        refresh_token: SecretString,
        now: DateTime<Utc>,
    ) -> CoreResult<TokenResponse> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            user_id: user.id.clone(),
            username: user.username.clone(),
            groups: user.groups.clone(),
            client_id: record.client_id.clone(),
            token_id: self.new_id()?,
            issued_at: iat,
            expires_at: iat + self.settings.token_ttl_secs,
        };
        let jwt = self.ports.tokens.issue(&claims)?;
        Ok(TokenResponse {
            jwt,
            duration: self.settings.token_ttl_secs,
            token_type: "Bearer".into(),
            client_id: record.client_id.clone(),
            refresh_token_id: record.id.clone(),
            refresh_token: refresh_token.expose().to_string(),
            refresh_token_expires_in: (record.expires_at - now).num_seconds().max(0),
        })
    }

    /// Turns a bearer token into the caller. The user must still exist; their groups are read
    /// afresh so a change takes effect at once.
    pub async fn authenticate(&self, bearer: &str) -> CoreResult<Principal> {
        let claims = self.ports.tokens.verify(bearer, self.now().timestamp())?;
        let user = self
            .ports
            .store
            .get_user(&claims.user_id)
            .await?
            .ok_or_else(|| {
                CoreError::Unauthorized("Unauthorised: the token's user no longer exists".into())
            })?;
        Ok(self.principal_of(&user))
    }

    /// `DELETE /api/v1/auth/tokens/{id}`: revokes a refresh token (one's own, or any as admin).
    pub async fn revoke_refresh_token(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "auth.revoke", id, async {
            let record = self
                .ports
                .store
                .get_refresh_token(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("refresh token {id} not found")))?;
            if record.user_id != caller.principal.user_id {
                caller.principal.require(Permission::ManageUsers)?;
            }
            let draft = self.draft(caller, "auth.revoke", id, Outcome::Success, "");
            self.ports
                .store
                .revoke_refresh_token(id, self.now(), &draft)
                .await?;
            Ok(())
        })
        .await
    }
}
