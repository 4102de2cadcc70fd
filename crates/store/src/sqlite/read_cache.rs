//! What the hottest reads need, kept in memory between writes: the key records read by id
//! (`GET /cckm/aws/keys/{id}`) and the users' names and groups (every bearer token's check).
//!
//! Correctness rests on one rule: every write of this store holds `write_lock`, and the
//! [`WriteGuard`] it returns, when dropped (after its commit or rollback), forgets everything
//! and bumps the generation. A read stores what it read only if no write ended since the read
//! began (same generation), so a value read before a commit can never outlive that commit's
//! guard. SQLite's update hook bumps the generation too, on any change of `aws_keys` or
//! `users` made through the pool, as a second net for a write that forgot the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use keyward_core::keys::KeyRecord;

/// At most this many entries of each kind are kept (a full map is emptied and refilled).
const MAX_ENTRIES: usize = 1_000;

#[derive(Default)]
struct Maps {
    generation: u64,
    keys: HashMap<String, Arc<KeyRecord>>,
    identities: HashMap<String, Arc<(String, Vec<String>)>>,
}

#[derive(Default, Clone)]
pub(crate) struct ReadCache(Arc<Mutex<Maps>>);

impl ReadCache {
    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets everything: a write has ended (or a row is changing).
    pub(crate) fn forget(&self) {
        let mut m = self.maps();
        m.generation = m.generation.wrapping_add(1);
        m.keys.clear();
        m.identities.clear();
    }

    /// The generation to hand back to `put_*` after a read from the database.
    pub(crate) fn generation(&self) -> u64 {
        self.maps().generation
    }

    pub(crate) fn key(&self, id: &str) -> Option<Arc<KeyRecord>> {
        self.maps().keys.get(id).cloned()
    }

    pub(crate) fn put_key(&self, read_at: u64, record: Arc<KeyRecord>) {
        let mut m = self.maps();
        if m.generation == read_at {
            if m.keys.len() >= MAX_ENTRIES {
                m.keys.clear();
            }
            m.keys.insert(record.id.clone(), record);
        }
    }

    pub(crate) fn identity(&self, user_id: &str) -> Option<Arc<(String, Vec<String>)>> {
        self.maps().identities.get(user_id).cloned()
    }

    pub(crate) fn put_identity(&self, read_at: u64, user_id: &str, v: Arc<(String, Vec<String>)>) {
        let mut m = self.maps();
        if m.generation == read_at {
            if m.identities.len() >= MAX_ENTRIES {
                m.identities.clear();
            }
            m.identities.insert(user_id.to_string(), v);
        }
    }
}

/// The store's write lock: one writer at a time; dropping the guard forgets the read cache.
pub(crate) struct WriteLock {
    lock: tokio::sync::Mutex<()>,
    cache: ReadCache,
}

pub(crate) struct WriteGuard<'a> {
    _held: tokio::sync::MutexGuard<'a, ()>,
    cache: &'a ReadCache,
}

impl WriteLock {
    pub(crate) fn new(cache: ReadCache) -> Self {
        Self {
            lock: tokio::sync::Mutex::new(()),
            cache,
        }
    }

    pub(crate) async fn lock(&self) -> WriteGuard<'_> {
        WriteGuard {
            _held: self.lock.lock().await,
            cache: &self.cache,
        }
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.cache.forget();
    }
}
