//! The OpenAPI 3.1 document of the HTTP API, generated from the routes' `#[utoipa::path]`
//! annotations and the `keyward_api` types: the router and the document come from one list
//! (`routes::api`, utoipa-axum's `routes!`), so a route cannot be served without being
//! documented. Served without a token at `GET /api/v1/openapi.json`; a browsable reference
//! (Swagger UI, assets embedded in the binary) at `/api/docs`.
//!
//! What every operation shares is added here once: the bearer scheme ([`Common`]), the error
//! answers any route can give (400 for a path, query or body the server cannot read, 401
//! without a valid token, 403 without the permission, 413 for a body over the limit) and the
//! `Idempotency-Key` header of the `POST`s ([`document`]).
//! Each route's annotation lists its own answers (success, 404, 409, 422, 429, 502, 503...).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use keyward_api::ErrorBody;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Names the route annotations use for the bodies of the AWS key, template, scheduler, sync
/// and vault routes: the `keyward_api` types, plus two unions only the document needs (a key
/// action's body and answer depend on the action).
pub mod bodies {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    pub use keyward_api::admin::KekRotation;
    pub use keyward_api::key_record::{
        AliasAvailable as VerifyAliasResult, KeyRecord as AwsKey, KeyRotationStatus, PublicKey,
    };
    pub use keyward_api::keys::{CreateKey, UploadKey, VerifyAlias};
    pub use keyward_api::rotations::Rotation;
    pub use keyward_api::scheduler::{JobConfig, JobConfigCreate, JobConfigUpdate, JobRun};
    pub use keyward_api::sync::{StartSync, SyncJob};
    pub use keyward_api::templates::{
        PolicyTemplate as Template, TemplateCreate, TemplateUpdate, TemplateUpdated,
    };
    pub use keyward_api::vault::{VaultKey, VaultKeyCreate};

    /// The body of `POST /cckm/aws/keys/{id}/{action}`: the one of that action (none for
    /// enable, disable, cancel-deletion, rotate-material, refresh, disable-auto-rotation,
    /// disable-rotation-job, get-key-rotation-status).
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(untagged)]
    #[allow(clippy::large_enum_variant)] // only ever a schema: never built at run time
    pub enum KeyActionBody {
        ScheduleDeletion(keyward_api::keys::ScheduleDeletion),
        UpdateDescription(keyward_api::keys::UpdateDescription),
        AddTags(keyward_api::keys::AddTags),
        RemoveTags(keyward_api::keys::RemoveTags),
        Alias(keyward_api::keys::AliasBody),
        Policy(keyward_api::keys::PolicyBody),
        EnableAutoRotation(keyward_api::keys::EnableAutoRotation),
        ReplicateKey(keyward_api::keys::ReplicateKey),
        UpdatePrimaryRegion(keyward_api::keys::UpdatePrimaryRegion),
        EnableRotationJob(keyward_api::keys::EnableRotationJob),
        Rotate(keyward_api::rotations::RotateKey),
        ImportMaterial(keyward_api::keys::ImportMaterial),
        DeleteMaterial(keyward_api::keys::DeleteMaterial),
        RotateMaterial(keyward_api::keys::RotateMaterial),
    }

    /// The answer of a key action: the key record (of the replica for replicate-key, of the
    /// new key for rotate), or the rotation status for get-key-rotation-status.
    #[derive(Debug, Serialize, Deserialize, ToSchema)]
    #[serde(untagged)]
    pub enum KeyActionResult {
        Record(Box<AwsKey>),
        RotationStatus(KeyRotationStatus),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "CipherTrust CCKM's REST API over AWS KMS. Every route but the token \
            endpoints, the password change, `/healthz`, `/metrics` and this document wants \
            `Authorization: Bearer <jwt>` (from `POST /api/v1/auth/tokens`). Errors have \
            CipherTrust's body: `{\"code\", \"codeDesc\", \"message\"}`."
    ),
    components(schemas(ErrorBody, KeyActionName)),
    security(("bearer" = [])),
    modifiers(&Common),
    tags(
        (name = "auth", description = "Tokens and password change"),
        (name = "users", description = "User management"),
        (name = "connections", description = "AWS connections"),
        (name = "kms", description = "KMS containers (AWS accounts and Regions)"),
        (name = "keys", description = "AWS KMS keys"),
        (name = "templates", description = "Key templates"),
        (name = "sync", description = "Synchronization jobs"),
        (name = "scheduler", description = "Job configs and job runs"),
        (name = "vault", description = "Keys kept in Keyward's vault"),
        (name = "audit", description = "The audit trail"),
        (name = "admin", description = "Administration"),
        (name = "meta", description = "Health, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The error answer of status `status`, with CipherTrust's error body.
pub fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// Adds what every operation shares: the bearer scheme and the common error answers.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The `jwt` of `POST /api/v1/auth/tokens`"))
                    .build(),
            ),
        );
    }
}

