//! The PKCS#11 adapter against SoftHSM2 (the token scripts/test.sh initialises): lookup by
//! label and by handle, generation, and that what the HSM wraps unwraps under the private key
//! to 32 bytes of material.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use keyward_core::ports::{HsmKeys, OaepHash};
use keyward_core::secret::SecretString;
use keyward_crypto::Pkcs11Hsm;

fn var(name: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, which installs SoftHSM2, initialises a token and sets KEYWARD_TEST_PKCS11_* and SOFTHSM2_CONF"
        )
    })
}

fn connect() -> Pkcs11Hsm {
    var("SOFTHSM2_CONF");
    Pkcs11Hsm::connect(
        &var("KEYWARD_TEST_PKCS11_MODULE"),
        &var("KEYWARD_TEST_PKCS11_TOKEN"),
        SecretString::new(var("KEYWARD_TEST_PKCS11_PIN")),
    )
    .expect("connect to the test token")
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[tokio::test]
async fn generates_finds_and_wraps_inside_the_hsm() {
    let hsm = connect();
    assert_eq!(hsm.token_label(), var("KEYWARD_TEST_PKCS11_TOKEN"));
    let label = unique("adapter");
    let key = hsm.generate_aes_key(&label).await.unwrap();
    assert_eq!(key.label, label);
    assert!(
        key.aes && key.value_len == 32 && key.sensitive && key.extractable,
        "{key:?}"
    );
    assert_eq!(key.id(), format!("{}:{label}", hsm.token_label()));

    let by_label = hsm.find_secret_key(&label).await.unwrap().unwrap();
    assert_eq!(by_label, key);
    let by_handle = hsm
        .find_secret_key(&key.handle.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_handle, key);
    assert!(
        hsm.find_secret_key("no-such-label")
            .await
            .unwrap()
            .is_none()
    );

    // Two keys with one label: ambiguous, a 400 that says to name one by handle.
    let twice = unique("twice");
    hsm.generate_aes_key(&twice).await.unwrap();
    hsm.generate_aes_key(&twice).await.unwrap();
    let err = hsm.find_secret_key(&twice).await.unwrap_err();
    assert!(err.to_string().contains("by its handle"), "{err}");

    // Wrapped under an RSA-4096 public key (as AWS hands out): 512 bytes that the private key
    // unwraps to the 32 bytes of material.
    let private = PrivateDecryptingKey::generate(KeySize::Rsa4096).unwrap();
    let public_der = private.public_key().as_der().unwrap();
    let wrapped = hsm
        .wrap_key(&key, public_der.as_ref(), OaepHash::Sha1)
        .await
        .unwrap()
        .expect("SHA-1 wrapping");
    assert_eq!(wrapped.len(), 512);
    let oaep = OaepPrivateDecryptingKey::new(private).unwrap();
    let mut out = vec![0u8; oaep.min_output_size()];
    let material = oaep
        .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut out, None)
        .unwrap();
    assert_eq!(material.len(), 32);

    // SHA-256: what the start-up probe said; SoftHSM2 refuses it (Ok(None), remembered).
    let sha256 = hsm
        .wrap_key(&key, public_der.as_ref(), OaepHash::Sha256)
        .await
        .unwrap();
    assert_eq!(sha256.is_some(), hsm.supports_oaep_sha256());
    if var("KEYWARD_TEST_PKCS11_MODULE").contains("softhsm") {
        assert!(sha256.is_none() && !hsm.supports_oaep_sha256());
    }
}
