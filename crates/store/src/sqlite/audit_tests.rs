//! The keyed audit chain in the store: a rewrite recomputed with plain SHA-256 (what passed
//! before the chain was keyed) fails; a cut-off end with the head set back fails against a
//! checkpoint taken before; an intact chain passes; an old database's unkeyed chain is
//! re-keyed once, at start, and the trail says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditDraft, AuditEntry, AuditMac, Caller, GENESIS_HASH, Outcome};
use keyward_core::ports::Store;
use sqlx::SqlitePool;

use super::SqliteStore;
use crate::{audit_chain, migrations, rows};

struct TestMac(aws_lc_rs::hmac::Key);

impl AuditMac for TestMac {
    fn mac(&self, bytes: &[u8]) -> String {
        hex::encode(aws_lc_rs::hmac::sign(&self.0, bytes).as_ref())
    }
    fn verify(&self, bytes: &[u8], mac_hex: &str) -> bool {
        self.mac(bytes) == mac_hex
    }
}

pub(super) fn mac(key: &[u8]) -> Arc<dyn AuditMac> {
    Arc::new(TestMac(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        key,
    )))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn draft(n: i64) -> AuditDraft {
    AuditDraft {
        at: t("2026-11-27T12:00:00Z"),
        actor: Caller::system().principal.username,
        action: format!("test.action-{n}"),
        target: format!("target-{n}"),
        outcome: Outcome::Success,
        detail: String::new(),
        request_id: format!("req-{n}"),
    }
}

async fn store_with(dir: &Path, records: i64) -> SqliteStore {
    let store = SqliteStore::open(&dir.join("k.db"), mac(b"root-derived"))
        .await
        .unwrap();
    for n in 1..=records {
        store.append_audit(&draft(n)).await.unwrap();
    }
    store
}

async fn entries(pool: &SqlitePool) -> Vec<AuditEntry> {
    sqlx::query("SELECT * FROM audit_records ORDER BY seq ASC")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| rows::audit(r).unwrap())
        .collect()
}

/// What an attacker with write access to the database (but not the root key) did to pass the
/// old check: edit a record, then recompute every following hash and the head with SHA-256.
async fn rewrite_with_sha256(pool: &SqlitePool, seq: i64, detail: &str) {
    let mut prev = GENESIS_HASH.to_string();
    for mut e in entries(pool).await {
        if e.seq == seq {
            e.detail = detail.into();
        }
        e.prev_hash = prev;
        e.hash = audit_chain::hash_entry(&e);
        sqlx::query("UPDATE audit_records SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&e.detail)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_head SET seq = ?, hash = ?")
            .bind(e.seq)
            .bind(&e.hash)
            .execute(pool)
            .await
            .unwrap();
        prev = e.hash;
    }
}

#[tokio::test]
async fn a_valid_keyed_chain_passes_and_its_macs_are_not_plain_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 5).await;
    let report = store.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 5);
    for e in entries(store.pool()).await {
        assert_ne!(e.hash, audit_chain::hash_entry(&e), "record {}", e.seq);
    }
    let head = store.audit_head().await.unwrap().unwrap();
    assert_eq!(head.0, 5);
    let report = store.verify_audit_expecting(Some(&head)).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_rewrite_recomputed_with_plain_sha256_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 6).await;
    rewrite_with_sha256(store.pool(), 3, "nothing to see").await;
    let report = store.verify_audit().await.unwrap();
    assert!(!report.is_intact(), "a SHA-256 rewrite passed");
    assert!(
        report.problems.iter().any(|p| p.contains("record 3 ")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_rewrite_under_another_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 4).await;
    store.close().await;
    // Someone with another deployment's (or a guessed) key rewrites the whole chain.
    let other = SqliteStore::open(&dir.path().join("k.db"), mac(b"another key"))
        .await
        .unwrap();
    let report = other.verify_audit().await.unwrap();
    assert!(!report.is_intact());
    assert!(
        report.problems.iter().any(|p| p.contains("record 1 ")),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_cut_off_end_with_the_head_set_back_fails_against_an_earlier_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 5).await;
    let checkpoint = store.audit_head().await.unwrap().unwrap();
    assert_eq!(checkpoint.0, 5);
    sqlx::query("DELETE FROM audit_records WHERE seq = 5")
        .execute(store.pool())
        .await
        .unwrap();
    let last = entries(store.pool()).await.pop().unwrap();
    sqlx::query("UPDATE audit_head SET seq = ?, hash = ?")
        .bind(last.seq)
        .bind(&last.hash)
        .execute(store.pool())
        .await
        .unwrap();
    // Without the checkpoint the shorter chain is self-consistent...
    assert!(store.verify_audit().await.unwrap().is_intact());
    // ... but not against the checkpoint taken before the cut.
    let report = store
        .verify_audit_expecting(Some(&checkpoint))
        .await
        .unwrap();
    assert!(
        !report.is_intact(),
        "a truncation below the checkpoint passed"
    );
    assert!(
        report.problems.iter().any(|p| p.contains("record 5 ")),
        "{:?}",
        report.problems
    );
    // A checkpoint whose record is still there but changed.
    let report = store
        .verify_audit_expecting(Some(&(4, "00".repeat(32))))
        .await
        .unwrap();
    assert!(!report.is_intact());
}

