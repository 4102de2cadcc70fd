//! Key-encryption keys: loading them at start and rotating them (`keyward admin rotate-kek`)
//! while the server runs. A rotation makes a new KEK, seals new values under it at once, then
//! re-seals every stored secret; values changed meanwhile are left to their writer (already
//! sealed under the new KEK).

use keyward_api::admin::KekRotation;

use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::ports::{SealedPlace, Store, Vault};
use crate::service::Keyward;

fn owner(place: &SealedPlace) -> String {
    match place {
        SealedPlace::SystemSecret(name) => format!("system:{name}"),
        SealedPlace::ConnectionSecret(id) => crate::connections::secret_owner(id),
        SealedPlace::LocalKeyMaterial(id) => crate::local_keys::material_owner(id),
    }
}

/// Loads the stored KEKs into the vault and activates the active one. Runs at start, before
/// anything sealed is opened.
pub async fn load_keks(store: &dyn Store, vault: &dyn Vault) -> CoreResult<u32> {
    let mut active = None;
    for (id, sealed, is_active) in store.list_keks().await? {
        vault.load_kek(id, &sealed)?;
        if is_active {
            active = Some(id);
        }
    }
    if let Some(id) = active {
        vault.activate_kek(id)?;
    }
    Ok(vault.active_kek())
}

impl Keyward {
    /// Rotates the KEK and re-seals everything under it. Admin only.
    pub async fn rotate_kek(&self, caller: &Caller) -> CoreResult<KekRotation> {
        self.audited(caller, "vault.rotate-kek", "kek", async move {
            caller.principal.require(Permission::ManageUsers)?;
            let stored = self.ports.store.list_keks().await?;
            let next = stored
                .iter()
                .map(|(id, _, _)| *id)
                .chain(std::iter::once(self.ports.vault.active_kek()))
                .max()
                .unwrap_or(1)
                + 1;
            let sealed = self.ports.vault.create_kek(next)?;
            self.ports.store.insert_kek(next, &sealed).await?;
            self.ports.vault.activate_kek(next)?;
            let (mut resealed, mut changed_meanwhile) = (0u64, 0u64);
            for value in self.ports.store.sealed_values().await? {
                if self.ports.vault.kek_of(&value.sealed) == Some(next) {
                    continue;
                }
                let who = owner(&value.place);
                let plain = self.ports.vault.open(&who, &value.sealed)?;
                let new = self.ports.vault.seal(&who, plain.expose())?;
                if self
                    .ports
                    .store
                    .reseal_value(&value.place, &value.sealed, &new)
                    .await?
                {
                    resealed += 1;
                } else {
                    changed_meanwhile += 1;
                }
            }
            let left: Vec<String> = self
                .ports
                .store
                .sealed_values()
                .await?
                .into_iter()
                .filter(|v| self.ports.vault.kek_of(&v.sealed) != Some(next))
                .map(|v| format!("{:?}", v.place))
                .collect();
            if !left.is_empty() {
                return Err(CoreError::internal(format!(
                    "values still sealed under an older KEK after rotation: {}",
                    left.join(", ")
                )));
            }
            let draft = self.draft(
                caller,
                "vault.rotate-kek",
                &format!("kek {next}"),
                Outcome::Success,
                format!("{resealed} values re-sealed"),
            );
            self.ports.store.set_active_kek(next, &draft).await?;
            Ok(KekRotation {
                kek_id: next,
                resealed,
                changed_meanwhile,
            })
        })
        .await
    }
}
