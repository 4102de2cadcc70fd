//! Sealing secrets at rest with AES-256-GCM.
//!
//! Format (version 1): `0x01 | kek_id (u32 BE) | nonce (12) | ciphertext | tag (16)`.
//! The additional data is `"keyward-seal-v1" | kek_id | owner`, so a sealed value only opens
//! for the owner (table, row and column) it was sealed for.
//! Key-encryption key 1 is derived from the root key with HKDF-SHA256.

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
const KEK_ID: u32 = 1;

pub struct SealingVault {
    kek_id: u32,
    kek: LessSafeKey,
}

struct KeyLen(usize);

impl aws_lc_rs::hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        self.0
    }
}

impl SealingVault {
    pub fn new(root: &RootKey) -> Result<Self, CoreError> {
        let salt = Salt::new(HKDF_SHA256, b"keyward-kek-salt");
        let prk = salt.extract(root.bytes());
        let info = format!("keyward kek {KEK_ID}");
        let info_parts = [info.as_bytes()];
        let okm = prk
            .expand(&info_parts, KeyLen(32))
            .map_err(|_| CoreError::internal("deriving the key-encryption key failed"))?;
        let mut kek = Zeroizing::new([0u8; 32]);
        okm.fill(kek.as_mut())
            .map_err(|_| CoreError::internal("deriving the key-encryption key failed"))?;
        let key = UnboundKey::new(&AES_256_GCM, kek.as_ref())
            .map_err(|_| CoreError::internal("the key-encryption key is unusable"))?;
        Ok(Self {
            kek_id: KEK_ID,
            kek: LessSafeKey::new(key),
        })
    }

    fn aad(kek_id: u32, owner: &str) -> Vec<u8> {
        let mut aad = b"keyward-seal-v1".to_vec();
        aad.extend_from_slice(&kek_id.to_be_bytes());
        aad.extend_from_slice(owner.as_bytes());
        aad
    }
}

impl Vault for SealingVault {
    fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<Vec<u8>, CoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CoreError::internal("the system random generator failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&self.kek_id.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = Zeroizing::new(plaintext.to_vec());
        self.kek
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(self.kek_id, owner)),
                &mut *body,
            )
            .map_err(|_| CoreError::internal("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, owner: &str, sealed: &[u8]) -> Result<SecretBytes, CoreError> {
        let fail = || CoreError::internal(format!("a sealed value for {owner} does not open"));
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(fail());
        }
        let kek_id = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        if kek_id != self.kek_id {
            return Err(fail());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[5..HEADER_LEN]);
        let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let plain = self
            .kek
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(kek_id, owner)),
                &mut body,
            )
            .map_err(|_| fail())?;
        Ok(SecretBytes::new(plain.to_vec()))
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
