use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_api::key_record::{AliasAvailable, KeyRecord, KeyRotationStatus, PublicKey};
use keyward_api::keys as wire;
use keyward_api::list::PageParams;
use keyward_api::rotations::{RotateKey, Rotation};
use keyward_api::{ErrorBody, ListEnvelope};
use keyward_core::audit::Caller;
use keyward_core::keys::KeyAction;
use keyward_core::keys::policy::PolicyInputs;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{envelope, not_found};
use crate::error::{ApiError, error_response};
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed, body_read_rejection};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::bodies::{
    AwsKey, CreateKey, KeyActionBody, KeyActionResult, VerifyAlias, VerifyAliasResult,
};
use crate::openapi::{KeyActionName, bodies};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one, remove))
        .routes(routes!(public_key))
        .routes(routes!(rotations))
        .routes(routes!(action))
        .routes(routes!(verify_alias))
        .routes(routes!(upload_key))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/keys",
    tag = "keys",
    operation_id = "create_key",
    summary = "Create an AWS KMS key in a KMS container's Region",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key record", body = AwsKey),
        (status = 404, description = "No such KMS container, template or principal", body = ErrorBody),
        (status = 409, description = "The alias exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 422, description = "Not allowed in this state", body = ErrorBody),
        (status = 502, description = "AWS refused the request", body = ErrorBody),
        (status = 503, description = "AWS is unavailable", body = ErrorBody),
    )
)]
async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<wire::CreateKey>,
) -> Result<(StatusCode, Json<KeyRecord>), ApiError> {
    let k = s.keyward.clone();
    let rec = detached(async move { k.create_key(&caller, req).await }).await?;
    Ok((StatusCode::CREATED, Json(rec.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/keys",
    tag = "keys",
    operation_id = "list_keys",
    summary = "List key records, with filters",
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Resources to skip (0 and up)"),
        ("limit" = Option<i64>, Query, minimum = -1, description = "Page size: 0 or more (10 when absent), or -1 for every resource"),
        ("sort" = Option<String>, Query, description = "Comma-separated fields to sort on, each with a `-` prefix for descending"),
        ("id" = Option<String>, Query, description = "Keyward's id of the key record"),
        ("keyid" = Option<String>, Query, description = "AWS key id"),
        ("arn" = Option<String>, Query, description = "Key ARN"),
        ("alias" = Option<String>, Query, description = "An alias of the key"),
        ("kms" = Option<String>, Query, description = "KMS container name"),
        ("kms_id" = Option<String>, Query, description = "KMS container id"),
        ("region" = Option<String>, Query, description = "AWS Region"),
        ("cloud_name" = Option<String>, Query, description = "Cloud name (aws)"),
        ("origin" = Option<String>, Query, description = "AWS_KMS, EXTERNAL, AWS_CLOUDHSM or EXTERNAL_KEY_STORE"),
        ("keystate" = Option<String>, Query, description = "Key state (Enabled, Disabled, PendingDeletion...)"),
        ("keyusage" = Option<String>, Query, description = "Key usage"),
        ("enabled" = Option<bool>, Query, description = "Enabled or not"),
        ("gone" = Option<bool>, Query, description = "Records whose key is no longer in AWS"),
        ("key_material_origin" = Option<String>, Query, description = "Where the material came from"),
        ("multi_region" = Option<bool>, Query, description = "Multi-Region keys"),
        ("multi_region_key_type" = Option<String>, Query, description = "PRIMARY or REPLICA"),
        ("rotation_job_enabled" = Option<bool>, Query, description = "Keys with a rotation job"),
        ("job_config_id" = Option<String>, Query, description = "Keys of that rotation job config"),
        ("CustomerMasterKeySpec" = Option<String>, Query, description = "Key spec"),
        ("tags" = Option<String>, Query, description = "`key` or `key=value`, several separated by commas: keys that carry these tags"),
        ("expiring_within" = Option<String>, Query, description = "`30d` or `12h`: keys whose imported material expires within that window"),
    ),
    responses((status = 200, description = "A page of key records", body = ListEnvelope<AwsKey>))
)]
async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(params): ApiQuery<wire::KeyListParams>,
) -> Result<Json<ListEnvelope<KeyRecord>>, ApiError> {
    let (query, page) = s.keyward.list_keys(&caller, params).await?;
    Ok(Json(envelope(&query, page, |r| r.to_wire())))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/keys/{id}",
    tag = "keys",
    operation_id = "get_key",
    summary = "One key record",
    params(("id" = String, Path, description = "Keyward's id of the key record")),
    responses(
        (status = 200, description = "The key record", body = AwsKey),
        (status = 404, description = "No such key record", body = ErrorBody),
    )
)]
async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<KeyRecord>, ApiError> {
    Ok(Json(s.keyward.get_key(&caller, &id).await?.to_wire()))
}

