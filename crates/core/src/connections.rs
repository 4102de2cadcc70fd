//! AWS connections: the credentials Keyward uses to reach AWS. The secret access key is sealed
//! at rest and never returned.

use chrono::{DateTime, Utc};
use keyward_api::connections as wire;
use keyward_api::list::PageParams;
use serde_json::{Map, Value};

use crate::audit::{Caller, Outcome};
use crate::authz::Permission;
use crate::error::{CoreError, CoreResult};
use crate::paging::{ListQuery, Page};
use crate::secret::SecretString;
use crate::service::{Keyward, rfc3339};
use crate::validate;

pub const SORTABLE: &[&str] = &["name", "createdAt", "updatedAt"];
pub const CLOUD_NAMES: [&str; 3] = ["aws", "aws-us-gov", "aws-cn"];

#[derive(Debug, Clone, PartialEq)]
pub struct AwsConnection {
    pub id: String,
    pub name: String,
    pub description: String,
    pub access_key_id: String,
    /// The secret access key sealed by the vault (always present for a stored connection).
    pub secret_sealed: Option<Vec<u8>>,
    pub assume_role_arn: String,
    pub assume_role_external_id: String,
    pub aws_region: String,
    pub aws_sts_regional_endpoints: String,
    pub cloud_name: String,
    pub endpoint_url: String,
    pub labels: Map<String, Value>,
    pub meta: Value,
    pub products: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_connection_ok: Option<bool>,
    pub last_connection_error: String,
    pub last_connection_at: Option<DateTime<Utc>>,
}

/// The account a connection's credentials belong to, and the Regions it can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAccount {
    pub account_id: String,
    pub regions: Vec<String>,
}

/// The filters of the connection list (each `None` or empty: not filtered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    pub id: Option<String>,
    pub name: Option<String>,
    pub cloud_name: Option<String>,
}

/// Everything the AWS adapter needs to build a client. Carries the opened secret.
#[derive(Debug, Clone)]
pub struct ConnectionTarget {
    pub connection_id: String,
    /// Changes whenever the connection changes, so cached clients are not reused after it.
    pub revision: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub assume_role_arn: Option<String>,
    pub assume_role_external_id: Option<String>,
    pub sts_regional_endpoints: bool,
}

pub fn default_region(cloud_name: &str) -> &'static str {
    match cloud_name {
        "aws-us-gov" => "us-gov-east-1",
        "aws-cn" => "cn-north-1",
        _ => "us-east-1",
    }
}

pub(crate) fn secret_owner(id: &str) -> String {
    format!("aws-connection:{id}:secret_access_key")
}

impl AwsConnection {
    pub fn to_wire(&self) -> wire::AwsConnection {
        wire::AwsConnection {
            id: self.id.clone(),
            uri: format!(
                "kylo:kylo:connectionmgmt:connections:{}-{}",
                self.name, self.id
            ),
            account: "kylo:kylo:admin:accounts:kylo".into(),
            dev_account: "ncryptify:gemalto:admin:accounts:gemalto".into(),
            created_at: rfc3339(&self.created_at),
            updated_at: rfc3339(&self.updated_at),
            name: self.name.clone(),
            category: "cloud".into(),
            service: "aws".into(),
            resource_url: format!("/v1/connectionmgmt/services/aws/connections/{}", self.id),
            description: self.description.clone(),
            access_key_id: self.access_key_id.clone(),
            assume_role_arn: self.assume_role_arn.clone(),
            assume_role_external_id: self.assume_role_external_id.clone(),
            aws_region: self.aws_region.clone(),
            aws_sts_regional_endpoints: self.aws_sts_regional_endpoints.clone(),
            cloud_name: self.cloud_name.clone(),
            is_role_anywhere: false,
            endpoint_url: self.endpoint_url.clone(),
            labels: self.labels.clone(),
            meta: self.meta.clone(),
            products: self.products.clone(),
            last_connection_ok: self.last_connection_ok.unwrap_or(false),
            last_connection_error: self.last_connection_error.clone(),
            last_connection_at: self.last_connection_at.as_ref().map(rfc3339),
        }
    }
}