/// The common answers, added once the paths are in the document (the `OpenApi` derive's
/// modifiers run before utoipa-axum merges the routes' paths).
fn add_common_answers(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if let Some(op) = item.post.as_mut()
            && !path.starts_with("/api/v1/auth/")
        {
            add_idempotency_key(op);
        }
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_to_operation(op);
        }
    }
}

/// The optional `Idempotency-Key` header of every `POST` but `/auth/...`
/// (`crate::idempotency`), and what it can answer besides the route's own answers.
fn add_idempotency_key(op: &mut Operation) {
    let header = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the request safe to retry: a repeat with the same key, route and body gets \
             the first answer again (header `Idempotent-Replayed: true`)",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[!-~]{1,255}$"))
                .min_length(Some(1))
                .max_length(Some(255)),
        ))
        .build();
    op.parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(header));
    let answers = &mut op.responses.responses;
    answers.entry("409".into()).or_insert_with(|| {
        RefOr::T(error_response(
            "A request with this Idempotency-Key is still being answered",
        ))
    });
    answers.entry("422".into()).or_insert_with(|| {
        RefOr::T(error_response(
            "This Idempotency-Key was used with another route or body",
        ))
    });
}

fn add_to_operation(op: &mut Operation) {
    // `security(())` on a route marks it public: an empty requirement.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    let reads_input =
        op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some();
    let answers = &mut op.responses.responses;
    let mut add = |status: &str, description: &str| {
        answers
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(error_response(description)));
    };
    if reads_input {
        add(
            "400",
            "A path, query or body the server cannot read, or a value out of range",
        );
    }
    if !public {
        add("401", "No token, or a token that is not valid (or expired)");
        add("403", "The caller's groups do not allow this");
    }
    if op.request_body.is_some() {
        add("413", "The body is larger than the server accepts");
    }
}

/// The document, built once from the routes.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = crate::routes::api().split_for_parts().1;
        add_common_answers(&mut doc);
        doc
    })
}

fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_string(document()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            "{}".into()
        })
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// The browsable reference at `/api/docs`, from Swagger UI's assets embedded in the binary;
/// it reads `/api/v1/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/api/docs").config(Config::new(["/api/v1/openapi.json"]))
}

/// The actions of `POST /cckm/aws/keys/{id}/{action}` (for the document; the route matches
/// them by name).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum KeyActionName {
    ScheduleDeletion,
    CancelDeletion,
    Enable,
    Disable,
    UpdateDescription,
    AddTags,
    RemoveTags,
    AddAlias,
    DeleteAlias,
    Policy,
    EnableAutoRotation,
    DisableAutoRotation,
    RotateMaterial,
    Refresh,
    GetKeyRotationStatus,
    ReplicateKey,
    EnableRotationJob,
    Rotate,
    DisableRotationJob,
    ImportMaterial,
    DeleteMaterial,
    UpdatePrimaryRegion,
}

#[cfg(test)]
mod tests {
    //! The document covers the router: every documented operation reaches its handler, every
    //! route module registers its routes through `routes!` (so into the document), and the
    //! document and the reference are served without a token.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::{Method, StatusCode, header};
    use keyward_core::audit::Caller;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::Settings;

