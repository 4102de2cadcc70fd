//! User management and who may do what: the users API, its checks, and the groups `admin`,
//! `CCKM Admins` and `CCKM Users` on every kind of route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN_PASSWORD, Server};
use reqwest::Method;
use serde_json::{Value, json};

const USERS: &str = "/api/v1/usermgmt/users";
const CONNECTIONS: &str = "/api/v1/connectionmgmt/services/aws/connections";
const KMS: &str = "/api/v1/cckm/aws/kms";
const AUDIT: &str = "/api/v1/audit/records";

fn bare(user_id: &str) -> &str {
    user_id
        .strip_prefix("local|")
        .expect("user_id is local|<uuid>")
}

/// `local|<uuid>` percent-encoded for a path segment.
fn encoded(user_id: &str) -> String {
    user_id.replace('|', "%7C")
}

fn kms_body(name: &str, connection: &str) -> Value {
    json!({
        "name": name,
        "account_id": "000000000000",
        "connection": connection,
        "regions": ["ap-south-1"],
    })
}

#[tokio::test]
async fn create_list_get_patch_delete() {
    let server = Server::start();
    let admin = server.admin().await;

    let created = server
        .post(
            USERS,
            &admin,
            json!({
                "username": "frank",
                "password": "frank-password-1",
                "name": "Frank Smith",
                "email": "frank@example.com",
                "groups": ["CCKM Users"],
            }),
        )
        .await
        .expect(201)
        .body;
    let user_id = created["user_id"].as_str().unwrap().to_string();
    assert!(user_id.starts_with("local|"), "{created}");
    assert!(uuid::Uuid::parse_str(bare(&user_id)).is_ok(), "{user_id}");
    assert_eq!(created["username"], "frank");
    assert_eq!(created["name"], "Frank Smith");
    assert_eq!(created["email"], "frank@example.com");
    assert_eq!(created["groups"], json!(["CCKM Users"]));
    assert!(created["created_at"].is_string());
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    assert!(!created.to_string().contains("frank-password-1"));

    // List: admin and frank.
    let list = server.get(USERS, &admin).await.expect(200).body;
    assert_eq!(list["total"], 2);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"admin") && names.contains(&"frank"),
        "{names:?}"
    );
    assert!(
        !list.to_string().contains("argon2"),
        "no hashes in the list"
    );

    // Get by `local|<uuid>` (encoded) and by the bare uuid.
    let one = server
        .get(&format!("{USERS}/{}", encoded(&user_id)), &admin)
        .await
        .expect(200);
    assert_eq!(one.body["username"], "frank");
    assert_eq!(one.body["user_id"], user_id.as_str());
    let one = server
        .get(&format!("{USERS}/{}", bare(&user_id)), &admin)
        .await
        .expect(200);
    assert_eq!(one.body["username"], "frank");
    server
        .get(&format!("{USERS}/{}", uuid::Uuid::new_v4()), &admin)
        .await
        .expect_error(404, "not found");

    // Patch name, e-mail and groups; the password is checked at login.
    let patched = server
        .patch(
            &format!("{USERS}/{}", encoded(&user_id)),
            &admin,
            json!({
                "name": "Frank J. Smith",
                "email": "fjs@example.com",
                "groups": ["CCKM Admins"],
            }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["name"], "Frank J. Smith");
    assert_eq!(patched["email"], "fjs@example.com");
    assert_eq!(patched["groups"], json!(["CCKM Admins"]));
    let again = server
        .get(&format!("{USERS}/{}", bare(&user_id)), &admin)
        .await
        .expect(200);
    assert_eq!(again.body["groups"], json!(["CCKM Admins"]));
    // The new groups take effect on a token issued before the change (groups are read afresh).
    let frank = server.login("frank", "frank-password-1").await;
    server.get(CONNECTIONS, &frank).await.expect(200);
    server
        .patch(
            &format!("{USERS}/{}", bare(&user_id)),
            &admin,
            json!({"groups": ["CCKM Users"]}),
        )
        .await
        .expect(200);
    server.get(CONNECTIONS, &frank).await.expect_error(403, "");
    // An empty patch is refused.
    server
        .patch(&format!("{USERS}/{}", bare(&user_id)), &admin, json!({}))
        .await
        .expect_error(400, "nothing to change");
    // A user may read and rename themselves, but not change their own groups.
    server
        .get(&format!("{USERS}/{}", encoded(&user_id)), &frank)
        .await
        .expect(200);
    server
        .patch(
            &format!("{USERS}/{}", bare(&user_id)),
            &frank,
            json!({"name": "F"}),
        )
        .await
        .expect(200);
    server
        .patch(
            &format!("{USERS}/{}", bare(&user_id)),
            &frank,
            json!({"groups": ["admin"]}),
        )
        .await
        .expect_error(403, "");

    // Delete: 204, then gone; their token stops working; their login fails.
    server
        .delete(&format!("{USERS}/{}", encoded(&user_id)), &admin)
        .await
        .expect(204);
    server
        .get(&format!("{USERS}/{}", bare(&user_id)), &admin)
        .await
        .expect_error(404, "not found");
    server
        .delete(&format!("{USERS}/{}", bare(&user_id)), &admin)
        .await
        .expect_error(404, "not found");
    assert_eq!(server.get(USERS, &admin).await.expect(200).body["total"], 1);
    server.get(KMS, &frank).await.expect_error(401, "");
    server
        .login_reply("frank", "frank-password-1")
        .await
        .expect_error(401, "Wrong username or password.");
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let server = Server::start();
    let admin = server.admin().await;
    server
        .post(
            USERS,
            &admin,
            json!({"username": "gina", "password": "gina-password-1"}),
        )
        .await
        .expect(201);
    // Duplicate username.
    server
        .post(
            USERS,
            &admin,
            json!({"username": "gina", "password": "another-password-1"}),
        )
        .await
        .expect_error(409, "already exists");
    server
        .post(
            USERS,
            &admin,
            json!({"username": "admin", "password": "another-password-1"}),
        )
        .await
        .expect_error(409, "already exists");
    // Short password, on create and on change.
    server
        .post(
            USERS,
            &admin,
            json!({"username": "hank", "password": "short"}),
        )
        .await
        .expect_error(400, "password");
    let r = server
        .post(
            USERS,
            &admin,
            json!({"username": "hank", "password": "short"}),
        )
        .await
        .expect(400);
    assert!(
        r.body["message"].as_str().unwrap().starts_with("password:"),
        "{}",
        r.body
    );
    let gina = server.get(USERS, &admin).await.expect(200).body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "gina")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .patch(
            &format!("{USERS}/{}", encoded(&gina)),
            &admin,
            json!({"password": "1234567"}),
        )
        .await
        .expect_error(400, "password: must be at least 8");
    // Unknown group.
    server
        .post(
            USERS,
            &admin,
            json!({"username": "hank", "password": "hank-password-1", "groups": ["Wizards"]}),
        )
        .await
        .expect_error(400, "groups: unknown group 'Wizards'");
    server
        .patch(
            &format!("{USERS}/{}", encoded(&gina)),
            &admin,
            json!({"groups": ["Wizards"]}),
        )
        .await
        .expect_error(400, "groups");
    // Bad e-mail, missing username.
    server
        .post(
            USERS,
            &admin,
            json!({"username": "hank", "password": "hank-password-1", "email": "not-an-address"}),
        )
        .await
        .expect_error(400, "email");
    server
        .post(USERS, &admin, json!({"password": "hank-password-1"}))
        .await
        .expect_error(400, "username");
    // Nothing of the refused requests was written.
    let list = server.get(USERS, &admin).await.expect(200).body;
    assert_eq!(list["total"], 2, "{list}");
    server
        .login_reply("hank", "hank-password-1")
        .await
        .expect(401);
}

