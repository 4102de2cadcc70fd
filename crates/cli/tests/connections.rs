//! AWS connections (`/api/v1/connectionmgmt/services/aws/connections`): create, list, get by id
//! and by name, update, delete, validation, the secret kept sealed, and `POST {id}/test` against
//! LocalStack's KMS, an unreachable endpoint, and injected AWS errors (bad credentials,
//! throttling) that the emulator cannot produce.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Server, kms_endpoint};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/connectionmgmt/services/aws/connections";
/// The secret `Server::localstack_connection` sends.
const HARNESS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";

/// A server with the default AWS client settings (LocalStack can be slow on a busy machine).
fn start() -> Server {
    Server::start()
}

/// A server whose AWS client gives up quickly, for the cases where AWS does not answer.
fn start_impatient() -> Server {
    Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_AWS_CONNECT_TIMEOUT_SECS", "1"),
            ("KEYWARD_AWS_ATTEMPT_TIMEOUT_SECS", "2"),
            ("KEYWARD_AWS_OPERATION_TIMEOUT_SECS", "5"),
        ],
    )
}

/// A connection body with the given secret and endpoint.
fn connection_body(name: &str, secret: &str, endpoint: &str) -> Value {
    json!({
        "name": name,
        "description": "test connection",
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": secret,
        "aws_region": "ap-south-1",
        "endpoint_url": endpoint,
    })
}

/// Asserts that no object anywhere in `v` has a `secret_access_key` and that the secret's text
/// appears nowhere in it.
fn assert_no_secret(v: &Value, secret: &str) {
    let text = v.to_string();
    assert!(
        !text.contains(secret),
        "the secret is in a response: {text}"
    );
    fn walk(v: &Value) {
        match v {
            Value::Object(m) => {
                assert!(
                    !m.contains_key("secret_access_key"),
                    "secret_access_key field in a response: {v}"
                );
                m.values().for_each(walk);
            }
            Value::Array(a) => a.iter().for_each(walk),
            _ => {}
        }
    }
    walk(v);
}

/// The bytes of the database file and its WAL and shared-memory files.
fn database_bytes(server: &Server) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
        let path = server.data_dir().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            out.push((name.to_string(), bytes));
        }
    }
    assert!(
        out.iter().any(|(n, _)| n == "keyward.db"),
        "no keyward.db in {}",
        server.data_dir().display()
    );
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    haystack.windows(n.len()).any(|w| w == n)
}

/// Asserts the secret is in none of the database files, while a plain field of the same
/// connection is (so the check looks where the connection really is).
fn assert_secret_not_stored(server: &Server, secret: &str, plain_marker: &str) {
    let files = database_bytes(server);
    for (name, bytes) in &files {
        assert!(
            !contains(bytes, secret),
            "the secret access key is in plaintext in {name}"
        );
    }
    assert!(
        files.iter().any(|(_, b)| contains(b, plain_marker)),
        "{plain_marker:?} is in none of the database files: the check would be vacuous"
    );
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// One canned answer of the injector.
#[derive(Clone)]
enum Answer {
    /// An AWS JSON error: HTTP status, error type (`__type`), message, and whether the type is
    /// also sent in the `x-amzn-ErrorType` header.
    Error(u16, &'static str, &'static str, bool),
    /// HTTP 200 with this JSON body.
    Ok(&'static str),
    /// Read the request and never answer.
    Hang,
}

/// A tiny HTTP responder on 127.0.0.1 standing in for AWS's KMS endpoint. It exists only to
/// inject AWS responses that LocalStack cannot produce (LocalStack accepts any credentials and
/// never throttles, see kms-emulator.md): each request gets the next answer of the script, the
/// last one repeating, and the `X-Amz-Target` of every request is recorded.
struct Injector {
    url: String,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Injector {
    fn start(script: Vec<Answer>) -> Self {
        assert!(!script.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind injector");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(target) = read_request(&mut stream) else {
                    continue;
                };
                let n = {
                    let mut t = seen.lock().expect("lock");
                    t.push(target);
                    t.len()
                };
                let answer = script[(n - 1).min(script.len() - 1)].clone();
                match answer {
                    Answer::Hang => held.push(stream),
                    Answer::Ok(body) => write_response(&mut stream, 200, None, body),
                    Answer::Error(status, kind, message, header) => {
                        let body = json!({"__type": kind, "message": message}).to_string();
                        write_response(&mut stream, status, header.then_some(kind), &body)
                    }
                }
            }
        });
        Self { url, targets }
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("lock").clone()
    }
}

