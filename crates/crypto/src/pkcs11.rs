//! The HSM key source over PKCS#11 (the `cryptoki` crate): secret keys in one token, found by
//! label or handle, generated there (AES-256, sensitive, extractable only by wrapping), and
//! wrapped by the HSM itself (C_WrapKey, RSA-OAEP) under the public key AWS hands out for an
//! import, so the material never enters Keyward's memory.
//!
//! PKCS#11 calls block: each runs on tokio's blocking pool. One logged-in session is kept
//! (the login state of a PKCS#11 application lasts while it has a session) and reopened when
//! the token has closed it. The PIN is held in a zeroizing string and never logged or put in
//! an error message.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lc_rs::signature::KeyPair as _;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as PkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use keyward_core::CoreError;
use keyward_core::ports::{HsmKey, HsmKeys, OaepHash};
use keyward_core::secret::SecretString;

/// Why the HSM could not be opened (at start). Never carries the PIN.
#[derive(Debug, thiserror::Error)]
#[error("HSM (PKCS#11 module {module}, token '{token}'): {message}")]
pub struct HsmError {
    pub module: String,
    pub token: String,
    pub message: String,
}

/// Secret keys in one PKCS#11 token.
#[derive(Clone)]
pub struct Pkcs11Hsm {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Pkcs11,
    slot: Slot,
    token: String,
    pin: SecretString,
    session: Mutex<Option<Session>>,
    sha256: AtomicBool,
}

/// An object handle as a number (CK_OBJECT_HANDLE is a C `unsigned long`).
#[allow(clippy::unnecessary_cast)]
fn raw(h: ObjectHandle) -> u64 {
    h.handle() as u64
}

