use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use keyward_core::CoreError;
use keyward_core::ports::{KeyPairSpec, Random};
use keyward_core::secret::SecretBytes;

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default, Clone)]
pub struct SystemRng;

#[async_trait::async_trait]
impl Random for SystemRng {
    fn bytes(&self, len: usize) -> Result<SecretBytes, CoreError> {
        let mut buf = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut buf)
            .map_err(|_| CoreError::internal("the system random generator failed"))?;
        Ok(SecretBytes::new(buf))
    }

    /// On the blocking pool: RSA-4096 takes a second or more of CPU.
    async fn key_pair(&self, spec: KeyPairSpec) -> Result<SecretBytes, CoreError> {
        tokio::task::spawn_blocking(move || generate_key_pair(spec))
            .await
            .map_err(|_| CoreError::internal("generating a key pair failed"))?
    }
}

/// A new private key of that kind, PKCS #8 DER.
fn generate_key_pair(spec: KeyPairSpec) -> Result<SecretBytes, CoreError> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
    use aws_lc_rs::signature;
    let failed = |_| CoreError::internal("generating a key pair failed");
    let der: Vec<u8> = match spec {
        KeyPairSpec::Rsa(bits) => {
            let size = match bits {
                2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                other => {
                    return Err(CoreError::invalid(format!(
                        "size: {other} is not an RSA key size; use 2048, 3072 or 4096"
                    )));
                }
            };
            let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(failed)?;
            let der: Pkcs8V1Der<'static> = pair.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        KeyPairSpec::EcP256
        | KeyPairSpec::EcP384
        | KeyPairSpec::EcP521
        | KeyPairSpec::EcSecp256k1 => {
            let alg = match spec {
                KeyPairSpec::EcP256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                KeyPairSpec::EcP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                KeyPairSpec::EcP521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                _ => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            };
            let pair = signature::EcdsaKeyPair::generate(alg).map_err(failed)?;
            pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()
        }
    };
    Ok(SecretBytes::new(der))
}