/// RFC 7396 JSON merge patch: an object patches member by member (`null` removes one), anything
/// else replaces the target.
fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(members) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                merge_members(t, members);
            }
        }
        other => *target = other,
    }
}

fn merge_members(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            target.remove(&k);
        } else {
            merge_patch(target.entry(k).or_insert(Value::Null), v);
        }
    }
}

fn check_access_key_id(v: &str) -> CoreResult<()> {
    if (16..=128).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "access_key_id: must be 16 to 128 letters and digits (like AKIAIOSFODNN7EXAMPLE)",
        ))
    }
}

fn check_secret(v: &str) -> CoreResult<()> {
    if v.is_empty() || v.len() > 128 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(CoreError::invalid(
            "secret_access_key: must be 1 to 128 characters without spaces",
        ))
    } else {
        Ok(())
    }
}

/// AWS's rule for an assume-role external id (sts:ExternalId).
pub(crate) fn check_external_id(v: &str) -> CoreResult<()> {
    let ok = (2..=1224).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "assume_role_external_id: must be 2 to 1224 characters of letters, digits and +=,.@:/-_",
        ))
    }
}

fn check_sts(v: &str) -> CoreResult<()> {
    if v == "legacy" || v == "regional" {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "aws_sts_regional_endpoints: must be legacy or regional",
        ))
    }
}

fn check_products(products: &[String]) -> CoreResult<()> {
    match products.iter().find(|p| p.as_str() != "cckm") {
        Some(p) => Err(CoreError::invalid(format!(
            "products: '{p}' is not a product of Keyward; use cckm"
        ))),
        None => Ok(()),
    }
}

/// The rules every stored connection obeys, checked after a create or an update is applied.
fn check_connection(c: &AwsConnection, has_secret: bool) -> CoreResult<()> {
    validate::name("name", &c.name)?;
    validate::text("description", &c.description, 256)?;
    if !CLOUD_NAMES.contains(&c.cloud_name.as_str()) {
        return Err(CoreError::invalid(format!(
            "cloud_name: must be one of {}",
            CLOUD_NAMES.join(", ")
        )));
    }
    validate::aws_region("aws_region", &c.aws_region)?;
    check_sts(&c.aws_sts_regional_endpoints)?;
    match (c.access_key_id.is_empty(), has_secret) {
        (false, true) => check_access_key_id(&c.access_key_id)?,
        (true, false) => {
            return Err(CoreError::invalid(
                "access_key_id: required, with secret_access_key (Keyward does not use the host's own AWS credentials)",
            ));
        }
        (false, false) => {
            return Err(CoreError::invalid(
                "secret_access_key: required with access_key_id",
            ));
        }
        (true, true) => {
            return Err(CoreError::invalid(
                "access_key_id: required with secret_access_key",
            ));
        }
    }
    if !c.assume_role_arn.is_empty() {
        validate::role_arn("assume_role_arn", &c.assume_role_arn)?;
    }
    if !c.assume_role_external_id.is_empty() {
        if c.assume_role_arn.is_empty() {
            return Err(CoreError::invalid(
                "assume_role_external_id: only allowed with assume_role_arn",
            ));
        }
        check_external_id(&c.assume_role_external_id)?;
    }
    if !c.endpoint_url.is_empty() {
        validate::url("endpoint_url", &c.endpoint_url)?;
    }
    check_products(&c.products)?;
    if !c.meta.is_object() {
        return Err(CoreError::invalid("meta: must be a JSON object"));
    }
    Ok(())
}

