//! Wrapping key material for import into AWS KMS: RSAES-OAEP under the public key AWS handed
//! out for that one import (GetParametersForImport).

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
}