/// Reads one HTTP request (head and Content-Length body); returns its X-Amz-Target.
fn read_request(stream: &mut TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(header("x-amz-target").unwrap_or_default())
}

fn write_response(stream: &mut TcpStream, status: u16, error_type: Option<&str>, body: &str) {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: 11111111-2222-3333-4444-555555555555\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(t) = error_type {
        head.push_str(&format!("x-amzn-ErrorType: {t}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

async fn test_connection(server: &Server, token: &str, id: &str) -> (Value, Duration) {
    let started = Instant::now();
    let r = server
        .post(&format!("{BASE}/{id}/test"), token, json!({}))
        .await
        .expect(200);
    (r.body, started.elapsed())
}

#[tokio::test]
async fn create_list_get_update_delete_without_revealing_the_secret() {
    let server = start();
    let token = server.admin().await;
    let endpoint = kms_endpoint();
    let secret = "Sx7r/9kLmNoPqRsTuVwXyZ0123456789abcdEFGH";

    // POST: 201 with the fields of spec 1.10 plus endpoint_url.
    let created = server
        .post(BASE, &token, connection_body("conn-one", secret, &endpoint))
        .await
        .expect(201)
        .body;
    assert_no_secret(&created, secret);
    let id = created["id"].as_str().expect("id").to_string();
    assert!(!id.is_empty());
    assert_eq!(created["name"], "conn-one");
    assert_eq!(created["description"], "test connection");
    assert_eq!(created["access_key_id"], ACCESS_KEY_ID);
    assert_eq!(created["aws_region"], "ap-south-1");
    assert_eq!(created["endpoint_url"], endpoint.as_str());
    assert_eq!(created["cloud_name"], "aws");
    assert_eq!(created["aws_sts_regional_endpoints"], "legacy");
    assert_eq!(created["assume_role_arn"], "");
    assert_eq!(created["assume_role_external_id"], "");
    assert_eq!(created["is_role_anywhere"], false);
    assert_eq!(created["products"], json!(["cckm"]));
    assert_eq!(created["service"], "aws");
    assert_eq!(created["category"], "cloud");
    assert!(created["labels"].is_object() && created["meta"].is_object());
    assert_eq!(created["account"], "kylo:kylo:admin:accounts:kylo");
    // No `application` (nor `devAccount`): the provider decodes connection lists into a
    // struct whose own Application/DevAccount fields would match them (issue 11).
    assert!(created.get("application").is_none(), "{created}");
    assert!(created.get("devAccount").is_none(), "{created}");
    assert_eq!(
        created["dev_account"],
        "ncryptify:gemalto:admin:accounts:gemalto"
    );
    assert!(created["uri"].as_str().unwrap().contains(&id), "{created}");
    assert!(
        created["resource_url"].as_str().unwrap().ends_with(&id),
        "{created}"
    );
    assert_eq!(created["last_connection_error"], "");
    for ts in ["createdAt", "updatedAt"] {
        let t = created[ts].as_str().unwrap_or("");
        assert!(
            t.contains('T') && t.ends_with('Z'),
            "{ts} is not RFC 3339 UTC: {t:?}"
        );
    }

    // A second one, with labels, so the list has something to page.
    let mut body = connection_body("conn-two", secret, &endpoint);
    body["labels"] = json!({"team": "crypto"});
    let second = server.post(BASE, &token, body).await.expect(201).body;
    assert_eq!(second["labels"], json!({"team": "crypto"}));

    // GET list: the envelope.
    let list = server.get(BASE, &token).await.expect(200).body;
    assert_no_secret(&list, secret);
    assert_eq!(list["skip"], 0);
    assert_eq!(list["limit"], 10);
    assert_eq!(list["total"], 2);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["conn-one", "conn-two"]);
    let page = server
        .get(&format!("{BASE}?skip=1&limit=1&sort=-name"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 2);
    assert_eq!(page["resources"].as_array().unwrap().len(), 1);
    assert_eq!(page["resources"][0]["name"], "conn-one");

    // GET one, by id and by name.
    let by_id = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_id["id"], id.as_str());
    assert_eq!(by_id["name"], "conn-one");
    assert_no_secret(&by_id, secret);
    let by_name = server
        .get(&format!("{BASE}/conn-one"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_name["id"], id.as_str());
    server
        .get(&format!("{BASE}/no-such-connection"), &token)
        .await
        .expect_error(404, "no-such-connection");

    assert_secret_not_stored(&server, secret, "conn-one");

    // PATCH description and Region.
    let patched = server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"description": "moved to Mumbai", "aws_region": "us-east-1"}),
        )
        .await
        .expect(200)
        .body;
    assert_no_secret(&patched, secret);
    assert_eq!(patched["description"], "moved to Mumbai");
    assert_eq!(patched["aws_region"], "us-east-1");
    assert_eq!(patched["name"], "conn-one");
    assert_eq!(patched["createdAt"], created["createdAt"]);
    assert_ne!(patched["updatedAt"], created["updatedAt"]);
    let again = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(again["description"], "moved to Mumbai");
    assert_eq!(again["aws_region"], "us-east-1");

    // PATCH a new secret: stored sealed (the sealed value changes), never returned, and the
    // connection still works with it.
    let sealed_before = sealed_secret(&server, &id).await;
    let rotated = "Rot4ted/Secret+Key0123456789abcdefGHIJKL";
    let patched = server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"secret_access_key": rotated}),
        )
        .await
        .expect(200)
        .body;
    assert_no_secret(&patched, rotated);
    assert_no_secret(&patched, secret);
    let sealed_after = sealed_secret(&server, &id).await;
    assert_ne!(
        sealed_before, sealed_after,
        "the sealed secret did not change"
    );
    assert!(!contains(&sealed_after, rotated));
    let (result, _) = test_connection(&server, &token, &id).await;
    assert_eq!(result["connection_ok"], true, "{result}");
    assert_no_secret(&result, rotated);
    assert_secret_not_stored(&server, rotated, "moved to Mumbai");
    assert_secret_not_stored(&server, secret, "moved to Mumbai");

    // Nothing secret in the log either.
    let log = server.stderr();
    assert!(
        !log.contains(secret) && !log.contains(rotated),
        "a secret is in the server log"
    );

    // DELETE: 204, then 404.
    let r = server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect(204);
    assert!(r.body.is_null(), "204 with a body: {}", r.body);
    server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect_error(404, &id);
    server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect(404);
    server
        .patch(&format!("{BASE}/{id}"), &token, json!({"description": "x"}))
        .await
        .expect(404);
    server
        .post(&format!("{BASE}/{id}/test"), &token, json!({}))
        .await
        .expect(404);
    let list = server.get(BASE, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["resources"][0]["name"], "conn-two");
    // Deleted by name too.
    server
        .delete(&format!("{BASE}/conn-two"), &token)
        .await
        .expect(204);
    assert_eq!(server.get(BASE, &token).await.expect(200).body["total"], 0);
}

