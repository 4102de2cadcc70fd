//! The ports: everything a use case needs from the outside world. Adapters implement them in
//! the `store`, `crypto` and `aws` crates; tests may implement `Clock` and `Random`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditDraft, AuditEntry, AuditVerification};
use crate::auth::RefreshToken;
use crate::connections::{AwsAccount, AwsConnection, ConnectionFilter, ConnectionTarget};
use crate::error::{CoreError, CoreResult};
use crate::idempotency::{IdempotencyClaim, IdempotencyEntry};
use crate::keys::create_journal::CreateIntent;
use crate::keys::import::ImportIntent;
use crate::keys::rotate::KeyRotation;
use crate::keys::sync::SyncJob;
use crate::keys::templates::PolicyTemplate;
use crate::keys::{KeyFilter, KeyMetadata, KeyRecord, RotationStatus};
use crate::kms::{KmsContainer, KmsFilter};
use crate::local_keys::LocalKey;
use crate::login_limits::{LoginCounters, Refused, SourceBudget};
use crate::paging::{ListQuery, Page};
use crate::scheduler::JobConfig;
use crate::scheduler::runs::JobRun;
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

/// Who holds a scheduled run or a rotation, and until when (a node renews it while working).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The node (one server process) holding it.
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// Runs work in the background (a job that outlives the request that started it).
pub trait Background: Send + Sync {
    fn spawn(
        &self,
        work: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>,
    );
    /// Waits this long (background work backs off between its attempts).
    fn sleep(
        &self,
        d: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;
}

/// Cryptographically secure randomness.
#[async_trait]
pub trait Random: Send + Sync {
    fn bytes(&self, len: usize) -> CoreResult<SecretBytes>;
    /// A new private key of that kind, as PKCS #8 DER (what AWS takes as imported material
    /// for asymmetric keys). Generators that cannot make one say so. Async: an RSA-4096 key
    /// takes a second or more of CPU, which must not stall the server's async workers.
    async fn key_pair(&self, spec: KeyPairSpec) -> CoreResult<SecretBytes> {
        Err(CoreError::invalid(format!(
            "this Keyward cannot generate {spec:?} keys"
        )))
    }
}

/// An asymmetric key to generate (vault keys of algorithm `rsa` or `ec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairSpec {
    /// RSA of 2048, 3072 or 4096 bits.
    Rsa(u32),
    /// NIST P-256 (`prime256v1`, `secp256r1`).
    EcP256,
    /// NIST P-384 (`secp384r1`).
    EcP384,
    /// NIST P-521 (`secp521r1`).
    EcP521,
    /// `secp256k1`.
    EcSecp256k1,
}

/// The vault: seals secrets at rest. `owner` names the row and column a value belongs to and
/// is bound into the ciphertext, so a sealed value copied elsewhere does not open.
pub trait Vault: Send + Sync {
    /// Seals under the active key-encryption key.
    fn seal(&self, owner: &str, plaintext: &[u8]) -> CoreResult<Vec<u8>>;
    fn open(&self, owner: &str, sealed: &[u8]) -> CoreResult<SecretBytes>;
    /// The key-encryption key a sealed value is under.
    fn kek_of(&self, sealed: &[u8]) -> Option<u32>;
    fn active_kek(&self) -> u32;
    /// Makes a new key-encryption key (not yet active); returns it sealed for storage.
    fn create_kek(&self, id: u32) -> CoreResult<Vec<u8>>;
    /// Loads a stored key-encryption key.
    fn load_kek(&self, id: u32, sealed: &[u8]) -> CoreResult<()>;
    fn activate_kek(&self, id: u32) -> CoreResult<()>;
}

/// Wraps key material under the public key AWS handed out for one import.
pub trait MaterialWrapper: Send + Sync {
    /// `algorithm`: AWS's wrapping algorithm name, e.g. `RSAES_OAEP_SHA_256`.
    fn wrap(
        &self,
        material: &SecretBytes,
        public_key_der: &[u8],
        algorithm: &str,
    ) -> CoreResult<Vec<u8>>;
}

/// Where a sealed value is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedPlace {
    SystemSecret(String),
    ConnectionSecret(String),
    LocalKeyMaterial(String),
}