#[tokio::test]
async fn admins_cannot_delete_themselves_or_remove_the_last_admin() {
    let server = Server::start();
    let admin = server.admin().await;
    let me = server.get(USERS, &admin).await.expect(200).body["resources"][0].clone();
    assert_eq!(me["username"], "admin");
    let admin_id = me["user_id"].as_str().unwrap().to_string();

    server
        .delete(&format!("{USERS}/{}", encoded(&admin_id)), &admin)
        .await
        .expect_error(409, "yourself");
    // The only admin cannot leave the admin group.
    server
        .patch(
            &format!("{USERS}/{}", bare(&admin_id)),
            &admin,
            json!({"groups": ["CCKM Admins"]}),
        )
        .await
        .expect_error(409, "last user in group admin");
    assert_eq!(
        server
            .get(&format!("{USERS}/{}", bare(&admin_id)), &admin)
            .await
            .expect(200)
            .body["groups"],
        json!(["admin"])
    );

    // With a second admin, the first may be demoted, and then deleted by the second.
    let second = server.user_token(&admin, "ivy", &["admin"]).await;
    server
        .patch(
            &format!("{USERS}/{}", bare(&admin_id)),
            &admin,
            json!({"groups": ["CCKM Admins"]}),
        )
        .await
        .expect(200);
    // Now ivy is the last admin: she cannot demote herself nor delete herself.
    let ivy_id = server.get(USERS, &second).await.expect(200).body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ivy")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    server
        .patch(
            &format!("{USERS}/{}", bare(&ivy_id)),
            &second,
            json!({"groups": []}),
        )
        .await
        .expect_error(409, "last user in group admin");
    server
        .delete(&format!("{USERS}/{}", bare(&ivy_id)), &second)
        .await
        .expect_error(409, "yourself");
    server
        .delete(&format!("{USERS}/{}", bare(&admin_id)), &second)
        .await
        .expect(204);
    server
        .login_reply("admin", ADMIN_PASSWORD)
        .await
        .expect(401);
}

