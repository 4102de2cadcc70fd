//! KMS containers: an AWS account reached through a connection, in a set of Regions.

use chrono::{DateTime, Utc};
use keyward_api::kms as wire;
use keyward_api::list::PageParams;

use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::connections::AwsConnection;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::service::{Keyward, rfc3339};
use crate::validate;

pub const SORTABLE: &[&str] = &["name", "account_id", "createdAt", "updatedAt"];

/// The AWS key states in which a key no longer holds its container, template or connection:
/// it is on its way out (the provider's destroy only schedules deletion).
pub const PENDING_DELETION: [&str; 2] = ["PendingDeletion", "PendingReplicaDeletion"];

/// A key record that still uses what it refers to: AWS has it, and not pending deletion.
pub fn is_live_key(rec: &crate::keys::KeyRecord) -> bool {
    !rec.gone && !PENDING_DELETION.contains(&rec.aws.metadata.key_state.as_str())
}

/// The filters of the KMS container list (each `None`: not filtered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsFilter {
    pub id: Option<String>,
    pub name: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsContainer {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub connection_id: String,
    /// The connection as the client named it (its id or its name), echoed in `connection`;
    /// empty for containers made before it was kept (their connection's name is shown).
    pub connection_ref: String,
    pub regions: Vec<String>,
    pub assume_role_arn: String,
    pub assume_role_external_id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl KmsContainer {
    pub fn to_wire(&self, connection: &AwsConnection) -> wire::Kms {
        let partition = connection.cloud_name.as_str();
        wire::Kms {
            resource: keyward_api::resource::Resource::new(
                &self.id,
                format!("kylo:kylo:cckm:kms:{}-{}", self.name, self.id),
                rfc3339(&self.created_at),
                rfc3339(&self.updated_at),
            ),
            name: self.name.clone(),
            account_id: self.account_id.clone(),
            connection: if self.connection_ref.is_empty() {
                connection.name.clone()
            } else {
                self.connection_ref.clone()
            },
            connection_id: connection.id.clone(),
            regions: self.regions.clone(),
            arn: format!("arn:{partition}:iam::{}:root", self.account_id),
            assume_role_arn: self.assume_role_arn.clone(),
            assume_role_external_id: self.assume_role_external_id.clone(),
            auto_added: false,
            status: self.status.clone(),
            acls: vec![],
        }
    }
}

fn check_regions(regions: &[String]) -> CoreResult<Vec<String>> {
    if regions.is_empty() {
        return Err(CoreError::invalid("regions: give at least one AWS Region"));
    }
    let mut out: Vec<String> = Vec::new();
    for r in regions {
        validate::aws_region("regions", r)?;
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

fn check_role(arn: &str, external_id: &str) -> CoreResult<()> {
    if !arn.is_empty() {
        validate::role_arn("assume_role_arn", arn)?;
    }
    if !external_id.is_empty() {
        if arn.is_empty() {
            return Err(CoreError::invalid(
                "assume_role_external_id: only allowed with assume_role_arn",
            ));
        }
        crate::connections::check_external_id(external_id)?;
    }
    Ok(())
}

impl Keyward {
    async fn connection_for_kms(&self, id_or_name: &str) -> CoreResult<AwsConnection> {
        if id_or_name.is_empty() {
            return Err(CoreError::invalid(
                "connection: required (an AWS connection's name or id)",
            ));
        }
        self.find_connection(id_or_name).await?.ok_or_else(|| {
            CoreError::invalid(format!(
                "connection: no AWS connection has the name or id '{id_or_name}'"
            ))
        })
    }

    pub async fn create_kms(
        &self,
        caller: &Caller,
        req: wire::KmsCreate,
    ) -> CoreResult<(KmsContainer, AwsConnection)> {
        let target = req.name.clone();
        self.audited(caller, "kms.create", &target, async move {
            caller.principal.require(Permission::ManageCckm)?;
            validate::lookup_name("name", &req.name)?;
            validate::aws_account_id("account_id", &req.account_id)?;
            let regions = check_regions(&req.regions)?;
            let arn = req.assume_role_arn.unwrap_or_default();
            let external = req.assume_role_external_id.unwrap_or_default();
            check_role(&arn, &external)?;
            let connection = self.connection_for_kms(&req.connection).await?;
            if self.ports.store.get_kms_by_name(&req.name).await?.is_some() {
                return Err(CoreError::conflict(format!(
                    "a KMS container named '{}' already exists",
                    req.name
                )));
            }
            let now = self.now();
            let kms = KmsContainer {
                id: self.new_id()?,
                name: req.name,
                account_id: req.account_id,
                connection_id: connection.id.clone(),
                connection_ref: req.connection.clone(),
                regions,
                assume_role_arn: arn,
                assume_role_external_id: external,
                status: "active".into(),
                created_at: now,
                updated_at: now,
            };
            let draft = self.draft(caller, "kms.create", &kms.name, Outcome::Success, "");
            self.ports.store.insert_kms(&kms, &draft).await?;
            Ok((kms, connection))
        })
        .await
    }

    /// Finds a container by id or, failing that, by name.
    pub async fn find_kms(&self, id_or_name: &str) -> CoreResult<Option<KmsContainer>> {
        if let Some(k) = self.ports.store.get_kms(id_or_name).await? {
            return Ok(Some(k));
        }
        self.ports.store.get_kms_by_name(id_or_name).await
    }

    async fn kms_connection(&self, kms: &KmsContainer) -> CoreResult<AwsConnection> {
        self.ports
            .store
            .get_connection(&kms.connection_id)
            .await?
            .ok_or_else(|| {
                CoreError::internal(format!("KMS container {} lost its connection", kms.id))
            })
    }

    pub async fn get_kms(
        &self,
        caller: &Caller,
        id: &str,
    ) -> CoreResult<(KmsContainer, AwsConnection)> {
        caller.principal.require(Permission::ReadCckm)?;
        let kms = self
            .find_kms(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("KMS container {id} not found")))?;
        let conn = self.kms_connection(&kms).await?;
        Ok((kms, conn))
    }

    pub async fn list_kms(
        &self,
        caller: &Caller,
        page: &PageParams,
        filter: &KmsFilter,
    ) -> CoreResult<(ListQuery, Page<(KmsContainer, AwsConnection)>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse(page, SORTABLE)?;
        let page = self.ports.store.list_kms_where(filter, &query).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for kms in page.items {
            let conn = self.kms_connection(&kms).await?;
            items.push((kms, conn));
        }
        Ok((
            query,
            Page {
                total: page.total,
                items,
            },
        ))
    }

    pub async fn update_kms(
        &self,
        caller: &Caller,
        id: &str,
        req: wire::KmsUpdate,
    ) -> CoreResult<(KmsContainer, AwsConnection)> {
        self.audited(caller, "kms.update", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let mut kms = self
                .find_kms(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("KMS container {id} not found")))?;
            let nothing_given = req.connection.is_none()
                && req.regions.is_none()
                && req.assume_role_arn.is_none()
                && req.assume_role_external_id.is_none();
            if nothing_given {
                return Err(CoreError::invalid(
                    "body: nothing to change; give connection, regions, assume_role_arn or assume_role_external_id",
                ));
            }
            // Go clients send the whole struct back: the same name and account are no change.
            if let Some(name) = &req.name
                && *name != kms.name
            {
                return Err(CoreError::invalid(format!(
                    "name: a KMS container's name cannot change (it is '{}')",
                    kms.name
                )));
            }
            if let Some(account) = &req.account_id
                && *account != kms.account_id
            {
                return Err(CoreError::invalid(format!(
                    "account_id: a KMS container's account cannot change (it is {})",
                    kms.account_id
                )));
            }
            let mut changed = Vec::new();
            let connection = match req.connection {
                Some(c) => {
                    let conn = self.connection_for_kms(&c).await?;
                    if conn.id != kms.connection_id || c != kms.connection_ref {
                        changed.push("connection");
                    }
                    kms.connection_id = conn.id.clone();
                    kms.connection_ref = c;
                    conn
                }
                None => self.kms_connection(&kms).await?,
            };
            if let Some(regions) = req.regions {
                let regions = check_regions(&regions)?;
                if regions != kms.regions {
                    kms.regions = regions;
                    changed.push("regions");
                }
            }
            if let Some(arn) = req.assume_role_arn
                && arn != kms.assume_role_arn
            {
                kms.assume_role_arn = arn;
                changed.push("assume_role_arn");
            }
            if let Some(ext) = req.assume_role_external_id
                && ext != kms.assume_role_external_id
            {
                kms.assume_role_external_id = ext;
                changed.push("assume_role_external_id");
            }
            if changed.is_empty() {
                // What was sent is what is stored (a Go client's whole struct): the container
                // as it is, nothing written.
                return Ok((kms, connection));
            }
            check_role(&kms.assume_role_arn, &kms.assume_role_external_id)?;
            kms.updated_at = self.now();
            let detail = format!("changed {}", changed.join(", "));
            let draft = self.draft(caller, "kms.update", &kms.name, Outcome::Success, detail);
            self.ports.store.update_kms(&kms, &draft).await?;
            Ok((kms, connection))
        })
        .await
    }

    /// Deletes a container. Its key records that are pending deletion in AWS (or gone from
    /// it) are forgotten with it, each audited, in one transaction: Terraform's destroy only
    /// schedules the keys' deletion before it deletes the container. A key that is still live
    /// keeps the container (409).
    pub async fn delete_kms(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "kms.delete", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let kms = self
                .find_kms(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("KMS container {id} not found")))?;
            let live = self.ports.store.count_live_keys_in_kms(&kms.id).await?;
            if live > 0 {
                return Err(CoreError::conflict(format!(
                    "KMS container '{}' still has {live} key(s) that are not pending deletion; schedule their deletion (or remove their records) first",
                    kms.name
                )));
            }
            let filter = crate::keys::KeyFilter {
                kms_id: Some(kms.id.clone()),
                ..Default::default()
            };
            let keys = self
                .ports
                .store
                .list_keys(&filter, &ListQuery::all())
                .await?
                .items;
            let forget: Vec<(String, crate::audit::AuditDraft)> = keys
                .iter()
                .map(|k| {
                    let why = if k.gone {
                        "gone from AWS".to_string()
                    } else {
                        format!("{} in AWS", k.aws.metadata.key_state)
                    };
                    let draft = self.draft(
                        caller,
                        "key.forget",
                        &k.aws.metadata.arn,
                        Outcome::Success,
                        format!(
                            "record forgotten with its KMS container '{}' (the key is {why})",
                            kms.name
                        ),
                    );
                    (k.id.clone(), draft)
                })
                .collect();
            let detail = if forget.is_empty() {
                String::new()
            } else {
                format!("forgot {} key record(s) pending deletion", forget.len())
            };
            let draft = self.draft(caller, "kms.delete", &kms.name, Outcome::Success, detail);
            self.ports.store.delete_kms(&kms.id, &forget, &draft).await?;
            Ok(())
        })
        .await
    }
}
