//! The audit chain: each record's `hash` is a MAC (HMAC-SHA256 under a key derived from the
//! root key, given as the [`AuditMac`] port) over its fields and its predecessor's MAC.
//! Databases written before the chain was keyed hold plain SHA-256 hashes; [`verify_unkeyed`]
//! checks such a chain once, before it is re-keyed.

use aws_lc_rs::digest::{SHA256, digest};
use keyward_core::audit::{AuditEntry, AuditMac, AuditVerification, GENESIS_HASH};

/// The MAC that goes in a record's `hash`.
pub fn mac_entry(mac: &dyn AuditMac, entry: &AuditEntry) -> String {
    mac.mac(&entry.canonical_bytes())
}

/// The unkeyed SHA-256 of chains written before 0012 (kept only to check them before
/// re-keying).
pub fn hash_entry(entry: &AuditEntry) -> String {
    hex::encode(digest(&SHA256, &entry.canonical_bytes()).as_ref())
}

/// What the chain must still contain: record `seq` with MAC `head` (from a signed checkpoint).
pub type Expected = (i64, String);

/// Walks the records in `seq` order and reports every break: a MAC that does not match, a
/// link, a gap, a head that is not the last record, and (with `expect`) a checkpointed record
/// that is gone or changed.
pub fn verify(
    mac: &dyn AuditMac,
    entries: &[AuditEntry],
    head: Option<(i64, String)>,
    expect: Option<&Expected>,
) -> AuditVerification {
    walk(entries, head, expect, |e| {
        mac.verify(&e.canonical_bytes(), &e.hash)
    })
}

/// [`verify`] for a chain of unkeyed SHA-256 hashes.
pub fn verify_unkeyed(entries: &[AuditEntry], head: Option<(i64, String)>) -> AuditVerification {
    walk(entries, head, None, |e| hash_entry(e) == e.hash)
}

fn walk(
    entries: &[AuditEntry],
    head: Option<(i64, String)>,
    expect: Option<&Expected>,
    sealed: impl Fn(&AuditEntry) -> bool,
) -> AuditVerification {
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
        if !sealed(e) {
            problems.push(format!(
                "record {} was edited (its MAC does not match its contents)",
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
    if let Some((seq, head)) = expect {
        match entries.iter().find(|e| e.seq == *seq) {
            None => problems.push(format!(
                "record {seq} of the checkpoint is gone: the trail was cut below the checkpoint{}",
                entries
                    .last()
                    .map(|l| format!(" (it now ends at record {})", l.seq))
                    .unwrap_or_default()
            )),
            Some(e) if e.hash != *head => problems.push(format!(
                "record {seq} no longer has the checkpoint's MAC: it or a record before it was rewritten"
            )),
            Some(_) => {}
        }
    }
    AuditVerification {
        records: entries.len() as i64,
        problems,
    }
}
