//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes), on the blocking
//! pool, under a bound: `parallel` checks run at once, `queued` more may wait, and the rest are
//! refused at once, so a flood of logins can neither take every core nor grow the memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use keyward_core::CoreError;
use keyward_core::ports::{PasswordSlot, Passwords, Random};
use keyward_core::secret::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::SystemRng;

#[derive(Debug, Clone)]
pub struct Argon2Passwords {
    running: Arc<Semaphore>,
    /// Checks running or waiting.
    in_line: Arc<AtomicUsize>,
    max_in_line: usize,
}

impl Default for Argon2Passwords {
    fn default() -> Self {
        Self::new(1, 32)
    }
}

/// A place in line, given back when dropped.
struct InLine(Arc<AtomicUsize>);

impl Drop for InLine {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a slot holds: the running permit and the place in line.
struct Held {
    _permit: OwnedSemaphorePermit,
    _in_line: InLine,
}

impl Argon2Passwords {
    /// `parallel` checks at once (at least 1), `queued` more waiting.
    pub fn new(parallel: usize, queued: usize) -> Self {
        let parallel = parallel.max(1);
        Self {
            running: Arc::new(Semaphore::new(parallel)),
            in_line: Arc::new(AtomicUsize::new(0)),
            max_in_line: parallel.saturating_add(queued),
        }
    }
}

#[async_trait]
impl Passwords for Argon2Passwords {
    async fn slot(&self) -> Option<PasswordSlot> {
        let max = self.max_in_line;
        self.in_line
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let in_line = InLine(Arc::clone(&self.in_line));
        let permit = Arc::clone(&self.running).acquire_owned().await.ok()?;
        Some(PasswordSlot::new(Box::new(Held {
            _permit: permit,
            _in_line: in_line,
        })))
    }

    async fn hash(
        &self,
        _slot: &PasswordSlot,
        password: &SecretString,
    ) -> Result<String, CoreError> {
        let password = password.clone();
        let salt_bytes = SystemRng.bytes(16)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(salt_bytes.expose())
                .map_err(|_| CoreError::internal("could not encode a password salt"))?;
            Argon2::default()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| CoreError::internal("password hashing failed"))
        })
        .await
        .map_err(|_| CoreError::internal("password hashing task failed"))?
    }

    async fn verify(&self, _slot: &PasswordSlot, password: &SecretString, hash: &str) -> bool {
        let password = password.clone();
        let hash = hash.to_string();
        tokio::task::spawn_blocking(move || match PasswordHash::new(&hash) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let p = Argon2Passwords::default();
        let slot = p.slot().await.unwrap();
        let h = p
            .hash(&slot, &SecretString::new("correct horse".into()))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(
            p.verify(&slot, &SecretString::new("correct horse".into()), &h)
                .await
        );
        assert!(
            !p.verify(&slot, &SecretString::new("wrong horse".into()), &h)
                .await
        );
        assert!(
            !p.verify(&slot, &SecretString::new("x".into()), "not a hash")
                .await
        );
    }

    /// With one running and two waiting, a fourth check is refused at once; a place frees up
    /// when a slot is dropped.
    #[tokio::test]
    async fn slots_are_bounded_and_excess_is_refused_at_once() {
        let p = Argon2Passwords::new(1, 2);
        let first = p.slot().await.unwrap();
        let p2 = p.clone();
        let p3 = p.clone();
        let waiting1 = tokio::spawn(async move { p2.slot().await.is_some() });
        let waiting2 = tokio::spawn(async move { p3.slot().await.is_some() });
        // Let both waiters take their place in line.
        while p.in_line.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        assert!(p.slot().await.is_none(), "a fourth must be refused");
        drop(first);
        assert!(waiting1.await.unwrap());
        assert!(waiting2.await.unwrap());
        assert_eq!(p.in_line.load(Ordering::Acquire), 0);
        assert!(p.slot().await.is_some());
    }
}
