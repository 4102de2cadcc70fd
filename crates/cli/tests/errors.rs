//! Errors in CipherTrust's shape for every kind of failure, request ids in responses, logs
//! and the audit trail, and the list envelope with paging and sorting.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Reply, Server, reply};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

const USERS: &str = "/api/v1/usermgmt/users";
const TOKENS: &str = "/api/v1/auth/tokens";

/// Asserts the CipherTrust error body exactly: only `code` (a number), `codeDesc`
/// (`NCERR<Name>: <text>`) and `message` (non-empty), and a request id header.
fn assert_error_shape(r: &Reply, status: u16) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {}", r.body));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "codeDesc", "message"], "body: {}", r.body);
    assert!(r.body["code"].is_u64(), "code is a number: {}", r.body);
    let desc = r.body["codeDesc"].as_str().unwrap_or("");
    let (name, text) = desc.split_once(": ").unwrap_or(("", ""));
    assert!(
        name.starts_with("NCERR") && name.len() > 5 && !text.is_empty(),
        "codeDesc {desc:?}"
    );
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {}",
        r.body
    );
    assert!(
        r.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .starts_with("application/json"),
        "error content type: {:?}",
        r.headers.get(CONTENT_TYPE)
    );
    assert_request_id(r);
}

fn assert_request_id(r: &Reply) -> String {
    let id = r
        .headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on a {} response", r.status))
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "request id {id:?}");
    id
}

async fn send(
    server: &Server,
    method: Method,
    path: &str,
    token: Option<&str>,
    ct: &str,
    body: Vec<u8>,
) -> Reply {
    let mut req = server
        .client()
        .request(method, format!("{}{path}", server.url))
        .header(CONTENT_TYPE, ct)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    reply(req.send().await.expect("request")).await
}

#[tokio::test]
async fn every_error_has_the_ciphertrust_shape() {
    let server = Server::start();
    let admin = server.admin().await;
    let message = |r: &Reply| r.body["message"].as_str().unwrap_or("").to_string();

    // 401: no token, bad token, wrong password.
    assert_error_shape(&server.call(Method::GET, USERS, None, None).await, 401);
    assert_error_shape(&server.get(USERS, "garbage").await, 401);
    let r = server.login_reply("admin", "wrong-password").await;
    assert_error_shape(&r, 401);
    assert_eq!(message(&r), "Wrong username or password.");
    assert!(
        r.body["codeDesc"]
            .as_str()
            .unwrap()
            .starts_with("NCERRUnauthorizedAccess")
    );

    // 403.
    let user = server.user_token(&admin, "nina", &["CCKM Users"]).await;
    assert_error_shape(&server.get(USERS, &user).await, 403);

    // 404 from a use case, from an unknown route inside and outside /api/v1.
    let r = server
        .get(&format!("{USERS}/{}", uuid::Uuid::new_v4()), &admin)
        .await;
    assert_error_shape(&r, 404);
    for path in [
        "/api/v1/no-such-thing",
        "/nope",
        "/api/v2/usermgmt/users",
        "/api/v1/usermgmt/users/a/b/c",
    ] {
        let r = server.get(path, &admin).await;
        assert_error_shape(&r, 404);
        assert!(
            r.body["codeDesc"]
                .as_str()
                .unwrap()
                .starts_with("NCERRResourceNotFound"),
            "{}",
            r.body
        );
    }
    // Unknown routes are 404 even without a token.
    assert_error_shape(
        &server
            .call(Method::GET, "/api/v1/no-such-thing", None, None)
            .await,
        404,
    );

    // 405: a known route, the wrong method.
    for (method, path) in [
        (Method::PUT, USERS),
        (Method::DELETE, USERS),
        (Method::GET, TOKENS),
        (Method::POST, "/healthz"),
        (Method::PUT, "/api/v1/cckm/aws/kms"),
    ] {
        let r = server.call(method.clone(), path, Some(&admin), None).await;
        assert_error_shape(&r, 405);
    }

    // 409.
    let r = server
        .post(
            USERS,
            &admin,
            json!({"username": "nina", "password": "nina-password-1"}),
        )
        .await;
    assert_error_shape(&r, 409);

    // 400 from validation names the field.
    let r = server
        .post(
            USERS,
            &admin,
            json!({"username": "oscar", "password": "short"}),
        )
        .await;
    assert_error_shape(&r, 400);
    assert!(message(&r).starts_with("password"), "{}", r.body);

    // 429 and its Retry-After header are covered in auth.rs.
}