#[utoipa::path(
    get,
    path = "/cckm/aws/keys/{id}/rotations",
    tag = "keys",
    operation_id = "list_key_rotations",
    summary = "The rotations of a key",
    params(
        ("id" = String, Path, description = "Keyward's id of the key record"),
        ("skip" = Option<i64>, Query, minimum = 0, description = "Resources to skip (0 and up)"),
        ("limit" = Option<i64>, Query, minimum = -1, description = "Page size: 0 or more (10 when absent), or -1 for every resource"),
        ("sort" = Option<String>, Query, description = "Comma-separated fields to sort on, each with a `-` prefix for descending"),
    ),
    responses(
        (status = 200, description = "A page of rotations", body = ListEnvelope<Rotation>),
        (status = 404, description = "No such key record", body = ErrorBody),
    )
)]
async fn rotations(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Rotation>>, ApiError> {
    let (query, items) = s.keyward.list_rotations(&caller, &id, &page).await?;
    Ok(Json(envelope(&query, items, |r| r.to_wire())))
}

#[utoipa::path(
    delete,
    path = "/cckm/aws/keys/{id}",
    tag = "keys",
    operation_id = "delete_key_record",
    summary = "Forget a key record (the AWS key stays; schedule-deletion deletes it)",
    params(("id" = String, Path, description = "Keyward's id of the key record")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key record", body = ErrorBody),
        (status = 409, description = "The record is in use", body = ErrorBody),
        (status = 422, description = "Not allowed in this state", body = ErrorBody),
    )
)]
async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_key_record(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/cckm/aws/keys/{id}/download-public-key",
    tag = "keys",
    operation_id = "download_public_key",
    summary = "The public key of an asymmetric key",
    params(("id" = String, Path, description = "Keyward's id of the key record")),
    responses(
        (status = 200, description = "The public key", body = PublicKey),
        (status = 404, description = "No such key record", body = ErrorBody),
        (status = 422, description = "Not an asymmetric key, or not in a state to give it", body = ErrorBody),
        (status = 502, description = "AWS refused the request", body = ErrorBody),
        (status = 503, description = "AWS is unavailable", body = ErrorBody),
    )
)]
async fn public_key(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<PublicKey>, ApiError> {
    Ok(Json(
        s.keyward.download_public_key(&caller, &id).await?.to_wire(),
    ))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/upload-key",
    tag = "keys",
    operation_id = "upload_key",
    summary = "Create an AWS key with material from a source key (BYOK)",
    request_body = bodies::UploadKey,
    responses(
        (status = 201, description = "The key record", body = AwsKey),
        (status = 404, description = "No such KMS container or source key", body = ErrorBody),
        (status = 409, description = "The alias exists", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 422, description = "Not allowed in this state", body = ErrorBody),
        (status = 502, description = "AWS refused the request", body = ErrorBody),
        (status = 503, description = "AWS is unavailable", body = ErrorBody),
    )
)]
async fn upload_key(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<wire::UploadKey>,
) -> Result<(StatusCode, Json<KeyRecord>), ApiError> {
    let k = s.keyward.clone();
    let rec = detached(async move { k.upload_key(&caller, req).await }).await?;
    Ok((StatusCode::CREATED, Json(rec.to_wire())))
}

#[utoipa::path(
    post,
    path = "/cckm/aws/alias/verify",
    tag = "keys",
    operation_id = "verify_alias",
    summary = "Whether an alias is free in a KMS container's Region",
    request_body = VerifyAlias,
    responses(
        (status = 200, description = "Whether the alias is free", body = VerifyAliasResult),
        (status = 404, description = "No such KMS container", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 502, description = "AWS refused the request", body = ErrorBody),
        (status = 503, description = "AWS is unavailable", body = ErrorBody),
    )
)]
async fn verify_alias(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<wire::VerifyAlias>,
) -> Result<Json<AliasAvailable>, ApiError> {
    s.keyward.verify_alias(&caller, req).await?;
    Ok(Json(AliasAvailable {
        message: "Alias available".into(),
    }))
}

/// Runs a use case that makes several AWS calls on a task of its own, so that a client that
/// disconnects (which drops the request's future) does not stop it between two calls.
async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, keyward_core::CoreError>> + Send + 'static,
{
    match tokio::spawn(work).await {
        Ok(r) => r.map_err(ApiError),
        Err(e) => Err(ApiError(keyward_core::CoreError::internal(format!(
            "the request's task stopped: {e}"
        )))),
    }
}