    async fn send(
        app: &Router,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let r = app
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The answer of the router's fallback: no route matched.
    fn unrouted(status: StatusCode, body: &str) -> bool {
        status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND && body.contains("no such route"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_documented_operation_reaches_a_handler() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data").display().to_string(),
            scheduler_tick_secs: 0,
            aws_max_attempts: 1,
            aws_connect_timeout_secs: 1,
            aws_attempt_timeout_secs: 1,
            aws_operation_timeout_secs: 2,
            ..Settings::default()
        };
        let (state, _store) = crate::app::build(&settings).await.unwrap();
        state
            .keyward
            .create_user(
                &Caller::system(),
                keyward_api::users::UserCreate {
                    username: "doc-admin".into(),
                    password: "doc-admin-password-1".into(),
                    groups: vec!["admin".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let app = crate::app::router(state);
        let (s, body) = send(
            &app,
            Method::POST,
            "/api/v1/auth/tokens",
            None,
            r#"{"username":"doc-admin","password":"doc-admin-password-1"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let token = serde_json::from_str::<Value>(&body).unwrap()["jwt"]
            .as_str()
            .unwrap()
            .to_string();

        // The document is served without a token, and is what `document()` holds.
        let (s, body) = send(&app, Method::GET, "/api/v1/openapi.json", None, "").await;
        assert_eq!(s, StatusCode::OK);
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc, serde_json::to_value(super::document()).unwrap());
        if let Ok(out) = std::env::var("KEYWARD_OPENAPI_OUT") {
            std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }

        let actions: Vec<String> = doc["components"]["schemas"]["KeyActionName"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("the key actions are an enum: {doc}"))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(actions.len(), 22);

        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let method: Method = method.to_uppercase().parse().unwrap();
                let body = if op.get("requestBody").is_some() {
                    "{}"
                } else {
                    ""
                };
                let uris: Vec<String> = if path.contains("{action}") {
                    actions
                        .iter()
                        .map(|a| path.replace("{id}", "no-such-id").replace("{action}", a))
                        .collect()
                } else {
                    vec![path.replace("{id}", "no-such-id")]
                };
                for uri in uris {
                    let (s, answer) = send(&app, method.clone(), &uri, Some(&token), body).await;
                    assert!(
                        !unrouted(s, &answer),
                        "{method} {uri} is in the document but not routed: {s} {answer}"
                    );
                    assert!(!s.is_server_error(), "{method} {uri}: {s} {answer}");
                    operations += 1;
                }
            }
        }
        assert!(operations > 50, "{operations}");

        // An action the handler does not know is the router's 404, as the check above expects.
        let (s, answer) = send(
            &app,
            Method::POST,
            "/api/v1/cckm/aws/keys/no-such-id/no-such-action",
            Some(&token),
            "",
        )
        .await;
        assert!(unrouted(s, &answer), "{s} {answer}");

        // The browsable reference, from the embedded assets.
        let (s, page) = send(&app, Method::GET, "/api/docs/", None, "").await;
        assert_eq!(s, StatusCode::OK);
        assert!(page.contains("swagger"), "{page}");
        let (s, _) = send(&app, Method::GET, "/api/docs/swagger-ui.css", None, "").await;
        assert_eq!(s, StatusCode::OK);
    }

    /// Every route module registers its routes with `routes!`, which puts them in the
    /// document: a plain `.route(` (which `OpenApiRouter` also has) would serve a route the
    /// document does not know.
    #[test]
    fn route_modules_register_only_through_routes_macro() {
        let modules = [
            ("admin", include_str!("routes/admin.rs")),
            ("accounts", include_str!("routes/accounts.rs")),
            ("audit", include_str!("routes/audit.rs")),
            ("auth", include_str!("routes/auth.rs")),
            ("connections", include_str!("routes/connections.rs")),
            ("health", include_str!("routes/health.rs")),
            ("keys", include_str!("routes/keys.rs")),
            ("kms", include_str!("routes/kms.rs")),
            ("mod", include_str!("routes/mod.rs")),
            ("scheduler", include_str!("routes/scheduler.rs")),
            ("sync", include_str!("routes/sync.rs")),
            ("templates", include_str!("routes/templates.rs")),
            ("users", include_str!("routes/users.rs")),
            ("vault", include_str!("routes/vault.rs")),
        ];
        for (name, text) in modules {
            let text = text.replace("OpenApiRouter::new()", "");
            for bad in [
                ".route(",
                ".route_service(",
                ".nest_service(",
                "Router::new()",
            ] {
                assert!(
                    !text.contains(bad),
                    "routes/{name}.rs registers a route with `{bad}`: use `.routes(routes!(..))`"
                );
            }
        }
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes"))
            .unwrap()
            .count();
        assert_eq!(
            files,
            modules.len(),
            "a route module is missing from this test"
        );
    }
}