/// The sealed secret as stored, read straight from the database.
async fn sealed_secret(server: &Server, id: &str) -> Vec<u8> {
    use sqlx::Connection;
    let path = server.data_dir().join("keyward.db");
    let mut conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("open keyward.db");
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT secret_sealed FROM aws_connections WHERE id = ?")
            .bind(id)
            .fetch_one(&mut conn)
            .await
            .expect("read secret_sealed");
    conn.close().await.ok();
    sealed.expect("a stored connection has a sealed secret")
}

#[tokio::test]
async fn duplicate_name_is_a_conflict() {
    let server = start();
    let token = server.admin().await;
    server.localstack_connection(&token, "dup").await;
    server
        .post(
            BASE,
            &token,
            connection_body("dup", "other-secret", &kms_endpoint()),
        )
        .await
        .expect_error(409, "dup");
    assert_eq!(server.get(BASE, &token).await.expect(200).body["total"], 1);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written() {
    let server = start();
    let token = server.admin().await;
    let ep = kms_endpoint();
    let with = |extra: Value| {
        let mut b = connection_body("bad", "some-secret-value", &ep);
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(json!({"aws_region": "Mumbai"})), "aws_region"),
        (with(json!({"aws_region": "us-east"})), "aws_region"),
        (
            with(json!({"endpoint_url": "ftp://127.0.0.1:1"})),
            "endpoint_url",
        ),
        (
            with(json!({"endpoint_url": "127.0.0.1:4566"})),
            "endpoint_url",
        ),
        (
            with(json!({"assume_role_external_id": "ext-id-1"})),
            "assume_role_external_id",
        ),
        (
            with(json!({"assume_role_arn": "arn:aws:iam::123:role/x"})),
            "assume_role_arn",
        ),
        (
            with(json!({"assume_role_arn": "not-an-arn"})),
            "assume_role_arn",
        ),
        (
            with(json!({"secret_access_key": null})),
            "secret_access_key",
        ),
        (with(json!({"access_key_id": null})), "access_key_id"),
        (with(json!({"access_key_id": "short"})), "access_key_id"),
        (
            with(json!({"secret_access_key": "has space"})),
            "secret_access_key",
        ),
        (with(json!({"cloud_name": "azure"})), "cloud_name"),
        (
            with(json!({"aws_sts_regional_endpoints": "global"})),
            "aws_sts_regional_endpoints",
        ),
        (with(json!({"products": ["cte"]})), "products"),
        (with(json!({"is_role_anywhere": true})), "is_role_anywhere"),
        (with(json!({"name": "a/b"})), "name"),
        (with(json!({"name": ""})), "name"),
        (with(json!({"name": null})), "name"),
    ];
    for (body, field) in cases {
        let r = server.post(BASE, &token, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body} -> {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(field),
            "{body}: message {msg:?} does not name {field}"
        );
        assert!(
            r.body["codeDesc"]
                .as_str()
                .unwrap_or("")
                .starts_with("NCERR"),
            "{}",
            r.body
        );
        assert_no_secret(&r.body, "some-secret-value");
    }
    // Nothing was written.
    assert_eq!(server.get(BASE, &token).await.expect(200).body["total"], 0);

    // The same rules on PATCH, which changes nothing when it fails.
    let conn = server.localstack_connection(&token, "good").await;
    let id = conn["id"].as_str().unwrap();
    let path = format!("{BASE}/{id}");
    for (body, field) in [
        (json!({"aws_region": "nowhere"}), "aws_region"),
        (
            json!({"endpoint_url": "file:///etc/passwd"}),
            "endpoint_url",
        ),
        (
            json!({"assume_role_external_id": "ext-id-1"}),
            "assume_role_external_id",
        ),
        (
            json!({"assume_role_arn": "arn:aws:iam::123456789012:user/x"}),
            "assume_role_arn",
        ),
        // `name` is not a PATCH field: ignored like any unknown member (it used to be refused,
        // naming it), so nothing is left to change.
        (json!({"name": "renamed"}), "nothing to change"),
        (json!({}), "nothing to change"),
    ] {
        let r = server.patch(&path, &token, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body} -> {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(field),
            "{body}: message {msg:?} does not name {field}"
        );
    }
    let after = server.get(&path, &token).await.expect(200).body;
    assert_eq!(after["updatedAt"], conn["updatedAt"]);
    assert_eq!(after["aws_region"], "ap-south-1");
    assert_eq!(after["endpoint_url"], ep.as_str());
    // `""` is "not given" (it used to be refused as an access key id): with another change,
    // the key id stays as it was.
    let r = server
        .patch(
            &path,
            &token,
            json!({"access_key_id": "", "secret_access_key": "", "description": "changed"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["access_key_id"], conn["access_key_id"], "{r}");
    assert_eq!(r["description"], "changed", "{r}");
}

#[tokio::test]
async fn test_against_localstack_succeeds() {
    let server = start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "ls").await;
    assert_eq!(conn["last_connection_ok"], false);
    let id = conn["id"].as_str().unwrap();
    let (result, _) = test_connection(&server, &token, id).await;
    assert_eq!(result, json!({"connection_ok": true, "error": ""}));
    // By name too; the outcome is remembered on the connection.
    let (result, _) = test_connection(&server, &token, "ls").await;
    assert_eq!(result["connection_ok"], true);
    let after = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(after["last_connection_ok"], true);
    assert_eq!(after["last_connection_error"], "");
    assert!(after["last_connection_at"].is_string(), "{after}");
    assert_no_secret(&after, HARNESS_SECRET);
}

#[tokio::test]
async fn test_against_an_unreachable_endpoint_fails_within_a_bounded_time() {
    let server = start_impatient();
    let token = server.admin().await;

    // A closed loopback port: the connection is refused.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("closed", "secret-value-1", &url),
        )
        .await
        .expect(201)
        .body;
    let id = conn["id"].as_str().unwrap();
    let (result, took) = test_connection(&server, &token, id).await;
    assert_eq!(result["connection_ok"], false, "{result}");
    let error = result["error"].as_str().unwrap_or("");
    assert!(error.contains("AWS is unreachable"), "{error}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    let after = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(after["last_connection_ok"], false);
    assert_eq!(after["last_connection_error"], error);

    // An endpoint that accepts the connection and never answers: bounded by the timeouts.
    let silent = Injector::start(vec![Answer::Hang]);
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("silent", "secret-value-1", &silent.url),
        )
        .await
        .expect(201)
        .body;
    let (result, took) = test_connection(&server, &token, conn["id"].as_str().unwrap()).await;
    assert_eq!(result["connection_ok"], false, "{result}");
    let error = result["error"].as_str().unwrap_or("");
    assert!(
        error.contains("AWS is unreachable") && error.contains("timed out"),
        "{error}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        !silent.targets().is_empty(),
        "the request never reached the silent endpoint"
    );
}

