//! The audit trail: one record per state-changing request, chained by HMAC-SHA256 under a key
//! derived from the root key (see [`AuditMac`]), with signed checkpoints of its head that live
//! outside the database (see [`Checkpoint`]).

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

/// The key the audit chain is sealed under: each record's `hash` is this MAC over its
/// [`AuditEntry::canonical_bytes`] (which include its predecessor's MAC), so rewriting the chain
/// needs the key. Implemented in `crypto` (HMAC-SHA256, key derived from the root key); the
/// store only ever sees this port, never the root key.
pub trait AuditMac: Send + Sync {
    /// The MAC of `bytes`, hex-encoded (64 digits).
    fn mac(&self, bytes: &[u8]) -> String;
    /// Whether `mac_hex` is the MAC of `bytes` (compared in constant time).
    fn verify(&self, bytes: &[u8], mac_hex: &str) -> bool;
}

/// A checkpoint of the chain's head: record `seq` has MAC `head`, as seen at `at`. Signed
/// (Ed25519, key derived from the root key) and kept outside the database (server log,
/// checkpoint file), it lets `keyward admin verify-audit --expect-head` find a truncation or a
/// rewrite that left a self-consistent chain behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub head: String,
    /// Seconds since the Unix epoch.
    pub at: i64,
}

/// A checkpoint and its signature; written as one token,
/// `kwcp1.<seq>.<at>.<head hex>.<signature hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: Vec<u8>,
}

const CHECKPOINT_PREFIX: &str = "kwcp1";

impl Checkpoint {
    /// The bytes signed: a domain label, then seq, at and head, length-prefixed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = b"keyward-audit-checkpoint-v1".to_vec();
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        out.extend_from_slice(&(self.head.len() as u64).to_be_bytes());
        out.extend_from_slice(self.head.as_bytes());
        out
    }
}

impl SignedCheckpoint {
    pub fn to_token(&self) -> String {
        format!(
            "{CHECKPOINT_PREFIX}.{}.{}.{}.{}",
            self.checkpoint.seq,
            self.checkpoint.at,
            self.checkpoint.head,
            hex::encode(&self.signature)
        )
    }

    /// Parses a token written by [`Self::to_token`] (surrounding whitespace ignored).
    pub fn parse(token: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "not an audit checkpoint (expected {CHECKPOINT_PREFIX}.<seq>.<time>.<head>.<signature>)"
            )
        };
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [prefix, seq, at, head, sig] = parts.as_slice() else {
            return Err(bad());
        };
        if *prefix != CHECKPOINT_PREFIX {
            return Err(bad());
        }
        let seq: i64 = seq.parse().map_err(|_| bad())?;
        let at: i64 = at.parse().map_err(|_| bad())?;
        let is_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if seq < 1 || !is_hex(head, 64) || !is_hex(sig, 128) {
            return Err(bad());
        }
        Ok(Self {
            checkpoint: Checkpoint {
                seq,
                head: (*head).to_string(),
                at,
            },
            signature: hex::decode(sig).map_err(|_| bad())?,
        })
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

    /// Re-walks the audit chain (every MAC, every link, the head).
    pub async fn verify_audit(&self) -> crate::CoreResult<AuditVerification> {
        self.ports.store.verify_audit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_tokens_round_trip_and_reject_junk() {
        let cp = SignedCheckpoint {
            checkpoint: Checkpoint {
                seq: 42,
                head: "ab".repeat(32),
                at: 1_800_000_000,
            },
            signature: vec![7; 64],
        };
        let token = cp.to_token();
        assert!(token.starts_with("kwcp1.42.1800000000."), "{token}");
        assert_eq!(SignedCheckpoint::parse(&format!(" {token}\n")), Ok(cp));
        for junk in [
            "",
            "kwcp1",
            "kwcp2.42.1.aa.bb",
            &token.replace("kwcp1.42", "kwcp1.-1"),
            &token.replace("kwcp1.42", "kwcp1.x"),
            &format!("{token}.extra"),
            &token[..token.len() - 2],
        ] {
            assert!(SignedCheckpoint::parse(junk).is_err(), "{junk}");
        }
    }
}
