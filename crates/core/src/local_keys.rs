//! Keys in Keyward's own vault (the part of CipherTrust's keys API that CCKM needs):
//! AES keys whose material is generated here (or brought in once) and leaves only wrapped
//! under AWS's public key for an import. No route ever returns material.

use chrono::{DateTime, Utc};
use keyward_api::vault as wire;
pub use keyward_api::vault::{VaultKeyCreate as LocalKeyCreate, VaultKeyParams as LocalKeyParams};
use zeroize::Zeroizing;

use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::secret::SecretBytes;
use crate::service::{Keyward, rfc3339};

pub const SORTABLE: &[&str] = &["name", "createdAt", "updatedAt"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKey {
    /// 64 hex digits, as CipherTrust writes key ids.
    pub id: String,
    pub name: String,
    pub algorithm: String,
    pub size: i64,
    pub material_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LocalKey {
    /// The metadata; `used_by` lists the AWS key records whose material this is.
    pub fn to_wire(&self, used_by: &[String]) -> wire::VaultKey {
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
            object_type: "Symmetric Key".into(),
            unexportable: true,
            used_by_aws_keys: used_by.to_vec(),
        }
    }
}

pub(crate) fn material_owner(id: &str) -> String {
    format!("local-key:{id}:material")
}

impl Keyward {
    /// Creates a local key; the material is generated unless given.
    pub async fn create_local_key(
        &self,
        caller: &Caller,
        req: LocalKeyCreate,
    ) -> CoreResult<LocalKey> {
        let target = req.name.clone();
        self.audited(caller, "vault-key.create", &target, async move {
            caller.principal.require(Permission::ManageVault)?;
            let algorithm = req
                .algorithm
                .unwrap_or_else(|| "aes".into())
                .to_ascii_lowercase();
            if algorithm != "aes" {
                return Err(CoreError::invalid(format!(
                    "algorithm: '{algorithm}' is not supported; use aes"
                )));
            }
            let size = req.size.unwrap_or(256);
            if ![128, 192, 256].contains(&size) {
                return Err(CoreError::invalid(format!(
                    "size: {size} is not an AES key size; use 128, 192 or 256"
                )));
            }
            let material = match req.material {
                Some(text) => {
                    let text = Zeroizing::new(text);
                    let bytes = hex::decode(text.trim())
                        .map_err(|_| CoreError::invalid("material: must be hex digits"))?;
                    if bytes.len() as i64 * 8 != size {
                        return Err(CoreError::invalid(format!(
                            "material: {} bits given, but size is {size}",
                            bytes.len() * 8
                        )));
                    }
                    SecretBytes::new(bytes)
                }
                None => self.ports.random.bytes((size / 8) as usize)?,
            };
            self.insert_local_key(caller, &req.name, size, material)
                .await
        })
        .await
    }

    /// Stores a new AES key with the given material (in the same transaction as its audit).
    pub(crate) async fn insert_local_key(
        &self,
        caller: &Caller,
        name: &str,
        size: i64,
        material: SecretBytes,
    ) -> CoreResult<LocalKey> {
        crate::validate::lookup_name("name", name)?;
        if self
            .ports
            .store
            .get_local_key_by_name(name)
            .await?
            .is_some()
        {
            return Err(CoreError::conflict(format!(
                "a key named '{name}' already exists in the vault"
            )));
        }
        let id_bytes = self.ports.random.bytes(32)?;
        let id: String = id_bytes
            .expose()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let now = self.now();
        let key = LocalKey {
            material_sealed: self
                .ports
                .vault
                .seal(&material_owner(&id), material.expose())?,
            id,
            name: name.to_string(),
            algorithm: "aes".into(),
            size,
            created_at: now,
            updated_at: now,
        };
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

    pub async fn find_local_key(&self, id_or_name: &str) -> CoreResult<Option<LocalKey>> {
        if let Some(k) = self.ports.store.get_local_key(id_or_name).await? {
            return Ok(Some(k));
        }
        self.ports.store.get_local_key_by_name(id_or_name).await
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

    pub async fn delete_local_key(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "vault-key.delete", id, async move {
            caller.principal.require(Permission::ManageVault)?;
            let key = self
                .find_local_key(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("vault key {id} not found")))?;
            let used = self.ports.store.aws_keys_using_local_key(&key.id).await?;
            if !used.is_empty() {
                return Err(CoreError::conflict(format!(
                    "vault key '{}' is the material of AWS key record(s) {}; AWS may need it again, so it stays",
                    key.name,
                    used.join(", ")
                )));
            }
            let pending = self.ports.store.open_import_intents().await?;
            if pending.iter().any(|i| i.local_key_id == key.id) {
                return Err(CoreError::conflict(format!(
                    "vault key '{}' was sent to AWS by an import whose outcome AWS has not confirmed; it stays until that is settled (at the next start)",
                    key.name
                )));
            }
            let draft = self.draft(caller, "vault-key.delete", &key.name, Outcome::Success, "");
            self.ports.store.delete_local_key(&key.id, &draft).await?;
            Ok(())
        })
        .await
    }

    /// Opens a local key's material (only for wrapping it for AWS).
    pub(crate) fn local_key_material(&self, key: &LocalKey) -> CoreResult<SecretBytes> {
        self.ports
            .vault
            .open(&material_owner(&key.id), &key.material_sealed)
    }
}