#[tokio::test]
async fn test_reports_aws_own_error() {
    // Injected: LocalStack accepts any credentials, so it cannot produce AWS's answer to a bad
    // key; this responder sends exactly what AWS KMS sends.
    let aws = Injector::start(vec![Answer::Error(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        true,
    )]);
    let server = start();
    let token = server.admin().await;
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("badcreds", "wrong-secret-1", &aws.url),
        )
        .await
        .expect(201)
        .body;
    let id = conn["id"].as_str().unwrap();
    let (result, _) = test_connection(&server, &token, id).await;
    assert_eq!(result["connection_ok"], false, "{result}");
    let error = result["error"].as_str().unwrap_or("");
    assert!(
        error.contains(
            "UnrecognizedClientException: The security token included in the request is invalid."
        ),
        "{error}"
    );
    // Bad credentials are not retried.
    assert_eq!(aws.targets(), ["TrentService.ListKeys"]);
    let after = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(after["last_connection_ok"], false);
    assert_eq!(after["last_connection_error"], error);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    // Injected: LocalStack never throttles. Two ThrottlingException answers (the error type in
    // the body only, as AWS JSON services may send it), then a valid ListKeys answer.
    let throttle = Answer::Error(400, "ThrottlingException", "Rate exceeded", false);
    let aws = Injector::start(vec![
        throttle.clone(),
        throttle.clone(),
        Answer::Ok(r#"{"Keys":[],"Truncated":false}"#),
    ]);
    let server = start();
    let token = server.admin().await;
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("throttled", "some-secret-1", &aws.url),
        )
        .await
        .expect(201)
        .body;
    let (result, _) = test_connection(&server, &token, conn["id"].as_str().unwrap()).await;
    assert_eq!(result, json!({"connection_ok": true, "error": ""}));
    assert_eq!(
        aws.targets(),
        ["TrentService.ListKeys"; 3],
        "two throttled attempts, then success"
    );
}

