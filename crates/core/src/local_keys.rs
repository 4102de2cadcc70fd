//! Keys in Keyward's own vault (the part of CipherTrust's keys API that CCKM needs):
//! AES keys whose material is generated here (or brought in once) and leaves only wrapped
//! under AWS's public key for an import. No route ever returns material.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keyward_api::vault as wire;
pub use keyward_api::vault::{
    VaultKeyCreate as LocalKeyCreate, VaultKeyParams as LocalKeyParams,
    VaultKeyUpdate as LocalKeyUpdate,
};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::audit::{AuditDraft, Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::ports::KeyPairSpec;
use crate::secret::SecretBytes;
use crate::service::{Keyward, rfc3339};

pub const SORTABLE: &[&str] = &["name", "createdAt", "updatedAt"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKey {
    /// 64 hex digits, as CipherTrust writes key ids.
    pub id: String,
    /// Not unique.
    pub name: String,
    /// As given at create (`aes`, `AES`, `rsa`, `ec`, `hmac-sha256`...); see [`LocalKey::kind`].
    pub algorithm: String,
    pub size: i64,
    /// AES and HMAC: the raw key; RSA and EC: the private key, PKCS #8 DER.
    pub material_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub description: String,
    pub labels: BTreeMap<String, Value>,
    /// EC keys: the curve (`secp384r1`...); empty otherwise.
    pub curve: String,
}

/// The families of vault keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKeyKind {
    Aes,
    Hmac,
    Rsa,
    Ec,
}

impl LocalKeyKind {
    /// The family an algorithm word names (any case), or None.
    pub fn of(algorithm: &str) -> Option<Self> {
        match algorithm.to_ascii_lowercase().as_str() {
            "aes" => Some(Self::Aes),
            "hmac-sha256" | "hmac-sha384" | "hmac-sha512" => Some(Self::Hmac),
            "rsa" => Some(Self::Rsa),
            "ec" => Some(Self::Ec),
            _ => None,
        }
    }

    /// The material is a raw secret (AES, HMAC), not a private key.
    pub fn symmetric(self) -> bool {
        matches!(self, Self::Aes | Self::Hmac)
    }
}

impl LocalKey {
    /// The key's family (AES for a word Keyward no longer knows, as every older key is AES).
    pub fn kind(&self) -> LocalKeyKind {
        LocalKeyKind::of(&self.algorithm).unwrap_or(LocalKeyKind::Aes)
    }

    /// The metadata; `used_by` lists the AWS key records whose material this is.
    pub fn to_wire(&self, used_by: &[String]) -> wire::VaultKey {
        let kind = self.kind();
        wire::VaultKey {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                format!("kylo:kylo:vault:keys:{}-v0", self.name),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            name: self.name.clone(),
            algorithm: self.algorithm.clone(),
            size: self.size,
            object_type: if kind.symmetric() {
                "Symmetric Key"
            } else {
                "Private Key"
            }
            .into(),
            usage_mask: usage_mask(kind),
            curveid: (!self.curve.is_empty()).then(|| self.curve.clone()),
            format: if kind.symmetric() { "raw" } else { "pkcs8" }.into(),
            state: "Active".into(),
            version: 0,
            description: self.description.clone(),
            unexportable: true,
            undeletable: false,
            labels: self.labels.clone(),
            aliases: vec![],
            used_by_aws_keys: used_by.to_vec(),
        }
    }
}

/// The KMIP usage mask Keyward reports for a family.
fn usage_mask(kind: LocalKeyKind) -> i64 {
    match kind {
        LocalKeyKind::Aes => 12,
        LocalKeyKind::Hmac => 384,
        LocalKeyKind::Rsa => 15,
        LocalKeyKind::Ec => 3,
    }
}

/// A checked create request: what to generate (or take) and store.
struct NewKey {
    algorithm: String,
    kind: LocalKeyKind,
    size: i64,
    curve: String,
    pair: Option<KeyPairSpec>,
}

fn check_create(req: &LocalKeyCreate) -> CoreResult<NewKey> {
    let algorithm = req
        .algorithm
        .clone()
        .map(|a| a.trim().to_string())
        .unwrap_or_else(|| "aes".into());
    let kind = LocalKeyKind::of(&algorithm).ok_or_else(|| {
        CoreError::invalid(format!(
            "algorithm: '{}' is not supported; use aes, rsa, ec, hmac-sha256, hmac-sha384 or hmac-sha512",
            crate::validate::shown(&algorithm)
        ))
    })?;
    if req.curveid.is_some() && kind != LocalKeyKind::Ec {
        return Err(CoreError::invalid("curveid: only for algorithm ec"));
    }
    let (size, curve, pair) = match kind {
        LocalKeyKind::Aes => {
            let size = req.size.unwrap_or(256);
            if ![128, 192, 256].contains(&size) {
                return Err(CoreError::invalid(format!(
                    "size: {size} is not an AES key size; use 128, 192 or 256"
                )));
            }
            (size, String::new(), None)
        }
        LocalKeyKind::Hmac => {
            let digest: i64 = algorithm
                .get(algorithm.len().saturating_sub(3)..)
                .and_then(|d| d.parse().ok())
                .unwrap_or(256);
            let size = req.size.unwrap_or(digest);
            if !(128..=1024).contains(&size) || size % 8 != 0 {
                return Err(CoreError::invalid(format!(
                    "size: {size} is not an HMAC key size; use 128 to 1024 bits, a multiple of 8"
                )));
            }
            (size, String::new(), None)
        }
        LocalKeyKind::Rsa => {
            let size = req.size.unwrap_or(2048);
            if ![2048, 3072, 4096].contains(&size) {
                return Err(CoreError::invalid(format!(
                    "size: {size} is not an RSA key size; use 2048, 3072 or 4096"
                )));
            }
            (size, String::new(), Some(KeyPairSpec::Rsa(size as u32)))
        }
        LocalKeyKind::Ec => {
            let curve = req.curveid.clone().unwrap_or_else(|| "secp384r1".into());
            let (spec, bits) = match curve.to_ascii_lowercase().as_str() {
                "secp384r1" => (KeyPairSpec::EcP384, 384),
                "secp521r1" => (KeyPairSpec::EcP521, 521),
                "secp256k1" => (KeyPairSpec::EcSecp256k1, 256),
                "prime256v1" | "secp256r1" => (KeyPairSpec::EcP256, 256),
                _ => {
                    return Err(CoreError::invalid(format!(
                        "curveid: '{}' is not supported; use secp384r1, secp521r1, secp256k1 or prime256v1",
                        crate::validate::shown(&curve)
                    )));
                }
            };
            if let Some(size) = req.size
                && size != bits
            {
                return Err(CoreError::invalid(format!(
                    "size: {size} does not match curve {curve} ({bits} bits); leave it out"
                )));
            }
            (bits, curve, Some(spec))
        }
    };
    if req.material.is_some() && !kind.symmetric() {
        return Err(CoreError::invalid(
            "material: can be given only for aes and hmac keys (rsa and ec keys are generated)",
        ));
    }
    Ok(NewKey {
        algorithm,
        kind,
        size,
        curve,
        pair,
    })
}

/// Merges a labels patch into `labels`: a label set to null is removed.
fn merge_labels(labels: &mut BTreeMap<String, Value>, patch: BTreeMap<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            labels.remove(&k);
        } else {
            labels.insert(k, v);
        }
    }
}