impl Keyward {
    pub async fn create_connection(
        &self,
        caller: &Caller,
        req: wire::AwsConnectionCreate,
    ) -> CoreResult<AwsConnection> {
        let target = req.name.clone();
        self.audited(caller, "connection.create", &target, async move {
            caller.principal.require(Permission::ManageConnections)?;
            if req.is_role_anywhere == Some(true) {
                return Err(CoreError::invalid(
                    "is_role_anywhere: IAM Roles Anywhere is not supported by Keyward; use access keys or assume_role_arn",
                ));
            }
            let cloud_name = req.cloud_name.unwrap_or_else(|| "aws".into());
            let now = self.now();
            let secret = req.secret_access_key.map(SecretString::new);
            if let Some(s) = &secret {
                check_secret(s.expose())?;
            }
            let mut conn = AwsConnection {
                id: self.new_id()?,
                name: req.name,
                description: req.description.unwrap_or_default(),
                access_key_id: req.access_key_id.unwrap_or_default(),
                secret_sealed: None,
                assume_role_arn: req.assume_role_arn.unwrap_or_default(),
                assume_role_external_id: req.assume_role_external_id.unwrap_or_default(),
                aws_region: req
                    .aws_region
                    .unwrap_or_else(|| default_region(&cloud_name).to_string()),
                aws_sts_regional_endpoints: req
                    .aws_sts_regional_endpoints
                    .unwrap_or_else(|| "legacy".into()),
                cloud_name,
                endpoint_url: req.endpoint_url.unwrap_or_default(),
                labels: req.labels.unwrap_or_default(),
                meta: req.meta.unwrap_or(Value::Object(Map::new())),
                products: req.products.unwrap_or_else(|| vec!["cckm".into()]),
                created_at: now,
                updated_at: now,
                last_connection_ok: None,
                last_connection_error: String::new(),
                last_connection_at: None,
            };
            check_connection(&conn, secret.is_some())?;
            // Connections are looked up by id or name: a name cannot look like an id.
            validate::lookup_name("name", &conn.name)?;
            if self
                .ports
                .store
                .get_connection_by_name(&conn.name)
                .await?
                .is_some()
            {
                return Err(CoreError::conflict(format!(
                    "an AWS connection named '{}' already exists",
                    conn.name
                )));
            }
            if let Some(s) = &secret {
                conn.secret_sealed = Some(
                    self.ports
                        .vault
                        .seal(&secret_owner(&conn.id), s.expose().as_bytes())?,
                );
            }
            let draft = self.draft(caller, "connection.create", &conn.name, Outcome::Success, "");
            self.ports.store.insert_connection(&conn, &draft).await?;
            Ok(conn)
        })
        .await
    }

    /// Finds a connection by id or, failing that, by name.
    pub(crate) async fn find_connection(
        &self,
        id_or_name: &str,
    ) -> CoreResult<Option<AwsConnection>> {
        if let Some(c) = self.ports.store.get_connection(id_or_name).await? {
            return Ok(Some(c));
        }
        self.ports.store.get_connection_by_name(id_or_name).await
    }

