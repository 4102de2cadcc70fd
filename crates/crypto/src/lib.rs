//! Keyward's vault and other cryptography: the root key, key-encryption keys, sealed secrets,
//! password hashing, access tokens, randomness and the HSM key source (PKCS#11). Implements the matching `core` ports.

pub mod audit_keys;
pub mod passwords;
pub mod pkcs11;
pub mod random;
pub mod root_key;
pub mod tokens;
pub mod vault;
pub mod wrap;

pub use audit_keys::{AuditKeys, ChainMac, CheckpointSigner};
pub use passwords::Argon2Passwords;
pub use pkcs11::Pkcs11Hsm;
pub use random::SystemRng;
pub use root_key::RootKey;
pub use tokens::JwtTokens;
pub use vault::SealingVault;
pub use wrap::OaepWrapper;
