//! The ports: everything a use case needs from the outside world. Adapters implement them in
//! the `store`, `crypto` and `aws` crates; tests may implement `Clock` and `Random`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditDraft, AuditEntry, AuditVerification};
use crate::auth::RefreshToken;
use crate::connections::{AwsConnection, ConnectionTarget};
use crate::error::CoreResult;
use crate::kms::KmsContainer;
use crate::paging::{ListQuery, Page};
use crate::secret::{SecretBytes, SecretString};
use crate::users::User;

/// Wall-clock time. Injected so expiry, lockout and schedules are testable without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Cryptographically secure randomness.
pub trait Random: Send + Sync {
    fn bytes(&self, len: usize) -> CoreResult<SecretBytes>;
}

/// The vault: seals secrets at rest. `owner` names the row and column a value belongs to and
/// is bound into the ciphertext, so a sealed value copied elsewhere does not open.
pub trait Vault: Send + Sync {
    fn seal(&self, owner: &str, plaintext: &[u8]) -> CoreResult<Vec<u8>>;
    fn open(&self, owner: &str, sealed: &[u8]) -> CoreResult<SecretBytes>;
}

/// Password hashing (argon2id).
#[async_trait]
pub trait Passwords: Send + Sync {
    async fn hash(&self, password: &SecretString) -> CoreResult<String>;
    /// False for a wrong password or a malformed hash.
    async fn verify(&self, password: &SecretString, hash: &str) -> bool;
}

/// Claims of an access token (a CipherTrust-style HS256 JWT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: String,
    pub username: String,
    pub groups: Vec<String>,
    pub client_id: String,
    pub token_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Issues and checks access tokens; digests refresh tokens for storage.
pub trait AccessTokens: Send + Sync {
    fn issue(&self, claims: &AccessClaims) -> CoreResult<String>;
    /// Checks the signature and the expiry against `now` (unix seconds).
    fn verify(&self, token: &str, now: i64) -> CoreResult<AccessClaims>;
    /// A one-way digest of a refresh token, the only form in which it is stored.
    fn digest(&self, token: &str) -> String;
}

/// AWS KMS, as Keyward uses it.
#[async_trait]
pub trait CloudKms: Send + Sync {
    /// Checks that the connection's credentials work by making one cheap call.
    async fn check_connection(&self, target: &ConnectionTarget) -> CoreResult<()>;
    /// Drops any cached client for this connection (after it changed or was deleted).
    fn forget_connection(&self, connection_id: &str);
}

/// Persistence. Every method that changes state takes the audit record of that change and
/// commits both in one transaction.
#[async_trait]
pub trait Store: Send + Sync {
    // --- secrets of Keyward itself (the token-signing key)
    async fn get_system_secret(&self, name: &str) -> CoreResult<Option<Vec<u8>>>;
    /// Stores the value unless one exists; returns the value that is stored afterwards.
    async fn put_system_secret_if_absent(&self, name: &str, sealed: &[u8]) -> CoreResult<Vec<u8>>;

    // --- users
    async fn count_users(&self) -> CoreResult<i64>;
    async fn insert_user(&self, user: &User, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_user(&self, id: &str) -> CoreResult<Option<User>>;
    async fn get_user_by_name(&self, username: &str) -> CoreResult<Option<User>>;
    async fn list_users(&self, query: &ListQuery) -> CoreResult<Page<User>>;
    async fn update_user(&self, user: &User, audit: &AuditDraft) -> CoreResult<()>;
    /// Records a login attempt's effect on the counters (no audit: the caller audits).
    async fn update_login_state(&self, user: &User) -> CoreResult<()>;
    async fn delete_user(&self, id: &str, audit: &AuditDraft) -> CoreResult<bool>;

    // --- refresh tokens
    async fn insert_refresh_token(
        &self,
        token: &RefreshToken,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    async fn get_refresh_token_by_digest(&self, digest: &str) -> CoreResult<Option<RefreshToken>>;
    async fn get_refresh_token(&self, id: &str) -> CoreResult<Option<RefreshToken>>;
    async fn revoke_refresh_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &AuditDraft,
    ) -> CoreResult<bool>;
    /// Revokes every live refresh token of a user (after a password change). Returns how many.
    async fn revoke_user_refresh_tokens(&self, user_id: &str, at: DateTime<Utc>)
    -> CoreResult<u64>;

    // --- AWS connections
    async fn insert_connection(&self, conn: &AwsConnection, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_connection(&self, id: &str) -> CoreResult<Option<AwsConnection>>;
    async fn get_connection_by_name(&self, name: &str) -> CoreResult<Option<AwsConnection>>;
    async fn list_connections(&self, query: &ListQuery) -> CoreResult<Page<AwsConnection>>;
    async fn update_connection(&self, conn: &AwsConnection, audit: &AuditDraft) -> CoreResult<()>;
    async fn delete_connection(&self, id: &str, audit: &AuditDraft) -> CoreResult<bool>;

    // --- KMS containers
    async fn insert_kms(&self, kms: &KmsContainer, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_kms(&self, id: &str) -> CoreResult<Option<KmsContainer>>;
    async fn get_kms_by_name(&self, name: &str) -> CoreResult<Option<KmsContainer>>;
    async fn list_kms(&self, query: &ListQuery) -> CoreResult<Page<KmsContainer>>;
    async fn count_kms_using_connection(&self, connection_id: &str) -> CoreResult<i64>;
    async fn count_keys_in_kms(&self, kms_id: &str) -> CoreResult<i64>;
    async fn update_kms(&self, kms: &KmsContainer, audit: &AuditDraft) -> CoreResult<()>;
    async fn delete_kms(&self, id: &str, audit: &AuditDraft) -> CoreResult<bool>;

    // --- audit trail
    /// Appends a record on its own (for outcomes that change nothing, such as a refusal).
    async fn append_audit(&self, audit: &AuditDraft) -> CoreResult<()>;
    async fn list_audit(&self, query: &ListQuery) -> CoreResult<Page<AuditEntry>>;
    /// Recomputes the hash chain over every record.
    async fn verify_audit(&self) -> CoreResult<AuditVerification>;
}
