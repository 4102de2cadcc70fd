//! The application: the ports wired together, with the use cases as methods (each in the
//! module of its resource: users, auth, connections, kms, audit queries).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::{AuditDraft, Caller, Outcome};
use crate::error::{CoreError, CoreResult};
use crate::ports::{
    AccessTokens, Background, Clock, CloudKeys, CloudKms, Passwords, Random, Store, Vault,
};
use crate::ports::{HsmKeys, MaterialWrapper};
use crate::secret::SecretBytes;

/// Tunables of the use cases (the server reads them from its configuration).
#[derive(Debug, Clone)]
pub struct KeywardSettings {
    /// Lifetime of an access token (JWT), seconds.
    pub token_ttl_secs: i64,
    /// Lifetime of a refresh token, seconds.
    pub refresh_token_ttl_secs: i64,
    /// After this many consecutive failed logins, each further attempt must wait.
    pub login_slowdown_after: i64,
    /// After this many consecutive failed logins, the user is locked.
    pub login_lock_after: i64,
    /// How long a lock lasts, seconds; failures are forgotten this long after the last one.
    pub login_lock_secs: i64,
    /// Failed logins one client address may make at once (its budget).
    pub login_source_burst: i64,
    /// After the budget is spent, one more failed login per this many seconds per address.
    pub login_source_interval_secs: i64,
    /// How long a node holds a scheduled run or a rotation without renewing it before
    /// another node (or this one, restarted) may take it over, seconds.
    pub scheduler_lease_secs: i64,
}

impl Default for KeywardSettings {
    fn default() -> Self {
        Self {
            token_ttl_secs: 300,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            login_slowdown_after: 3,
            login_lock_after: 10,
            login_lock_secs: 900,
            login_source_burst: 5,
            login_source_interval_secs: 1200,
            scheduler_lease_secs: 300,
        }
    }
}

/// The ports a [`Keyward`] runs on.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub cloud: Arc<dyn CloudKms>,
    pub keys: Arc<dyn CloudKeys>,
    pub vault: Arc<dyn Vault>,
    pub wrapper: Arc<dyn MaterialWrapper>,
    /// The HSM key source (PKCS#11); `None` when no HSM is configured.
    pub hsm: Option<Arc<dyn HsmKeys>>,
    pub passwords: Arc<dyn Passwords>,
    pub tokens: Arc<dyn AccessTokens>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub background: Arc<dyn Background>,
}

/// Keyward's use cases.
#[derive(Clone)]
pub struct Keyward {
    pub(crate) ports: Ports,
    pub(crate) settings: KeywardSettings,
    /// This process among the nodes sharing the store (the owner of its leases).
    pub(crate) node_id: String,
    /// The runs and rotations this process is working on (its own scheduler tick must not take
    /// them over when a lease runs out while a step is slow).
    busy: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Login attempts refused before their password was checked, by reason (for /metrics).
    pub(crate) login_refusals: Arc<[std::sync::atomic::AtomicU64; 4]>,
}

/// Marks a run or rotation as worked on by this process until dropped.
pub(crate) struct Busy {
    id: String,
    set: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

impl Keyward {
    pub fn new(ports: Ports, settings: KeywardSettings) -> Self {
        Self {
            ports,
            settings,
            node_id: uuid::Uuid::new_v4().to_string(),
            busy: Arc::default(),
            login_refusals: Arc::default(),
        }
    }

    /// How many login attempts were refused before their password was checked, by reason,
    /// since this process started.
    pub fn login_refusals(&self) -> Vec<(crate::login_limits::LoginRefusal, u64)> {
        crate::login_limits::LoginRefusal::ALL
            .iter()
            .zip(self.login_refusals.iter())
            .map(|(r, n)| (*r, n.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// Marks `id` as worked on by this process; `None` if it is already.
    pub(crate) fn work_on(&self, id: &str) -> Option<Busy> {
        let mut set = self.busy.lock().ok()?;
        if !set.insert(id.to_string()) {
            return None;
        }
        Some(Busy {
            id: id.to_string(),
            set: Arc::clone(&self.busy),
        })
    }

    pub(crate) fn is_busy(&self, id: &str) -> bool {
        self.busy.lock().map(|s| s.contains(id)).unwrap_or(true)
    }

    /// A lease held by this node from now.
    pub(crate) fn lease(&self) -> crate::ports::Lease {
        crate::ports::Lease {
            owner: self.node_id.clone(),
            until: self.now()
                + chrono::Duration::seconds(self.settings.scheduler_lease_secs.max(1)),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    pub(crate) fn new_id(&self) -> CoreResult<String> {
        let b = self.ports.random.bytes(16)?;
        let mut raw = [0u8; 16];
        raw.copy_from_slice(b.expose());
        Ok(uuid::Builder::from_random_bytes(raw)
            .into_uuid()
            .to_string())
    }

    pub(crate) fn draft(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        outcome: Outcome,
        detail: impl Into<String>,
    ) -> AuditDraft {
        AuditDraft {
            at: self.now(),
            actor: caller.principal.username.clone(),
            action: action.into(),
            target: target.into(),
            outcome,
            detail: detail.into(),
            request_id: caller.request_id.clone(),
        }
    }

    /// Runs a state-changing use case; when it fails, records the failure in the audit trail
    /// (a success is recorded by the store in the same transaction as the change).
    pub(crate) async fn audited<T>(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        work: impl Future<Output = CoreResult<T>>,
    ) -> CoreResult<T> {
        let result = work.await;
        if let Err(err) = &result {
            let outcome = match err {
                CoreError::Forbidden(_) | CoreError::Unauthorized(_) => Outcome::Denied,
                _ => Outcome::Failure,
            };
            let detail = match err {
                CoreError::Internal(_) => "internal error".to_string(),
                other => other.to_string(),
            };
            let draft = self.draft(caller, action, target, outcome, detail);
            if let Err(audit_err) = self.ports.store.append_audit(&draft).await {
                tracing::error!(error = %audit_err, action, "could not record a failure in the audit trail");
            }
        }
        result
    }
}

/// Loads a secret of Keyward's own (e.g. the token-signing key), creating it on first use.
/// Safe when several nodes start at once: the first stored value wins. Runs before the
/// [`Keyward`] exists, since its token port needs this key.
pub async fn load_system_secret(
    store: &dyn Store,
    vault: &dyn Vault,
    random: &dyn Random,
    name: &str,
    len: usize,
) -> CoreResult<SecretBytes> {
    let owner = format!("system:{name}");
    let sealed = match store.get_system_secret(name).await? {
        Some(s) => s,
        None => {
            let fresh = random.bytes(len)?;
            let sealed = vault.seal(&owner, fresh.expose())?;
            store.put_system_secret_if_absent(name, &sealed).await?
        }
    };
    vault.open(&owner, &sealed)
}

pub(crate) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// RFC 3339 to the second, as AWS writes times (`2026-11-27T21:05:09Z`).
pub(crate) fn rfc3339_secs(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