#[tokio::test]
async fn admin_may_do_everything() {
    let server = Server::start();
    let admin = server.admin().await;
    server.get(USERS, &admin).await.expect(200);
    server.get(AUDIT, &admin).await.expect(200);
    let conn = server.localstack_connection(&admin, "ls-admin").await;
    server.get(CONNECTIONS, &admin).await.expect(200);
    let conn_id = conn["id"].as_str().unwrap();
    server
        .get(&format!("{CONNECTIONS}/{conn_id}"), &admin)
        .await
        .expect(200);
    let kms = server
        .post(KMS, &admin, kms_body("kms-admin", "ls-admin"))
        .await
        .expect(201)
        .body;
    assert_eq!(kms["connection"], "ls-admin");
    server.get(KMS, &admin).await.expect(200);
    let kms_id = kms["id"].as_str().unwrap();
    server
        .get(&format!("{KMS}/{kms_id}"), &admin)
        .await
        .expect(200);
    server
        .delete(&format!("{KMS}/{kms_id}"), &admin)
        .await
        .expect(204);
    server
        .delete(&format!("{CONNECTIONS}/{conn_id}"), &admin)
        .await
        .expect(204);
}

#[tokio::test]
async fn cckm_admins_manage_cckm_and_connections_but_not_users_or_audit() {
    let server = Server::start();
    let admin = server.admin().await;
    let token = server.user_token(&admin, "jack", &["CCKM Admins"]).await;

    let conn = server.localstack_connection(&token, "ls-jack").await;
    let conn_id = conn["id"].as_str().unwrap().to_string();
    let list = server.get(CONNECTIONS, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);
    server
        .get(&format!("{CONNECTIONS}/{conn_id}"), &token)
        .await
        .expect(200);
    server
        .patch(
            &format!("{CONNECTIONS}/{conn_id}"),
            &token,
            json!({"description": "by jack"}),
        )
        .await
        .expect(200);

    let kms = server
        .post(KMS, &token, kms_body("kms-jack", &conn_id))
        .await
        .expect(201)
        .body;
    assert_eq!(kms["name"], "kms-jack");
    assert_eq!(kms["regions"], json!(["ap-south-1"]));
    let list = server.get(KMS, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["resources"][0]["name"], "kms-jack");

    server.get(USERS, &token).await.expect_error(403, "");
    server
        .post(
            USERS,
            &token,
            json!({"username": "x", "password": "x-password-1"}),
        )
        .await
        .expect_error(403, "");
    server.get(AUDIT, &token).await.expect_error(403, "");
    // Nothing was created by the refused request.
    assert_eq!(server.get(USERS, &admin).await.expect(200).body["total"], 2);
}