pub(crate) fn material_owner(id: &str) -> String {
    format!("local-key:{id}:material")
}

impl Keyward {
    /// Creates a vault key; the material is generated unless given (AES and HMAC only).
    pub async fn create_local_key(
        &self,
        caller: &Caller,
        req: LocalKeyCreate,
    ) -> CoreResult<LocalKey> {
        let target = req.name.clone();
        self.audited(caller, "vault-key.create", &target, async move {
            caller.principal.require(Permission::ManageVault)?;
            let new = check_create(&req)?;
            crate::validate::lookup_name("name", &req.name)?;
            if let Some(d) = &req.description
                && d.chars().count() > 1024
            {
                return Err(CoreError::invalid(
                    "description: must be at most 1024 characters",
                ));
            }
            let material = match (req.material, new.pair) {
                (Some(text), _) => {
                    let text = Zeroizing::new(text);
                    // Wiped on drop from here on, also when the size is refused.
                    let bytes = SecretBytes::new(
                        hex::decode(text.trim())
                            .map_err(|_| CoreError::invalid("material: must be hex digits"))?,
                    );
                    let given = bytes.expose().len();
                    if given as i64 * 8 != new.size {
                        return Err(CoreError::invalid(format!(
                            "material: {} bits given, but size is {}",
                            given * 8,
                            new.size
                        )));
                    }
                    bytes
                }
                (None, Some(pair)) => self.ports.random.key_pair(pair).await?,
                (None, None) => self.ports.random.bytes((new.size / 8) as usize)?,
            };
            let detail = match new.kind {
                LocalKeyKind::Ec => format!("{} {}", new.algorithm, new.curve),
                _ => format!("{}-{}", new.algorithm, new.size),
            };
            let key =
                self.new_local_key(&req.name, new.algorithm, new.size, new.curve, &material)?;
            let key = LocalKey {
                description: req.description.unwrap_or_default(),
                labels: req.labels.unwrap_or_default(),
                ..key
            };
            let draft = self.draft(
                caller,
                "vault-key.create",
                &key.name,
                Outcome::Success,
                detail,
            );
            self.ports.store.insert_local_key(&key, &draft).await?;
            Ok(key)
        })
        .await
    }