/// Parses an action's body by the one decoding rule (`decode.rs`); an empty body counts as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return crate::decode::decode_value(&serde_json::Value::Object(Default::default()));
    }
    crate::decode::decode(bytes)
}

fn invalid_body(message: String) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        9,
        "NCERRInvalidParamValue: Invalid parameter value",
        message,
    )
}

/// An action that takes no body: an empty body, `{}` or `null`; anything else is refused.
fn no_body(action: &str, bytes: &Bytes) -> Result<(), String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Null) => Ok(()),
        Ok(Value::Object(m)) if m.is_empty() => Ok(()),
        Ok(_) => Err(format!(
            "request body: {action} takes no body; send an empty body (or {{}})"
        )),
        Err(e) => Err(format!("request body: {e}")),
    }
}

async fn run(s: &AppState, caller: &Caller, id: &str, action: KeyAction) -> Response {
    let (k, caller, id) = (s.keyward.clone(), caller.clone(), id.to_string());
    match detached(async move { k.act_on_key(&caller, &id, action).await }).await {
        Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /cckm/aws/keys/{id}/<action>`: every action returns the updated record.
#[utoipa::path(
    post,
    path = "/cckm/aws/keys/{id}/{action}",
    tag = "keys",
    operation_id = "key_action",
    summary = "An action on a key; `replicate-key` and `rotate` answer 201, the others 200",
    description = "Actions without a body (`cancel-deletion`, `enable`, `disable`, \
        `disable-auto-rotation`, `refresh`, `get-key-rotation-status`, \
        `disable-rotation-job`) take an empty body, `{}` or `null`; `rotate-material` takes \
        those or a body with nothing set (`{\"key_expiration\":false}`).",
    params(
        ("id" = String, Path, description = "Keyward's id of the key record"),
        ("action" = KeyActionName, Path, description = "The action"),
    ),
    request_body(content = Option<KeyActionBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated key record (the rotation status for get-key-rotation-status)", body = KeyActionResult),
        (status = 201, description = "replicate-key: the replica's record; rotate: the new key's record", body = AwsKey),
        (status = 404, description = "No such key record, or no such action", body = ErrorBody),
        (status = 409, description = "Conflicts with the key's state (an alias that exists, a rotation under way)", body = ErrorBody),
        (status = 422, description = "Not allowed in the key's state", body = ErrorBody),
        (status = 502, description = "AWS refused the request", body = ErrorBody),
        (status = 503, description = "AWS is unavailable", body = ErrorBody),
    )
)]
async fn action(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path((id, name)): Path<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match raw {
        Ok(b) => b,
        Err(e) => return body_read_rejection(e.status()),
    };
    let k = s.keyward.clone();
    let parsed: Result<KeyAction, String> = match name.as_str() {
        "schedule-deletion" => {
            body::<wire::ScheduleDeletion>(&bytes).map(|b| KeyAction::ScheduleDeletion(b.days))
        }
        "cancel-deletion" => no_body(&name, &bytes).map(|_| KeyAction::CancelDeletion),
        "enable" => no_body(&name, &bytes).map(|_| KeyAction::Enable),
        "disable" => no_body(&name, &bytes).map(|_| KeyAction::Disable),
        "update-description" => body::<wire::UpdateDescription>(&bytes)
            .map(|b| KeyAction::UpdateDescription(b.description)),
        "add-tags" => body::<wire::AddTags>(&bytes).map(|b| {
            KeyAction::AddTags(
                b.tags
                    .into_iter()
                    .map(|t| (t.tag_key, t.tag_value))
                    .collect(),
            )
        }),
        "remove-tags" => body::<wire::RemoveTags>(&bytes).map(|b| KeyAction::RemoveTags(b.tags)),
        "add-alias" => body::<wire::AliasBody>(&bytes).map(|b| KeyAction::AddAlias(b.alias)),
        "delete-alias" => body::<wire::AliasBody>(&bytes).map(|b| KeyAction::DeleteAlias(b.alias)),
        "policy" => body::<wire::PolicyBody>(&bytes).map(|b| {
            KeyAction::Policy(
                PolicyInputs {
                    policy: b.policy,
                    key_admins: b.key_admins,
                    key_admins_roles: b.key_admins_roles,
                    key_users: b.key_users,
                    key_users_roles: b.key_users_roles,
                    external_accounts: b.external_accounts,
                    policytemplate: b.policytemplate,
                },
                b.bypass_policy_lockout_safety_check.unwrap_or(false),
            )
        }),
        "enable-auto-rotation" => body::<wire::EnableAutoRotation>(&bytes)
            .map(|b| KeyAction::EnableAutoRotation(b.rotation_period_in_days)),
        "disable-auto-rotation" => no_body(&name, &bytes).map(|_| KeyAction::DisableAutoRotation),
        "rotate-material" => {
            // No body, or the body of Thales' provider (Line B: RotateMaterialPayloadJSON) with
            // its members unset; any other member is refused as by the other actions that take
            // no body.
            const PROVIDER_MEMBERS: [&str; 5] = [
                "source_key_identifier",
                "source_key_tier",
                "key_material_description",
                "valid_to",
                "key_expiration",
            ];
            let provider_body = matches!(
                serde_json::from_slice::<Value>(&bytes),
                Ok(Value::Object(m)) if m.keys().all(|k| PROVIDER_MEMBERS.contains(&k.as_str()))
            );
            let checked = if provider_body {
                Ok(())
            } else {
                no_body(&name, &bytes)
            };
            return match checked.and_then(|()| {
                if provider_body {
                    body::<wire::RotateMaterial>(&bytes)
                } else {
                    Ok(wire::RotateMaterial::default())
                }
            }).and_then(|b| {
                let given = [
                    ("source_key_identifier", b.source_key_identifier.is_some()),
                    ("source_key_tier", b.source_key_tier.is_some()),
                    ("key_material_description", b.key_material_description.is_some()),
                    ("valid_to", b.valid_to.is_some()),
                    ("key_expiration", b.key_expiration == Some(true)),
                ];
                match given.iter().find(|(_, set)| *set) {
                    Some((field, _)) => Err(format!(
                        "request body: {field}: rotate-material makes AWS rotate its own material; to import new material use import-material"
                    )),
                    None => Ok(()),
                }
            }) {
                Ok(()) => match s.keyward.rotate_material(&caller, &id).await {
                    Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        "refresh" => no_body(&name, &bytes).map(|_| KeyAction::Refresh),
        "get-key-rotation-status" => {
            return match no_body(&name, &bytes) {
                Ok(()) => match s.keyward.key_rotation_status(&caller, &id).await {
                    Ok(v) => Json::<KeyRotationStatus>(v.to_wire()).into_response(),
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        "replicate-key" => {
            return match body::<wire::ReplicateKey>(&bytes) {
                Ok(req) => {
                    match detached(async move { k.replicate_key(&caller, &id, req).await }).await {
                        Ok(rec) => {
                            (StatusCode::CREATED, Json::<KeyRecord>(rec.to_wire())).into_response()
                        }
                        Err(e) => e.into_response(),
                    }
                }
                Err(m) => invalid_body(m),
            };
        }
        "enable-rotation-job" => {
            return match body::<wire::EnableRotationJob>(&bytes) {
                Ok(b) => match s.keyward.enable_rotation_job(&caller, &id, b).await {
                    Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        "rotate" => {
            return match body::<RotateKey>(&bytes) {
                Ok(req) => match s.keyward.rotate_key(&caller, &id, req).await {
                    Ok(rec) => {
                        (StatusCode::CREATED, Json::<KeyRecord>(rec.to_wire())).into_response()
                    }
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        "disable-rotation-job" => {
            return match no_body(&name, &bytes) {
                Ok(()) => match s.keyward.disable_rotation_job(&caller, &id).await {
                    Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        "import-material" => {
            return match body::<wire::ImportMaterial>(&bytes) {
                Ok(req) => {
                    match detached(async move { k.import_material(&caller, &id, req).await }).await
                    {
                        Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                        Err(e) => e.into_response(),
                    }
                }
                Err(m) => invalid_body(m),
            };
        }
        "delete-material" => {
            return match body::<wire::DeleteMaterial>(&bytes) {
                Ok(req) => {
                    match detached(async move { k.delete_material(&caller, &id, req).await }).await
                    {
                        Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                        Err(e) => e.into_response(),
                    }
                }
                Err(m) => invalid_body(m),
            };
        }
        "update-primary-region" => {
            return match body::<wire::UpdatePrimaryRegion>(&bytes) {
                Ok(req) => match s.keyward.update_primary_region(&caller, &id, req).await {
                    Ok(rec) => Json::<KeyRecord>(rec.to_wire()).into_response(),
                    Err(e) => ApiError(e).into_response(),
                },
                Err(m) => invalid_body(m),
            };
        }
        _ => return not_found().await,
    };
    match parsed {
        Ok(a) => run(&s, &caller, &id, a).await,
        Err(m) => invalid_body(m),
    }
}