#[tokio::test]
async fn cckm_users_read_cckm_only() {
    let server = Server::start();
    let admin = server.admin().await;
    let conn = server.localstack_connection(&admin, "ls-main").await;
    let conn_id = conn["id"].as_str().unwrap().to_string();
    let kms = server
        .post(KMS, &admin, kms_body("kms", "ls-main"))
        .await
        .expect(201)
        .body;
    let kms_id = kms["id"].as_str().unwrap().to_string();
    let token = server.user_token(&admin, "kate", &["CCKM Users"]).await;

    let list = server.get(KMS, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);
    server
        .get(&format!("{KMS}/{kms_id}"), &token)
        .await
        .expect(200);

    server
        .post(KMS, &token, kms_body("kms-kate", "ls-main"))
        .await
        .expect_error(403, "");
    server
        .patch(
            &format!("{KMS}/{kms_id}"),
            &token,
            json!({"regions": ["us-east-1"]}),
        )
        .await
        .expect_error(403, "");
    server
        .delete(&format!("{KMS}/{kms_id}"), &token)
        .await
        .expect_error(403, "");
    server.get(CONNECTIONS, &token).await.expect_error(403, "");
    server
        .get(&format!("{CONNECTIONS}/{conn_id}"), &token)
        .await
        .expect_error(403, "");
    server
        .post(
            CONNECTIONS,
            &token,
            json!({
                "name": "kate-conn",
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "x",
                "aws_region": "ap-south-1",
            }),
        )
        .await
        .expect_error(403, "");
    server
        .delete(&format!("{CONNECTIONS}/{conn_id}"), &token)
        .await
        .expect_error(403, "");
    server.get(USERS, &token).await.expect_error(403, "");
    server.get(AUDIT, &token).await.expect_error(403, "");

    // The refused calls changed nothing.
    let list = server.get(KMS, &admin).await.expect(200).body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["resources"][0]["regions"], json!(["ap-south-1"]));
    assert_eq!(
        server.get(CONNECTIONS, &admin).await.expect(200).body["total"],
        1
    );

    // A user in no group may do nothing but read themselves.
    let nobody = server.user_token(&admin, "leo", &[]).await;
    server.get(KMS, &nobody).await.expect_error(403, "");
    server.get(CONNECTIONS, &nobody).await.expect_error(403, "");
}

#[tokio::test]
async fn no_token_or_a_bad_one_is_401() {
    let server = Server::start();
    for path in [USERS, CONNECTIONS, KMS, AUDIT] {
        server
            .call(Method::GET, path, None, None)
            .await
            .expect_error(401, "bearer token");
        server.get(path, "garbage").await.expect_error(401, "");
        server.get(path, "a.b.c").await.expect_error(401, "");
    }
    server
        .call(
            Method::POST,
            USERS,
            None,
            Some(json!({"username": "m", "password": "m-password-1"})),
        )
        .await
        .expect_error(401, "");
    // Not a Bearer scheme.
    let r = server
        .client()
        .get(format!("{}{USERS}", server.url))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    common::reply(r).await.expect_error(401, "Bearer");
    // Health needs none.
    server
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}
