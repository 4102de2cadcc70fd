//! Conversions between rows and domain values.

use chrono::{DateTime, SecondsFormat, Utc};
use keyward_core::CoreError;
use keyward_core::audit::AuditEntry;
use keyward_core::auth::RefreshToken;
use keyward_core::connections::AwsConnection;
use keyward_core::kms::KmsContainer;
use keyward_core::users::User;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

pub fn db_err(e: sqlx::Error) -> CoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return CoreError::conflict("a record with that name already exists");
        }
        if d.is_foreign_key_violation() {
            return CoreError::conflict("the record is still referenced by another record");
        }
    }
    CoreError::internal(format!("database: {e}"))
}

fn decode_err(what: &str) -> CoreError {
    CoreError::internal(format!("database: stored {what} is malformed"))
}

pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn opt_ts(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(ts)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, CoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| decode_err("timestamp"))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> Result<T, CoreError> {
    row.try_get(col).map_err(db_err)
}

fn time(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>, CoreError> {
    parse_ts(&get::<String>(row, col)?)
}

fn opt_time(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>, CoreError> {
    get::<Option<String>>(row, col)?
        .as_deref()
        .map(parse_ts)
        .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    col: &str,
) -> Result<T, CoreError> {
    serde_json::from_str(&get::<String>(row, col)?).map_err(|_| decode_err(col))
}

/// A record as the JSON stored in its row; `what` names it in the error.
pub(crate) fn encode<T: serde::Serialize>(v: &T, what: &str) -> Result<String, CoreError> {
    serde_json::to_string(v).map_err(|e| CoreError::internal(format!("encoding a {what}: {e}")))
}

pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub fn user(row: &SqliteRow) -> Result<User, CoreError> {
    Ok(User {
        id: get(row, "id")?,
        username: get(row, "username")?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        groups: json(row, "groups_json")?,
        password_hash: get(row, "password_hash")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_login: opt_time(row, "last_login")?,
        failed_logins: get(row, "failed_logins")?,
        last_failed_at: opt_time(row, "last_failed_at")?,
        locked_until: opt_time(row, "locked_until")?,
    })
}

pub fn refresh_token(row: &SqliteRow) -> Result<RefreshToken, CoreError> {
    Ok(RefreshToken {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        digest: get(row, "digest")?,
        client_id: get(row, "client_id")?,
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

pub fn connection(row: &SqliteRow) -> Result<AwsConnection, CoreError> {
    Ok(AwsConnection {
        id: get(row, "id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        access_key_id: get(row, "access_key_id")?,
        secret_sealed: get(row, "secret_sealed")?,
        assume_role_arn: get(row, "assume_role_arn")?,
        assume_role_external_id: get(row, "assume_role_external_id")?,
        aws_region: get(row, "aws_region")?,
        aws_sts_regional_endpoints: get(row, "aws_sts_regional_endpoints")?,
        cloud_name: get(row, "cloud_name")?,
        endpoint_url: get(row, "endpoint_url")?,
        labels: json(row, "labels_json")?,
        meta: json(row, "meta_json")?,
        products: json(row, "products_json")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_connection_ok: get(row, "last_connection_ok")?,
        last_connection_error: get(row, "last_connection_error")?,
        last_connection_at: opt_time(row, "last_connection_at")?,
    })
}

pub fn kms(row: &SqliteRow) -> Result<KmsContainer, CoreError> {
    Ok(KmsContainer {
        id: get(row, "id")?,
        name: get(row, "name")?,
        account_id: get(row, "account_id")?,
        connection_id: get(row, "connection_id")?,
        connection_ref: get(row, "connection_ref")?,
        regions: json(row, "regions_json")?,
        assume_role_arn: get(row, "assume_role_arn")?,
        assume_role_external_id: get(row, "assume_role_external_id")?,
        status: get(row, "status")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn audit(row: &SqliteRow) -> Result<AuditEntry, CoreError> {
    Ok(AuditEntry {
        seq: get(row, "seq")?,
        id: get(row, "id")?,
        at: time(row, "at")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        outcome: get(row, "outcome")?,
        detail: get(row, "detail")?,
        request_id: get(row, "request_id")?,
        prev_hash: get(row, "prev_hash")?,
        hash: get(row, "hash")?,
    })
}