/// A database of the schema before 0012, its trail chained with SHA-256 as the old
/// `append_in` did.
async fn old_format_database(path: &Path, records: i64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    migrations::apply_sqlite_up_to(&pool, 10).await.unwrap();
    let mut prev = GENESIS_HASH.to_string();
    for n in 1..=records {
        let d = draft(n);
        let mut e = AuditEntry {
            seq: n,
            id: format!("id-{n}"),
            at: d.at,
            actor: d.actor,
            action: d.action,
            target: d.target,
            outcome: d.outcome.as_str().into(),
            detail: d.detail,
            request_id: d.request_id,
            prev_hash: prev,
            hash: String::new(),
        };
        e.hash = audit_chain::hash_entry(&e);
        sqlx::query("INSERT INTO audit_records (seq, id, at, actor, action, target, outcome, detail, request_id, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
            .bind(e.seq).bind(&e.id).bind(crate::rows::ts(&e.at)).bind(&e.actor).bind(&e.action)
            .bind(&e.target).bind(&e.outcome).bind(&e.detail).bind(&e.request_id)
            .bind(&e.prev_hash).bind(&e.hash)
            .execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")
            .bind(e.seq).bind(&e.hash).execute(&pool).await.unwrap();
        prev = e.hash;
    }
    pool.close().await;
}

#[tokio::test]
async fn an_old_unkeyed_chain_is_rekeyed_once_and_the_trail_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    old_format_database(&path, 4).await;
    let store = SqliteStore::open(&path, mac(b"root-derived"))
        .await
        .unwrap();

    // Before the re-keying, verification does not fall back to SHA-256.
    let report = store.verify_audit().await.unwrap();
    assert!(!report.is_intact());
    assert!(
        report.problems[0].contains("has not been re-keyed"),
        "{:?}",
        report.problems
    );

    let at = t("2026-12-01T03:00:00Z");
    let rekey = store.rekey_unkeyed_chain(at).await.unwrap().unwrap();
    assert_eq!(rekey.records, 4);
    assert!(rekey.problems.is_empty(), "{:?}", rekey.problems);
    let report = store.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 5);
    let all = entries(store.pool()).await;
    let last = all.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str(), last.at),
        ("audit.rekey", "success", at)
    );
    assert!(
        last.detail.contains("re-keyed 4 records"),
        "{}",
        last.detail
    );
    assert!(last.detail.contains("intact"), "{}", last.detail);
    // The content is unchanged; only the seals are.
    assert_eq!(all[2].action, "test.action-3");
    assert_ne!(all[2].hash, audit_chain::hash_entry(&all[2]));

    // Once only: a second start finds nothing to do, and the chain goes on.
    assert_eq!(store.rekey_unkeyed_chain(at).await.unwrap(), None);
    store.append_audit(&draft(9)).await.unwrap();
    store.close().await;
    let again = SqliteStore::open(&path, mac(b"root-derived"))
        .await
        .unwrap();
    assert_eq!(again.rekey_unkeyed_chain(at).await.unwrap(), None);
    let report = again.verify_audit().await.unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 6);
}

#[tokio::test]
async fn a_broken_old_chain_is_rekeyed_but_the_trail_names_what_was_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    old_format_database(&path, 4).await;
    {
        let pool =
            SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
                .await
                .unwrap();
        sqlx::query("UPDATE audit_records SET detail = 'edited' WHERE seq = 2")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = SqliteStore::open(&path, mac(b"root-derived"))
        .await
        .unwrap();
    let rekey = store
        .rekey_unkeyed_chain(t("2026-12-01T03:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        rekey.problems.iter().any(|p| p.contains("record 2 ")),
        "{:?}",
        rekey.problems
    );
    let last = entries(store.pool()).await.pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("audit.rekey", "failure")
    );
    assert!(
        last.detail.contains("NOT intact") && last.detail.contains("record 2 "),
        "{}",
        last.detail
    );
}

#[tokio::test]
async fn a_new_database_needs_no_rekeying() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 0).await;
    assert_eq!(
        store
            .rekey_unkeyed_chain(t("2026-12-01T03:00:00Z"))
            .await
            .unwrap(),
        None
    );
    store.append_audit(&draft(1)).await.unwrap();
    assert!(store.verify_audit().await.unwrap().is_intact());
}
