//! The audit trail: one record per state-changing request, chained by SHA-256.

use chrono::{DateTime, Utc};

use crate::authz::Principal;

/// Who is calling and under which request id; passed to every use case.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub request_id: String,
}

impl Caller {
    pub fn new(principal: Principal, request_id: impl Into<String>) -> Self {
        Self {
            principal,
            request_id: request_id.into(),
        }
    }

    pub fn system() -> Self {
        Self::new(Principal::system(), "system")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// An audit record before the store gives it a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    /// A short, secret-free description (for failures: the error message).
    pub detail: String,
    pub request_id: String,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The canonical bytes hashed into the chain: every field but `hash`, length-prefixed so
    /// no two different records share an encoding.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let at = self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let seq = self.seq.to_string();
        let fields: [&str; 10] = [
            &seq,
            &self.id,
            &at,
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
            &self.detail,
            &self.request_id,
            &self.prev_hash,
        ];
        let mut out = Vec::new();
        for f in fields {
            out.extend_from_slice(&(f.len() as u64).to_be_bytes());
            out.extend_from_slice(f.as_bytes());
        }
        out
    }
}

/// The result of re-walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    pub records: i64,
    /// Human-readable problems: an edited record, a gap, a broken link. Empty when intact.
    pub problems: Vec<String>,
}

impl AuditVerification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The hash of the first record's predecessor.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub const SORTABLE: &[&str] = &["seq", "createdAt", "actor", "action"];

impl crate::service::Keyward {
    /// `GET /api/v1/audit/records` (admin only). Newest first unless a sort is given.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        page: &keyward_api::list::PageParams,
    ) -> crate::CoreResult<(crate::paging::ListQuery, crate::paging::Page<AuditEntry>)> {
        caller
            .principal
            .require(crate::authz::Permission::ReadAudit)?;
        let mut query = crate::paging::ListQuery::parse(page, SORTABLE)?;
        if query.sort.is_empty() {
            query.sort.push(crate::paging::SortKey {
                field: "seq",
                descending: true,
            });
        }
        Ok((query.clone(), self.ports.store.list_audit(&query).await?))
    }

    /// Re-walks the audit chain.
    pub async fn verify_audit(&self) -> crate::CoreResult<AuditVerification> {
        self.ports.store.verify_audit().await
    }
}