    pub async fn get_connection(&self, caller: &Caller, id: &str) -> CoreResult<AwsConnection> {
        caller.principal.require(Permission::ReadConnections)?;
        self.find_connection(id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("AWS connection {id} not found")))
    }

    pub async fn list_connections(
        &self,
        caller: &Caller,
        page: &PageParams,
        filter: &ConnectionFilter,
    ) -> CoreResult<(ListQuery, Page<AwsConnection>)> {
        caller.principal.require(Permission::ReadConnections)?;
        let query = ListQuery::parse(page, SORTABLE)?;
        Ok((
            query.clone(),
            self.ports.store.list_connections(filter, &query).await?,
        ))
    }

    /// `POST /cckm/aws/accounts`: the account behind a connection and its Regions, read from
    /// AWS with the connection's credentials (and the role given, else the connection's own).
    pub async fn account_details(
        &self,
        caller: &Caller,
        req: keyward_api::accounts::AccountDetailsRequest,
    ) -> CoreResult<AwsAccount> {
        let subject = req.connection.clone();
        self.audited(caller, "connection.account-details", &subject, async move {
            // It calls AWS with the connection's secret (and may assume a role of the
            // caller's choosing): for those who manage CCKM and may read connections, as a
            // connection test is for those who manage connections.
            caller.principal.require(Permission::ManageCckm)?;
            caller.principal.require(Permission::ReadConnections)?;
            if req.connection.is_empty() {
                return Err(CoreError::invalid(
                    "connection: required (an AWS connection's name or id)",
                ));
            }
            let conn = self
                .find_connection(&req.connection)
                .await?
                .ok_or_else(|| {
                    CoreError::not_found(format!("AWS connection {} not found", req.connection))
                })?;
            let role = req.assume_role_arn.unwrap_or_default();
            let external = req.assume_role_external_id.unwrap_or_default();
            if !role.is_empty() {
                validate::role_arn("assume_role_arn", &role)?;
            }
            if !external.is_empty() {
                if role.is_empty() {
                    return Err(CoreError::invalid(
                        "assume_role_external_id: only allowed with assume_role_arn",
                    ));
                }
                check_external_id(&external)?;
            }
            let target =
                self.connection_target(&conn, &conn.aws_region, Some((&role, &external)))?;
            let account = self.ports.cloud.account_details(&target).await?;
            if account.account_id.is_empty() {
                return Err(CoreError::Aws {
                    context: "Error reading the AWS account details".into(),
                    code: "InvalidResponse".into(),
                    message: "STS GetCallerIdentity named no account".into(),
                    kind: crate::error::AwsErrorKind::Other,
                });
            }
            let draft = self.draft(
                caller,
                "connection.account-details",
                &conn.name,
                Outcome::Success,
                format!("account {}", account.account_id),
            );
            self.ports.store.append_audit(&draft).await?;
            Ok(account)
        })
        .await
    }

    pub async fn update_connection(
        &self,
        caller: &Caller,
        id: &str,
        req: wire::AwsConnectionUpdate,
    ) -> CoreResult<AwsConnection> {
        self.audited(caller, "connection.update", id, async move {
            caller.principal.require(Permission::ManageConnections)?;
            let mut conn = self
                .find_connection(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("AWS connection {id} not found")))?;
            let mut changed = Vec::new();
            macro_rules! set {
                ($field:ident) => {
                    if let Some(v) = req.$field {
                        conn.$field = v;
                        changed.push(stringify!($field));
                    }
                };
            }
            set!(description);
            set!(access_key_id);
            set!(assume_role_arn);
            set!(assume_role_external_id);
            set!(aws_region);
            set!(aws_sts_regional_endpoints);
            set!(cloud_name);
            set!(endpoint_url);
            if let Some(patch) = req.labels {
                merge_members(&mut conn.labels, patch);
                changed.push("labels");
            }
            if let Some(patch) = req.meta {
                merge_patch(&mut conn.meta, patch);
                changed.push("meta");
            }
            set!(products);
            let new_secret = req.secret_access_key.map(SecretString::new);
            if let Some(s) = &new_secret {
                check_secret(s.expose())?;
                changed.push("secret_access_key");
            }
            if changed.is_empty() {
                return Err(CoreError::invalid("body: nothing to change"));
            }
            if let Some(name) = &req.name
                && *name != conn.name
            {
                return Err(CoreError::invalid(format!(
                    "name: a connection's name cannot change (it is '{}')",
                    conn.name
                )));
            }
            let has_secret = new_secret.is_some() || conn.secret_sealed.is_some();
            check_connection(&conn, has_secret)?;
            if let Some(s) = &new_secret {
                conn.secret_sealed = Some(
                    self.ports
                        .vault
                        .seal(&secret_owner(&conn.id), s.expose().as_bytes())?,
                );
            }
            conn.updated_at = self.now();
            let detail = format!("changed {}", changed.join(", "));
            let draft = self.draft(
                caller,
                "connection.update",
                &conn.name,
                Outcome::Success,
                detail,
            );
            self.ports.store.update_connection(&conn, &draft).await?;
            self.ports.cloud.forget_connection(&conn.id);
            Ok(conn)
        })
        .await
    }

    pub async fn delete_connection(&self, caller: &Caller, id: &str) -> CoreResult<()> {
        self.audited(caller, "connection.delete", id, async move {
            caller.principal.require(Permission::ManageConnections)?;
            let conn = self
                .find_connection(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("AWS connection {id} not found")))?;
            let users = self.ports.store.count_kms_using_connection(&conn.id).await?;
            if users > 0 {
                return Err(CoreError::conflict(format!(
                    "AWS connection '{}' is used by {users} KMS container(s); delete or move them first",
                    conn.name
                )));
            }
            let draft = self.draft(caller, "connection.delete", &conn.name, Outcome::Success, "");
            self.ports.store.delete_connection(&conn.id, &draft).await?;
            self.ports.cloud.forget_connection(&conn.id);
            Ok(())
        })
        .await
    }

    /// What the AWS adapter needs to call AWS for this connection in this Region.
    pub(crate) fn connection_target(
        &self,
        conn: &AwsConnection,
        region: &str,
        assume_role: Option<(&str, &str)>,
    ) -> CoreResult<ConnectionTarget> {
        let secret = match &conn.secret_sealed {
            Some(sealed) => {
                let bytes = self.ports.vault.open(&secret_owner(&conn.id), sealed)?;
                let s = String::from_utf8(bytes.expose().to_vec())
                    .map_err(|_| CoreError::internal("stored secret access key is not UTF-8"))?;
                Some(SecretString::new(s))
            }
            None => None,
        };
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let (role, external) = match assume_role {
            Some((r, e)) if !r.is_empty() => (non_empty(r), non_empty(e)),
            _ => (
                non_empty(&conn.assume_role_arn),
                non_empty(&conn.assume_role_external_id),
            ),
        };
        Ok(ConnectionTarget {
            connection_id: conn.id.clone(),
            revision: rfc3339(&conn.updated_at),
            region: region.to_string(),
            endpoint_url: non_empty(&conn.endpoint_url),
            access_key_id: non_empty(&conn.access_key_id),
            secret_access_key: secret,
            assume_role_arn: role,
            assume_role_external_id: external,
            sts_regional_endpoints: conn.aws_sts_regional_endpoints == "regional",
        })
    }

    /// `POST .../connections/{id}/test`: one cheap call to AWS with these credentials.
    pub async fn test_connection(
        &self,
        caller: &Caller,
        id: &str,
    ) -> CoreResult<wire::ConnectionTestResult> {
        self.audited(caller, "connection.test", id, async move {
            caller.principal.require(Permission::ManageConnections)?;
            let conn = self
                .find_connection(id)
                .await?
                .ok_or_else(|| CoreError::not_found(format!("AWS connection {id} not found")))?;
            let target = self.connection_target(&conn, &conn.aws_region, None)?;
            let outcome = self.ports.cloud.check_connection(&target).await;
            let (ok, error) = match outcome {
                Ok(()) => (true, String::new()),
                Err(e @ (CoreError::Aws { .. } | CoreError::AwsUnavailable { .. })) => {
                    (false, e.to_string())
                }
                Err(other) => return Err(other),
            };
            // The call can take a while: only the outcome is written, so a change made to the
            // connection meanwhile (a rotated secret, say) stays as it is.
            let draft = self.draft(
                caller,
                "connection.test",
                &conn.name,
                if ok {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
                error.clone(),
            );
            self.ports
                .store
                .record_connection_test(&conn.id, ok, &error, self.now(), &draft)
                .await?;
            Ok(wire::ConnectionTestResult {
                connection_ok: ok,
                error,
            })
        })
        .await
    }
}