#[tokio::test]
async fn throttling_gives_up_after_the_configured_attempts() {
    let aws = Injector::start(vec![Answer::Error(
        400,
        "ThrottlingException",
        "Rate exceeded",
        true,
    )]);
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_AWS_MAX_ATTEMPTS", "2"),
        ],
    );
    let token = server.admin().await;
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("always-throttled", "some-secret-1", &aws.url),
        )
        .await
        .expect(201)
        .body;
    let (result, took) = test_connection(&server, &token, conn["id"].as_str().unwrap()).await;
    assert_eq!(result["connection_ok"], false, "{result}");
    let error = result["error"].as_str().unwrap_or("");
    assert!(
        error.contains("ThrottlingException: Rate exceeded"),
        "{error}"
    );
    assert_eq!(
        aws.targets().len(),
        2,
        "KEYWARD_AWS_MAX_ATTEMPTS=2 allows two attempts"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test]
async fn a_changed_connection_gets_a_new_client() {
    // The AWS client is cached per connection; after a PATCH the next call must use the new
    // settings, not the cached client.
    let aws = Injector::start(vec![Answer::Error(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        true,
    )]);
    let server = start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "moving").await;
    let id = conn["id"].as_str().unwrap();
    let path = format!("{BASE}/{id}");
    let (result, _) = test_connection(&server, &token, id).await;
    assert_eq!(result["connection_ok"], true, "{result}");

    server
        .patch(&path, &token, json!({"endpoint_url": aws.url}))
        .await
        .expect(200);
    let (result, _) = test_connection(&server, &token, id).await;
    assert_eq!(
        result["connection_ok"], false,
        "the cached client was reused: {result}"
    );
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("UnrecognizedClientException")
    );
    assert_eq!(aws.targets().len(), 1);

    server
        .patch(&path, &token, json!({"endpoint_url": kms_endpoint()}))
        .await
        .expect(200);
    let (result, _) = test_connection(&server, &token, id).await;
    assert_eq!(result["connection_ok"], true, "{result}");
    assert_eq!(aws.targets().len(), 1);
}

