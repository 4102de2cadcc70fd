//! The audit hash chain: each record's hash covers its fields and its predecessor's hash.

use aws_lc_rs::digest::{SHA256, digest};
use keyward_core::audit::{AuditEntry, AuditVerification, GENESIS_HASH};

pub fn hash_entry(entry: &AuditEntry) -> String {
    hex::encode(digest(&SHA256, &entry.canonical_bytes()).as_ref())
}

/// Walks the records in `seq` order and reports every break.
pub fn verify(entries: &[AuditEntry], head: Option<(i64, String)>) -> AuditVerification {
    let mut problems = Vec::new();
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut expected_seq = 1;
    for e in entries {
        if e.seq != expected_seq {
            problems.push(format!(
                "record {expected_seq} is missing (next present record is {})",
                e.seq
            ));
        }
        if e.prev_hash != prev_hash {
            problems.push(format!(
                "record {} does not follow its predecessor (prev_hash differs): a record before it was edited or deleted",
                e.seq
            ));
        }
        if hash_entry(e) != e.hash {
            problems.push(format!(
                "record {} was edited (its hash does not match its contents)",
                e.seq
            ));
        }
        prev_hash = e.hash.clone();
        expected_seq = e.seq + 1;
    }
    let last = entries.last().map(|e| (e.seq, e.hash.clone()));
    match (head, last) {
        (Some(h), Some(l)) if h != l => problems.push(format!(
            "the chain ends at record {} but the head says record {}: records were cut off the end or the head was edited",
            l.0, h.0
        )),
        (Some(h), None) => problems.push(format!(
            "every record is gone but the head says record {}",
            h.0
        )),
        (None, Some(_)) => problems.push("the audit head is missing".to_string()),
        _ => {}
    }
    AuditVerification {
        records: entries.len() as i64,
        problems,
    }
}
