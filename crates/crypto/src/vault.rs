//! Sealing secrets at rest with AES-256-GCM, under key-encryption keys (KEKs) that hang off
//! the root key.
//!
//! Format (version 1): `0x01 | kek_id (u32 BE) | nonce (12) | ciphertext | tag (16)`.
//! The additional data is `"keyward-seal-v1" | kek_id | owner`, so a sealed value only opens
//! for the owner (table, row and column) it was sealed for.
//! KEK 1 is derived from the root key with HKDF-SHA256. Later KEKs (`keyward admin rotate-kek`)
//! are random, stored sealed under a wrapping key derived from the root key; new values are
//! sealed under the active KEK and old ones keep opening under theirs until re-sealed.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use keyward_core::CoreError;
use keyward_core::ports::Vault;
use keyward_core::secret::SecretBytes;
use zeroize::Zeroizing;

use crate::root_key::RootKey;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
const DERIVED_KEK_ID: u32 = 1;

pub struct SealingVault {
    /// Seals the random KEKs themselves.
    kek_wrapping: LessSafeKey,
    keks: RwLock<HashMap<u32, LessSafeKey>>,
    active: AtomicU32,
}

struct KeyLen(usize);

impl aws_lc_rs::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// 32 bytes derived from the root key with HKDF-SHA256 under the label `info` (each use has
/// its own label: KEK 1, the KEK wrapping key, the audit chain's MAC key, ...).
pub(crate) fn derive_bytes(root: &RootKey, info: &str) -> Result<Zeroizing<[u8; 32]>, CoreError> {
    let salt = Salt::new(HKDF_SHA256, b"keyward-kek-salt");
    let prk = salt.extract(root.bytes());
    let info_parts = [info.as_bytes()];
    let okm = prk
        .expand(&info_parts, KeyLen(32))
        .map_err(|_| CoreError::internal("deriving a key from the root key failed"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    okm.fill(key.as_mut())
        .map_err(|_| CoreError::internal("deriving a key from the root key failed"))?;
    Ok(key)
}

fn derive(root: &RootKey, info: &str) -> Result<LessSafeKey, CoreError> {
    aes_key(derive_bytes(root, info)?.as_ref())
}

fn aes_key(bytes: &[u8]) -> Result<LessSafeKey, CoreError> {
    let key = UnboundKey::new(&AES_256_GCM, bytes)
        .map_err(|_| CoreError::internal("a key-encryption key is unusable"))?;
    Ok(LessSafeKey::new(key))
}

fn nonce() -> Result<[u8; NONCE_LEN], CoreError> {
    let mut n = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| CoreError::internal("the system random generator failed"))?;
    Ok(n)
}

impl SealingVault {
    pub fn new(root: &RootKey) -> Result<Self, CoreError> {
        let mut keks = HashMap::new();
        keks.insert(
            DERIVED_KEK_ID,
            derive(root, &format!("keyward kek {DERIVED_KEK_ID}"))?,
        );
        Ok(Self {
            kek_wrapping: derive(root, "keyward kek wrapping")?,
            keks: RwLock::new(keks),
            active: AtomicU32::new(DERIVED_KEK_ID),
        })
    }

    fn aad(kek_id: u32, owner: &str) -> Vec<u8> {
        let mut aad = b"keyward-seal-v1".to_vec();
        aad.extend_from_slice(&kek_id.to_be_bytes());
        aad.extend_from_slice(owner.as_bytes());
        aad
    }

    fn kek_aad(id: u32) -> Vec<u8> {
        let mut aad = b"keyward-kek-v1".to_vec();
        aad.extend_from_slice(&id.to_be_bytes());
        aad
    }
}

impl Vault for SealingVault {
    fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        let kek_id = self.active.load(Ordering::SeqCst);
        let keks = self
            .keks
            .read()
            .map_err(|_| CoreError::internal("the vault's key table is poisoned"))?;
        let kek = keks
            .get(&kek_id)
            .ok_or_else(|| CoreError::internal("the active key-encryption key is not loaded"))?;
        let nonce = nonce()?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&kek_id.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        kek.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(Self::aad(kek_id, owner)),
            &mut *body,
        )
        .map_err(|_| CoreError::internal("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, owner: &str, sealed: &[u8]) -> Result<SecretBytes, CoreError> {
        let fail = || CoreError::internal(format!("a sealed value for {owner} does not open"));
        let kek_id = self.kek_of(sealed).ok_or_else(fail)?;
        let keks = self
            .keks
            .read()
            .map_err(|_| CoreError::internal("the vault's key table is poisoned"))?;
        let kek = keks.get(&kek_id).ok_or_else(fail)?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[5..HEADER_LEN]);
        let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let plain = kek
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(kek_id, owner)),
                &mut body,
            )
            .map_err(|_| fail())?;
        Ok(SecretBytes::new(plain.to_vec()))
    }

    fn kek_of(&self, sealed: &[u8]) -> Option<u32> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return None;
        }
        Some(u32::from_be_bytes([
            sealed[1], sealed[2], sealed[3], sealed[4],
        ]))
    }

    fn active_kek(&self) -> u32 {
        self.active.load(Ordering::SeqCst)
    }

    fn create_kek(&self, id: u32) -> Result<Vec<u8>, CoreError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| CoreError::internal("the system random generator failed"))?;
        let nonce = nonce()?;
        let mut body = Zeroizing::new(bytes.to_vec());
        self.kek_wrapping
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::kek_aad(id)),
                &mut *body,
            )
            .map_err(|_| CoreError::internal("sealing a key-encryption key failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        self.keks
            .write()
            .map_err(|_| CoreError::internal("the vault's key table is poisoned"))?
            .insert(id, aes_key(bytes.as_ref())?);
        Ok(sealed)
    }

    fn load_kek(&self, id: u32, sealed: &[u8]) -> Result<(), CoreError> {
        let fail = || {
            CoreError::internal(format!(
                "key-encryption key {id} does not open under this root key"
            ))
        };
        if sealed.len() < NONCE_LEN + 16 {
            return Err(fail());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[..NONCE_LEN]);
        let mut body = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
        let plain = self
            .kek_wrapping
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::kek_aad(id)),
                &mut body,
            )
            .map_err(|_| fail())?;
        let key = aes_key(plain)?;
        self.keks
            .write()
            .map_err(|_| CoreError::internal("the vault's key table is poisoned"))?
            .insert(id, key);
        Ok(())
    }

    fn activate_kek(&self, id: u32) -> Result<(), CoreError> {
        let known = self
            .keks
            .read()
            .map_err(|_| CoreError::internal("the vault's key table is poisoned"))?
            .contains_key(&id);
        if !known {
            return Err(CoreError::internal(format!(
                "key-encryption key {id} is not loaded"
            )));
        }
        self.active.store(id, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    fn vault() -> (tempfile::TempDir, SealingVault) {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::load_or_create(&dir.path().join("root.key"), true, &SystemRng).unwrap();
        let v = SealingVault::new(&root).unwrap();
        (dir, v)
    }

    #[test]
    fn seal_then_open() {
        let (_d, v) = vault();
        let sealed = v.seal("conn:1:secret", b"wJalrXUtnFEMI").unwrap();
        assert_eq!(sealed[0], 1);
        assert!(!sealed.windows(5).any(|w| w == b"wJalr"));
        assert_eq!(
            v.open("conn:1:secret", &sealed).unwrap().expose(),
            b"wJalrXUtnFEMI"
        );
    }

    #[test]
    fn a_sealed_value_moved_to_another_owner_does_not_open() {
        let (_d, v) = vault();
        let sealed = v.seal("conn:1:secret", b"s3cret").unwrap();
        assert!(v.open("conn:2:secret", &sealed).is_err());
    }

    #[test]
    fn a_new_kek_seals_new_values_and_old_ones_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::load_or_create(&dir.path().join("root.key"), true, &SystemRng).unwrap();
        let v = SealingVault::new(&root).unwrap();
        let old = v.seal("o", b"before").unwrap();
        assert_eq!(v.kek_of(&old), Some(1));
        let sealed_kek = v.create_kek(2).unwrap();
        v.activate_kek(2).unwrap();
        let new = v.seal("o", b"after").unwrap();
        assert_eq!(v.kek_of(&new), Some(2));
        assert_eq!(v.open("o", &old).unwrap().expose(), b"before");
        // Another process with the same root key loads KEK 2 from its sealed form.
        let v2 = SealingVault::new(&root).unwrap();
        assert!(v2.open("o", &new).is_err());
        v2.load_kek(2, &sealed_kek).unwrap();
        assert_eq!(v2.open("o", &new).unwrap().expose(), b"after");
        // Under another root key the sealed KEK does not open.
        let dir2 = tempfile::tempdir().unwrap();
        let root2 =
            RootKey::load_or_create(&dir2.path().join("root.key"), true, &SystemRng).unwrap();
        assert!(
            SealingVault::new(&root2)
                .unwrap()
                .load_kek(2, &sealed_kek)
                .is_err()
        );
        assert!(v.activate_kek(9).is_err());
    }

    #[test]
    fn tampering_and_another_root_key_are_detected() {
        let (_d, v) = vault();
        let mut sealed = v.seal("o", b"s3cret").unwrap();
        let (_d2, other) = vault();
        assert!(other.open("o", &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(v.open("o", &sealed).is_err());
    }
}
