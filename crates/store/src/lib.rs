//! Keyward's persistence: the `Store` port over SQLite (embedded, WAL, synchronous=FULL).
//! Queries are checked at run time (no compile-time database needed).

mod audit_chain;
mod migrations;
mod rows;
mod sqlite;

pub use audit_chain::{hash_entry, mac_entry};
pub use sqlite::{AuditRekey, SqliteStore, key_list_sql};