#[derive(Debug, Clone)]
pub struct SealedValue {
    pub place: SealedPlace,
    pub sealed: Vec<u8>,
}

/// One of the bounded places for a password check: held while hashing, released when dropped.
pub struct PasswordSlot {
    _held: Box<dyn Send + Sync>,
}

impl PasswordSlot {
    pub fn new(held: Box<dyn Send + Sync>) -> Self {
        Self { _held: held }
    }
}

impl std::fmt::Debug for PasswordSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordSlot")
    }
}

/// Password hashing (argon2id). Hashing is expensive in time and memory, so it runs only in a
/// slot: a bounded number run at once, a bounded number wait, the rest are refused at once.
#[async_trait]
pub trait Passwords: Send + Sync {
    /// Waits for a slot; `None` at once when as many checks as allowed are running or waiting.
    async fn slot(&self) -> Option<PasswordSlot>;
    async fn hash(&self, slot: &PasswordSlot, password: &SecretString) -> CoreResult<String>;
    /// False for a wrong password or a malformed hash.
    async fn verify(&self, slot: &PasswordSlot, password: &SecretString, hash: &str) -> bool;
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
    /// The account the credentials belong to (STS GetCallerIdentity) and the Regions it can
    /// use, in AWS's order (EC2 DescribeRegions, without those not opted in to).
    async fn account_details(&self, target: &ConnectionTarget) -> CoreResult<AwsAccount>;
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

    // --- key-encryption keys (sealed) and re-sealing
    /// (id, sealed key, active).
    async fn list_keks(&self) -> CoreResult<Vec<(u32, Vec<u8>, bool)>>;
    async fn insert_kek(&self, id: u32, sealed: &[u8]) -> CoreResult<()>;
    async fn set_active_kek(&self, id: u32, audit: &AuditDraft) -> CoreResult<()>;
    /// Every sealed value Keyward stores, with its place.
    async fn sealed_values(&self) -> CoreResult<Vec<SealedValue>>;
    /// Replaces a sealed value if it is still `old` (a concurrent change wins). True if replaced.
    async fn reseal_value(&self, place: &SealedPlace, old: &[u8], new: &[u8]) -> CoreResult<bool>;

