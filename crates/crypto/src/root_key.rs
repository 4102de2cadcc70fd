//! The root key: 32 bytes in a file only the server's user can read. Everything sealed at
//! rest hangs off it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keyward_core::ports::Random;
use keyward_core::secret::SecretBytes;
use thiserror::Error;
use zeroize::Zeroizing;

pub const ROOT_KEY_LEN: usize = 32;

#[derive(Debug, Error)]
pub enum RootKeyError {
    #[error("root key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "root key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("root key file {path} must hold 64 hex digits (32 bytes)")]
    Malformed { path: PathBuf },
    #[error("could not generate a root key: {0}")]
    Random(String),
}

pub struct RootKey(SecretBytes);

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    pub fn bytes(&self) -> &[u8] {
        self.0.expose()
    }

    /// Loads the root key from `path`; when the file does not exist and `create` is set,
    /// generates one and writes it with mode 0600.
    pub fn load_or_create(
        path: &Path,
        create: bool,
        rng: &dyn Random,
    ) -> Result<Self, RootKeyError> {
        let io = |source| RootKeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() && create {
            let key = rng
                .bytes(ROOT_KEY_LEN)
                .map_err(|e| RootKeyError::Random(e.to_string()))?;
            let encoded = Zeroizing::new(format!("{}\n", hex::encode(key.expose())));
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            f.write_all(encoded.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            return Ok(Self(key));
        }
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(RootKeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        let bytes =
            Zeroizing::new(
                hex::decode(text.trim()).map_err(|_| RootKeyError::Malformed {
                    path: path.to_path_buf(),
                })?,
            );
        if bytes.len() != ROOT_KEY_LEN {
            return Err(RootKeyError::Malformed {
                path: path.to_path_buf(),
            });
        }
        Ok(Self(SecretBytes::new(bytes.to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn created_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        let a = RootKey::load_or_create(&path, true, &SystemRng).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = RootKey::load_or_create(&path, true, &SystemRng).unwrap();
        assert_eq!(a.bytes(), b.bytes());
        assert_eq!(a.bytes().len(), 32);
    }

    #[test]
    fn refuses_a_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        RootKey::load_or_create(&path, true, &SystemRng).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = RootKey::load_or_create(&path, true, &SystemRng).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_a_missing_file_when_not_creating() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RootKey::load_or_create(&dir.path().join("nope"), false, &SystemRng).is_err());
    }
}
