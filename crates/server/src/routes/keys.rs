use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keyward_api::ListEnvelope;
use keyward_api::key_record::{AliasAvailable, KeyRecord, KeyRotationStatus, PublicKey};
use keyward_api::keys as wire;
use keyward_api::list::PageParams;
use keyward_api::rotations::{RotateKey, Rotation};
use keyward_core::audit::Caller;
use keyward_core::keys::KeyAction;
use keyward_core::keys::policy::PolicyInputs;
use keyward_core::keys::rotation_job::EnableRotationJob;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{envelope, not_found};
use crate::error::{ApiError, error_response};
use crate::extract::ApiPath as Path;
use crate::extract::{ApiJson, ApiQuery, Authed, body_read_rejection};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/cckm/aws/keys", get(list).post(create))
        .route("/cckm/aws/keys/{id}", get(one).delete(remove))
        .route("/cckm/aws/keys/{id}/download-public-key", get(public_key))
        .route("/cckm/aws/keys/{id}/rotations", get(rotations))
        .route("/cckm/aws/keys/{id}/{action}", post(action))
        .route("/cckm/aws/alias/verify", post(verify_alias))
        .route("/cckm/aws/upload-key", post(upload_key))
}

async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<wire::CreateKey>,
) -> Result<(StatusCode, Json<KeyRecord>), ApiError> {
    let k = s.keyward.clone();
    let rec = detached(async move { k.create_key(&caller, req).await }).await?;
    Ok((StatusCode::CREATED, Json(rec.to_wire())))
}

async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiQuery(params): ApiQuery<wire::KeyListParams>,
) -> Result<Json<ListEnvelope<KeyRecord>>, ApiError> {
    let (query, page) = s.keyward.list_keys(&caller, params).await?;
    Ok(Json(envelope(&query, page, |r| r.to_wire())))
}

async fn one(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<KeyRecord>, ApiError> {
    Ok(Json(s.keyward.get_key(&caller, &id).await?.to_wire()))
}

async fn rotations(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<ListEnvelope<Rotation>>, ApiError> {
    let (query, items) = s.keyward.list_rotations(&caller, &id, &page).await?;
    Ok(Json(envelope(&query, items, |r| r.to_wire())))
}

async fn remove(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.keyward.delete_key_record(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn public_key(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Json<PublicKey>, ApiError> {
    Ok(Json(
        s.keyward.download_public_key(&caller, &id).await?.to_wire(),
    ))
}

async fn upload_key(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(req): ApiJson<wire::UploadKey>,
) -> Result<(StatusCode, Json<KeyRecord>), ApiError> {
    let k = s.keyward.clone();
    let rec = detached(async move { k.upload_key(&caller, req).await }).await?;
    Ok((StatusCode::CREATED, Json(rec.to_wire())))
}

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

/// Parses an action's body; an empty body counts as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // The error names the field at fault (`retain_alias: invalid type ...`).
    let mut de = serde_json::Deserializer::from_slice(slice);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("request body: {}", e.into_inner())
        } else {
            format!("request body: {path}: {}", e.into_inner())
        }
    })?;
    de.end().map_err(|e| format!("request body: {e}"))?;
    Ok(value)
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
            return match no_body(&name, &bytes) {
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
                Ok(b) => match s
                    .keyward
                    .enable_rotation_job(
                        &caller,
                        &id,
                        EnableRotationJob {
                            job_config_id: b.job_config_id,
                            auto_rotate_key_source: b.auto_rotate_key_source,
                            auto_rotate_disable_encrypt: b.auto_rotate_disable_encrypt,
                            auto_rotate_disable_encrypt_on_all_accounts: b
                                .auto_rotate_disable_encrypt_on_all_accounts,
                        },
                    )
                    .await
                {
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
