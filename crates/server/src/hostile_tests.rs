//! Hostile input against the whole router, in process: the inputs that panicked a handler
//! (issue 9), then property tests that send arbitrary JSON, text, path ids and query strings
//! to every route that takes them. Whatever comes in, the answer is never a 500 (a panicking
//! handler becomes a 500 through the catch-panic net), and every error is CipherTrust's body.
//!
//! AWS is a closed port on 127.0.0.1 (nothing leaves the machine): a request that gets as far
//! as AWS ends in a quick 503.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use keyward_core::audit::Caller;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::Settings;

struct Fixture {
    rt: tokio::runtime::Runtime,
    app: Router,
    token: String,
    _dir: tempfile::TempDir,
}

const AWS: &str = "http://127.0.0.1:9";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
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
        let (app, token) = rt.block_on(async {
            let (state, _store) = crate::app::build(&settings).await.unwrap();
            state
                .keyward
                .create_user(
                    &Caller::system(),
                    keyward_api::users::UserCreate {
                        username: "hostile-admin".into(),
                        password: "hostile-password-1".into(),
                        groups: vec!["admin".into()],
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let app = crate::app::router(state);
            let (_, v) = call(
                &app,
                Method::POST,
                "/api/v1/auth/tokens",
                None,
                json!({"grant_type": "password", "username": "hostile-admin", "password": "hostile-password-1"})
                    .to_string()
                    .into_bytes(),
            )
            .await;
            let token = v["jwt"].as_str().unwrap().to_string();
            for (path, body) in [
                (
                    "/api/v1/connectionmgmt/services/aws/connections",
                    json!({"name": "c-main", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                           "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                           "aws_region": "us-east-1", "endpoint_url": AWS}),
                ),
                (
                    "/api/v1/cckm/aws/kms",
                    json!({"name": "kms", "account_id": "000000000000", "connection": "c-main",
                           "regions": ["us-east-1"]}),
                ),
                (
                    "/api/v1/scheduler/job-configs",
                    json!({"name": "j-main", "operation": "cckm_key_rotation", "run_at": "0 * * * *"}),
                ),
                (
                    "/api/v1/vault/keys2",
                    json!({"name": "vk-main", "algorithm": "aes", "size": 256}),
                ),
                (
                    "/api/v1/cckm/aws/templates",
                    json!({"name": "t-main", "kms": "kms", "key_admins": ["a"]}),
                ),
            ] {
                let (s, v) = call(
                    &app,
                    Method::POST,
                    path,
                    Some(&token),
                    body.to_string().into_bytes(),
                )
                .await;
                assert_eq!(s, StatusCode::CREATED, "{path}: {v}");
            }
            (app, token)
        });
        Fixture {
            rt,
            app,
            token,
            _dir: dir,
        }
    })
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Body::from(body)).unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let json_type = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let bytes = axum::body::to_bytes(r.into_body(), 16 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_client_error() || status.is_server_error() {
        assert!(json_type, "{uri}: {status} without a JSON body");
        assert!(
            v["code"].is_number()
                && v["codeDesc"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("NCERR"))
                && v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{uri}: {status} not in CipherTrust's shape: {v}"
        );
    }
    (status, v)
}

/// Sends a request and checks the answer is not a 500; returns status and body.
fn send(method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let f = fixture();
    let (s, v) =
        f.rt.block_on(call(&f.app, method.clone(), uri, Some(&f.token), body));
    assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "{method} {uri}: {v}");
    (s, v)
}

