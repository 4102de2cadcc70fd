//! Bring your own key: importing material from Keyward's vault into an EXTERNAL AWS key
//! (seed 002), deleting it (seed 000), and creating-and-importing in one call (upload-key).
//!
//! An import is journaled: an intent is written before the first AWS call and closed, with
//! the updated record, after the last. The local key holding the material is stored before
//! any AWS call, so AWS never holds material Keyward has lost; an intent a crash left open is
//! reconciled at the next start from what AWS says about the key.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::kinds::{KeySource, MaterialOrigin};
use super::lifecycle::KeyAction;
use super::record::{AwsKeyView, KeyRecord, MaterialBinding};
use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::connections::ConnectionTarget;
use crate::error::{CoreError, CoreResult};
use crate::local_keys::LocalKey;
use crate::ports::{HsmKey, HsmKeys, ImportParameters, OaepHash};
use crate::service::Keyward;

pub const WRAPPING_ALGORITHM: &str = "RSAES_OAEP_SHA_256";
pub const WRAPPING_KEY_SPEC: &str = "RSA_4096";
/// For asymmetric material (a PKCS #8 private key), from the vault.
pub const ASYMMETRIC_WRAPPING_ALGORITHM: &str = "RSA_AES_KEY_WRAP_SHA_256";
pub const MAX_VALIDITY_DAYS: i64 = 365;

/// An import in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportIntent {
    pub id: String,
    pub key_record_id: String,
    pub local_key_id: String,
    pub valid_to: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub use keyward_api::keys::{DeleteMaterial, ImportMaterial, UploadKey};

/// An import intent's `local_key_id` for an HSM key: this prefix, then the key's id
/// (`<token label>:<key label>`, see [`HsmKey::id`]).
const HSM_INTENT_PREFIX: &str = "hsm:";

/// Where an import's material comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tier {
    Local,
    Hsm,
}

/// The source tier: Keyward's vault (`local`, the default) or the HSM (`hsm-luna`, also
/// `dsm`), which needs one configured.
pub(super) fn check_tier(tier: Option<&str>, hsm_configured: bool) -> CoreResult<Tier> {
    match tier.unwrap_or("local") {
        // `ciphertrust`: CipherTrust's name for its own vault (a rotation job's key source).
        "local" | "ciphertrust" => Ok(Tier::Local),
        "hsm-luna" | "dsm" if hsm_configured => Ok(Tier::Hsm),
        t @ ("hsm-luna" | "dsm") => Err(CoreError::invalid(format!(
            "source_key_tier: '{t}' needs an HSM, and none is configured in this Keyward (settings pkcs11_module, pkcs11_token, pkcs11_pin)"
        ))),
        other => Err(CoreError::invalid(format!(
            "source_key_tier: '{other}' is not a key source; use local or hsm-luna"
        ))),
    }
}

/// The key whose material an import sends to AWS.
pub(super) enum Source {
    Local(LocalKey),
    Hsm(HsmKey),
}

impl Source {
    pub(super) fn id(&self) -> String {
        match self {
            Source::Local(k) => k.id.clone(),
            Source::Hsm(k) => k.id(),
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Source::Local(k) => k.name.clone(),
            Source::Hsm(k) => k.label.clone(),
        }
    }

    pub(super) fn key_source(&self) -> KeySource {
        match self {
            Source::Local(_) => KeySource::Local,
            Source::Hsm(_) => KeySource::HsmLuna,
        }
    }

    fn intent_key_id(&self) -> String {
        match self {
            Source::Local(k) => k.id.clone(),
            Source::Hsm(k) => format!("{HSM_INTENT_PREFIX}{}", k.id()),
        }
    }
}

/// Whether an AWS call failed without AWS's answer (unreachable, timed out, or AWS's own
/// fault), so that AWS may have carried it out all the same.
pub(super) fn answer_lost(e: &CoreError) -> bool {
    matches!(
        e,
        CoreError::AwsUnavailable { .. }
            | CoreError::Aws {
                kind: crate::error::AwsErrorKind::Unavailable | crate::error::AwsErrorKind::Other,
                ..
            }
    )
}