fn rv(e: &PkError) -> Option<RvError> {
    match e {
        PkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// A PKCS#11 error as text: the function and the return value, nothing else.
fn describe(e: &PkError) -> String {
    match e {
        PkError::Pkcs11(rv, f) => format!("{f:?}: {rv:?}"),
        PkError::LibraryLoading(l) => format!("the library could not be loaded: {l}"),
        other => format!("{other:?}"),
    }
}

fn internal(what: &str, e: &PkError) -> CoreError {
    CoreError::internal(format!("HSM: {what}: {}", describe(e)))
}

impl Pkcs11Hsm {
    /// Loads the module, finds the token by label, logs in with the PIN and probes whether the
    /// HSM wraps with RSA-OAEP SHA-256. Blocking: call it before serving, or on a blocking
    /// thread.
    pub fn connect(module: &str, token: &str, pin: SecretString) -> Result<Self, HsmError> {
        let err = |message: String| HsmError {
            module: module.to_string(),
            token: token.to_string(),
            message,
        };
        if !Path::new(module).is_file() {
            return Err(err("the module file does not exist".into()));
        }
        let ctx = Pkcs11::new(module).map_err(|e| err(describe(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            Err(PkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(err(format!("C_Initialize failed: {}", describe(&e)))),
        }
        // A token kept in files (SoftHSM2) may read as absent while another process rewrites
        // them: look a few times before giving up.
        let mut found = None;
        let mut labels = Vec::new();
        for attempt in 0..3 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            labels.clear();
            let slots = ctx.get_slots_with_token().map_err(|e| err(describe(&e)))?;
            for slot in slots {
                let info = ctx.get_token_info(slot).map_err(|e| err(describe(&e)))?;
                let label = info.label().trim_end().to_string();
                if label == token {
                    found = Some(slot);
                    break;
                }
                labels.push(format!("'{label}'"));
            }
            if found.is_some() {
                break;
            }
        }
        let slot = found.ok_or_else(|| {
            err(format!(
                "no token with this label; the module has {}",
                if labels.is_empty() {
                    "no initialised token".to_string()
                } else {
                    format!("tokens {}", labels.join(", "))
                }
            ))
        })?;
        let inner = Inner {
            ctx,
            slot,
            token: token.to_string(),
            pin,
            session: Mutex::new(None),
            sha256: AtomicBool::new(false),
        };
        inner.with_session(|_| Ok(())).map_err(|e| match rv(&e) {
            Some(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange) => {
                err("the PIN was refused (CKR_PIN_INCORRECT)".into())
            }
            Some(RvError::PinLocked) => err("the user PIN is locked".into()),
            _ => err(format!(
                "could not open a logged-in session: {}",
                describe(&e)
            )),
        })?;
        let sha256 = inner
            .probe_oaep_sha256()
            .map_err(|e| err(format!("could not probe RSA-OAEP wrapping: {e}")))?;
        inner.sha256.store(sha256, Ordering::SeqCst);
        tracing::info!(
            token = %inner.token,
            oaep_sha256 = sha256,
            "HSM connected over PKCS#11"
        );
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, CoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| CoreError::internal(format!("HSM task failed: {e}")))?
    }
}

impl Inner {
    fn open_session(&self) -> Result<Session, PkError> {
        let session = self.ctx.open_rw_session(self.slot)?;
        let pin = AuthPin::new(self.pin.expose().into());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(PkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(e),
        }
    }

    /// Runs `work` in the logged-in session, reopening it once if the token closed it.
    fn with_session<T>(&self, work: impl Fn(&Session) -> Result<T, PkError>) -> Result<T, PkError> {
        let mut guard = self
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.open_session()?);
            }
            let Some(session) = guard.as_ref() else {
                continue;
            };
            match work(session) {
                Err(e)
                    if attempt == 0
                        && matches!(
                            rv(&e),
                            Some(
                                RvError::SessionHandleInvalid
                                    | RvError::SessionClosed
                                    | RvError::UserNotLoggedIn
                                    | RvError::DeviceRemoved
                                    | RvError::TokenNotPresent
                            )
                        ) =>
                {
                    *guard = None;
                }
                other => return other,
            }
        }
        Err(PkError::Pkcs11(
            RvError::SessionClosed,
            Function::OpenSession,
        ))
    }

    fn key_info(&self, s: &Session, h: ObjectHandle) -> Result<HsmKey, PkError> {
        let attrs = s.get_attributes(
            h,
            &[
                AttributeType::Label,
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
            ],
        )?;
        let mut key = HsmKey {
            token: self.token.clone(),
            label: String::new(),
            handle: raw(h),
            aes: false,
            value_len: 0,
            sensitive: false,
            extractable: false,
        };
        for a in attrs {
            match a {
                Attribute::Label(l) => key.label = String::from_utf8_lossy(&l).to_string(),
                Attribute::KeyType(t) => key.aes = t == KeyType::AES,
                Attribute::ValueLen(n) => key.value_len = u64::from(n),
                Attribute::Sensitive(b) => key.sensitive = b,
                Attribute::Extractable(b) => key.extractable = b,
                _ => {}
            }
        }
        Ok(key)
    }

    fn secret_keys_labelled(&self, s: &Session, label: &str) -> Result<Vec<ObjectHandle>, PkError> {
        s.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
    }

    fn find(&self, s: &Session, label_or_handle: &str) -> Result<Found, PkError> {
        let by_label = self.secret_keys_labelled(s, label_or_handle)?;
        match by_label.len() {
            1 => return Ok(Found::One(self.key_info(s, by_label[0])?)),
            0 => {}
            n => return Ok(Found::Ambiguous(n)),
        }
        let Ok(wanted) = label_or_handle.trim().parse::<u64>() else {
            return Ok(Found::None);
        };
        let all = s.find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
        ])?;
        match all.into_iter().find(|h| raw(*h) == wanted) {
            Some(h) => Ok(Found::One(self.key_info(s, h)?)),
            None => Ok(Found::None),
        }
    }

    /// The object to wrap: by label when the key has one (handles may change), else by handle.
    fn locate(&self, s: &Session, key: &HsmKey) -> Result<Option<ObjectHandle>, PkError> {
        if key.label.is_empty() {
            let all = s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(true),
            ])?;
            return Ok(all.into_iter().find(|h| raw(*h) == key.handle));
        }
        let found = self.secret_keys_labelled(s, &key.label)?;
        Ok(if found.len() == 1 {
            Some(found[0])
        } else {
            None
        })
    }

    /// C_WrapKey with RSA-OAEP under a session public key made from (modulus, exponent).
    fn wrap(
        &self,
        s: &Session,
        key: ObjectHandle,
        modulus: &[u8],
        exponent: &[u8],
        hash: OaepHash,
    ) -> Result<Vec<u8>, PkError> {
        let public = s.create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Wrap(true),
            Attribute::Encrypt(true),
            Attribute::Modulus(modulus.to_vec()),
            Attribute::PublicExponent(exponent.to_vec()),
        ])?;
        let (alg, mgf) = match hash {
            OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        };
        let params = PkcsOaepParams::new(alg, mgf, PkcsOaepSource::empty());
        let wrapped = s.wrap_key(&Mechanism::RsaPkcsOaep(params), public, key);
        if let Err(e) = s.destroy_object(public) {
            tracing::warn!(error = %describe(&e), "HSM: could not destroy a session public key (it goes with the session)");
        }
        wrapped
    }

    /// Wraps a session AES key (made for the probe, gone with it) under a fresh RSA key with
    /// SHA-256: whether this HSM can do what AWS's RSAES_OAEP_SHA_256 needs.
    fn probe_oaep_sha256(&self) -> Result<bool, String> {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|_| "could not generate an RSA key for the probe".to_string())?;
        let public = pair.public_key();
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        self.with_session(|s| {
            let probe = s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(false),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(true),
                ],
            )?;
            let result = self.wrap(s, probe, &modulus, &exponent, OaepHash::Sha256);
            let _ = s.destroy_object(probe);
            match result {
                Ok(_) => Ok(true),
                Err(e) if refuses_hash(&e) => Ok(false),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| describe(&e))
    }
}