    /// A new vault key's record, its material sealed (not stored yet).
    fn new_local_key(
        &self,
        name: &str,
        algorithm: String,
        size: i64,
        curve: String,
        material: &SecretBytes,
    ) -> CoreResult<LocalKey> {
        crate::validate::lookup_name("name", name)?;
        let id_bytes = self.ports.random.bytes(32)?;
        let id: String = id_bytes
            .expose()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let now = self.now();
        Ok(LocalKey {
            material_sealed: self
                .ports
                .vault
                .seal(&material_owner(&id), material.expose())?,
            id,
            name: name.to_string(),
            algorithm,
            size,
            created_at: now,
            updated_at: now,
            description: String::new(),
            labels: BTreeMap::new(),
            curve,
        })
    }

    /// Stores a new AES key with the given material (in the same transaction as its audit).
    pub(crate) async fn insert_local_key(
        &self,
        caller: &Caller,
        name: &str,
        size: i64,
        material: SecretBytes,
    ) -> CoreResult<LocalKey> {
        let key = self.new_local_key(name, "aes".into(), size, String::new(), &material)?;
        let draft = self.draft(
            caller,
            "vault-key.create",
            &key.name,
            Outcome::Success,
            format!("AES-{size}"),
        );
        self.ports.store.insert_local_key(&key, &draft).await?;
        Ok(key)
    }

    /// The key of that id, else the one key of that name (several keys of one name: a 409
    /// asking for the id).
    pub async fn find_local_key(&self, id_or_name: &str) -> CoreResult<Option<LocalKey>> {
        if let Some(k) = self.ports.store.get_local_key(id_or_name).await? {
            return Ok(Some(k));
        }
        let page = self
            .ports
            .store
            .list_local_keys(
                Some(id_or_name),
                &ListQuery {
                    skip: 0,
                    limit: Some(2),
                    sort: vec![],
                },
            )
            .await?;
        if page.total > 1 {
            return Err(CoreError::conflict(format!(
                "{} vault keys are named '{}'; give the key's id",
                page.total,
                crate::validate::shown(id_or_name)
            )));
        }
        Ok(page.items.into_iter().next())
    }