#[tokio::test]
async fn malformed_and_unexpected_bodies_are_400() {
    let server = Server::start();
    let admin = server.admin().await;

    // Malformed JSON, on a normal route and on the token route.
    for body in [
        &b"{\"username\": \"p\","[..],
        b"not json at all",
        b"",
        b"[1,2",
    ] {
        let r = send(
            &server,
            Method::POST,
            USERS,
            Some(&admin),
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_error_shape(&r, 400);
        let r = send(
            &server,
            Method::POST,
            TOKENS,
            None,
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_error_shape(&r, 400);
    }
    // Well-formed JSON of the wrong type.
    let r = send(
        &server,
        Method::POST,
        USERS,
        Some(&admin),
        "application/json",
        b"[]".to_vec(),
    )
    .await;
    assert_error_shape(&r, 400);
    let r = server
        .post(
            USERS,
            &admin,
            json!({"username": 5, "password": "q-password-1"}),
        )
        .await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["message"].as_str().unwrap().contains("username")
            || r.body["message"].as_str().unwrap().contains("string"),
        "{}",
        r.body
    );

    // An unknown field is ignored, as CipherTrust does (it used to be refused, naming it):
    // the user is made, and `isAdmin` gives nothing.
    let r = server
        .post(
            USERS,
            &admin,
            json!({"username": "quinn", "password": "quinn-password-1", "isAdmin": true}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.body);
    assert_eq!(r.body["groups"], json!([]), "{}", r.body);
    assert!(r.body.get("isAdmin").is_none(), "{}", r.body);
    let quinn = r.body["user_id"].as_str().unwrap().replace('|', "%7C");
    server
        .delete(&format!("{USERS}/{quinn}"), &admin)
        .await
        .expect(204);
    // An unknown field on a KMS container is ignored: the refusal is about the connection.
    let r = server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin,
            json!({
                "name": "k",
                "account_id": "000000000000",
                "connection": "c",
                "regions": ["ap-south-1"],
                "colour": "red",
            }),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    assert!(
        !r.body["message"].as_str().unwrap().contains("colour"),
        "{}",
        r.body
    );
    let me = server.get(USERS, &admin).await.expect(200).body["resources"][0]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A PATCH whose only member is unknown changes nothing, and says so.
    let r = server
        .patch(
            &format!("{USERS}/{}", me.replace('|', "%7C")),
            &admin,
            json!({"nickname": "boss"}),
        )
        .await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("nothing to change"),
        "{}",
        r.body
    );

    // A non-JSON content type on a JSON route.
    let r = send(
        &server,
        Method::POST,
        USERS,
        Some(&admin),
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert!(r.status.is_client_error());
    assert_error_shape(&r, r.status.as_u16());

    // A bad query string names the parameter.
    let r = server.get(&format!("{USERS}?limit=lots"), &admin).await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["message"].as_str().unwrap().contains("limit"),
        "{}",
        r.body
    );

    // None of it wrote a user.
    assert_eq!(server.get(USERS, &admin).await.expect(200).body["total"], 1);
}

#[tokio::test]
async fn a_body_over_one_mib_is_413() {
    let server = Server::start();
    let admin = server.admin().await;
    let big = format!(
        "{{\"username\": \"rita\", \"password\": \"rita-password-1\", \"name\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 16)
    );
    let r = send(
        &server,
        Method::POST,
        USERS,
        Some(&admin),
        "application/json",
        big.clone().into_bytes(),
    )
    .await;
    assert_error_shape(&r, 413);
    let r = send(
        &server,
        Method::POST,
        TOKENS,
        None,
        "application/json",
        big.clone().into_bytes(),
    )
    .await;
    assert_error_shape(&r, 413);
    let r = send(
        &server,
        Method::POST,
        TOKENS,
        None,
        "application/x-www-form-urlencoded",
        big.into_bytes(),
    )
    .await;
    assert_error_shape(&r, 413);
    // Just under the limit is read (and then refused for its content, not its size).
    let under = format!(
        "{{\"username\": \"rita\", \"password\": \"rita-password-1\", \"name\": \"{}\"}}",
        "x".repeat(1000 * 1000)
    );
    let r = send(
        &server,
        Method::POST,
        USERS,
        Some(&admin),
        "application/json",
        under.into_bytes(),
    )
    .await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["message"].as_str().unwrap().starts_with("name"),
        "{}",
        r.body
    );
    // The server is still fine.
    server.get(USERS, &admin).await.expect(200);
}