/// The answers with which an HSM refuses an OAEP hash it does not support (SoftHSM2 answers
/// CKR_ARGUMENTS_BAD to SHA-256).
fn refuses_hash(e: &PkError) -> bool {
    matches!(
        rv(e),
        Some(RvError::ArgumentsBad | RvError::MechanismParamInvalid | RvError::MechanismInvalid)
    )
}

enum Found {
    None,
    One(HsmKey),
    Ambiguous(usize),
}

#[async_trait]
impl HsmKeys for Pkcs11Hsm {
    fn token_label(&self) -> &str {
        &self.inner.token
    }

    fn supports_oaep_sha256(&self) -> bool {
        self.inner.sha256.load(Ordering::SeqCst)
    }

    async fn find_secret_key(&self, label_or_handle: &str) -> Result<Option<HsmKey>, CoreError> {
        let wanted = label_or_handle.to_string();
        self.blocking(move |inner| {
            let found = inner
                .with_session(|s| inner.find(s, &wanted))
                .map_err(|e| internal("finding a key", &e))?;
            match found {
                Found::None => Ok(None),
                Found::One(k) => Ok(Some(k)),
                Found::Ambiguous(n) => Err(CoreError::invalid(format!(
                    "source_key_identifier: {n} secret keys in HSM token '{}' have the label '{wanted}'; name one by its handle",
                    inner.token
                ))),
            }
        })
        .await
    }

    async fn generate_aes_key(&self, label: &str) -> Result<HsmKey, CoreError> {
        let label = label.to_string();
        self.blocking(move |inner| {
            inner
                .with_session(|s| {
                    let h = s.generate_key(
                        &Mechanism::AesKeyGen,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::AES),
                            Attribute::ValueLen(32.into()),
                            Attribute::Token(true),
                            Attribute::Private(true),
                            Attribute::Sensitive(true),
                            Attribute::Extractable(true),
                            Attribute::Label(label.as_bytes().to_vec()),
                        ],
                    )?;
                    inner.key_info(s, h)
                })
                .map_err(|e| internal("generating a key", &e))
        })
        .await
    }

    async fn wrap_key(
        &self,
        key: &HsmKey,
        public_key_der: &[u8],
        hash: OaepHash,
    ) -> Result<Option<Vec<u8>>, CoreError> {
        let public = aws_lc_rs::rsa::PublicKey::from_der(public_key_der)
            .map_err(|_| CoreError::internal("AWS's wrapping public key could not be read"))?;
        let modulus = public.modulus().big_endian_without_leading_zero().to_vec();
        let exponent = public.exponent().big_endian_without_leading_zero().to_vec();
        let key = key.clone();
        self.blocking(move |inner| {
            let result = inner.with_session(|s| {
                let Some(h) = inner.locate(s, &key)? else {
                    return Ok(Err(CoreError::invalid(format!(
                        "source_key_identifier: HSM key '{}' is no longer in token '{}'",
                        key.label, inner.token
                    ))));
                };
                Ok(Ok(inner.wrap(s, h, &modulus, &exponent, hash)))
            });
            match result {
                Err(e) => Err(internal("wrapping a key", &e)),
                Ok(Err(core)) => Err(core),
                Ok(Ok(Ok(wrapped))) => Ok(Some(wrapped)),
                Ok(Ok(Err(e))) if hash == OaepHash::Sha256 && refuses_hash(&e) => {
                    inner.sha256.store(false, Ordering::SeqCst);
                    tracing::info!(token = %inner.token, "the HSM refuses RSA-OAEP with SHA-256; using SHA-1");
                    Ok(None)
                }
                Ok(Ok(Err(e))) => match rv(&e) {
                    Some(RvError::KeyUnextractable | RvError::KeyNotWrappable) => {
                        Err(CoreError::invalid(format!(
                            "source_key_identifier: HSM key '{}' cannot be wrapped (CKA_EXTRACTABLE is false)",
                            key.label
                        )))
                    }
                    _ => Err(internal("wrapping a key", &e)),
                },
            }
        })
        .await
    }
}