#[tokio::test]
async fn a_connection_used_by_a_kms_container_cannot_be_deleted() {
    let server = start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "in-use").await;
    let id = conn["id"].as_str().unwrap();
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &token,
            json!({"name": "holder", "account_id": "000000000000", "connection": "in-use", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201);
    server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect_error(409, "in-use");
    server
        .delete(&format!("{BASE}/in-use"), &token)
        .await
        .expect(409);
    server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200);
    // Once the container is gone, the connection can go.
    server
        .delete("/api/v1/cckm/aws/kms/holder", &token)
        .await
        .expect(204);
    server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect(204);
}

#[tokio::test]
async fn a_change_made_while_a_test_runs_is_kept() {
    // The test call waits on AWS (here an endpoint that never answers, until the timeout); a
    // PATCH that lands meanwhile must survive the test recording its outcome.
    let silent = Injector::start(vec![Answer::Hang]);
    let server = start_impatient();
    let token = server.admin().await;
    let conn = server
        .post(
            BASE,
            &token,
            connection_body("slow", "first-secret-1", &silent.url),
        )
        .await
        .expect(201)
        .body;
    let id = conn["id"].as_str().unwrap().to_string();
    let sealed_before = sealed_secret(&server, &id).await;

    let url = format!("{}{BASE}/{id}/test", server.url);
    let pending = server
        .client()
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({}))
        .send();
    let patch = async {
        // Let the test call reach the silent endpoint first.
        let deadline = Instant::now() + Duration::from_secs(10);
        while silent.targets().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !silent.targets().is_empty(),
            "the test call never reached AWS"
        );
        server
            .patch(
                &format!("{BASE}/{id}"),
                &token,
                json!({"description": "changed during the test", "secret_access_key": "second-secret-2"}),
            )
            .await
            .expect(200)
    };
    let (resp, _) = tokio::join!(pending, patch);
    let result = common::reply(resp.expect("test call"))
        .await
        .expect(200)
        .body;
    assert_eq!(result["connection_ok"], false, "{result}");

    let after = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(
        after["description"], "changed during the test",
        "the PATCH was lost: {after}"
    );
    assert_eq!(after["last_connection_ok"], false);
    assert_ne!(
        sealed_secret(&server, &id).await,
        sealed_before,
        "the rotated secret was lost"
    );
}