    // --- users
    async fn count_users(&self) -> CoreResult<i64>;
    async fn insert_user(&self, user: &User, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_user(&self, id: &str) -> CoreResult<Option<User>>;
    async fn get_user_by_name(&self, username: &str) -> CoreResult<Option<User>>;
    /// What a bearer token's check needs of its user: (username, groups), or None when the
    /// user no longer exists. A store may answer from memory, as long as every change of a
    /// user's name or groups and every delete makes it forget the answer before the change's
    /// call returns.
    async fn user_identity(&self, id: &str) -> CoreResult<Option<(String, Vec<String>)>> {
        Ok(self.get_user(id).await?.map(|u| (u.username, u.groups)))
    }
    async fn list_users(&self, query: &ListQuery) -> CoreResult<Page<User>>;
    /// Saves a changed user; with `revoke_refresh_tokens`, revokes all their refresh tokens in
    /// the same transaction (after a password change).
    async fn update_user(
        &self,
        user: &User,
        revoke_refresh_tokens: bool,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    /// Counts a login attempt against the user before its password is checked, atomically:
    /// `admit` sees the stored counters and returns the ones to store, or the refusal (nothing
    /// is written then). No audit: the caller audits.
    async fn admit_login(
        &self,
        user_id: &str,
        admit: &(dyn Fn(LoginCounters) -> Result<LoginCounters, Refused> + Send + Sync),
    ) -> CoreResult<Result<LoginCounters, Refused>>;
    /// A password check succeeded: `last_login` is set, and the failure counters are cleared
    /// only if they still stand where this attempt's admission left them (`admitted_count`):
    /// attempts admitted meanwhile keep counting towards the lock, so a right password among
    /// concurrent wrong ones cannot lift a lock they earned.
    async fn login_succeeded(
        &self,
        user_id: &str,
        at: DateTime<Utc>,
        admitted_count: i64,
    ) -> CoreResult<()>;
    /// Clears a user's failure counters and lock (an admin's unlock; audited).
    async fn unlock_user(&self, user_id: &str, audit: &AuditDraft) -> CoreResult<bool>;
    /// Updates the failed-login budget of a client address atomically, as `update` decides.
    /// Budgets that are full again at `now` are dropped in the same transaction.
    async fn update_login_source(
        &self,
        address: &str,
        now: DateTime<Utc>,
        update: &(dyn Fn(SourceBudget) -> Result<SourceBudget, Refused> + Send + Sync),
    ) -> CoreResult<Result<SourceBudget, Refused>>;
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

    // --- AWS connections
    async fn insert_connection(&self, conn: &AwsConnection, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_connection(&self, id: &str) -> CoreResult<Option<AwsConnection>>;
    async fn get_connection_by_name(&self, name: &str) -> CoreResult<Option<AwsConnection>>;
    async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        query: &ListQuery,
    ) -> CoreResult<Page<AwsConnection>>;
    async fn update_connection(&self, conn: &AwsConnection, audit: &AuditDraft) -> CoreResult<()>;
    async fn delete_connection(&self, id: &str, audit: &AuditDraft) -> CoreResult<bool>;
    /// Records the outcome of a connection test, touching nothing else of the connection.
    async fn record_connection_test(
        &self,
        id: &str,
        ok: bool,
        error: &str,
        at: DateTime<Utc>,
        audit: &AuditDraft,
    ) -> CoreResult<()>;

    // --- KMS containers
    async fn insert_kms(&self, kms: &KmsContainer, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_kms(&self, id: &str) -> CoreResult<Option<KmsContainer>>;
    async fn get_kms_by_name(&self, name: &str) -> CoreResult<Option<KmsContainer>>;
    async fn list_kms(&self, query: &ListQuery) -> CoreResult<Page<KmsContainer>>;
    async fn list_kms_where(
        &self,
        filter: &KmsFilter,
        query: &ListQuery,
    ) -> CoreResult<Page<KmsContainer>>;
    async fn count_kms_using_connection(&self, connection_id: &str) -> CoreResult<i64>;
    /// The key records of the container that are live: AWS has the key, not pending deletion.
    async fn count_live_keys_in_kms(&self, kms_id: &str) -> CoreResult<i64>;
    async fn update_kms(&self, kms: &KmsContainer, audit: &AuditDraft) -> CoreResult<()>;
    /// Deletes the container and forgets the given key records of it (each with its audit
    /// record), in one transaction. A conflict, with nothing written, if one of them is no
    /// longer pending deletion or gone, or the container holds any other key record.
    async fn delete_kms(
        &self,
        id: &str,
        forget: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> CoreResult<bool>;

    // --- AWS key records
    async fn insert_key(&self, key: &KeyRecord, audit: &AuditDraft) -> CoreResult<()>;
    /// Saves a changed record; with an audit record when a request changed it.
    async fn update_key(&self, key: &KeyRecord, audit: Option<&AuditDraft>) -> CoreResult<()>;
    async fn get_key(&self, id: &str) -> CoreResult<Option<KeyRecord>>;
    async fn find_key(
        &self,
        kms_id: &str,
        region: &str,
        key_id: &str,
    ) -> CoreResult<Option<KeyRecord>>;
    async fn list_keys(&self, filter: &KeyFilter, query: &ListQuery)
    -> CoreResult<Page<KeyRecord>>;
    async fn delete_key(&self, id: &str, audit: &AuditDraft) -> CoreResult<bool>;
    /// One batch of a synchronisation, in one transaction: each record's stored counterpart
    /// (same container, Region and AWS key id) absorbs it (`KeyRecord::absorb_sync`), or, if
    /// there is none, the record is inserted with its audit record (`audits`, same order:
    /// `key.discover`). Returns how many were inserted.
    async fn upsert_synced_keys(
        &self,
        records: &[KeyRecord],
        audits: &[AuditDraft],
    ) -> CoreResult<u64>;
    /// Marks gone (synchronised `now`) every record of a container's Region that is not gone
    /// and was not synchronised since `before`, a bounded batch per transaction. Returns how
    /// many.
    async fn mark_unsynced_gone(
        &self,
        kms_id: &str,
        region: &str,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> CoreResult<u64>;

    // --- local (vault) keys
    async fn insert_local_key(&self, key: &LocalKey, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_local_key(&self, id: &str) -> CoreResult<Option<LocalKey>>;
    async fn list_local_keys(
        &self,
        name: Option<&str>,
        query: &ListQuery,
    ) -> CoreResult<Page<LocalKey>>;
    /// Saves a vault key's description and labels (and updated_at), with its audit.
    async fn update_local_key(&self, key: &LocalKey, audit: &AuditDraft) -> CoreResult<()>;
    /// Deletes a vault key, first detaching it from the AWS key records `detach` names (each
    /// with its audit: its material binding is cleared), which must be gone or scheduled for
    /// deletion. A conflict, with nothing written, if another record not gone uses it. One
    /// transaction.
    async fn delete_local_key_detaching(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> CoreResult<bool>;
    /// Ids of the AWS key records bound to this local key's material.
    async fn aws_keys_using_local_key(&self, local_key_id: &str) -> CoreResult<Vec<String>>;

    // --- the import journal
    /// Written before the first AWS call of an import.
    async fn insert_import_intent(&self, intent: &ImportIntent) -> CoreResult<()>;
    /// Saves the imported key's record and closes its intent, in one transaction.
    async fn finish_import(
        &self,
        key: &KeyRecord,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    async fn delete_import_intent(&self, id: &str) -> CoreResult<()>;
    async fn open_import_intents(&self) -> CoreResult<Vec<ImportIntent>>;

    // --- the create journal (`keys/create_journal.rs`)
    /// Written before CreateKey / ReplicateKey.
    async fn insert_create_intent(&self, intent: &CreateIntent) -> CoreResult<()>;
    /// Saves the new key's record (inserted; or, with `update`, over the record of the same
    /// AWS key a sync made first) and closes the intent, with the audit, in one transaction.
    async fn finish_create(
        &self,
        key: &KeyRecord,
        update: bool,
        intent_id: &str,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    async fn delete_create_intent(&self, id: &str) -> CoreResult<()>;
    async fn open_create_intents(&self) -> CoreResult<Vec<CreateIntent>>;

    // --- Idempotency-Key (`idempotency.rs`)
    /// In one transaction: inserts `entry` (in progress) when the (user, key) has no entry or
    /// only an expired one (`Claimed`); otherwise returns the stored entry.
    async fn claim_idempotency(
        &self,
        entry: &IdempotencyEntry,
        now: DateTime<Utc>,
    ) -> CoreResult<IdempotencyClaim>;
    /// Takes over an entry still in progress under `old_request_id` (its request died with
    /// its node); true if `entry` holds it now.
    async fn retake_idempotency(
        &self,
        entry: &IdempotencyEntry,
        old_request_id: &str,
    ) -> CoreResult<bool>;
    /// Saves the first answer of the request `request_id`.
    async fn finish_idempotency(
        &self,
        user_id: &str,
        key: &str,
        request_id: &str,
        status: u16,
        body: &str,
    ) -> CoreResult<()>;
    /// Forgets the entry of the request `request_id` (so a retry runs afresh).
    async fn release_idempotency(
        &self,
        user_id: &str,
        key: &str,
        request_id: &str,
    ) -> CoreResult<()>;
    /// The entries in progress under this request id (a create finished in the background).
    async fn idempotency_of_request(&self, request_id: &str) -> CoreResult<Vec<IdempotencyEntry>>;
    /// Deletes the entries that expired before `now`; returns how many.
    async fn purge_idempotency(&self, now: DateTime<Utc>) -> CoreResult<u64>;

    // --- scheduler job configs (name unique)
    async fn insert_job_config(&self, c: &JobConfig, audit: &AuditDraft) -> CoreResult<()>;
    async fn update_job_config(&self, c: &JobConfig, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_job_config(&self, id: &str) -> CoreResult<Option<JobConfig>>;
    async fn get_job_config_by_name(&self, name: &str) -> CoreResult<Option<JobConfig>>;
    async fn list_job_configs(
        &self,
        filter: &crate::scheduler::JobConfigFilter,
        query: &ListQuery,
    ) -> CoreResult<Page<JobConfig>>;
    /// Deletes the config, first detaching it from the keys `detach` names (each with its
    /// audit), which must still be attached and scheduled for deletion (`PendingDeletion` or
    /// `PendingReplicaDeletion`). A conflict, with nothing written, if any other key (not
    /// gone) is attached to it. All in one transaction, with the delete's audit.
    async fn delete_job_config_detaching(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> CoreResult<bool>;

    // --- scheduler job runs. A scheduled run's (job config, scheduled time) is unique, so
    // among several nodes sharing the store exactly one claims it; the lease says which node
    // runs it and until when (renewed while it runs, taken over once expired).
    /// Inserts a run holding `lease`, with its audit record; false (and nothing written) when
    /// a run of the same config at the same scheduled time exists already (another node
    /// claimed it).
    async fn claim_job_run(
        &self,
        run: &JobRun,
        lease: &Lease,
        audit: &AuditDraft,
    ) -> CoreResult<bool>;
    /// Saves a run's progress while `lease` holds it (with an audit record when given, in the
    /// same transaction); false if the lease was lost.
    async fn update_job_run(
        &self,
        run: &JobRun,
        lease: &Lease,
        audit: Option<&AuditDraft>,
    ) -> CoreResult<bool>;
    async fn get_job_run(&self, id: &str) -> CoreResult<Option<JobRun>>;
    async fn list_job_runs(
        &self,
        job_config_id: Option<&str>,
        status: Option<&str>,
        query: &ListQuery,
    ) -> CoreResult<Page<JobRun>>;
    /// The latest scheduled time among a config's runs.
    async fn last_scheduled_run(&self, job_config_id: &str) -> CoreResult<Option<DateTime<Utc>>>;
    /// Runs still running whose lease expired before `now`.
    async fn stale_job_runs(&self, now: DateTime<Utc>) -> CoreResult<Vec<JobRun>>;
    /// Takes over a running run whose lease expired before `now`; true if `lease` holds it now.
    async fn take_job_run(&self, id: &str, lease: &Lease, now: DateTime<Utc>) -> CoreResult<bool>;

    // --- key rotations: the journal of rotations in progress and their history
    /// Records a rotation in progress with the old key's record (rotation_status set) and the
    /// audit, in one transaction. A conflict if the key has a rotation in progress already, or
    /// (for a new-key rotation) was replaced before.
    async fn begin_rotation(
        &self,
        r: &KeyRotation,
        old: &KeyRecord,
        lease: &Lease,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    /// Saves a step of a rotation in progress while `lease` holds it; false if it was lost.
    async fn update_rotation(&self, r: &KeyRotation, lease: &Lease) -> CoreResult<bool>;
    /// Closes a rotation (completed or failed) and saves the records it changed, with the
    /// audit, in one transaction; a conflict (nothing written) unless it is still in progress
    /// under `lease`.
    async fn finish_rotation(
        &self,
        r: &KeyRotation,
        keys: &[&KeyRecord],
        lease: &Lease,
        audit: &AuditDraft,
    ) -> CoreResult<()>;
    async fn get_rotation(&self, id: &str) -> CoreResult<Option<KeyRotation>>;
    /// The rotations a key took part in, as the old or the new key.
    async fn list_rotations(
        &self,
        key_record_id: &str,
        query: &ListQuery,
    ) -> CoreResult<Page<KeyRotation>>;
    /// Rotations in progress whose lease expired before `now`.
    async fn stale_rotations(&self, now: DateTime<Utc>) -> CoreResult<Vec<KeyRotation>>;
    /// Takes over a rotation in progress whose lease expired before `now`.
    async fn take_rotation(&self, id: &str, lease: &Lease, now: DateTime<Utc>) -> CoreResult<bool>;

    // --- policy templates
    async fn insert_template(&self, t: &PolicyTemplate, audit: &AuditDraft) -> CoreResult<()>;
    async fn update_template(&self, t: &PolicyTemplate, audit: &AuditDraft) -> CoreResult<()>;
    async fn get_template(&self, id: &str) -> CoreResult<Option<PolicyTemplate>>;
    async fn get_template_by_name(&self, name: &str) -> CoreResult<Option<PolicyTemplate>>;
    async fn list_templates(&self, query: &ListQuery) -> CoreResult<Page<PolicyTemplate>>;
    /// Deletes the template and detaches the given key records from it (each with its audit
    /// record), in one transaction. A conflict, with nothing written, if one of them is no
    /// longer pending deletion or gone, or a live key record carries the template's tag.
    async fn delete_template(
        &self,
        id: &str,
        detach: &[(String, AuditDraft)],
        audit: &AuditDraft,
    ) -> CoreResult<bool>;
    /// A key was made from the template: it is now verified.
    async fn mark_template_verified(&self, id: &str) -> CoreResult<()>;

    // --- synchronisation jobs
    async fn insert_sync_job(&self, job: &SyncJob, audit: &AuditDraft) -> CoreResult<()>;
    async fn update_sync_job(&self, job: &SyncJob, audit: Option<&AuditDraft>) -> CoreResult<()>;
    async fn get_sync_job(&self, id: &str) -> CoreResult<Option<SyncJob>>;
    async fn list_sync_jobs(
        &self,
        id: Option<&str>,
        overall_status: Option<&str>,
        kms_id: Option<&str>,
        query: &ListQuery,
    ) -> CoreResult<Page<SyncJob>>;

    // --- audit trail
    /// Appends a record on its own (for outcomes that change nothing, such as a refusal).
    async fn append_audit(&self, audit: &AuditDraft) -> CoreResult<()>;
    async fn list_audit(&self, query: &ListQuery) -> CoreResult<Page<AuditEntry>>;
    /// Recomputes the hash chain over every record.
    async fn verify_audit(&self) -> CoreResult<AuditVerification>;
}

/// CreateKey's input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewKey {
    pub description: String,
    pub key_spec: String,
    pub key_usage: String,
    /// AWS_KMS or EXTERNAL.
    pub origin: String,
    pub multi_region: bool,
    /// A policy document; `None` lets AWS apply its default policy.
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<(String, String)>,
}

/// ReplicateKey's input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewReplica {
    pub replica_region: String,
    pub description: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: bool,
    pub tags: Vec<(String, String)>,
}

/// GetParametersForImport's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportParameters {
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key: Vec<u8>,
    pub import_token: Vec<u8>,
}

/// One page of ListKeys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    pub key_ids: Vec<String>,
    pub next_marker: Option<String>,
}

/// AWS KMS key operations. Each takes the connection target (credentials and Region) and
/// the key's id or ARN; errors carry AWS's code and message.
#[async_trait]
pub trait CloudKeys: Send + Sync {
    async fn create_key(&self, t: &ConnectionTarget, key: &NewKey) -> CoreResult<KeyMetadata>;
    async fn describe_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<KeyMetadata>;
    /// The key's aliases, full names (`alias/<name>`).
    async fn key_aliases(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<Vec<String>>;
    async fn key_tags(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<Vec<(String, String)>>;
    async fn key_policy(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<String>;
    /// `Ok(None)` where AWS does not support rotation for this key (asymmetric, HMAC, imported).
    async fn key_rotation_status(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<Option<RotationStatus>>;
    async fn schedule_key_deletion(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        days: i32,
    ) -> CoreResult<()>;
    async fn cancel_key_deletion(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()>;
    async fn enable_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()>;
    async fn disable_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()>;
    async fn update_key_description(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        description: &str,
    ) -> CoreResult<()>;
    async fn tag_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        tags: &[(String, String)],
    ) -> CoreResult<()>;
    async fn untag_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        tag_keys: &[String],
    ) -> CoreResult<()>;
    /// `alias` is the full name, `alias/<name>`.
    async fn create_alias(&self, t: &ConnectionTarget, alias: &str, key_id: &str)
    -> CoreResult<()>;
    async fn delete_alias(&self, t: &ConnectionTarget, alias: &str) -> CoreResult<()>;
    /// Points an existing alias at another key (same type and usage, same account and Region).
    async fn update_alias(&self, t: &ConnectionTarget, alias: &str, key_id: &str)
    -> CoreResult<()>;
    /// Whether an alias name is taken in the target's account and Region.
    async fn alias_exists(&self, t: &ConnectionTarget, alias: &str) -> CoreResult<bool>;
    async fn put_key_policy(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        policy: &str,
        bypass_lockout_check: bool,
    ) -> CoreResult<()>;
    async fn enable_key_rotation(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        period_in_days: Option<i32>,
    ) -> CoreResult<()>;
    async fn disable_key_rotation(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()>;
    async fn rotate_key_on_demand(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<()>;
    /// Replicates a multi-Region primary key into another Region; returns the replica's metadata.
    async fn replicate_key(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        replica: &NewReplica,
    ) -> CoreResult<KeyMetadata>;
    async fn update_primary_region(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        primary_region: &str,
    ) -> CoreResult<()>;
    /// The public key of an asymmetric key, DER (SubjectPublicKeyInfo).
    async fn public_key(&self, t: &ConnectionTarget, key_id: &str) -> CoreResult<Vec<u8>>;
    async fn list_keys(&self, t: &ConnectionTarget, marker: Option<&str>) -> CoreResult<KeyPage>;
    async fn get_parameters_for_import(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        wrapping_algorithm: &str,
        wrapping_key_spec: &str,
    ) -> CoreResult<ImportParameters>;
    /// `valid_to`: `Some` for KEY_MATERIAL_EXPIRES, `None` for KEY_MATERIAL_DOES_NOT_EXPIRE.
    async fn import_key_material(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
        import_token: &[u8],
        encrypted_material: &[u8],
        valid_to: Option<DateTime<Utc>>,
    ) -> CoreResult<()>;
    async fn delete_imported_key_material(
        &self,
        t: &ConnectionTarget,
        key_id: &str,
    ) -> CoreResult<()>;
}

/// A secret key in the HSM's token (PKCS#11), as [`HsmKeys`] reports it. Never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmKey {
    /// The label of the token that holds it.
    pub token: String,
    /// Its CKA_LABEL (may be empty for a key made outside Keyward).
    pub label: String,
    /// Its object handle (valid while the HSM session lasts; not a stable name).
    pub handle: u64,
    /// CKA_KEY_TYPE is CKK_AES.
    pub aes: bool,
    /// CKA_VALUE_LEN, bytes.
    pub value_len: u64,
    pub sensitive: bool,
    pub extractable: bool,
}

impl HsmKey {
    /// The id Keyward records for the key: `<token label>:<key label>`. Labels are the stable
    /// names in a token (handles may change when the HSM session is reopened).
    pub fn id(&self) -> String {
        format!("{}:{}", self.token, self.label)
    }
}

/// The hash of RSA-OAEP (and of its MGF1) with which the HSM wraps a key for AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    Sha256,
    Sha1,
}

impl OaepHash {
    /// The matching WrappingAlgorithm of AWS's GetParametersForImport.
    pub fn aws_algorithm(self) -> &'static str {
        match self {
            OaepHash::Sha256 => "RSAES_OAEP_SHA_256",
            OaepHash::Sha1 => "RSAES_OAEP_SHA_1",
        }
    }
}

/// Secret keys in an HSM over PKCS#11. Key material never leaves the HSM except wrapped by it
/// (C_WrapKey) under a public key, so Keyward never holds it in the clear.
#[async_trait]
pub trait HsmKeys: Send + Sync {
    /// The label of the token Keyward works in.
    fn token_label(&self) -> &str;
    /// Whether the HSM wraps with RSA-OAEP SHA-256 (probed when connecting; false once it
    /// has refused, so an import does not ask AWS for parameters it cannot use).
    fn supports_oaep_sha256(&self) -> bool;
    /// A secret key stored in the token, by label, or by handle (a number) when no key has
    /// that label. `Err(InvalidParam)` when several keys have the label.
    async fn find_secret_key(&self, label_or_handle: &str) -> CoreResult<Option<HsmKey>>;
    /// Generates an AES-256 key in the token: stored (CKA_TOKEN), sensitive, and extractable
    /// only by wrapping, with this label.
    async fn generate_aes_key(&self, label: &str) -> CoreResult<HsmKey>;
    /// Wraps the key under an RSA public key (DER SubjectPublicKeyInfo) with RSA-OAEP at the
    /// given hash, inside the HSM. `Ok(None)`: the HSM refuses that hash (it is remembered).
    async fn wrap_key(
        &self,
        key: &HsmKey,
        public_key_der: &[u8],
        hash: OaepHash,
    ) -> CoreResult<Option<Vec<u8>>>;
}