#[test]
fn the_inputs_that_panicked_are_400s_naming_the_field() {
    let (s, v) = send(
        Method::GET,
        "/api/v1/cckm/aws/keys?expiring_within=99999999999999999d",
        vec![],
    );
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("expiring_within: ")
    );
    for (field, value) in [
        ("expiration", "106751991167301d"),
        ("expiration", "9223372036854775807h"),
        ("expire_in", "106751991167301d"),
        ("expire_in", "9223372036854775807h"),
        ("expire_in", "99999999999999999999d"),
    ] {
        let params = json!({ field: value });
        let (s, v) = send(
            Method::POST,
            "/api/v1/scheduler/job-configs",
            json!({"name": "j-overflow", "operation": "cckm_key_rotation", "run_at": "0 * * * *",
                   "cckm_key_rotation_params": params})
            .to_string()
            .into_bytes(),
        );
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        let m = v["message"].as_str().unwrap();
        assert!(
            m.starts_with(&format!("cckm_key_rotation_params.{field}: ")),
            "{m}"
        );
        let (s, v) = send(
            Method::PATCH,
            "/api/v1/scheduler/job-configs/j-main",
            json!({"cckm_key_rotation_params": params})
                .to_string()
                .into_bytes(),
        );
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    // Times outside what RFC 3339 years Keyward takes.
    let (s, v) = send(
        Method::PATCH,
        "/api/v1/scheduler/job-configs/j-main",
        json!({"start_date": "0000-01-01T00:00:00Z"})
            .to_string()
            .into_bytes(),
    );
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("start_date: "));
}

/// Routes that take a body, each with a body that passes its checks (so that a hostile value
/// in one field gets as far as that field's rules).
fn bodies() -> Vec<(Method, &'static str, Value)> {
    let keys = "/api/v1/cckm/aws/keys";
    let no_key = "/api/v1/cckm/aws/keys/00000000-0000-4000-8000-000000000000";
    let mut v = vec![
        (
            Method::POST,
            "/api/v1/usermgmt/users",
            json!({"username": "u-hostile", "password": "password-123", "groups": ["CCKM Users"]}),
        ),
        (
            Method::POST,
            "/api/v1/connectionmgmt/services/aws/connections",
            json!({"name": "c2", "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                   "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                   "aws_region": "us-east-1", "endpoint_url": AWS, "labels": {"a": "b"}}),
        ),
        (
            Method::PATCH,
            "/api/v1/connectionmgmt/services/aws/connections/c-main",
            json!({"description": "x", "endpoint_url": AWS}),
        ),
        (
            Method::POST,
            "/api/v1/cckm/aws/kms",
            json!({"name": "k2", "account_id": "000000000000", "connection": "c-main",
                   "regions": ["us-east-1"]}),
        ),
        (
            Method::PATCH,
            "/api/v1/cckm/aws/kms/kms",
            json!({"regions": ["us-east-1"]}),
        ),
        (
            Method::POST,
            keys,
            json!({"kms": "kms", "region": "us-east-1", "aws_param": {"Alias": "a1",
                   "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS",
                   "Description": "d", "Tags": [{"TagKey": "k", "TagValue": "v"}]}}),
        ),
        (
            Method::POST,
            "/api/v1/cckm/aws/alias/verify",
            json!({"alias": "a", "region": "us-east-1", "kms": "kms"}),
        ),
        (
            Method::POST,
            "/api/v1/cckm/aws/upload-key",
            json!({"kms": "kms", "region": "us-east-1", "source_key_identifier": "vk-main",
                   "key_expiration": true, "valid_to": "2027-01-01T00:00:00Z",
                   "aws_param": {"Alias": "u"}}),
        ),
        (
            Method::POST,
            "/api/v1/cckm/aws/templates",
            json!({"name": "t2", "kms": "kms", "key_users": ["u"]}),
        ),
        (
            Method::POST,
            "/api/v1/scheduler/job-configs",
            json!({"name": "j2", "operation": "cckm_key_rotation", "run_at": "0 * * * *",
                   "start_date": "2027-01-01T00:00:00Z",
                   "cckm_key_rotation_params": {"expiration": "30d", "expire_in": "10d"}}),
        ),
        (
            Method::PATCH,
            "/api/v1/scheduler/job-configs/j-main",
            json!({"run_at": "0 2 * * *", "cckm_key_rotation_params": {"expiration": "30d"}}),
        ),
        (
            Method::POST,
            "/api/v1/vault/keys2",
            json!({"name": "vk2", "algorithm": "aes", "size": 256}),
        ),
        (
            Method::POST,
            "/api/v1/cckm/aws/synchronization-jobs",
            json!({"kms": ["kms"], "regions": ["us-east-1"]}),
        ),
    ];
    for (action, body) in [
        ("schedule-deletion", json!({"days": 7})),
        ("update-description", json!({"description": "d"})),
        (
            "add-tags",
            json!({"tags": [{"tag_key": "k", "tag_value": "v"}]}),
        ),
        ("remove-tags", json!({"tags": ["k"]})),
        ("add-alias", json!({"alias": "a"})),
        ("policy", json!({"key_users": ["u"]})),
        (
            "enable-auto-rotation",
            json!({"rotation_period_in_days": 90}),
        ),
        ("replicate-key", json!({"replica_region": "us-west-2"})),
        ("enable-rotation-job", json!({"job_config_id": "j-main"})),
        ("rotate", json!({})),
        (
            "import-material",
            json!({"key_expiration": true, "valid_to": "2027-01-01T00:00:00Z"}),
        ),
        (
            "update-primary-region",
            json!({"PrimaryRegion": "us-east-1"}),
        ),
        ("enable", json!({})),
        ("refresh", json!(null)),
    ] {
        let path: &'static str = Box::leak(format!("{no_key}/{action}").into_boxed_str());
        v.push((Method::POST, path, body));
    }
    v
}