/// `valid_to`: RFC 3339, in the future, at most 365 days ahead, only with key_expiration.
pub fn check_expiry(
    key_expiration: Option<bool>,
    valid_to: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<Option<DateTime<Utc>>> {
    match (key_expiration.unwrap_or(false), valid_to) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(CoreError::invalid(
            "valid_to: only allowed with key_expiration: true",
        )),
        (true, None) => Err(CoreError::invalid(
            "valid_to: required with key_expiration: true (RFC 3339, e.g. 2027-01-31T12:00:00Z)",
        )),
        (true, Some(v)) => {
            let t = crate::validate::time("valid_to", v)?;
            if t <= now {
                return Err(CoreError::invalid(format!(
                    "valid_to: {v} is not in the future"
                )));
            }
            if t > now + Duration::days(MAX_VALIDITY_DAYS) {
                return Err(CoreError::invalid(format!(
                    "valid_to: {v} is more than {MAX_VALIDITY_DAYS} days ahead; AWS allows at most {MAX_VALIDITY_DAYS}"
                )));
            }
            Ok(Some(t))
        }
    }
}

/// The vault key an AWS key of some spec takes its material from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VaultMaterial {
    /// A symmetric key (`aes`, or `hmac-*`) of `min..=max` bits.
    Symmetric { min: i64, max: i64 },
    /// An `rsa` key of that size (PKCS #8 material).
    Rsa(i64),
    /// An `ec` key of that size in bits (PKCS #8 material).
    Ec(i64),
}

impl VaultMaterial {
    fn for_spec(spec: &str) -> Option<Self> {
        Some(match spec {
            "SYMMETRIC_DEFAULT" => Self::Symmetric { min: 256, max: 256 },
            // AWS's lengths for imported HMAC material.
            "HMAC_224" => Self::Symmetric { min: 224, max: 512 },
            "HMAC_256" => Self::Symmetric { min: 256, max: 512 },
            "HMAC_384" => Self::Symmetric {
                min: 384,
                max: 1024,
            },
            "HMAC_512" => Self::Symmetric {
                min: 512,
                max: 1024,
            },
            "RSA_2048" => Self::Rsa(2048),
            "RSA_3072" => Self::Rsa(3072),
            "RSA_4096" => Self::Rsa(4096),
            "ECC_NIST_P256" | "ECC_SECG_P256K1" => Self::Ec(256),
            "ECC_NIST_P384" => Self::Ec(384),
            "ECC_NIST_P521" => Self::Ec(521),
            _ => return None,
        })
    }

    fn fits(self, key: &LocalKey) -> bool {
        self.fits_kind(&key.algorithm, key.size)
    }

    /// A vault key of this algorithm word (any case) and size fits.
    fn fits_kind(self, algorithm: &str, size: i64) -> bool {
        let algorithm = algorithm.to_ascii_lowercase();
        match self {
            Self::Symmetric { min, max } => {
                (algorithm == "aes" || algorithm.starts_with("hmac-"))
                    && (min..=max).contains(&size)
            }
            Self::Rsa(bits) => algorithm == "rsa" && size == bits,
            Self::Ec(bits) => algorithm == "ec" && size == bits,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Symmetric { min, max } if min == max => format!("{min}-bit AES material"),
            Self::Symmetric { min, max } => format!("{min} to {max} bits of AES or HMAC material"),
            Self::Rsa(bits) => format!("an rsa key of {bits} bits"),
            Self::Ec(bits) => format!("an ec key of {bits} bits"),
        }
    }

    /// AWS's wrapping algorithm for this material: a private key (PKCS #8) is too long for
    /// RSAES-OAEP alone.
    fn wrapping_algorithm(spec: &str) -> &'static str {
        match Self::for_spec(spec) {
            Some(Self::Rsa(_) | Self::Ec(_)) => ASYMMETRIC_WRAPPING_ALGORITHM,
            _ => WRAPPING_ALGORITHM,
        }
    }
}

