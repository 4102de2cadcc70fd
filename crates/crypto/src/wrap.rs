//! Wrapping key material for import into AWS KMS: RSAES-OAEP under the public key AWS handed
//! out for that one import (GetParametersForImport), or, for material too long for OAEP (an
//! asymmetric key's PKCS #8 private key), RSA_AES_KEY_WRAP_SHA_256: a fresh AES-256 key wrapped
//! with RSAES-OAEP-SHA-256, followed by the material wrapped under it with AES Key Wrap with
//! Padding (RFC 5649).

use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey,
};
use keyward_core::CoreError;
use keyward_core::ports::MaterialWrapper;
use keyward_core::secret::SecretBytes;

#[derive(Debug, Default, Clone, Copy)]
pub struct OaepWrapper;

impl MaterialWrapper for OaepWrapper {
    fn wrap(
        &self,
        material: &SecretBytes,
        public_key_der: &[u8],
        algorithm: &str,
    ) -> Result<Vec<u8>, CoreError> {
        let oaep = match algorithm {
            "RSAES_OAEP_SHA_256" => &OAEP_SHA256_MGF1SHA256,
            "RSAES_OAEP_SHA_1" => &OAEP_SHA1_MGF1SHA1,
            "RSA_AES_KEY_WRAP_SHA_256" => return rsa_aes_key_wrap(material, public_key_der),
            other => {
                return Err(CoreError::internal(format!(
                    "wrapping algorithm {other} is not supported"
                )));
            }
        };
        let key = PublicEncryptingKey::from_der(public_key_der)
            .map_err(|_| CoreError::internal("AWS's wrapping public key could not be read"))?;
        let key = OaepPublicEncryptingKey::new(key)
            .map_err(|_| CoreError::internal("AWS's wrapping public key is not usable for OAEP"))?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key
            .encrypt(oaep, material.expose(), &mut out, None)
            .map_err(|_| CoreError::internal("wrapping the key material failed"))?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

/// RSA_AES_KEY_WRAP_SHA_256: OAEP-SHA-256(aes key) || AES-KWP(aes key, material).
fn rsa_aes_key_wrap(material: &SecretBytes, public_key_der: &[u8]) -> Result<Vec<u8>, CoreError> {
    let mut aes = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(aes.as_mut())
        .map_err(|_| CoreError::internal("the system random generator failed"))?;
    let aes_key = SecretBytes::new(aes.to_vec());
    let mut out = OaepWrapper.wrap(&aes_key, public_key_der, "RSAES_OAEP_SHA_256")?;
    let kek = AesKek::new(&AES_256, aes.as_ref())
        .map_err(|_| CoreError::internal("the AES wrapping key could not be made"))?;
    let mut wrapped = vec![0u8; material.expose().len() + 16];
    let len = kek
        .wrap_with_padding(material.expose(), &mut wrapped)
        .map_err(|_| CoreError::internal("wrapping the key material failed"))?
        .len();
    out.extend_from_slice(&wrapped[..len]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey};

    #[test]
    fn wraps_so_that_the_private_key_unwraps() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let public_der = private.public_key().as_der().unwrap();
        let material = SecretBytes::new(vec![7u8; 32]);
        let wrapped = OaepWrapper
            .wrap(&material, public_der.as_ref(), "RSAES_OAEP_SHA_256")
            .unwrap();
        assert_eq!(wrapped.len(), 256);
        assert_ne!(&wrapped[..32], material.expose());
        let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut out = vec![0u8; oaep.min_output_size()];
        let plain = oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut out, None)
            .unwrap();
        assert_eq!(plain, material.expose());
        assert!(
            OaepWrapper
                .wrap(&material, public_der.as_ref(), "RSAES_PKCS1_V1_5")
                .is_err()
        );
        assert!(
            OaepWrapper
                .wrap(&material, b"not a key", "RSAES_OAEP_SHA_256")
                .is_err()
        );
    }

    #[test]
    fn rsa_aes_key_wrap_unwraps_with_the_private_key_then_aes_kwp() {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let public_der = private.public_key().as_der().unwrap();
        // Longer than OAEP could take: a private key's worth.
        let material = SecretBytes::new((0..1217u32).map(|i| (i % 251) as u8).collect());
        let wrapped = OaepWrapper
            .wrap(&material, public_der.as_ref(), "RSA_AES_KEY_WRAP_SHA_256")
            .unwrap();
        let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut aes = vec![0u8; oaep.min_output_size()];
        let aes = oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped[..256], &mut aes, None)
            .unwrap();
        assert_eq!(aes.len(), 32);
        let kek = AesKek::new(&AES_256, aes).unwrap();
        let mut out = vec![0u8; wrapped.len()];
        let plain = kek.unwrap_with_padding(&wrapped[256..], &mut out).unwrap();
        assert_eq!(plain, material.expose());
    }
}