fn hostile_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(i64::MIN)),
        Just(json!(1e308)),
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec![
            "99999999999999999d",
            "106751991167301d",
            "9223372036854775807h",
            "0d",
            "é",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:60Z",
            "+262143-01-01T00:00:00Z",
            "http://user:pass@host",
            "0b7f1a52-6c1e-4d4e-9a55-8f6f3e0f9f10",
            "%FF",
            "\u{0}",
            "0 0 30 2 *",
            "alias/",
            "us-east-1",
            "kms",
        ])
        .prop_map(Value::from),
        "[a-z0-9 /*-]{0,300}".prop_map(Value::from),
    ]
}

fn hostile_json() -> impl Strategy<Value = Value> {
    hostile_leaf().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the value at one key of `body` (top level or one object below) by `with`.
fn mutate(body: &Value, pick: usize, deep: bool, with: Value) -> Value {
    let mut b = body.clone();
    let Some(obj) = b.as_object_mut() else {
        return with;
    };
    let keys: Vec<String> = obj.keys().cloned().collect();
    if keys.is_empty() {
        obj.insert("extra".into(), with);
        return b;
    }
    let k = &keys[pick % keys.len()];
    match obj.get_mut(k) {
        Some(Value::Object(inner)) if deep && !inner.is_empty() => {
            let ik: Vec<String> = inner.keys().cloned().collect();
            let ik = &ik[pick / keys.len() % ik.len()];
            inner.insert(ik.clone(), with);
        }
        Some(slot) => *slot = with,
        None => {}
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// One field of a valid body replaced by a hostile value, on every route with a body.
    #[test]
    fn a_hostile_field_in_any_body_is_never_a_500(route in any::<prop::sample::Index>(), pick in 0usize..64, deep in any::<bool>(), with in hostile_json()) {
        let routes = bodies();
        let (method, path, body) = &routes[route.index(routes.len())];
        let body = mutate(body, pick, deep, with);
        send(method.clone(), path, body.to_string().into_bytes());
    }

    /// Whole bodies of arbitrary JSON or bytes.
    #[test]
    fn any_body_is_never_a_500(route in any::<prop::sample::Index>(), json in hostile_json(), bytes in prop::collection::vec(any::<u8>(), 0..64), raw in any::<bool>()) {
        let routes = bodies();
        let (method, path, _) = &routes[route.index(routes.len())];
        let body = if raw { bytes } else { json.to_string().into_bytes() };
        send(method.clone(), path, body);
    }

    /// Arbitrary ids in every path that takes one, percent-encoded or as raw bytes.
    #[test]
    fn any_path_id_is_never_a_500(id in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 1..12), raw in any::<bool>(), route in 0usize..14) {
        let enc: String = if raw {
            bytes.iter().map(|b| format!("%{b:02X}")).collect()
        } else {
            id.bytes().map(|b| format!("%{b:02X}")).collect()
        };
        let enc = if enc.is_empty() { "%20".to_string() } else { enc };
        let (method, path) = match route {
            0 => (Method::GET, format!("/api/v1/cckm/aws/keys/{enc}")),
            1 => (Method::POST, format!("/api/v1/cckm/aws/keys/{enc}/refresh")),
            2 => (Method::POST, format!("/api/v1/cckm/aws/keys/00000000-0000-4000-8000-000000000000/{enc}")),
            3 => (Method::GET, format!("/api/v1/cckm/aws/kms/{enc}")),
            4 => (Method::GET, format!("/api/v1/connectionmgmt/services/aws/connections/{enc}")),
            5 => (Method::GET, format!("/api/v1/usermgmt/users/{enc}")),
            6 => (Method::GET, format!("/api/v1/vault/keys2/{enc}")),
            7 => (Method::GET, format!("/api/v1/scheduler/job-configs/{enc}")),
            8 => (Method::GET, format!("/api/v1/scheduler/job-runs/{enc}")),
            9 => (Method::GET, format!("/api/v1/cckm/aws/templates/{enc}")),
            10 => (Method::GET, format!("/api/v1/cckm/aws/synchronization-jobs/{enc}")),
            11 => (Method::DELETE, format!("/api/v1/auth/tokens/{enc}")),
            12 => (Method::GET, format!("/api/v1/cckm/aws/keys/{enc}/rotations")),
            _ => (Method::DELETE, format!("/api/v1/cckm/aws/templates/{enc}")),
        };
        let (s, v) = send(method, &path, vec![]);
        if raw && std::str::from_utf8(&bytes).is_err() {
            // Not UTF-8: a 400 that says so (it was a plain-text body), or 404 when the
            // route itself does not match.
            prop_assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND, "{path}: {s} {v}");
        }
    }

    /// Arbitrary query strings on every list.
    #[test]
    fn any_query_is_never_a_500(key in prop::sample::select(vec![
        "skip", "limit", "sort", "expiring_within", "tags", "alias", "keystate", "origin",
        "enabled", "gone", "name", "CustomerMasterKeySpec", "job_config_id", "kms", "region",
    ]), value in any::<String>(), hostile in hostile_leaf(), route in 0usize..9) {
        let value = if let Value::String(s) = &hostile { s.clone() } else if value.is_empty() { hostile.to_string() } else { value };
        let q = serde_urlencoded::to_string([(key, value)]).unwrap();
        let path = [
            "/api/v1/cckm/aws/keys",
            "/api/v1/cckm/aws/kms",
            "/api/v1/usermgmt/users",
            "/api/v1/vault/keys2",
            "/api/v1/scheduler/job-configs",
            "/api/v1/scheduler/job-runs",
            "/api/v1/cckm/aws/templates",
            "/api/v1/cckm/aws/synchronization-jobs",
            "/api/v1/audit/records",
        ][route];
        send(Method::GET, &format!("{path}?{q}"), vec![]);
    }
}

/// The base bodies pass their routes' checks, so the mutations above reach each field's rules
/// (an action on a key that does not exist is a 404 after its body was read).
#[test]
fn the_base_bodies_are_valid() {
    for (method, path, body) in bodies() {
        let (s, v) = send(method.clone(), path, body.to_string().into_bytes());
        assert!(
            matches!(s.as_u16(), 200 | 201 | 404 | 409 | 503 | 502),
            "{method} {path}: {s} {v}"
        );
    }
}