/// `endpoint_url` took `http://user:pass@host` (stored and returned in clear) and 100 KB
/// URLs; now it must be an http(s) URL with a host, without user information, of at most
/// 2048 characters.
#[tokio::test]
async fn endpoint_url_refuses_user_information_overlong_and_hostless_urls() {
    let server = start();
    let token = server.admin().await;
    let ep = "http://127.0.0.1:4566";
    let long = format!("https://kms.example.com/{}", "a".repeat(100 * 1024));
    let bad: Vec<(&str, &str)> = vec![
        ("http://user:pass@127.0.0.1:4566", "user name or password"),
        (
            "https://AKIA:secret@kms.ap-south-1.amazonaws.com/",
            "user name or password",
        ),
        ("http://@127.0.0.1", "user name or password"),
        (&long, "at most 2048 characters"),
        ("http://", "host"),
        ("https:///kms", "host"),
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:4566#x", "fragment"),
        ("javascript:alert(1)", "http:// or https://"),
    ];
    for (url, why) in &bad {
        let mut body = connection_body("endpoints", "some-secret-value", ep);
        body["endpoint_url"] = json!(url);
        let r = server.post(BASE, &token, body).await;
        assert_eq!(r.status.as_u16(), 400, "{url:.80}: {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.starts_with("endpoint_url: ") && msg.contains(why),
            "{url:.80}: {msg}"
        );
        assert!(!msg.contains("pass@") && msg.len() < 300, "{msg}");
    }
    assert_eq!(server.get(BASE, &token).await.expect(200).body["total"], 0);
    // The same on PATCH.
    let made = server
        .post(
            BASE,
            &token,
            connection_body("endpoints", "some-secret-value", ep),
        )
        .await
        .expect(201);
    let path = format!("{BASE}/{}", made.body["id"].as_str().unwrap());
    for (url, why) in &bad {
        let r = server
            .patch(&path, &token, json!({"endpoint_url": url}))
            .await;
        assert_eq!(r.status.as_u16(), 400, "{url:.80}: {}", r.body);
        assert!(
            r.body["message"].as_str().unwrap_or("").contains(why),
            "{}",
            r.body
        );
    }
    let after = server.get(&path, &token).await.expect(200).body;
    assert_eq!(after["endpoint_url"], ep);
    // A name another connection could be looked up by: 400 naming it.
    let r = server
        .post(
            BASE,
            &token,
            connection_body(made.body["id"].as_str().unwrap(), "some-secret-value", ep),
        )
        .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap().starts_with("name: "),
        "{}",
        r.body
    );
}

/// The body Thales' Terraform provider sends to create a connection (provider-calls.md §2.2:
/// `AWSConnectionModelJSON` marshalled whole, response-only fields as `""`/`false`, the
/// framework's `Application`/`DevAccount` values as `{}`), plus the endpoint of LocalStack,
/// which the provider cannot set.
fn provider_connection_body(name: &str, endpoint: &str) -> Value {
    json!({"uri":"","account":"","createdAt":"","updatedAt":"","service":"","category":"",
        "resource_url":"","last_connection_ok":false,"last_connection_error":"",
        "last_connection_at":"","Application":{},"DevAccount":{},"id":"","name":name,
        "description":"","access_key_id":ACCESS_KEY_ID,"assume_role_arn":"",
        "assume_role_external_id":"","aws_region":"","aws_sts_regional_endpoints":"",
        "cloud_name":"","is_role_anywhere":false,"iam_role_anywhere":null,"labels":{},"meta":{},
        "products":null,"secret_access_key":HARNESS_SECRET,"endpoint_url":endpoint})
}

/// What the provider reads from a connection (§2.2, §2.3), with the types it reads them as,
/// and what its list data source's `json.Unmarshal` into `AWSConnectionModelJSON` needs (§2.6).
fn assert_provider_reads(c: &Value) {
    for f in [
        "id",
        "uri",
        "account",
        "createdAt",
        "updatedAt",
        "name",
        "description",
        "category",
        "service",
        "resource_url",
        "last_connection_error",
        "access_key_id",
        "assume_role_arn",
        "assume_role_external_id",
        "aws_region",
        "aws_sts_regional_endpoints",
        "cloud_name",
    ] {
        assert!(c[f].is_string(), "{f} is not a string: {c}");
    }
    assert!(c["last_connection_ok"].is_boolean(), "{c}");
    assert!(
        c["last_connection_at"].is_string() || c["last_connection_at"].is_null(),
        "{c}"
    );
    assert!(c["is_role_anywhere"].is_boolean(), "{c}");
    assert!(c["labels"].is_object(), "{c}");
    assert!(c["meta"].is_object() || c["meta"].is_null(), "{c}");
    assert!(
        c["products"].is_null()
            || c["products"]
                .as_array()
                .is_some_and(|p| p.iter().all(Value::is_string)),
        "{c}"
    );
    // Go's decoder matches names case-insensitively: these would land on the provider's
    // framework-typed Application/DevAccount fields and fail the decode.
    for (k, _) in c.as_object().unwrap() {
        let k = k.to_ascii_lowercase();
        assert!(k != "application" && k != "devaccount", "{k} in {c}");
    }
    assert!(c.get("secret_access_key").is_none(), "{c}");
}

