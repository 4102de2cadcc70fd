//! Logging in: the password and refresh-token grants, login throttling and lockout, refresh
//! token revocation, and turning a bearer token back into a [`Principal`].

use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use keyward_api::auth::{TokenRequest, TokenResponse};

use crate::audit::{Caller, Outcome};
use crate::authz::{Permission, Principal};
use crate::error::{CoreError, CoreResult};
use crate::login_limits::{LoginPolicy, LoginRefusal, Refused};
use crate::ports::{AccessClaims, PasswordSlot};
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

pub(crate) const WRONG_CREDENTIALS: &str = "Wrong username or password.";
const INVALID_REFRESH: &str = "Invalid refresh token: it is unknown, expired or revoked.";

/// A well-formed argon2id hash of a random password, verified against when the user does not
/// exist, so that an unknown user costs the same time as a wrong password.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qVQmuK2XMhbRbn/xQ+6e2V7kThRjNOr0Ki6SvP5HEW8";

impl Keyward {
    /// `POST /api/v1/auth/tokens`. `client` is the caller's network address (the limit on
    /// failed logins per address).
    pub async fn issue_token(
        &self,
        req: TokenRequest,
        client: &str,
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
                self.password_grant(&username, &password, client, request_id)
                    .await
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

    pub(crate) fn login_policy(&self) -> LoginPolicy {
        LoginPolicy {
            slowdown_after: self.settings.login_slowdown_after,
            lock_after: self.settings.login_lock_after,
            lock_secs: self.settings.login_lock_secs,
            source_burst: self.settings.login_source_burst,
            source_interval_secs: self.settings.login_source_interval_secs,
        }
    }

    /// Counts a refusal for /metrics and turns it into the client's error. Refusals made before
    /// a password check are not audited one by one: a flood must not grow the trail.
    fn refuse(&self, refused: Refused) -> CoreError {
        if let Some(n) = self.login_refusals.get(refused.refusal as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        refused.into()
    }

    /// A bounded place to check a password in, or 429 at once.
    pub(crate) async fn password_slot(&self) -> CoreResult<PasswordSlot> {
        match self.ports.passwords.slot().await {
            Some(slot) => Ok(slot),
            None => Err(self.refuse(Refused {
                refusal: LoginRefusal::Busy,
                retry_after_secs: 1,
                message: "the server is busy checking passwords; try again in 1 s".into(),
            })),
        }
    }

    /// Takes one failed-login token from the client address's budget before a check.
    async fn admit_source(&self, address: &str) -> CoreResult<()> {
        let policy = self.login_policy();
        let now = self.now();
        let admitted = self
            .ports
            .store
            .update_login_source(address, now, &|b| policy.admit_source(b, now))
            .await?;
        admitted.map(|_| ()).map_err(|r| self.refuse(r))
    }

    /// Gives the token back: the check succeeded, or did not happen.
    async fn refund_source(&self, address: &str) -> CoreResult<()> {
        let policy = self.login_policy();
        let now = self.now();
        self.ports
            .store
            .update_login_source(address, now, &|b| Ok(policy.refund_source(b, now)))
            .await?
            .map(|_| ())
            .map_err(CoreError::from)
    }

    /// Checks a user's password the way a login does: bounded, counted against the client
    /// address and the user before the check (so concurrent guesses cannot outrun the limits),
    /// cleared on success. Wrong passwords are audited as `action`.
    pub(crate) async fn check_user_password(
        &self,
        slot: PasswordSlot,
        user: &User,
        password: &SecretString,
        client: &str,
        action: &str,
        caller: &Caller,
    ) -> CoreResult<()> {
        self.admit_source(client).await?;
        let policy = self.login_policy();
        let now = self.now();
        let username = user.username.clone();
        let admitted = self
            .ports
            .store
            .admit_login(&user.id, &|c| policy.admit_user(&username, c, now))
            .await;
        let counters = match admitted {
            Ok(Ok(c)) => c,
            Ok(Err(refused)) => {
                self.refund_source(client).await?;
                return Err(self.refuse(refused));
            }
            Err(e) => {
                self.refund_source(client).await?;
                return Err(e);
            }
        };
        if self
            .ports
            .passwords
            .verify(&slot, password, &user.password_hash)
            .await
        {
            drop(slot);
            self.ports
                .store
                .login_succeeded(&user.id, self.now(), counters.failed_logins)
                .await?;
            self.refund_source(client).await?;
            return Ok(());
        }
        drop(slot);
        let mut detail = format!("wrong password ({} in a row)", counters.failed_logins);
        if counters.locked_until.is_some() {
            detail.push_str("; user locked");
        }
        let draft = self.draft(caller, action, &user.username, Outcome::Denied, detail);
        self.ports.store.append_audit(&draft).await?;
        Err(CoreError::Unauthorized(WRONG_CREDENTIALS.into()))
    }

    /// A login or password change for a user that does not exist: as costly as a wrong
    /// password, counted against the client address the same way, and audited.
    pub(crate) async fn refuse_unknown_user(
        &self,
        slot: PasswordSlot,
        username: &str,
        password: &SecretString,
        client: &str,
        action: &str,
        caller: &Caller,
    ) -> CoreError {
        let attempt = async {
            self.admit_source(client).await?;
            self.ports
                .passwords
                .verify(&slot, password, DUMMY_HASH)
                .await;
            let draft = self.draft(caller, action, username, Outcome::Denied, "unknown user");
            self.ports.store.append_audit(&draft).await
        };
        match attempt.await {
            Ok(()) => CoreError::Unauthorized(WRONG_CREDENTIALS.into()),
            Err(e) => e,
        }
    }

    async fn password_grant(
        &self,
        username: &str,
        password: &SecretString,
        client: &str,
        request_id: &str,
    ) -> CoreResult<TokenResponse> {
        let caller = self.login_caller(username, request_id);
        let store = &self.ports.store;
        // The place in line first: a flood is refused before it costs even a database read.
        let slot = self.password_slot().await?;
        let Some(user) = store.get_user_by_name(username).await? else {
            return Err(self
                .refuse_unknown_user(slot, username, password, client, "auth.login", &caller)
                .await);
        };
        self.check_user_password(slot, &user, password, client, "auth.login", &caller)
            .await?;
        // The password check takes a while: the token's life starts now, not before it.
        let now = self.now();

        let refresh_secret = self.new_refresh_secret()?;
        let client_id = self.new_id()?;
        let record = RefreshToken {
            id: self.new_id()?,
            user_id: user.id.clone(),
            digest: self.ports.tokens.digest(refresh_secret.expose()),
            client_id: client_id.clone(),
            created_at: now,
            expires_at: Duration::try_seconds(self.settings.refresh_token_ttl_secs)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(|| CoreError::internal("refresh_token_ttl_secs is out of range"))?,
            revoked_at: None,
        };
        let caller = Caller::new(self.principal_of(&user), request_id);
        let draft = self.draft(&caller, "auth.login", &user.username, Outcome::Success, "");
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

    pub(crate) fn principal_of(&self, user: &User) -> Principal {
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

    /// Turns a bearer token into the caller. The user must still exist; their name and groups
    /// are the store's current ones (`Store::user_identity`, which forgets a user the moment
    /// they change), so a delete or a change of groups takes effect at once.
    pub async fn authenticate(&self, bearer: &str) -> CoreResult<Principal> {
        let claims = self.ports.tokens.verify(bearer, self.now().timestamp())?;
        let (username, groups) = self
            .ports
            .store
            .user_identity(&claims.user_id)
            .await?
            .ok_or_else(|| {
                CoreError::Unauthorized("Unauthorised: the token's user no longer exists".into())
            })?;
        Ok(Principal {
            user_id: claims.user_id,
            username,
            groups,
        })
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
