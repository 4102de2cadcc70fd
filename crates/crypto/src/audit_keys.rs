//! The audit trail's keys, both derived from the root key with HKDF-SHA256 under their own
//! labels:
//!
//! - the chain's MAC key (HMAC-SHA256, label `keyward audit chain mac`): each record's `hash`
//!   is a MAC over its canonical bytes, so rewriting the chain needs the root key;
//! - the checkpoint signing key (Ed25519 seed, label `keyward audit checkpoint signing`):
//!   signed checkpoints of the head go to the server log and, if configured, a checkpoint
//!   file. A signature (not a MAC) so that anyone holding the public key (printed at start and
//!   by `keyward admin audit-checkpoint`) can check a checkpoint without the root key, and a
//!   log collector cannot mint checkpoints.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use keyward_core::CoreError;
use keyward_core::audit::{AuditMac, Checkpoint, SignedCheckpoint};

use crate::root_key::RootKey;
use crate::vault::derive_bytes;

const MAC_LABEL: &str = "keyward audit chain mac";
const SIGNING_LABEL: &str = "keyward audit checkpoint signing";

/// Both audit keys, derived from the root key.
pub struct AuditKeys {
    pub mac: ChainMac,
    pub signer: CheckpointSigner,
}

impl AuditKeys {
    pub fn derive(root: &RootKey) -> Result<Self, CoreError> {
        let mac_key = derive_bytes(root, MAC_LABEL)?;
        let seed = derive_bytes(root, SIGNING_LABEL)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| CoreError::internal("deriving the audit checkpoint key failed"))?;
        Ok(Self {
            mac: ChainMac(hmac::Key::new(hmac::HMAC_SHA256, mac_key.as_ref())),
            signer: CheckpointSigner(pair),
        })
    }
}

/// HMAC-SHA256 under the chain's MAC key.
pub struct ChainMac(hmac::Key);

impl std::fmt::Debug for ChainMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainMac(<redacted>)")
    }
}

impl AuditMac for ChainMac {
    fn mac(&self, bytes: &[u8]) -> String {
        hex::encode(hmac::sign(&self.0, bytes).as_ref())
    }

    fn verify(&self, bytes: &[u8], mac_hex: &str) -> bool {
        match hex::decode(mac_hex) {
            Ok(tag) => hmac::verify(&self.0, bytes, &tag).is_ok(),
            Err(_) => false,
        }
    }
}

/// Signs checkpoints of the audit chain's head (Ed25519).
pub struct CheckpointSigner(Ed25519KeyPair);

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointSigner(public {})", self.public_key_hex())
    }
}

impl CheckpointSigner {
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.0.sign(&checkpoint.signed_bytes()).as_ref().to_vec();
        SignedCheckpoint {
            checkpoint,
            signature,
        }
    }

    /// The public key, hex-encoded (32 bytes).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.public_key().as_ref())
    }

    /// Whether this key signed `cp`.
    pub fn verify(&self, cp: &SignedCheckpoint) -> bool {
        verify_checkpoint(self.0.public_key().as_ref(), cp)
    }
}

/// Whether the Ed25519 public key `public_key` signed `cp`.
pub fn verify_checkpoint(public_key: &[u8], cp: &SignedCheckpoint) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&cp.checkpoint.signed_bytes(), &cp.signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    fn keys(dir: &std::path::Path) -> AuditKeys {
        let root = RootKey::load_or_create(&dir.join("root.key"), true, &SystemRng).unwrap();
        AuditKeys::derive(&root).unwrap()
    }

    #[test]
    fn the_mac_is_keyed_and_stable() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = keys(d1.path());
        let a_again = keys(d1.path());
        let b = keys(d2.path());
        let m = a.mac.mac(b"record");
        assert_eq!(m.len(), 64);
        assert_eq!(m, a_again.mac.mac(b"record"), "same root key, same MAC");
        assert_ne!(m, b.mac.mac(b"record"), "another root key, another MAC");
        assert!(a.mac.verify(b"record", &m));
        assert!(!a.mac.verify(b"recorD", &m));
        assert!(!b.mac.verify(b"record", &m));
        assert!(!a.mac.verify(b"record", "not hex"));
        // Not the plain SHA-256 of the bytes.
        let plain =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"record").as_ref());
        assert_ne!(m, plain);
    }

    #[test]
    fn checkpoints_verify_only_under_their_key_and_unchanged() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = keys(d1.path());
        let b = keys(d2.path());
        let cp = a.signer.sign(Checkpoint {
            seq: 7,
            head: "cd".repeat(32),
            at: 1_800_000_000,
        });
        assert!(a.signer.verify(&cp));
        assert!(
            keys(d1.path()).signer.verify(&cp),
            "derived again: same key"
        );
        assert!(!b.signer.verify(&cp));
        let mut moved = cp.clone();
        moved.checkpoint.seq = 6;
        assert!(!a.signer.verify(&moved));
        let parsed = SignedCheckpoint::parse(&cp.to_token()).unwrap();
        assert!(verify_checkpoint(
            &hex::decode(a.signer.public_key_hex()).unwrap(),
            &parsed
        ));
    }
}