#[tokio::test]
async fn request_ids_are_in_responses_logs_and_the_audit_trail() {
    let server = Server::start();
    let admin = server.admin().await;

    // On successes and on every kind of error, fresh each time, a client's own id ignored.
    let a = server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    let b = server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_ne!(assert_request_id(&a), assert_request_id(&b));
    for r in [
        server.get(USERS, &admin).await,
        server.get("/nope", &admin).await,
        server.call(Method::PUT, USERS, Some(&admin), None).await,
        server.call(Method::GET, USERS, None, None).await,
    ] {
        assert_request_id(&r);
    }
    let spoofed = server
        .client()
        .get(format!("{}/healthz", server.url))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    let spoofed = reply(spoofed).await;
    assert_ne!(assert_request_id(&spoofed), "client-chosen-id");

    // A change: its id is in the log and in its audit record.
    let created = server
        .post(
            USERS,
            &admin,
            json!({"username": "sam", "password": "sam-password-1", "groups": ["CCKM Users"]}),
        )
        .await
        .expect(201);
    let create_id = assert_request_id(&created);
    // A refused change too.
    let refused = server
        .post(
            USERS,
            &admin,
            json!({"username": "sam", "password": "sam-password-1"}),
        )
        .await
        .expect(409);
    let refused_id = assert_request_id(&refused);
    let failed_get = server.get("/api/v1/no-such-route", &admin).await;
    let route_404_id = assert_request_id(&failed_get);

    let records = server
        .get("/api/v1/audit/records?limit=-1", &admin)
        .await
        .expect(200)
        .body;
    let all = records["resources"].as_array().unwrap();
    let record = all
        .iter()
        .find(|r| r["request_id"] == create_id.as_str())
        .unwrap_or_else(|| panic!("no audit record with request id {create_id}: {records}"));
    assert_eq!(record["action"], "user.create");
    assert_eq!(record["target"], "sam");
    assert_eq!(record["actor"], "admin");
    assert_eq!(record["outcome"], "success");
    let denied = all
        .iter()
        .find(|r| r["request_id"] == refused_id.as_str())
        .unwrap_or_else(|| panic!("no audit record with request id {refused_id}: {records}"));
    assert_eq!(denied["action"], "user.create");
    assert_ne!(denied["outcome"], "success");

    // The log is written as the response goes out; give it a moment.
    let mut log = String::new();
    for _ in 0..50 {
        log = server.stderr();
        if log.contains(&create_id) && log.contains(&refused_id) && log.contains(&route_404_id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for id in [&create_id, &refused_id, &route_404_id] {
        assert!(
            log.contains(id.as_str()),
            "request id {id} not in the server log:\n{log}"
        );
    }
    let line = log.lines().find(|l| l.contains(&create_id)).unwrap();
    assert!(
        line.contains("201"),
        "the log line carries the status: {line}"
    );
}

fn usernames(body: &Value) -> Vec<String> {
    body["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources in {body}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_page_and_sort_in_one_envelope() {
    let server = Server::start();
    let admin = server.admin().await;
    // 12 more users, created out of alphabetical order: 13 in all with admin.
    let names = [
        "user-m", "user-c", "user-k", "user-a", "user-l", "user-b", "user-j", "user-d", "user-i",
        "user-e", "user-h", "user-f",
    ];
    for n in names {
        server
            .post(
                USERS,
                &admin,
                json!({"username": n, "password": "paging-password-1"}),
            )
            .await
            .expect(201);
    }
    let mut sorted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    sorted.push("admin".into());
    sorted.sort();

    // Defaults: skip 0, limit 10, creation order.
    let r = server.get(USERS, &admin).await.expect(200).body;
    let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["limit", "resources", "skip", "total"], "{r}");
    assert_eq!(
        (r["skip"].as_i64(), r["limit"].as_i64(), r["total"].as_i64()),
        (Some(0), Some(10), Some(13))
    );
    let first_page = usernames(&r);
    assert_eq!(first_page.len(), 10);
    assert_eq!(first_page[0], "admin");
    assert_eq!(
        first_page[1..],
        names[..9].iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
    );

    // skip: the rest; total unchanged.
    let r = server
        .get(&format!("{USERS}?skip=10"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (r["skip"].as_i64(), r["limit"].as_i64(), r["total"].as_i64()),
        (Some(10), Some(10), Some(13))
    );
    assert_eq!(usernames(&r), vec!["user-e", "user-h", "user-f"]);
    let r = server
        .get(&format!("{USERS}?skip=2&limit=3"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (r["skip"].as_i64(), r["limit"].as_i64(), r["total"].as_i64()),
        (Some(2), Some(3), Some(13))
    );
    assert_eq!(usernames(&r), vec!["user-c", "user-k", "user-a"]);
    let r = server
        .get(&format!("{USERS}?skip=50"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(r["total"], 13);
    assert!(usernames(&r).is_empty());
    let r = server
        .get(&format!("{USERS}?limit=0"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (r["limit"].as_i64(), r["total"].as_i64()),
        (Some(0), Some(13))
    );
    assert!(usernames(&r).is_empty());

    // limit=-1: everything.
    let r = server
        .get(&format!("{USERS}?limit=-1"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (r["limit"].as_i64(), r["total"].as_i64()),
        (Some(-1), Some(13))
    );
    assert_eq!(usernames(&r).len(), 13);

    // Sorting, ascending and descending, combined with paging.
    let r = server
        .get(&format!("{USERS}?sort=username&limit=-1"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(usernames(&r), sorted);
    let r = server
        .get(&format!("{USERS}?sort=-username&limit=-1"), &admin)
        .await
        .expect(200)
        .body;
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(usernames(&r), reversed);
    let r = server
        .get(&format!("{USERS}?sort=username&skip=1&limit=2"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(usernames(&r), sorted[1..3].to_vec());
    let r = server
        .get(&format!("{USERS}?sort=-username&limit=3"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(usernames(&r), reversed[..3].to_vec());
    assert_eq!(r["total"], 13);
    let r = server
        .get(&format!("{USERS}?sort=-createdAt,username&limit=1"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(usernames(&r), vec!["user-f"]);

    // Bad paging is a 400 naming the parameter.
    for (query, field) in [
        ("sort=password", "sort"),
        ("sort=password_hash", "sort"),
        ("sort=username,-secret", "sort"),
        ("limit=-2", "limit"),
        ("skip=-1", "skip"),
    ] {
        let r = server.get(&format!("{USERS}?{query}"), &admin).await;
        assert_error_shape(&r, 400);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{query}: {}",
            r.body
        );
    }

    // The same envelope on the other lists.
    for path in [
        "/api/v1/connectionmgmt/services/aws/connections",
        "/api/v1/cckm/aws/kms",
        "/api/v1/audit/records?limit=2",
    ] {
        let r = server.get(path, &admin).await.expect(200).body;
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["limit", "resources", "skip", "total"], "{path}: {r}");
    }
    let audit = server
        .get("/api/v1/audit/records?limit=2", &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(audit["resources"].as_array().unwrap().len(), 2);
    assert!(audit["total"].as_i64().unwrap() > 12);
}

const JOB_CONFIGS: &str = "/api/v1/scheduler/job-configs";

/// Inputs that panicked a handler (the client's connection was dropped with no answer) are
/// 400s in CipherTrust's shape that name the field.
#[tokio::test]
async fn inputs_that_panicked_a_handler_are_400s_naming_the_field() {
    let server = Server::start();
    let admin = server.admin().await;
    // Any CCKM Users member could send this one.
    let user = server.user_token(&admin, "ursula", &["CCKM Users"]).await;
    for w in ["99999999999999999d", "9223372036854775807h", "%C3%A9"] {
        let r = server
            .get(&format!("/api/v1/cckm/aws/keys?expiring_within={w}"), &user)
            .await;
        assert_error_shape(&r, 400);
        let m = r.body["message"].as_str().unwrap();
        assert!(m.starts_with("expiring_within: "), "{m}");
    }
    server
        .get("/api/v1/cckm/aws/keys?expiring_within=36500d", &user)
        .await
        .expect(200);

    let base = json!({"name": "overflow", "operation": "cckm_key_rotation", "run_at": "0 * * * *"});
    let made = server
        .post(JOB_CONFIGS, &admin, base.clone())
        .await
        .expect(201);
    let id = made.body["id"].as_str().unwrap().to_string();
    for field in ["expiration", "expire_in"] {
        for value in [
            "106751991167301d",
            "9223372036854775807h",
            "99999999999999999999d",
        ] {
            let mut body = base.clone();
            body["name"] = json!("overflow-2");
            body["cckm_key_rotation_params"] = json!({ field: value });
            let r = server.post(JOB_CONFIGS, &admin, body).await;
            assert_error_shape(&r, 400);
            let m = r.body["message"].as_str().unwrap();
            assert!(
                m.starts_with(&format!("cckm_key_rotation_params.{field}: ")),
                "{m}"
            );
            let r = server
                .patch(
                    &format!("{JOB_CONFIGS}/{id}"),
                    &admin,
                    json!({"cckm_key_rotation_params": { field: value }}),
                )
                .await;
            assert_error_shape(&r, 400);
        }
    }
    for (field, value) in [
        ("start_date", "0000-01-01T00:00:00Z"),
        ("end_date", "not a date"),
        ("run_at", "0 0 30 2 *"),
    ] {
        let r = server
            .patch(
                &format!("{JOB_CONFIGS}/{id}"),
                &admin,
                json!({ field: value }),
            )
            .await;
        assert_error_shape(&r, 400);
        assert!(
            r.body["message"].as_str().unwrap().starts_with(field),
            "{}",
            r.body
        );
    }
    // The server is still there, and the config unchanged.
    let got = server
        .get(&format!("{JOB_CONFIGS}/{id}"), &admin)
        .await
        .expect(200);
    assert_eq!(got.body["run_at"], "0 * * * *");
}

/// A path id that is not UTF-8 once decoded, and a 100 KB query string, got plain-text or
/// empty error bodies; now CipherTrust's, with a message that says what to fix.
#[tokio::test]
async fn bad_paths_and_overlong_queries_get_ciphertrust_error_bodies() {
    let server = Server::start();
    let admin = server.admin().await;
    for path in [
        "/api/v1/cckm/aws/keys/%FF",
        "/api/v1/cckm/aws/kms/%C3%28",
        "/api/v1/usermgmt/users/%FF%FE",
        "/api/v1/vault/keys2/%80",
        "/api/v1/scheduler/job-configs/%FF",
    ] {
        let r = server.get(path, &admin).await;
        assert_error_shape(&r, 400);
        let m = r.body["message"].as_str().unwrap();
        assert!(m.contains("UTF-8"), "{path}: {m}");
    }
    let r = server
        .call(
            Method::POST,
            "/api/v1/cckm/aws/keys/%FF/enable",
            Some(&admin),
            None,
        )
        .await;
    assert_error_shape(&r, 400);
    // A query that does not fit the parameter's type names it.
    let r = server
        .get("/api/v1/cckm/aws/keys?enabled=%FF", &admin)
        .await;
    assert_error_shape(&r, 400);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("query string"),
        "{}",
        r.body
    );
    // 100 KB of query (reqwest will not send it: a raw connection): hyper refuses the
    // request line itself, 414, which had an empty body.
    let mut io = common::raw_connection(&server).await;
    let request = format!(
        "GET /api/v1/cckm/aws/keys?alias={} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {admin}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    tokio::io::AsyncWriteExt::write_all(&mut io, request.as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (head, body) = common::read_response(&mut io, &mut buf)
        .await
        .expect("an answer to a 100 KB query");
    assert!(head.starts_with("http/1.1 414"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("x-request-id: "), "{head}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 4, "{v}");
    assert!(v["codeDesc"].as_str().unwrap().starts_with("NCERR"), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("URL is too long"),
        "{v}"
    );
    // 60 KB still fits: an answer from the route.
    let q = "x".repeat(60 * 1024);
    server
        .get(&format!("/api/v1/cckm/aws/keys?alias={q}"), &admin)
        .await
        .expect(200);
}

/// Actions documented as taking no body accepted any object; a body with fields is now a 400
/// that says the action takes none. An empty body, `{}` and `null` stay accepted (here the
/// key does not exist, so an accepted body gets as far as the 404).
#[tokio::test]
async fn actions_that_take_no_body_refuse_one_with_fields() {
    let server = Server::start();
    let admin = server.admin().await;
    let key = format!("/api/v1/cckm/aws/keys/{}", uuid::Uuid::new_v4());
    for action in [
        "enable",
        "disable",
        "cancel-deletion",
        "disable-auto-rotation",
        "rotate-material",
        "refresh",
        "get-key-rotation-status",
        "disable-rotation-job",
    ] {
        let path = format!("{key}/{action}");
        for body in [&br#"{"days": 7}"#[..], b"[1]", b"\"x\"", b"7"] {
            let r = send(
                &server,
                Method::POST,
                &path,
                Some(&admin),
                "application/json",
                body.to_vec(),
            )
            .await;
            assert_error_shape(&r, 400);
            let m = r.body["message"].as_str().unwrap();
            assert!(m.contains(&format!("{action} takes no body")), "{m}");
        }
        for body in [&b""[..], b"{}", b"null", b" { } "] {
            let r = send(
                &server,
                Method::POST,
                &path,
                Some(&admin),
                "application/json",
                body.to_vec(),
            )
            .await;
            assert_error_shape(&r, 404);
        }
    }
}

/// Resources looked up by id or by name cannot take a name shaped like an id (a UUID, or 64
/// hex digits like a vault key's id): another resource's id as a name made lookups ambiguous.
#[tokio::test]
async fn names_shaped_like_ids_are_refused_for_every_resource_looked_up_by_either() {
    let server = Server::start();
    let admin = server.admin().await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let hex64 = "ab".repeat(32);
    let conn = |name: &str| {
        json!({"name": name, "access_key_id": "AKIAIOSFODNN7EXAMPLE",
               "secret_access_key": common::SECRET_ACCESS_KEY, "aws_region": "us-east-1"})
    };
    server
        .post(
            "/api/v1/connectionmgmt/services/aws/connections",
            &admin,
            conn("c"),
        )
        .await
        .expect(201);
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin,
            json!({"name": "k", "account_id": "000000000000", "connection": "c", "regions": ["us-east-1"]}),
        )
        .await
        .expect(201);
    for name in [
        uuid.clone(),
        uuid.to_uppercase(),
        uuid.replace('-', ""),
        hex64,
    ] {
        for (path, body) in [
            (
                "/api/v1/connectionmgmt/services/aws/connections",
                conn(&name),
            ),
            (
                "/api/v1/cckm/aws/kms",
                json!({"name": name, "account_id": "000000000000", "connection": "c", "regions": ["us-east-1"]}),
            ),
            (
                "/api/v1/cckm/aws/templates",
                json!({"name": name, "kms": "k", "key_admins": ["a"]}),
            ),
            (
                JOB_CONFIGS,
                json!({"name": name, "operation": "cckm_key_rotation", "run_at": "0 * * * *"}),
            ),
            ("/api/v1/vault/keys2", json!({"name": name})),
        ] {
            let r = server.post(path, &admin, body).await;
            assert_error_shape(&r, 400);
            let m = r.body["message"].as_str().unwrap();
            assert!(
                m.starts_with("name: ") && m.contains("looks like an id"),
                "{path}: {m}"
            );
        }
    }
    // A rename to an id is refused too.
    let j = server
        .post(
            JOB_CONFIGS,
            &admin,
            json!({"name": "plain", "operation": "cckm_key_rotation", "run_at": "0 * * * *"}),
        )
        .await
        .expect(201);
    let r = server
        .patch(
            &format!("{JOB_CONFIGS}/{}", j.body["id"].as_str().unwrap()),
            &admin,
            json!({"name": uuid}),
        )
        .await;
    assert_error_shape(&r, 400);
}
