//! Logging in: the password and refresh-token grants (JSON and form-encoded), the JWT's
//! claims and lifetime, revocation, login slowdown and lockout, secrets at rest, and bad
//! access tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ADMIN_PASSWORD, Reply, Server, reply};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

const TOKENS: &str = "/api/v1/auth/tokens";

/// Decodes base64url without padding (the JWT segments); panics on anything else.
fn b64url_decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {c:?}"),
        }
    }
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn b64url_encode(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= (*b as u32) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(A[((acc >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn jwt_payload(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {jwt}");
    serde_json::from_slice(&b64url_decode(parts[1])).expect("payload is JSON")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn post_raw(server: &Server, path: &str, content_type: &str, body: String) -> Reply {
    let resp = server
        .client()
        .post(format!("{}{}", server.url, path))
        .header(CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    reply(resp).await
}

async fn refresh(server: &Server, refresh_token: &str) -> Reply {
    server
        .call(
            Method::POST,
            TOKENS,
            None,
            Some(json!({"grant_type": "refresh_token", "refresh_token": refresh_token})),
        )
        .await
}

fn assert_token_response(body: &Value, duration: i64) {
    assert!(
        body["jwt"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert_eq!(body["duration"], duration, "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(
        body["client_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["refresh_token_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|s| s.len() >= 32),
        "{body}"
    );
}

#[tokio::test]
async fn password_grant_json_and_form_give_ciphertrust_tokens() {
    let server = Server::start();
    let before = now_secs();

    let r = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_token_response(&r.body, 300);
    let jwt = r.body["jwt"].as_str().unwrap().to_string();
    let claims = jwt_payload(&jwt);
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!(
        iat >= before - 1 && iat <= now_secs() + 1,
        "iat {iat} is not now"
    );
    assert_eq!(exp, iat + 300, "exp = iat + duration");
    assert_eq!(claims["preferred_username"], "admin");
    assert!(
        claims["sub"].as_str().unwrap().starts_with("local|"),
        "{claims}"
    );
    assert_eq!(claims["cust"]["groups"], json!(["admin"]));

    // The subject is the user's id as the users API writes it.
    let users = server
        .get("/api/v1/usermgmt/users?limit=-1", &jwt)
        .await
        .expect(200);
    let admin = users.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .expect("admin listed")
        .clone();
    assert_eq!(claims["sub"], admin["user_id"]);

    // Form-encoded, as ciphertrust-sdk sends it.
    let form = format!("grant_type=password&username=admin&password={ADMIN_PASSWORD}");
    let f = post_raw(&server, TOKENS, "application/x-www-form-urlencoded", form)
        .await
        .expect(200);
    assert_token_response(&f.body, 300);
    let jwt2 = f.body["jwt"].as_str().unwrap();
    assert_ne!(jwt, jwt2, "two logins give two different tokens");
    let claims2 = jwt_payload(jwt2);
    assert_ne!(claims["jti"], claims2["jti"], "each token has its own id");
    assert_ne!(r.body["refresh_token"], f.body["refresh_token"]);
    assert_ne!(r.body["refresh_token_id"], f.body["refresh_token_id"]);
    server.get("/api/v1/usermgmt/users", jwt2).await.expect(200);

    // A form with the wrong password is refused like a JSON one.
    let bad = "grant_type=password&username=admin&password=nope-nope-nope".to_string();
    post_raw(&server, TOKENS, "application/x-www-form-urlencoded", bad)
        .await
        .expect_error(401, "Wrong username or password.");

    // Bad grant requests name the field.
    server
        .call(
            Method::POST,
            TOKENS,
            None,
            Some(json!({"grant_type": "password", "username": "admin"})),
        )
        .await
        .expect_error(400, "password");
    server
        .call(
            Method::POST,
            TOKENS,
            None,
            Some(json!({"grant_type": "magic"})),
        )
        .await
        .expect_error(400, "grant_type");
}

#[tokio::test]
async fn token_ttl_setting_changes_duration_and_exp() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_TOKEN_TTL_SECS", "120"),
        ],
    );
    let r = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_token_response(&r.body, 120);
    let claims = jwt_payload(r.body["jwt"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
}

#[tokio::test]
async fn refresh_grant_and_revocation() {
    let server = Server::start();
    let first = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200)
        .body;
    let jwt = first["jwt"].as_str().unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    let rt_id = first["refresh_token_id"].as_str().unwrap();

    // Refresh (JSON) gives a new, working JWT for the same user.
    let r = refresh(&server, rt).await.expect(200);
    assert_eq!(r.body["duration"], 300);
    assert_eq!(r.body["token_type"], "Bearer");
    let new_jwt = r.body["jwt"].as_str().unwrap();
    assert_ne!(new_jwt, jwt);
    let c_old = jwt_payload(jwt);
    let c_new = jwt_payload(new_jwt);
    assert_ne!(c_old["jti"], c_new["jti"]);
    assert_eq!(c_old["sub"], c_new["sub"]);
    assert_eq!(c_new["preferred_username"], "admin");
    assert_eq!(r.body["refresh_token_id"], rt_id);
    server
        .get("/api/v1/usermgmt/users", new_jwt)
        .await
        .expect(200);

    // Refresh form-encoded works too.
    let form = format!("grant_type=refresh_token&refresh_token={rt}");
    post_raw(&server, TOKENS, "application/x-www-form-urlencoded", form)
        .await
        .expect(200);

    // An unknown refresh token is 401.
    refresh(&server, &"0".repeat(64))
        .await
        .expect_error(401, "refresh token");

    // Revoke it: 204; then it no longer refreshes. An unknown id is 404.
    server
        .delete(&format!("{TOKENS}/{rt_id}"), jwt)
        .await
        .expect(204);
    refresh(&server, rt)
        .await
        .expect_error(401, "refresh token");
    server
        .delete(&format!("{TOKENS}/{}", uuid::Uuid::new_v4()), jwt)
        .await
        .expect_error(404, "not found");
    // Revocation needs a token.
    server
        .call(Method::DELETE, &format!("{TOKENS}/{rt_id}"), None, None)
        .await
        .expect_error(401, "");

    // Another login's refresh token is unaffected.
    let second = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200)
        .body;
    refresh(&server, second["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
}

#[tokio::test]
async fn a_user_may_revoke_only_their_own_refresh_tokens() {
    let server = Server::start();
    let admin = server.admin().await;
    server
        .post(
            "/api/v1/usermgmt/users",
            &admin,
            json!({"username": "bob", "password": "bob-password-1", "groups": ["CCKM Users"]}),
        )
        .await
        .expect(201);
    let bob = server
        .login_reply("bob", "bob-password-1")
        .await
        .expect(200)
        .body;
    let bob_jwt = bob["jwt"].as_str().unwrap();
    let other = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200)
        .body;
    // Bob cannot revoke the admin's token...
    server
        .delete(
            &format!("{TOKENS}/{}", other["refresh_token_id"].as_str().unwrap()),
            bob_jwt,
        )
        .await
        .expect_error(403, "");
    refresh(&server, other["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
    // ...but can revoke his own, and the admin can revoke anyone's.
    server
        .delete(
            &format!("{TOKENS}/{}", bob["refresh_token_id"].as_str().unwrap()),
            bob_jwt,
        )
        .await
        .expect(204);
    refresh(&server, bob["refresh_token"].as_str().unwrap())
        .await
        .expect(401);
    server
        .delete(
            &format!("{TOKENS}/{}", other["refresh_token_id"].as_str().unwrap()),
            &admin,
        )
        .await
        .expect(204);
    refresh(&server, other["refresh_token"].as_str().unwrap())
        .await
        .expect(401);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let server = Server::start();
    let wrong = server.login_reply("admin", "not-the-password").await;
    let wrong = wrong.expect_error(401, "Wrong username or password.");
    let unknown = server.login_reply("nobody-here", "not-the-password").await;
    let unknown = unknown.expect_error(401, "Wrong username or password.");
    assert_eq!(wrong.body, unknown.body, "no hint whether the user exists");
    assert!(wrong.body.get("jwt").is_none());
    // The right password still works after one failure (below the slowdown).
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
}

#[tokio::test]
async fn repeated_wrong_passwords_slow_down_then_lock() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SLOWDOWN_AFTER", "2"),
            ("KEYWARD_LOGIN_LOCK_AFTER", "3"),
            ("KEYWARD_LOGIN_LOCK_SECS", "600"),
        ],
    );
    let admin = server.admin().await;
    server.user_token(&admin, "carol", &["CCKM Users"]).await;
    let carol_refresh = server
        .login_reply("carol", "carol-password-1")
        .await
        .expect(200)
        .body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Two wrong passwords: plain 401s.
    for _ in 0..2 {
        server
            .login_reply("carol", "wrong-password-x")
            .await
            .expect_error(401, "Wrong username or password.");
    }
    // The next attempt right away must wait, even with the right password.
    let slow = server.login_reply("carol", "carol-password-1").await;
    let slow = slow.expect_error(429, "try again");
    let retry: u64 = slow.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");

    // After waiting, a third wrong password locks the user.
    tokio::time::sleep(Duration::from_millis(1100 * retry)).await;
    server
        .login_reply("carol", "wrong-password-x")
        .await
        .expect_error(401, "Wrong username or password.");
    let locked = server.login_reply("carol", "carol-password-1").await;
    let locked = locked.expect_error(429, "locked");
    let retry: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 500 && retry <= 600, "retry-after {retry}");
    // A locked user cannot refresh either.
    refresh(&server, &carol_refresh)
        .await
        .expect_error(401, "locked");
    // Other users are unaffected.
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);

    // The user shows the lock; an admin resetting the password lifts it.
    let me = server
        .get("/api/v1/usermgmt/users?limit=-1", &admin)
        .await
        .expect(200);
    let carol = me.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "carol")
        .unwrap()
        .clone();
    assert_eq!(carol["failed_logins_count"], 3);
    assert!(carol["locked_until"].is_string(), "{carol}");
    let id = carol["user_id"]
        .as_str()
        .unwrap()
        .strip_prefix("local|")
        .unwrap();
    server
        .patch(
            &format!("/api/v1/usermgmt/users/{id}"),
            &admin,
            json!({"password": "carol-password-2"}),
        )
        .await
        .expect(200);
    server
        .login_reply("carol", "carol-password-2")
        .await
        .expect(200);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secrets_are_not_stored_in_plaintext() {
    let server = Server::start();
    let admin = server.admin().await;
    let user_password = "dave-very-secret-pw-42";
    server
        .post(
            "/api/v1/usermgmt/users",
            &admin,
            json!({"username": "dave", "password": user_password, "groups": ["CCKM Users"]}),
        )
        .await
        .expect(201);
    let t = server
        .login_reply("dave", user_password)
        .await
        .expect(200)
        .body;
    let refresh_token = t["refresh_token"].as_str().unwrap().to_string();
    let refresh_id = t["refresh_token_id"].as_str().unwrap().to_string();
    let changed_password = "dave-changed-secret-pw-43";
    let dave_id = jwt_payload(t["jwt"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .patch(
            &format!("/api/v1/usermgmt/users/{}", dave_id.replace('|', "%7C")),
            &admin,
            json!({"password": changed_password}),
        )
        .await
        .expect(200);
    let t2 = server
        .login_reply("dave", changed_password)
        .await
        .expect(200)
        .body;
    let refresh2 = t2["refresh_token"].as_str().unwrap().to_string();

    let data = server.data_dir();
    let mut bytes = Vec::new();
    for name in ["keyward.db", "keyward.db-wal"] {
        if let Ok(b) = std::fs::read(data.join(name)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096, "the database was read");
    // Sanity: the store does hold things we know are there in the clear.
    assert!(contains(&bytes, b"dave"));
    assert!(
        contains(&bytes, refresh_id.as_bytes()),
        "the refresh token's id is stored"
    );
    for secret in [
        ADMIN_PASSWORD,
        user_password,
        changed_password,
        refresh_token.as_str(),
        refresh2.as_str(),
    ] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{secret:?} is in the database file in plaintext"
        );
    }
    // Nor in the server's log.
    let log = server.stderr();
    for secret in [
        ADMIN_PASSWORD,
        user_password,
        changed_password,
        &refresh_token,
        &refresh2,
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log");
    }
}

#[tokio::test]
async fn password_change_revokes_refresh_tokens() {
    let server = Server::start();
    let admin = server.admin().await;
    server
        .post(
            "/api/v1/usermgmt/users",
            &admin,
            json!({"username": "erin", "password": "erin-password-1", "groups": ["CCKM Users"]}),
        )
        .await
        .expect(201);
    let a = server
        .login_reply("erin", "erin-password-1")
        .await
        .expect(200)
        .body;
    let b = server
        .login_reply("erin", "erin-password-1")
        .await
        .expect(200)
        .body;
    let admin_rt = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200)
        .body;
    refresh(&server, a["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
    let sub = jwt_payload(a["jwt"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let id = sub.strip_prefix("local|").unwrap();

    // The user changes their own password (proving the current one: issue 9).
    server
        .patch(
            &format!("/api/v1/usermgmt/users/{id}"),
            a["jwt"].as_str().unwrap(),
            json!({"password": "erin-password-2", "current_password": "erin-password-1"}),
        )
        .await
        .expect(200);
    refresh(&server, a["refresh_token"].as_str().unwrap())
        .await
        .expect_error(401, "refresh token");
    refresh(&server, b["refresh_token"].as_str().unwrap())
        .await
        .expect_error(401, "refresh token");
    // Another user's refresh token survives.
    refresh(&server, admin_rt["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
    // The old password is gone, the new one works.
    server
        .login_reply("erin", "erin-password-1")
        .await
        .expect(401);
    let c = server
        .login_reply("erin", "erin-password-2")
        .await
        .expect(200)
        .body;
    refresh(&server, c["refresh_token"].as_str().unwrap())
        .await
        .expect(200);

    // An admin changing the password revokes too.
    server
        .patch(
            &format!("/api/v1/usermgmt/users/{id}"),
            &admin,
            json!({"password": "erin-password-3"}),
        )
        .await
        .expect(200);
    refresh(&server, c["refresh_token"].as_str().unwrap())
        .await
        .expect(401);
}

#[tokio::test]
async fn tampered_and_garbage_tokens_are_refused() {
    let server = Server::start();
    let jwt = server.admin().await;
    server.get("/api/v1/usermgmt/users", &jwt).await.expect(200);
    let claims = jwt_payload(&jwt);
    let parts: Vec<&str> = jwt.split('.').collect();

    // The payload changed (another user name, a later expiry): the signature no longer matches.
    let mut forged_claims = claims.clone();
    forged_claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    forged_claims["preferred_username"] = json!("mallory");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64url_encode(&serde_json::to_vec(&forged_claims).unwrap()),
        parts[2]
    );
    server
        .get("/api/v1/usermgmt/users", &forged)
        .await
        .expect_error(401, "");
    // A changed signature.
    let sig = parts[2];
    let first = if sig.starts_with('A') { 'B' } else { 'A' };
    let bad_sig = format!("{}.{}.{first}{}", parts[0], parts[1], &sig[1..]);
    server
        .get("/api/v1/usermgmt/users", &bad_sig)
        .await
        .expect_error(401, "");
    // alg "none" with no signature.
    let none_header = b64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    server
        .get("/api/v1/usermgmt/users", &unsigned)
        .await
        .expect_error(401, "");
    // Garbage, and a refresh token used as a bearer token.
    server
        .get("/api/v1/usermgmt/users", "garbage")
        .await
        .expect_error(401, "");
    let rt = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200)
        .body;
    server
        .get(
            "/api/v1/usermgmt/users",
            rt["refresh_token"].as_str().unwrap(),
        )
        .await
        .expect_error(401, "");
    // The genuine token still works.
    server.get("/api/v1/usermgmt/users", &jwt).await.expect(200);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_TOKEN_TTL_SECS", "3"),
        ],
    );
    let r = server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(200);
    assert_eq!(r.body["duration"], 3);
    let jwt = r.body["jwt"].as_str().unwrap().to_string();
    let claims = jwt_payload(&jwt);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3
    );
    server.get("/api/v1/usermgmt/users", &jwt).await.expect(200);
    // Wait until the clock reaches exp (at most 3 s).
    let exp_at = std::time::UNIX_EPOCH + Duration::from_secs(claims["exp"].as_u64().unwrap());
    if let Ok(left) = exp_at.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
    server
        .get("/api/v1/usermgmt/users", &jwt)
        .await
        .expect_error(401, "expired");
    // The refresh token still gives a fresh one.
    let fresh = refresh(&server, r.body["refresh_token"].as_str().unwrap())
        .await
        .expect(200);
    server
        .get(
            "/api/v1/usermgmt/users",
            fresh.body["jwt"].as_str().unwrap(),
        )
        .await
        .expect(200);
}

// --- Issue 9: limits that hold under concurrency, bounded password checks, usernames, password
// changes, offline unlock.

/// A client that connects from the given loopback address (the server sees it as the peer).
fn client_from(server: &Server, source: [u8; 4]) -> reqwest::Client {
    let pem = std::fs::read(server.data_dir().join("tls/cert.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .local_address(std::net::IpAddr::from(source))
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn login_with(client: &reqwest::Client, server: &Server, user: &str, pw: &str) -> Reply {
    let resp = client
        .post(format!("{}{TOKENS}", server.url))
        .json(&json!({"grant_type": "password", "username": user, "password": pw}))
        .send()
        .await
        .expect("login request");
    reply(resp).await
}

/// Sends `n` wrong passwords (and the right one too when `right` is given) for `user` at once;
/// returns the statuses.
async fn concurrent_logins(server: &Server, user: &str, n: usize, right: Option<&str>) -> Vec<u16> {
    let mut attempts = Vec::new();
    for i in 0..n {
        attempts.push(match right {
            Some(pw) if i == n / 2 => pw.to_string(),
            _ => format!("wrong-password-{i}"),
        });
    }
    let futures = attempts
        .iter()
        .map(|pw| async move { server.login_reply(user, pw).await.status.as_u16() });
    futures::future::join_all(futures).await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn user_record(server: &Server, admin: &str, username: &str) -> Value {
    let all = server
        .get("/api/v1/usermgmt/users?limit=-1", admin)
        .await
        .expect(200);
    all.body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap()
        .clone()
}

/// 30 wrong passwords at once: only as many as the lock allows are checked (401), the rest are
/// refused unchecked (429), and the user ends up locked. Before, every one of them was checked
/// and the counter lost updates.
#[tokio::test]
async fn concurrent_wrong_passwords_are_counted_before_they_are_checked() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SLOWDOWN_AFTER", "3"),
            ("KEYWARD_LOGIN_LOCK_AFTER", "3"),
            ("KEYWARD_LOGIN_SOURCE_BURST", "1000"),
            ("KEYWARD_PASSWORD_CHECKS_QUEUED", "100"),
        ],
    );
    let admin = server.admin().await;
    server.user_token(&admin, "carol", &["CCKM Users"]).await;
    let statuses = concurrent_logins(&server, "carol", 30, None).await;
    assert_eq!(count(&statuses, 401), 3, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 27, "{statuses:?}");
    let carol = user_record(&server, &admin, "carol").await;
    assert_eq!(carol["failed_logins_count"], 3, "{carol}");
    assert!(carol["locked_until"].is_string(), "{carol}");
    server
        .login_reply("carol", "carol-password-1")
        .await
        .expect_error(429, "locked");
}

/// The right password among 30 wrong ones, all at once: no more wrong passwords are checked
/// than the lock allows, counted afresh only after the right one succeeded (a success clears
/// the count it found, never attempts admitted after it); and since wrong ones follow, the user
/// ends up locked, so the right password is refused afterwards. Before, all 31 were checked.
#[tokio::test]
async fn the_right_password_among_concurrent_wrong_ones_cannot_outrun_the_lock() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SLOWDOWN_AFTER", "100"),
            ("KEYWARD_LOGIN_LOCK_AFTER", "5"),
            ("KEYWARD_LOGIN_SOURCE_BURST", "1000"),
            ("KEYWARD_PASSWORD_CHECKS_QUEUED", "100"),
        ],
    );
    let admin = server.admin().await;
    server.user_token(&admin, "dora", &["CCKM Users"]).await;
    let statuses = concurrent_logins(&server, "dora", 31, Some("dora-password-1")).await;
    let (wrong, right) = (count(&statuses, 401), count(&statuses, 200));
    assert!(right <= 1, "{statuses:?}");
    assert!(
        wrong <= 5 * (1 + right),
        "{wrong} wrong ones checked: {statuses:?}"
    );
    assert_eq!(count(&statuses, 429), 31 - wrong - right, "{statuses:?}");
    server
        .login_reply("dora", "dora-password-1")
        .await
        .expect_error(429, "locked");
}

/// One address that keeps guessing runs out of its own budget before it can lock the user, so
/// the user still logs in from elsewhere; its refused attempts are counted in /metrics, not
/// written to the audit trail one by one.
#[tokio::test]
async fn one_address_cannot_lock_a_user_out_for_everyone() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SLOWDOWN_AFTER", "100"),
            ("KEYWARD_LOGIN_LOCK_AFTER", "5"),
            ("KEYWARD_LOGIN_SOURCE_BURST", "3"),
        ],
    );
    let attacker = client_from(&server, [127, 0, 0, 1]);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let r = login_with(&attacker, &server, "admin", &format!("guess-{i}")).await;
        if r.status == 429 {
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("from this address"),
                "{:?}",
                r.body
            );
            assert!(r.headers.contains_key("retry-after"));
        }
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    // Unknown users spend the same budget.
    login_with(&attacker, &server, "nobody", "x-password")
        .await
        .expect(429);

    // The admin, from another address, is not locked out.
    let elsewhere = client_from(&server, [127, 0, 0, 2]);
    let ok = login_with(&elsewhere, &server, "admin", ADMIN_PASSWORD).await;
    let admin = ok.expect(200).body["jwt"].as_str().unwrap().to_string();

    let metrics = server
        .call(Method::GET, "/metrics", None, None)
        .await
        .expect(200);
    let text = metrics.body.as_str().unwrap().to_string();
    assert!(
        text.contains("keyward_login_refused_total{reason=\"source_limit\"} 8"),
        "{text}"
    );
    let trail = server.audit_records(&admin).await;
    let denied_logins = trail["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "auth.login" && r["outcome"] == "denied")
        .count();
    assert_eq!(denied_logins, 3, "{trail}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 500 logins at once: a bounded number of password checks run or wait, the rest get 429 at
/// once, the server's memory stays within 200 MiB of idle, and authenticated reads go on. The
/// read latency is printed (for the record), not asserted: machines differ in speed.
#[tokio::test]
async fn a_login_flood_is_bounded_in_memory_and_leaves_reads_alone() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SOURCE_BURST", "100000"),
            ("KEYWARD_PASSWORD_CHECKS_PARALLEL", "1"),
            ("KEYWARD_PASSWORD_CHECKS_QUEUED", "8"),
        ],
    );
    let admin = server.admin().await;
    let idle = rss_kib(server.pid());
    let flood = futures::future::join_all((0..500).map(|i| {
        let server = &server;
        async move {
            server
                .login_reply(&format!("nobody-{i}"), "wrong-password")
                .await
        }
    }));
    // The reads go over a connection of their own (on the flood's, HTTP/2 would queue them
    // behind its streams in the client), from a thread and runtime of their own: on the test's
    // single-threaded runtime they would wait for the client's own handling of the flood.
    let reader = client_from(&server, [127, 0, 0, 1]);
    let url = format!("{}/api/v1/usermgmt/users?limit=1", server.url);
    let token = admin.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let reads = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Connected before the flood (a client doing reads keeps its connection).
            let warm = reader.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(warm.status(), 200);
            started_tx.send(()).unwrap();
            let mut latencies = Vec::new();
            for _ in 0..100 {
                let t = std::time::Instant::now();
                let r = reader.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(r.status(), 200);
                latencies.push(t.elapsed());
            }
            latencies
        })
    });
    started_rx.recv().unwrap();
    let replies = flood.await;
    let mut latencies = reads.join().unwrap();
    let peak = rss_kib(server.pid());
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    let busy = replies
        .iter()
        .filter(|r| r.status == 429 && r.body["message"].as_str().unwrap_or("").contains("busy"))
        .count();
    assert_eq!(count(&statuses, 401) + busy, 500, "{statuses:?}");
    assert!(busy > 0, "a flood of 500 must meet the bound");
    assert!(count(&statuses, 401) >= 9, "{statuses:?}");
    latencies.sort();
    eprintln!(
        "login flood: {} checked, {busy} refused busy; RSS idle {} MiB, after {} MiB; authenticated read p50 {:?} p99 {:?}",
        count(&statuses, 401),
        idle / 1024,
        peak / 1024,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    assert!(
        peak.saturating_sub(idle) < 200 * 1024,
        "RSS grew from {idle} KiB to {peak} KiB"
    );
}

