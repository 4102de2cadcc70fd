use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use keyward_core::CoreError;
use keyward_core::ports::Random;
use keyward_core::secret::SecretBytes;

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default, Clone)]
pub struct SystemRng;

impl Random for SystemRng {
    fn bytes(&self, len: usize) -> Result<SecretBytes, CoreError> {
        let mut buf = vec![0u8; len];
        SystemRandom::new()
            .fill(&mut buf)
            .map_err(|_| CoreError::internal("the system random generator failed"))?;
        Ok(SecretBytes::new(buf))
    }
}
