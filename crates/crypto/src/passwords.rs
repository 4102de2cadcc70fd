//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes), on the blocking
//! pool, under a bound: `parallel` checks run at once, `queued` more may wait, and the rest are
//! refused at once, so a flood of logins can neither take every core nor grow the memory.
//!
//! The 19 MiB each check needs come from `parallel` buffers allocated once and wiped after each
//! use: were each check to allocate its own, the allocator would keep a freed buffer in each
//! blocking thread's arena, and the server would grow by 19 MiB per thread it ever used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use keyward_core::CoreError;
use keyward_core::ports::{PasswordSlot, Passwords, Random};
use keyward_core::secret::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::SystemRng;

/// The most memory a stored hash may ask for (KiB); a hash asking for more is refused.
const MAX_M_COST_KIB: u32 = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Argon2Passwords {
    running: Arc<Semaphore>,
    /// Checks running or waiting.
    in_line: Arc<AtomicUsize>,
    max_in_line: usize,
    /// One working memory per check that may run at once.
    memory: Arc<[Mutex<Vec<Block>>]>,
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
            memory: (0..parallel).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Runs argon2 on the blocking pool in one of the shared working memories.
    async fn compute(
        &self,
        argon: (Algorithm, Version, Params),
        password: SecretString,
        salt: Vec<u8>,
        out_len: usize,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CoreError> {
        let memory = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || {
            let (algorithm, version, params) = argon;
            let blocks = params.block_count();
            let mut out = zeroize::Zeroizing::new(vec![0u8; out_len]);
            let mut run = |buffer: &mut Vec<Block>| {
                if buffer.len() < blocks {
                    buffer.resize(blocks, Block::default());
                }
                let r = Argon2::new(algorithm, version, params.clone())
                    .hash_password_into_with_memory(
                        password.expose().as_bytes(),
                        &salt,
                        &mut out,
                        &mut buffer[..blocks],
                    );
                // The working memory is derived from the password: wipe it.
                buffer[..blocks].fill(Block::default());
                r
            };
            // The semaphore lets no more checks run than there are memories, so one is free.
            let done = match memory.iter().find_map(|m| m.try_lock().ok()) {
                Some(mut buffer) => run(&mut buffer),
                None => run(&mut Vec::new()),
            };
            done.map(|()| out)
                .map_err(|_| CoreError::internal("password hashing failed"))
        })
        .await
        .map_err(|_| CoreError::internal("password hashing task failed"))?
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
        let salt_bytes = SystemRng.bytes(16)?;
        let salt = SaltString::encode_b64(salt_bytes.expose())
            .map_err(|_| CoreError::internal("could not encode a password salt"))?;
        let params = Params::default();
        let out = self
            .compute(
                (Algorithm::Argon2id, Version::V0x13, params.clone()),
                password.clone(),
                salt_bytes.expose().to_vec(),
                Output::B64_MAX_LENGTH.min(32),
            )
            .await?;
        let output =
            Output::new(&out).map_err(|_| CoreError::internal("password hashing failed"))?;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            salt.as_str(),
            output
        ))
    }

    async fn verify(&self, _slot: &PasswordSlot, password: &SecretString, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(v)) => v,
            Some(Err(_)) => return false,
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        if params.m_cost() > MAX_M_COST_KIB {
            return false;
        }
        let mut salt_buf = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        match self
            .compute(
                (algorithm, version, params),
                password.clone(),
                salt.to_vec(),
                expected.len(),
            )
            .await
        {
            Ok(out) => {
                aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
            }
            Err(_) => false,
        }
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
        // A hash made by the argon2 crate on its own (as stored by earlier versions) verifies.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(
            p.verify(&slot, &SecretString::new("correct horse".into()), &theirs)
                .await
        );
        assert!(
            !p.verify(&slot, &SecretString::new("correct horsf".into()), &theirs)
                .await
        );
        // Ours parses as a standard PHC string with argon2's defaults.
        let parsed = PasswordHash::new(&h).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        let defaults = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (defaults.m_cost(), defaults.t_cost(), defaults.p_cost())
        );
        // The existing dummy hash of unknown users is valid.
        assert!(
            !p.verify(
                &slot,
                &SecretString::new("x".into()),
                keyward_core::auth::DUMMY_HASH
            )
            .await
        );
        assert!(PasswordHash::new(keyward_core::auth::DUMMY_HASH).is_ok());
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
