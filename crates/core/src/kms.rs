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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsContainer {
    pub id: String,
    pub name: String,
    pub account_id: String,
    pub connection_id: String,
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
            connection: connection.name.clone(),
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
    ) -> CoreResult<(ListQuery, Page<(KmsContainer, AwsConnection)>)> {
        caller.principal.require(Permission::ReadCckm)?;
        let query = ListQuery::parse(page, SORTABLE)?;
        let page = self.ports.store.list_kms(&query).await?;
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
            let mut changed = Vec::new();
            let connection = match req.connection {
                Some(c) => {
                    let conn = self.connection_for_kms(&c).await?;
                    kms.connection_id = conn.id.clone();
                    changed.push("connection");
                    conn
                }
                None => self.kms_connection(&kms).await?,
            };
            if let Some(regions) = req.regions {
                kms.regions = check_regions(&regions)?;
                changed.push("regions");
            }
            if let Some(arn) = req.assume_role_arn {
                kms.assume_role_arn = arn;
                changed.push("assume_role_arn");
            }
            if let Some(ext) = req.assume_role_external_id {
                kms.assume_role_external_id = ext;
                changed.push("assume_role_external_id");
            }
            if changed.is_empty() {
                return Err(CoreError::invalid(
                    "body: nothing to change; give connection, regions, assume_role_arn or assume_role_external_id",
                ));
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

    pub async fn delete_kms(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "kms.delete", id, async move {
            caller.principal.require(Permission::ManageCckm)?;
            let kms = self
                .find_kms(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("KMS container {id} not found")))?;
            let keys = self.ports.store.count_keys_in_kms(&kms.id).await?;
            if keys > 0 {
                return Err(CoreError::conflict(format!(
                    "KMS container '{}' still has {keys} key record(s); remove them first",
                    kms.name
                )));
            }
            let draft = self.draft(caller, "kms.delete", &kms.name, Outcome::Success, "");
            self.ports.store.delete_kms(&kms.id, &draft).await?;
            Ok(())
        })
        .await
    }
}
