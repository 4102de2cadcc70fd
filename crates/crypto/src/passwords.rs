//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes), off the async
//! threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use keyward_core::CoreError;
use keyward_core::ports::{Passwords, Random};
use keyward_core::secret::SecretString;

use crate::SystemRng;

#[derive(Debug, Default, Clone)]
pub struct Argon2Passwords;

#[async_trait]
impl Passwords for Argon2Passwords {
    async fn hash(&self, password: &SecretString) -> Result<String, CoreError> {
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

    async fn verify(&self, password: &SecretString, hash: &str) -> bool {
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
        let p = Argon2Passwords;
        let h = p
            .hash(&SecretString::new("correct horse".into()))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(
            p.verify(&SecretString::new("correct horse".into()), &h)
                .await
        );
        assert!(!p.verify(&SecretString::new("wrong horse".into()), &h).await);
        assert!(!p.verify(&SecretString::new("x".into()), "not a hash").await);
    }
}