#[tokio::test]
async fn the_terraform_providers_whole_struct_creates_patches_and_lists() {
    let server = start();
    let token = server.admin().await;
    let endpoint = kms_endpoint();

    let created = server
        .post(
            BASE,
            &token,
            provider_connection_body("TerraformTest", &endpoint),
        )
        .await
        .expect(201)
        .body;
    assert_provider_reads(&created);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "TerraformTest");
    assert_eq!(created["cloud_name"], "aws");
    assert_eq!(created["aws_region"], "us-east-1");
    assert_eq!(created["last_connection_ok"], false);
    let sealed = sealed_secret(&server, &id).await;

    // The newest provider's PATCH: the whole struct again, `name` and the secret as "" (no
    // change), labels/meta as merge patches (null deletes), `products` as [].
    let mut patch = provider_connection_body("", &endpoint);
    patch["id"] = json!(id);
    patch["secret_access_key"] = json!("");
    patch["description"] = json!("managed by terraform");
    patch["labels"] = json!({"team": "crypto", "env": "test"});
    patch["meta"] = json!({"owner": {"name": "ops"}, "tier": 1});
    patch["products"] = json!([]);
    let r = server
        .patch(&format!("{BASE}/{id}"), &token, patch.clone())
        .await
        .expect(200)
        .body;
    assert_provider_reads(&r);
    assert_eq!(r["id"], id.as_str(), "the PATCH answer carries the id: {r}");
    assert_eq!(r["name"], "TerraformTest");
    assert_eq!(r["description"], "managed by terraform");
    assert_eq!(r["labels"], json!({"team": "crypto", "env": "test"}));
    assert_eq!(sealed_secret(&server, &id).await, sealed, "secret kept");

    patch["labels"] = json!({"env": null, "region": "eu"});
    patch["meta"] = json!({"owner": {"name": null, "team": "sec"}, "tier": null});
    let r = server
        .patch(&format!("{BASE}/{id}"), &token, patch.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(r["labels"], json!({"team": "crypto", "region": "eu"}));
    assert_eq!(r["meta"], json!({"owner": {"team": "sec"}}));
    let got = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(got, r);

    // The variant struct (no omitempty on name) sends the name itself: no change either; a
    // different one is refused.
    patch["name"] = json!("TerraformTest");
    server
        .patch(&format!("{BASE}/{id}"), &token, patch.clone())
        .await
        .expect(200);
    patch["name"] = json!("Renamed");
    server
        .patch(&format!("{BASE}/{id}"), &token, patch)
        .await
        .expect_error(400, "name");

    // A meta that is not an object is refused (the provider would panic on it).
    let mut bad = provider_connection_body("bad-meta", &endpoint);
    bad["meta"] = json!("text");
    server
        .post(BASE, &token, bad)
        .await
        .expect_error(400, "meta");

    // The list data source: a trailing slash, paging, and the name filter (§1.3, §2.6).
    server
        .post(BASE, &token, provider_connection_body("other", &endpoint))
        .await
        .expect(201);
    let all = server
        .get(&format!("{BASE}/?skip=0&limit=256"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(all["total"], 2, "{all}");
    for c in all["resources"].as_array().unwrap() {
        assert_provider_reads(c);
    }
    let one = server
        .get(
            &format!("{BASE}/?name=TerraformTest&skip=0&limit=256"),
            &token,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(one["total"], 1, "{one}");
    assert_eq!(one["resources"][0]["id"], id.as_str());
    let by_id = server
        .get(&format!("{BASE}?id={id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_id["total"], 1, "{by_id}");
    let none = server
        .get(&format!("{BASE}?name=missing"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(none["total"], 0);
    assert_eq!(none["resources"], json!([]));
    let unfiltered = server
        .get(&format!("{BASE}?name=&cloud_name=aws"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(unfiltered["total"], 2, "an empty filter is no filter");
    // A trailing slash on an item path routes too; the docs keep theirs.
    server
        .get(&format!("{BASE}/{id}/"), &token)
        .await
        .expect(200);
}