/// `null`, `""` or Go's zero time: what a Go client sends for a member it did not set.
fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "0001-01-01T00:00:00Z",
        _ => false,
    }
}

impl Keyward {
    /// The key whose material goes into this AWS key, in the vault or the HSM.
    pub(super) async fn source(
        &self,
        caller: &Caller,
        rec: &KeyRecord,
        tier: Tier,
        identifier: Option<&str>,
    ) -> CoreResult<Source> {
        Ok(match tier {
            Tier::Local => Source::Local(self.source_for(caller, rec, identifier).await?),
            Tier::Hsm => Source::Hsm(self.hsm_source_for(rec, identifier).await?),
        })
    }

    pub(super) fn hsm(&self) -> CoreResult<&dyn HsmKeys> {
        self.ports.hsm.as_deref().ok_or_else(|| {
            CoreError::invalid(
                "source_key_tier: no HSM is configured in this Keyward (settings pkcs11_module, pkcs11_token, pkcs11_pin)",
            )
        })
    }

    /// The HSM key whose material goes into this AWS key: the one named (label or handle),
    /// the one imported before, or a new AES-256 key labelled `aws-<KeyID>`.
    async fn hsm_source_for(
        &self,
        rec: &KeyRecord,
        identifier: Option<&str>,
    ) -> CoreResult<HsmKey> {
        let hsm = self.hsm()?;
        let token = hsm.token_label();
        let spec = rec.aws.metadata.key_spec.as_str();
        if !matches!(spec, "SYMMETRIC_DEFAULT" | "HMAC_256") {
            return Err(CoreError::invalid(format!(
                "import-material: keys of spec {spec} cannot take material from the HSM (AES keys); SYMMETRIC_DEFAULT and HMAC_256 can"
            )));
        }
        let bound = rec.material.as_ref();
        if let Some(b) = bound
            && b.key_source != KeySource::HsmLuna
        {
            return Err(CoreError::invalid(format!(
                "source_key_tier: AWS accepts only the material imported before; this key's material is vault key '{}' ({}): use source_key_tier local",
                b.local_key_name, b.local_key_id
            )));
        }
        let key = match (identifier, bound) {
            (Some(id), _) => hsm.find_secret_key(id).await?.ok_or_else(|| {
                CoreError::invalid(format!(
                    "source_key_identifier: no secret key labelled (or with handle) '{id}' in HSM token '{token}'"
                ))
            })?,
            (None, Some(b)) => hsm
                .find_secret_key(&b.local_key_name)
                .await?
                .ok_or_else(|| {
                    CoreError::invalid(format!(
                        "source_key_identifier: HSM key '{}' ({}), whose material this AWS key holds, is not in HSM token '{token}'",
                        b.local_key_name, b.local_key_id
                    ))
                })?,
            (None, None) => {
                let label = format!("aws-{}", rec.aws.metadata.key_id);
                match hsm.find_secret_key(&label).await? {
                    Some(existing) => existing,
                    None => hsm.generate_aes_key(&label).await?,
                }
            }
        };
        if key.label.is_empty() {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: HSM key with handle {} has no label; Keyward records HSM keys by label, so give it one (CKA_LABEL)",
                key.handle
            )));
        }
        if let Some(b) = bound
            && b.local_key_id != key.id()
        {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: AWS accepts only the material imported before; this key's material is HSM key '{}' ({})",
                b.local_key_name, b.local_key_id
            )));
        }
        if !key.aes || key.value_len != 32 {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: HSM key '{}' is not an AES-256 key; AWS needs 256-bit material for {spec}",
                key.label
            )));
        }
        if !key.extractable {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: HSM key '{}' cannot be wrapped for AWS (CKA_EXTRACTABLE is false)",
                key.label
            )));
        }
        Ok(key)
    }

    /// GetParametersForImport and the HSM's C_WrapKey: RSAES_OAEP_SHA_256 where the HSM
    /// supports it, else RSAES_OAEP_SHA_1 (AWS's parameters are asked for again only when the
    /// HSM refuses SHA-256 unexpectedly; its answer is remembered).
    async fn hsm_wrap(
        &self,
        target: &ConnectionTarget,
        key_id: &str,
        key: &HsmKey,
    ) -> CoreResult<(ImportParameters, Vec<u8>)> {
        let hsm = self.hsm()?;
        let mut hash = if hsm.supports_oaep_sha256() {
            OaepHash::Sha256
        } else {
            OaepHash::Sha1
        };
        loop {
            let params = self
                .ports
                .keys
                .get_parameters_for_import(target, key_id, hash.aws_algorithm(), WRAPPING_KEY_SPEC)
                .await?;
            match hsm.wrap_key(key, &params.public_key, hash).await? {
                Some(wrapped) => return Ok((params, wrapped)),
                None if hash == OaepHash::Sha256 => hash = OaepHash::Sha1,
                None => {
                    return Err(CoreError::internal(
                        "the HSM refuses RSA-OAEP wrapping with SHA-1 as well as SHA-256",
                    ));
                }
            }
        }
    }

    /// The local key whose material goes into this AWS key, created when none is named.
    async fn source_for(
        &self,
        caller: &Caller,
        rec: &KeyRecord,
        identifier: Option<&str>,
    ) -> CoreResult<LocalKey> {
        let spec = rec.aws.metadata.key_spec.as_str();
        let Some(need) = VaultMaterial::for_spec(spec) else {
            return Err(CoreError::invalid(format!(
                "import-material: keys of spec {spec} cannot take material from Keyward's vault; SYMMETRIC_DEFAULT, HMAC_*, RSA_* and ECC_* can"
            )));
        };
        let bound = rec.material.as_ref();
        if let Some(b) = bound
            && b.key_source != KeySource::Local
        {
            return Err(CoreError::invalid(format!(
                "source_key_tier: AWS accepts only the material imported before; this key's material is HSM key '{}' ({}): use source_key_tier hsm-luna",
                b.local_key_name, b.local_key_id
            )));
        }
        let key = match (identifier, bound) {
            (Some(id), bound) => {
                let key = self.find_local_key(id).await?.ok_or_else(|| {
                    CoreError::invalid(format!(
                        "source_key_identifier: no key named or with id '{id}' in the vault"
                    ))
                })?;
                if let Some(b) = bound
                    && b.local_key_id != key.id
                {
                    return Err(CoreError::invalid(format!(
                        "source_key_identifier: AWS accepts only the material imported before; this key's material is vault key '{}' ({})",
                        b.local_key_name, b.local_key_id
                    )));
                }
                key
            }
            (None, Some(b)) => self.find_local_key(&b.local_key_id).await?.ok_or_else(|| {
                CoreError::internal(format!(
                    "vault key {} bound to an AWS key is missing",
                    b.local_key_id
                ))
            })?,
            (None, None) if !matches!(spec, "SYMMETRIC_DEFAULT" | "HMAC_256") => {
                return Err(CoreError::invalid(format!(
                    "source_key_identifier: required for a key of spec {spec} (a vault key {})",
                    need.describe()
                )));
            }
            (None, None) => {
                let name = format!("aws-{}", rec.aws.metadata.key_id);
                // Names may repeat in the vault: one key of that name is the one made for this
                // AWS key before (an import that failed after it); several are a 409 asking
                // for the id, never a guess.
                match self.find_local_key(&name).await? {
                    Some(existing) => existing,
                    None => {
                        let material = self.ports.random.bytes(32)?;
                        self.insert_local_key(caller, &name, 256, material).await?
                    }
                }
            }
        };
        if !need.fits(&key) {
            return Err(CoreError::invalid(format!(
                "source_key_identifier: vault key '{}' is {} of {} bits; AWS needs {} for {spec}",
                key.name,
                key.algorithm,
                key.size,
                need.describe()
            )));
        }
        Ok(key)
    }

    /// `POST .../import-material` (seed 002).
    pub async fn import_material(
        &self,
        caller: &Caller,
        id: &str,
        req: ImportMaterial,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.import-material", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let rec = self.key_record_for_byok(id).await?;
            let tier = check_tier(req.source_key_tier.as_deref(), self.ports.hsm.is_some())?;
            let valid_to = check_expiry(req.key_expiration, req.valid_to.as_deref(), self.now())?;
            let source = self
                .source(caller, &rec, tier, req.source_key_identifier.as_deref())
                .await?;
            self.run_import(caller, rec, &source, valid_to, false).await
        })
        .await
    }

    async fn key_record_for_byok(&self, id: &str) -> CoreResult<KeyRecord> {
        let rec = self.key_for_action(id).await?;
        if rec.aws.metadata.origin != "EXTERNAL" {
            return Err(CoreError::invalid(format!(
                "import-material: only keys with Origin EXTERNAL take imported material; this key's Origin is {}",
                rec.aws.metadata.origin
            )));
        }
        Ok(rec)
    }

    /// The journaled import itself. `just_made`: the record was read (or made) in this same
    /// operation (upload-key, a rotation's successor), so after the import only what it
    /// changes, the key's metadata (state, expiry), is read back (DescribeKey); else the
    /// whole key is.
    pub(super) async fn run_import(
        &self,
        caller: &Caller,
        mut rec: KeyRecord,
        source: &Source,
        valid_to: Option<DateTime<Utc>>,
        just_made: bool,
    ) -> CoreResult<KeyRecord> {
        let ctx = self.record_context(&rec).await?;
        let key_id = rec.aws.metadata.key_id.clone();
        let intent = ImportIntent {
            id: self.new_id()?,
            key_record_id: rec.id.clone(),
            local_key_id: source.intent_key_id(),
            valid_to,
            created_at: self.now(),
        };
        self.ports.store.insert_import_intent(&intent).await?;
        let attempt = async {
            let (params, wrapped) = match source {
                Source::Local(local) => {
                    let algorithm = VaultMaterial::wrapping_algorithm(&rec.aws.metadata.key_spec);
                    let params = self
                        .ports
                        .keys
                        .get_parameters_for_import(
                            &ctx.target,
                            &key_id,
                            algorithm,
                            WRAPPING_KEY_SPEC,
                        )
                        .await?;
                    let wrapped = {
                        let material = self.local_key_material(local)?;
                        self.ports
                            .wrapper
                            .wrap(&material, &params.public_key, algorithm)?
                    };
                    (params, wrapped)
                }
                // The HSM wraps: the material never leaves it in the clear.
                Source::Hsm(key) => self.hsm_wrap(&ctx.target, &key_id, key).await?,
            };
            self.ports
                .keys
                .import_key_material(
                    &ctx.target,
                    &key_id,
                    &params.import_token,
                    &wrapped,
                    valid_to,
                )
                .await
        };
        if let Err(e) = attempt.await {
            // No answer from AWS: it may have imported the material all the same. The intent
            // stays open, so that the next start settles it from what AWS says (and the vault
            // key cannot be deleted meanwhile).
            if answer_lost(&e) {
                return Err(e);
            }
            // AWS refused: it holds nothing new; the intent closes with nothing to do.
            self.ports.store.delete_import_intent(&intent.id).await?;
            return Err(e);
        }
        let view = if just_made {
            let metadata = self.ports.keys.describe_key(&ctx.target, &key_id).await?;
            AwsKeyView {
                metadata,
                ..rec.aws.clone()
            }
        } else {
            self.read_back(&ctx.target, &key_id).await?
        };
        let now = self.now();
        rec.aws = view;
        rec.key_material_origin = MaterialOrigin::Cckm;
        rec.material = Some(MaterialBinding {
            local_key_id: source.id(),
            local_key_name: source.name(),
            key_source: source.key_source(),
            valid_to,
            imported_at: Some(now),
        });
        rec.synced_at = now;
        rec.updated_at = now;
        let detail = format!(
            "material from {} key {}{}",
            match source {
                Source::Local(_) => "vault",
                Source::Hsm(_) => "HSM",
            },
            source.name(),
            valid_to
                .map(|t| format!(", valid to {}", t.to_rfc3339()))
                .unwrap_or_default()
        );
        let draft = self.draft(
            caller,
            "key.import-material",
            &rec.aws.metadata.arn,
            Outcome::Success,
            detail,
        );
        self.ports
            .store
            .finish_import(&rec, &intent.id, &draft)
            .await?;
        Ok(rec)
    }

    /// `POST .../delete-material` (seed 000): the key goes to PendingImport; the vault key
    /// stays, so the same material can be imported again.
    pub async fn delete_material(
        &self,
        caller: &Caller,
        id: &str,
        req: DeleteMaterial,
    ) -> CoreResult<KeyRecord> {
        self.audited(caller, "key.delete-material", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut rec = self.key_record_for_byok(id).await?;
            if let Some(m) = &req.key_material_id {
                let ok = m.len() == 64
                    && m.chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
                if !ok {
                    return Err(CoreError::invalid(
                        "key_material_id: must be 64 lower-case hex digits",
                    ));
                }
            }
            if rec.aws.metadata.key_state == "PendingImport" {
                return Err(CoreError::Unprocessable(format!(
                    "delete-material: AWS key {} has no imported material (it is PendingImport)",
                    rec.aws.metadata.arn
                )));
            }
            let ctx = self.record_context(&rec).await?;
            let key_id = rec.aws.metadata.key_id.clone();
            self.ports
                .keys
                .delete_imported_key_material(&ctx.target, &key_id)
                .await?;
            let mut view = self.read_back(&ctx.target, &key_id).await?;
            // AWS keeps an EXTERNAL key's ExpirationModel when its material is deleted (seed
            // 000 shows it); an emulator may drop it: keep the model the key was imported with.
            if view.metadata.expiration_model.is_none() {
                view.metadata.expiration_model =
                    rec.aws.metadata.expiration_model.clone().or_else(|| {
                        rec.material.as_ref().map(|m| {
                            if m.valid_to.is_some() {
                                "KEY_MATERIAL_EXPIRES".to_string()
                            } else {
                                "KEY_MATERIAL_DOES_NOT_EXPIRE".to_string()
                            }
                        })
                    });
            }
            let now = self.now();
            rec.aws = view;
            rec.synced_at = now;
            rec.updated_at = now;
            let draft = self.draft(
                caller,
                "key.delete-material",
                &rec.aws.metadata.arn,
                Outcome::Success,
                "",
            );
            self.ports.store.update_key(&rec, Some(&draft)).await?;
            Ok(rec)
        })
        .await
    }

    /// `POST /cckm/aws/upload-key`: an EXTERNAL key made and given material in one call. If the
    /// import fails, the new key is scheduled for deletion so nothing half-made remains.
    pub async fn upload_key(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        req: UploadKey,
    ) -> CoreResult<KeyRecord> {
        let result = self.upload_key_once(caller, req).await;
        self.follow_up_lost_create(caller, &result);
        result
    }

    async fn upload_key_once(&self, caller: &Caller, req: UploadKey) -> CoreResult<KeyRecord> {
        // The permission check and every validation run inside `audited`, so a refused upload
        // (403 or 400) is recorded like any other refused change; once the key is made, the
        // create and the import write their own records.
        let target = req.kms.clone();
        let (create, tier, valid_to) = self
            .audited(caller, "key.upload", &target, async {
            caller.principal.require(Permission::ManageCckm)?;
            let tier = check_tier(req.source_key_tier.as_deref(), self.ports.hsm.is_some())?;
            let mut aws_param = req
                .aws_param
                .clone()
                .unwrap_or(Value::Object(Default::default()));
            let obj = aws_param
                .as_object_mut()
                .ok_or_else(|| CoreError::invalid("aws_param: must be an object"))?;
            // Go clients send every member: `null`, `""` and the zero time mean not given
            // (the decoding rule of every body, applied here to this opaque member).
            obj.retain(|_, v| !is_unset(v));
            let param_valid_to = obj
                .remove("ValidTo")
                .and_then(|v| v.as_str().map(String::from));
            match obj.get("Origin").and_then(Value::as_str) {
                None | Some("EXTERNAL") => {}
                Some(o) => {
                    return Err(CoreError::invalid(format!(
                        "aws_param.Origin: an uploaded key is EXTERNAL, not {o}"
                    )));
                }
            }
            obj.insert("Origin".into(), Value::String("EXTERNAL".into()));
            let valid_to_text = req.valid_to.clone().or(param_valid_to);
            let valid_to = check_expiry(req.key_expiration, valid_to_text.as_deref(), self.now())?;
            if let Some(id) = &req.source_key_identifier {
                match tier {
                    Tier::Local if self.find_local_key(id).await?.is_none() => {
                        return Err(CoreError::invalid(format!(
                            "source_key_identifier: no key named or with id '{id}' in the vault"
                        )));
                    }
                    Tier::Hsm if self.hsm()?.find_secret_key(id).await?.is_none() => {
                        return Err(CoreError::invalid(format!(
                            "source_key_identifier: no secret key labelled (or with handle) '{id}' in HSM token '{}'",
                            self.hsm()?.token_label()
                        )));
                    }
                    _ => {}
                }
            }
            let aws_param: keyward_api::keys::CreateKeyAwsParam =
                serde_json::from_value(aws_param)
                    .map_err(|e| CoreError::invalid(format!("aws_param: {e}")))?;
            let create = keyward_api::keys::CreateKey {
                kms: req.kms.clone(),
                region: req.region.clone(),
                aws_param,
                key_admins: req.key_admins.clone(),
                key_admins_roles: req.key_admins_roles.clone(),
                key_users: req.key_users.clone(),
                key_users_roles: req.key_users_roles.clone(),
                external_accounts: req.external_accounts.clone(),
                policytemplate: req.policytemplate.clone(),
            };
                Ok((create, tier, valid_to))
            })
            .await?;
        let rec = self
            .create_key_for(caller, create, super::create_journal::CreatePurpose::Upload)
            .await?;
        let imported = async {
            let source = self
                .source(caller, &rec, tier, req.source_key_identifier.as_deref())
                .await?;
            self.run_import(caller, rec.clone(), &source, valid_to, true)
                .await
        }
        .await;
        match imported {
            Ok(r) => Ok(r),
            Err(e) => {
                let undo = self
                    .key_action(caller, &rec.id, KeyAction::ScheduleDeletion(7))
                    .await;
                tracing::warn!(key = %rec.id, undo_ok = undo.is_ok(), error = %e, "upload-key: import failed; the new key is scheduled for deletion");
                Err(e)
            }
        }
    }

    /// Closes the intents a crash left open (called at start): where AWS has the material the
    /// import is finished in Keyward's records; where it does not, the intent is dropped.
    /// Returns (finished, dropped); an intent AWS cannot be asked about stays for next time.
    pub async fn reconcile_imports(&self) -> CoreResult<(u64, u64)> {
        let (mut finished, mut dropped) = (0, 0);
        for intent in self.ports.store.open_import_intents().await? {
            // (id, name, key_source) of the material's key, in the vault or the HSM.
            let source = match intent.local_key_id.strip_prefix(HSM_INTENT_PREFIX) {
                Some(hsm_id) => Some((
                    hsm_id.to_string(),
                    self.hsm_label(hsm_id),
                    KeySource::HsmLuna,
                )),
                None => self
                    .ports
                    .store
                    .get_local_key(&intent.local_key_id)
                    .await?
                    .map(|k| (k.id, k.name, KeySource::Local)),
            };
            let (Some(mut rec), Some((source_id, source_name, key_source))) = (
                self.ports.store.get_key(&intent.key_record_id).await?,
                source,
            ) else {
                self.ports.store.delete_import_intent(&intent.id).await?;
                dropped += 1;
                continue;
            };
            let ctx = self.record_context(&rec).await?;
            let view = match self.read_back(&ctx.target, &rec.aws.metadata.key_id).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(intent = %intent.id, error = %e, "cannot reconcile an interrupted import yet");
                    continue;
                }
            };
            let has_material = matches!(view.metadata.key_state.as_str(), "Enabled" | "Disabled");
            rec.aws = view;
            rec.synced_at = self.now();
            if has_material {
                rec.key_material_origin = MaterialOrigin::Cckm;
                rec.material = Some(MaterialBinding {
                    local_key_id: source_id,
                    local_key_name: source_name,
                    key_source,
                    valid_to: intent.valid_to,
                    imported_at: Some(intent.created_at),
                });
                rec.updated_at = self.now();
                let draft = self.draft(
                    &Caller::system(),
                    "key.import-material",
                    &rec.aws.metadata.arn,
                    Outcome::Success,
                    "finished after a restart",
                );
                self.ports
                    .store
                    .finish_import(&rec, &intent.id, &draft)
                    .await?;
                finished += 1;
            } else {
                self.ports.store.delete_import_intent(&intent.id).await?;
                self.ports.store.update_key(&rec, None).await?;
                dropped += 1;
            }
        }
        Ok((finished, dropped))
    }

    /// The key label in an HSM key id (`<token label>:<key label>`).
    fn hsm_label(&self, hsm_id: &str) -> String {
        let configured = self
            .ports
            .hsm
            .as_deref()
            .and_then(|h| hsm_id.strip_prefix(&format!("{}:", h.token_label())));
        configured
            .or_else(|| hsm_id.split_once(':').map(|(_, label)| label))
            .unwrap_or(hsm_id)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(check_expiry(None, None, now).unwrap(), None);
        assert!(check_expiry(Some(false), Some("2027-01-01T00:00:00Z"), now).is_err());
        assert!(
            check_expiry(Some(true), None, now)
                .unwrap_err()
                .to_string()
                .starts_with("valid_to:")
        );
        assert!(
            check_expiry(Some(true), Some("2020-12-04T06:51:18.505860192Z"), now)
                .unwrap_err()
                .to_string()
                .contains("not in the future")
        );
        assert!(
            check_expiry(Some(true), Some("2028-01-01T00:00:00Z"), now)
                .unwrap_err()
                .to_string()
                .contains("365")
        );
        assert!(check_expiry(Some(true), Some("tomorrow"), now).is_err());
        let ok = check_expiry(Some(true), Some("2027-07-03T14:24:00Z"), now).unwrap();
        assert_eq!(ok.unwrap().to_rfc3339(), "2027-07-03T14:24:00+00:00");
    }
}

