//! `Idempotency-Key`: a client that sends the header with a create or a key action may retry
//! the request and gets the first answer (status and body) again, never a second key.
//!
//! An entry is keyed by (the caller's user id, the header's value) and remembers the route
//! (method and path) and a SHA-256 digest of the body. The same key with another route or
//! body is refused (422); the same key while the first request runs answers 409. The first
//! answer is kept for [`RETENTION_HOURS`] hours (the Clock port's time). A 5xx answer is not
//! kept (the entry is released, so a retry runs afresh), except when the request was a create
//! whose AWS answer was lost: its create intent stays open and the entry stays in progress
//! until the background recovery finishes the key (then the entry holds 201 and the new
//! record) or finds it was never made (then the entry is released).

use chrono::{DateTime, Duration, Utc};

use crate::audit::Caller;
use crate::error::{CoreError, CoreResult};
use crate::service::Keyward;

/// How long a first answer is replayed.
pub const RETENTION_HOURS: i64 = 24;
/// Longest accepted header value.
pub const MAX_KEY_LEN: usize = 255;

/// One stored (user, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyEntry {
    pub user_id: String,
    pub key: String,
    /// `POST /api/v1/cckm/aws/keys/<id>/enable`: method and path.
    pub route: String,
    /// Hex SHA-256 of the request body.
    pub body_digest: String,
    /// The request that holds (or held) the entry.
    pub request_id: String,
    /// The first answer; `None` while it runs.
    pub status: Option<u16>,
    pub response_body: Option<String>,
    /// An entry in progress past this time belongs to a request that died with its node.
    pub lease_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What `Store::claim_idempotency` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The entry is new: this request runs.
    Claimed,
    /// An entry exists (not expired).
    Existing(IdempotencyEntry),
}

/// What to do with a request that carries an Idempotency-Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// Run it, then call `idempotency_finish` with its answer.
    Run,
    /// Answer this, the first request's answer.
    Replay { status: u16, body: String },
}

impl Keyward {
    /// Claims the key for this request, or says what to answer instead: the stored answer, a
    /// 409 while the first request runs, a 422 for another route or body.
    pub async fn idempotency_start(
        &self,
        caller: &Caller,
        key: &str,
        route: &str,
        body_digest: &str,
    ) -> CoreResult<IdempotencyStart> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CoreError::invalid(format!(
                "Idempotency-Key: 1 to {MAX_KEY_LEN} visible ASCII characters"
            )));
        }
        let now = self.now();
        let entry = IdempotencyEntry {
            user_id: caller.principal.user_id.clone(),
            key: key.to_string(),
            route: route.to_string(),
            body_digest: body_digest.to_string(),
            request_id: caller.request_id.clone(),
            status: None,
            response_body: None,
            lease_until: now + Duration::seconds(self.settings.scheduler_lease_secs.max(60)),
            created_at: now,
            expires_at: now + Duration::hours(RETENTION_HOURS),
        };
        let existing = match self.ports.store.claim_idempotency(&entry, now).await? {
            IdempotencyClaim::Claimed => return Ok(IdempotencyStart::Run),
            IdempotencyClaim::Existing(e) => e,
        };
        if existing.route != route {
            return Err(CoreError::Unprocessable(format!(
                "Idempotency-Key: '{key}' was used for {} within the last {RETENTION_HOURS} h; use a new key for another request",
                existing.route
            )));
        }
        if existing.body_digest != body_digest {
            return Err(CoreError::Unprocessable(format!(
                "Idempotency-Key: '{key}' was used with a different request body within the last {RETENTION_HOURS} h; use a new key for another request"
            )));
        }
        if let (Some(status), Some(body)) = (existing.status, existing.response_body.clone()) {
            return Ok(IdempotencyStart::Replay { status, body });
        }
        // In progress. A request whose node died (its lease ran out) and that left no create
        // to finish is taken over.
        let orphaned = existing.lease_until < now
            && !self
                .ports
                .store
                .open_create_intents()
                .await?
                .iter()
                .any(|i| i.request_id == existing.request_id);
        if orphaned
            && self
                .ports
                .store
                .retake_idempotency(&entry, &existing.request_id)
                .await?
        {
            return Ok(IdempotencyStart::Run);
        }
        Err(CoreError::conflict(format!(
            "Idempotency-Key: the first request with '{key}' is still running; retry later for its answer"
        )))
    }

    /// Stores the answer of a request that ran under an Idempotency-Key. A 5xx answer is not
    /// kept (a retry runs again), unless a create of the request is still open in the journal:
    /// then its recovery gives the entry its answer.
    pub async fn idempotency_finish(
        &self,
        caller: &Caller,
        key: &str,
        status: u16,
        body: &str,
    ) -> CoreResult<()> {
        let store = &self.ports.store;
        let user = &caller.principal.user_id;
        if status < 500 {
            return store
                .finish_idempotency(user, key, &caller.request_id, status, body)
                .await;
        }
        let create_open = store
            .open_create_intents()
            .await?
            .iter()
            .any(|i| i.request_id == caller.request_id);
        if create_open {
            Ok(())
        } else {
            store
                .release_idempotency(user, key, &caller.request_id)
                .await
        }
    }

    /// Gives the entries of a request whose create was finished (or given up) in the
    /// background their answer.
    pub(crate) async fn idempotency_settle(&self, request_id: &str, answer: Option<(u16, String)>) {
        let store = &self.ports.store;
        let entries = match store.idempotency_of_request(request_id).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the idempotency entries of a recovered create");
                return;
            }
        };
        for e in entries {
            let done = match &answer {
                Some((status, body)) => {
                    store
                        .finish_idempotency(&e.user_id, &e.key, request_id, *status, body)
                        .await
                }
                None => {
                    store
                        .release_idempotency(&e.user_id, &e.key, request_id)
                        .await
                }
            };
            if let Err(err) = done {
                tracing::warn!(error = %err, "could not settle an idempotency entry");
            }
        }
    }

    /// Deletes expired entries (at start and at each scheduler tick).
    pub async fn purge_idempotency(&self) -> CoreResult<u64> {
        self.ports.store.purge_idempotency(self.now()).await
    }
}