/// `ADMIN` is `admin`: a second user differing only in case is refused, and logging in with
/// another case finds the user (the token carries the stored name).
#[tokio::test]
async fn usernames_are_case_insensitive() {
    let server = Server::start_with(&[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = server.admin().await;
    server
        .post(
            "/api/v1/usermgmt/users",
            &admin,
            json!({"username": "ADMIN", "password": "another-admin-pw", "groups": ["admin"]}),
        )
        .await
        .expect_error(409, "already exists");
    let t = server
        .login_reply("AdMiN", ADMIN_PASSWORD)
        .await
        .expect(200);
    let claims = jwt_payload(t.body["jwt"].as_str().unwrap());
    assert_eq!(claims["preferred_username"], "admin", "{claims}");
}

/// Changing one's own password needs the current one, through the user's PATCH and through
/// CipherTrust's `PATCH /auth/changepw`; an admin resetting another user's does not.
#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one() {
    let server = Server::start_with(&[], &[("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let admin = server.admin().await;
    let fred = server.user_token(&admin, "fred", &["CCKM Users"]).await;
    let sub = jwt_payload(&fred)["sub"].as_str().unwrap().to_string();
    let path = format!("/api/v1/usermgmt/users/{}", sub.replace('|', "%7C"));
    server
        .patch(&path, &fred, json!({"password": "fred-password-2"}))
        .await
        .expect_error(400, "current_password");
    server
        .patch(
            &path,
            &fred,
            json!({"password": "fred-password-2", "current_password": "not-it-at-all"}),
        )
        .await
        .expect_error(403, "current_password");
    server
        .patch(
            &path,
            &fred,
            json!({"password": "fred-password-2", "current_password": "fred-password-1"}),
        )
        .await
        .expect(200);
    server.login("fred", "fred-password-2").await;

    // CipherTrust's own route, without a token.
    let changepw = |pw: &str, new: &str| {
        server.call(
            Method::PATCH,
            "/api/v1/auth/changepw",
            None,
            Some(json!({"username": "fred", "password": pw, "new_password": new})),
        )
    };
    changepw("wrong-password-9", "fred-password-3")
        .await
        .expect_error(401, "Wrong username or password.");
    changepw("fred-password-2", "fred-password-3")
        .await
        .expect(204);
    server.login("fred", "fred-password-3").await;

    // An admin resetting fred's password gives no current password.
    server
        .patch(&path, &admin, json!({"password": "fred-password-4"}))
        .await
        .expect(200);
    server.login("fred", "fred-password-4").await;
}

/// A locked-out admin: `keyward admin unlock` and `keyward admin reset-password` work on the data
/// directory beside the running server, and are audited.
#[tokio::test]
async fn offline_unlock_and_password_reset_for_a_locked_out_admin() {
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_LOGIN_SLOWDOWN_AFTER", "100"),
            ("KEYWARD_LOGIN_LOCK_AFTER", "2"),
        ],
    );
    for _ in 0..2 {
        server
            .login_reply("admin", "wrong-password-x")
            .await
            .expect(401);
    }
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect_error(429, "locked");
    let dir = server.data_dir();
    let dir = dir.to_str().unwrap();
    let (ok, out, err) = common::cli(&["admin", "unlock", "ADMIN", "--data-dir", dir], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("unlocked"), "{out}");
    server.admin().await;

    let (ok, out, err) = common::cli(
        &["admin", "reset-password", "admin", "--data-dir", dir],
        &[("KEYWARD_NEW_PASSWORD", "a-brand-new-admin-pw")],
    );
    assert!(ok, "{out}{err}");
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(401);
    let admin = server.login("admin", "a-brand-new-admin-pw").await;
    let trail = server.audit_records(&admin).await;
    let actions: Vec<&str> = trail["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"].as_str().unwrap_or("").starts_with("offline:"))
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.unlock"), "{trail}");
    assert!(actions.contains(&"user.reset-password"), "{trail}");
    let (ok, _, err) = common::cli(&["admin", "unlock", "nobody", "--data-dir", dir], &[]);
    assert!(!ok);
    assert!(err.contains("no user named"), "{err}");
}