#[cfg(test)]
mod vault_material_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_spec_takes_the_vault_keys_aws_can_import() {
        let fits =
            |spec: &str, k: (&str, i64)| VaultMaterial::for_spec(spec).unwrap().fits_kind(k.0, k.1);
        assert!(fits("SYMMETRIC_DEFAULT", ("aes", 256)));
        assert!(!fits("SYMMETRIC_DEFAULT", ("aes", 128)));
        assert!(fits("HMAC_256", ("AES", 256)));
        assert!(fits("HMAC_384", ("hmac-sha384", 384)));
        assert!(!fits("HMAC_384", ("aes", 256)));
        assert!(fits("RSA_2048", ("rsa", 2048)));
        assert!(!fits("RSA_2048", ("rsa", 4096)));
        assert!(!fits("RSA_2048", ("aes", 256)));
        assert!(fits("ECC_NIST_P521", ("ec", 521)));
        assert!(!fits("ECC_NIST_P384", ("ec", 521)));
        assert!(VaultMaterial::for_spec("SM2").is_none());
        for (spec, algorithm) in [
            ("RSA_4096", "RSA_AES_KEY_WRAP_SHA_256"),
            ("ECC_NIST_P256", "RSA_AES_KEY_WRAP_SHA_256"),
            ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256"),
            ("HMAC_512", "RSAES_OAEP_SHA_256"),
        ] {
            assert_eq!(VaultMaterial::wrapping_algorithm(spec), algorithm);
        }
    }
}