    pub async fn get_local_key(
        &self,
        caller: &Caller,
        id: &str,
    ) -> CoreResult<(LocalKey, Vec<String>)> {
        caller.principal.require(Permission::ReadVault)?;
        let key = self
            .find_local_key(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("vault key {id} not found")))?;
        let used = self.ports.store.aws_keys_using_local_key(&key.id).await?;
        Ok((key, used))
    }

    pub async fn list_local_keys(
        &self,
        caller: &Caller,
        p: LocalKeyParams,
    ) -> CoreResult<(ListQuery, Page<(LocalKey, Vec<String>)>)> {
        caller.principal.require(Permission::ReadVault)?;
        let query = ListQuery::parse_parts(p.skip, p.limit, p.sort, SORTABLE)?;
        let page = self
            .ports
            .store
            .list_local_keys(p.name.as_deref(), &query)
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for k in page.items {
            let used = self.ports.store.aws_keys_using_local_key(&k.id).await?;
            items.push((k, used));
        }
        Ok((
            query,
            Page {
                total: page.total,
                items,
            },
        ))
    }

    /// `PATCH /vault/keys2/{id}`: description and labels.
    pub async fn update_local_key(
        &self,
        caller: &Caller,
        id: &str,
        req: LocalKeyUpdate,
    ) -> CoreResult<(LocalKey, Vec<String>)> {
        self.audited(caller, "vault-key.update", id, async move {
            caller.principal.require(Permission::ManageVault)?;
            let mut key = self
                .find_local_key(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("vault key {id} not found")))?;
            if req.unexportable == Some(false) {
                return Err(CoreError::invalid(
                    "unexportable: a vault key's material never leaves Keyward (it stays true)",
                ));
            }
            if req.undeletable == Some(true) {
                return Err(CoreError::invalid(
                    "undeletable: not supported (vault keys are deletable once no AWS key needs them)",
                ));
            }
            if let Some(m) = req.usage_mask
                && m != usage_mask(key.kind())
            {
                return Err(CoreError::invalid(format!(
                    "usageMask: {m} cannot be set; this key's is {}",
                    usage_mask(key.kind())
                )));
            }
            if let Some(d) = req.description {
                if d.chars().count() > 1024 {
                    return Err(CoreError::invalid(
                        "description: must be at most 1024 characters",
                    ));
                }
                key.description = d;
            }
            if let Some(l) = req.labels {
                merge_labels(&mut key.labels, l);
            }
            key.updated_at = self.now();
            let draft = self.draft(caller, "vault-key.update", &key.name, Outcome::Success, "");
            self.ports.store.update_local_key(&key, &draft).await?;
            let used = self.ports.store.aws_keys_using_local_key(&key.id).await?;
            Ok((key, used))
        })
        .await
    }

    /// Deletes a vault key. AWS keys made from it that are gone or scheduled for deletion
    /// (what `terraform destroy` leaves) are detached from it, each audited, in the same
    /// transaction; while another AWS key uses it, a 409.
    pub async fn delete_local_key(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "vault-key.delete", id, async move {
            caller.principal.require(Permission::ManageVault)?;
            let key = self
                .find_local_key(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("vault key {id} not found")))?;
            let used = self.ports.store.aws_keys_using_local_key(&key.id).await?;
            let mut live = Vec::new();
            let mut detach: Vec<(String, AuditDraft)> = Vec::new();
            for rid in used {
                let Some(rec) = self.ports.store.get_key(&rid).await? else {
                    continue;
                };
                let state = &rec.aws.metadata.key_state;
                if rec.gone || crate::scheduler::scheduled_for_deletion(state) {
                    let why = if rec.gone { "gone from AWS" } else { state.as_str() };
                    detach.push((
                        rec.id.clone(),
                        self.draft(
                            caller,
                            "key.detach-vault-key",
                            &rec.aws.metadata.arn,
                            Outcome::Success,
                            format!(
                                "{}: vault key '{}' deleted (the key is {why})",
                                key.id, key.name
                            ),
                        ),
                    ));
                } else {
                    live.push(rid);
                }
            }
            if !live.is_empty() {
                return Err(CoreError::conflict(format!(
                    "vault key '{}' is the material of AWS key record(s) {} not scheduled for deletion; AWS may need it again, so it stays",
                    key.name,
                    live.join(", ")
                )));
            }
            let pending = self.ports.store.open_import_intents().await?;
            if pending.iter().any(|i| i.local_key_id == key.id) {
                return Err(CoreError::conflict(format!(
                    "vault key '{}' was sent to AWS by an import whose outcome AWS has not confirmed; it stays until that is settled (at the next start)",
                    key.name
                )));
            }
            let detail = if detach.is_empty() {
                String::new()
            } else {
                format!("detached from {} AWS key(s) gone or pending deletion", detach.len())
            };
            let draft = self.draft(caller, "vault-key.delete", &key.name, Outcome::Success, detail);
            self.ports
                .store
                .delete_local_key_detaching(&key.id, &detach, &draft)
                .await?;
            Ok(())
        })
        .await
    }

    /// Opens a vault key's material (only for wrapping it for AWS): the key's bytes for AES
    /// and HMAC, its private key (PKCS #8) for RSA and EC. The import checks first that the
    /// vault key fits the AWS key's spec (`keys::import`, `VaultMaterial`).
    pub(crate) fn local_key_material(&self, key: &LocalKey) -> CoreResult<SecretBytes> {
        self.ports
            .vault
            .open(&material_owner(&key.id), &key.material_sealed)
    }
}
