//! KMS containers (`/api/v1/cckm/aws/kms`): create (connection by name or id), list, get by id
//! and by name, update, delete, validation, delete refused while key records reference the
//! container, and the README walkthrough through the CLI.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{ADMIN_PASSWORD, Server, cli, kms_endpoint};
use serde_json::{Value, json};

const BASE: &str = "/api/v1/cckm/aws/kms";

fn kms_body(name: &str, connection: &str, regions: &[&str]) -> Value {
    json!({"name": name, "account_id": "000000000000", "connection": connection, "regions": regions})
}

/// Asserts every response field of spec 1.7.
fn assert_kms_shape(k: &Value, name: &str, connection: &str, regions: &[&str]) {
    let id = k["id"].as_str().expect("id");
    assert!(!id.is_empty());
    let uri = k["uri"].as_str().expect("uri");
    assert!(
        uri.starts_with("kylo:kylo:cckm:kms:") && uri.contains(id),
        "uri {uri}"
    );
    assert_eq!(k["account"], "kylo:kylo:admin:accounts:kylo");
    assert_eq!(k["application"], "ncryptify:gemalto:admin:apps:kylo");
    assert_eq!(k["devAccount"], "ncryptify:gemalto:admin:accounts:gemalto");
    for ts in ["createdAt", "updatedAt"] {
        let t = k[ts].as_str().unwrap_or("");
        assert!(
            t.contains('T') && t.ends_with('Z'),
            "{ts} is not RFC 3339 UTC: {t:?}"
        );
    }
    assert_eq!(k["name"], name);
    assert_eq!(k["account_id"], "000000000000");
    assert_eq!(
        k["connection"], connection,
        "connection is the connection's name: {k}"
    );
    assert_eq!(k["regions"], json!(regions));
    assert_eq!(k["arn"], "arn:aws:iam::000000000000:root");
    assert_eq!(k["assume_role_arn"], "");
    assert_eq!(k["assume_role_external_id"], "");
    assert_eq!(k["auto_added"], false);
    assert_eq!(k["status"], "active");
    assert_eq!(k["acls"], json!([]));
}

#[tokio::test]
async fn create_list_get_update_delete() {
    let server = Server::start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "aws-ls").await;
    let conn_id = conn["id"].as_str().unwrap();

    // POST with the connection by name, and by id.
    let first = server
        .post(BASE, &token, kms_body("first", "aws-ls", &["ap-south-1"]))
        .await
        .expect(201)
        .body;
    assert_kms_shape(&first, "first", "aws-ls", &["ap-south-1"]);
    let second = server
        .post(BASE, &token, kms_body("second", conn_id, &["ap-south-1"]))
        .await
        .expect(201)
        .body;
    assert_kms_shape(&second, "second", "aws-ls", &["ap-south-1"]);
    assert_ne!(first["id"], second["id"]);
    let id = first["id"].as_str().unwrap();

    // GET list: the envelope, in creation order.
    let list = server.get(BASE, &token).await.expect(200).body;
    assert_eq!(
        (
            list["skip"].clone(),
            list["limit"].clone(),
            list["total"].clone()
        ),
        (json!(0), json!(10), json!(2))
    );
    let names: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "second"]);
    let page = server
        .get(&format!("{BASE}?sort=-name&limit=1"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 2);
    assert_eq!(page["resources"].as_array().unwrap().len(), 1);
    assert_eq!(page["resources"][0]["name"], "second");

    // GET one, by id and by name.
    let by_id = server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_id, first);
    let by_name = server
        .get(&format!("{BASE}/first"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_name, first);
    server
        .get(&format!("{BASE}/missing"), &token)
        .await
        .expect_error(404, "missing");

    // PATCH regions (duplicates collapse).
    let patched = server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"regions": ["ap-south-1", "us-east-1", "us-east-1"]}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(patched["regions"], json!(["ap-south-1", "us-east-1"]));
    assert_eq!(patched["createdAt"], first["createdAt"]);
    assert_ne!(patched["updatedAt"], first["updatedAt"]);
    let again = server
        .get(&format!("{BASE}/first"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(again["regions"], json!(["ap-south-1", "us-east-1"]));

    // PATCH the connection (by name) to another one.
    server.localstack_connection(&token, "aws-ls-2").await;
    let moved = server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"connection": "aws-ls-2"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(moved["connection"], "aws-ls-2");
    assert_eq!(moved["regions"], json!(["ap-south-1", "us-east-1"]));

    // DELETE: 204 then 404; by name works too.
    let r = server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect(204);
    assert!(r.body.is_null());
    server
        .get(&format!("{BASE}/{id}"), &token)
        .await
        .expect(404);
    server
        .delete(&format!("{BASE}/{id}"), &token)
        .await
        .expect(404);
    let list = server.get(BASE, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["resources"][0]["name"], "second");
    server
        .delete(&format!("{BASE}/second"), &token)
        .await
        .expect(204);
    assert_eq!(server.get(BASE, &token).await.expect(200).body["total"], 0);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let server = Server::start();
    let token = server.admin().await;
    server.localstack_connection(&token, "conn").await;
    let existing = server
        .post(BASE, &token, kms_body("taken", "conn", &["ap-south-1"]))
        .await
        .expect(201)
        .body;

    server
        .post(BASE, &token, kms_body("taken", "conn", &["ap-south-1"]))
        .await
        .expect_error(409, "taken");

    let mut cases: Vec<(Value, u16, &str)> = vec![
        (
            kms_body("k1", "no-such-connection", &["ap-south-1"]),
            400,
            "connection",
        ),
        (kms_body("k1", "", &["ap-south-1"]), 400, "connection"),
        (kms_body("k1", "conn", &[]), 400, "regions"),
        (kms_body("k1", "conn", &["ap-south"]), 400, "regions"),
        (
            kms_body("k1", "conn", &["ap-south-1", "Mars-1"]),
            400,
            "regions",
        ),
        (kms_body("", "conn", &["ap-south-1"]), 400, "name"),
        (kms_body("a/b", "conn", &["ap-south-1"]), 400, "name"),
    ];
    for bad_account in ["12345", "00000000000a", "0000000000000"] {
        let mut b = kms_body("k1", "conn", &["ap-south-1"]);
        b["account_id"] = json!(bad_account);
        cases.push((b, 400, "account_id"));
    }
    let mut b = kms_body("k1", "conn", &["ap-south-1"]);
    b["assume_role_external_id"] = json!("ext-1");
    cases.push((b, 400, "assume_role_external_id"));
    let mut b = kms_body("k1", "conn", &["ap-south-1"]);
    b["assume_role_arn"] = json!("arn:aws:iam::1:role/r");
    cases.push((b, 400, "assume_role_arn"));
    // An external id AWS would refuse (2 to 1224 of letters, digits and +=,.@:/-_).
    for bad_external in ["x", "has spaces!"] {
        let mut b = kms_body("k1", "conn", &["ap-south-1"]);
        b["assume_role_arn"] = json!("arn:aws:iam::000000000000:role/cckm");
        b["assume_role_external_id"] = json!(bad_external);
        cases.push((b, 400, "assume_role_external_id"));
    }
    let mut b = kms_body("k1", "conn", &["ap-south-1"]);
    b.as_object_mut().unwrap().remove("regions");
    cases.push((b, 400, "regions"));
    for (body, status, field) in cases {
        let r = server.post(BASE, &token, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body} -> {}", r.body);
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
    }
    // Nothing was written.
    let list = server.get(BASE, &token).await.expect(200).body;
    assert_eq!(list["total"], 1);

    // PATCH checks the same and changes nothing when it fails.
    let path = format!("{BASE}/taken");
    for (body, field) in [
        (json!({"regions": []}), "regions"),
        (json!({"regions": ["eu-west"]}), "regions"),
        (json!({"connection": "no-such-connection"}), "connection"),
        (
            json!({"assume_role_external_id": "ext-1"}),
            "assume_role_external_id",
        ),
        (
            json!({"assume_role_arn": "arn:aws:iam::123456789012:user/u"}),
            "assume_role_arn",
        ),
        (
            json!({"assume_role_arn": "arn:aws:iam::000000000000:role/cckm", "assume_role_external_id": "bad id"}),
            "assume_role_external_id",
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
    assert_eq!(after, existing);

    // An unknown member is ignored (it used to be refused, naming it).
    let mut b = kms_body("k1", "conn", &["ap-south-1"]);
    b["colour"] = json!("blue");
    let made = server.post(BASE, &token, b).await.expect(201).body;
    assert!(made.get("colour").is_none(), "{made}");
}

#[tokio::test]
async fn delete_is_refused_while_key_records_reference_it() {
    let server = Server::start();
    let token = server.admin().await;
    server.localstack_connection(&token, "conn").await;
    let kms = server
        .post(
            BASE,
            &token,
            kms_body("holds-keys", "conn", &["ap-south-1"]),
        )
        .await
        .expect(201)
        .body;
    let kms_id = kms["id"].as_str().unwrap();

    // No API creates key records yet (the key lifecycle comes later), so the test writes one
    // into the aws_keys table directly while the server runs: SQLite in WAL mode lets this
    // second writer in, waiting on the busy timeout if the server is writing.
    let db = open_db(&server).await;
    sqlx::query(
        "INSERT INTO aws_keys (id, kms_id, region, key_id, arn, record_json, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
    )
    .bind("11111111-1111-4111-8111-111111111111")
    .bind(kms_id)
    .bind("ap-south-1")
    .bind("0d6a7c0e-1111-2222-3333-444455556666")
    .bind("arn:aws:kms:ap-south-1:000000000000:key/0d6a7c0e-1111-2222-3333-444455556666")
    .bind("{}")
    .bind("2025-01-01T00:00:00Z")
    .bind("2025-01-01T00:00:00Z")
    .execute(&db)
    .await
    .expect("insert a key record");

    server
        .delete(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect_error(409, "holds-keys");
    server
        .delete(&format!("{BASE}/holds-keys"), &token)
        .await
        .expect(409);
    server
        .get(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect(200);

    // Without the key record the delete goes through.
    sqlx::query("DELETE FROM aws_keys WHERE kms_id = ?")
        .bind(kms_id)
        .execute(&db)
        .await
        .expect("delete the key record");
    db.close().await;
    server
        .delete(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect(204);
    server
        .get(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect(404);
}

async fn open_db(server: &Server) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(server.data_dir().join("keyward.db"))
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open keyward.db")
}

/// The README's walkthrough, as a newcomer types it: start the server, log in with the CLI, add
/// a connection to LocalStack, add a KMS container named `kms` in `ap-south-1`.
#[tokio::test]
async fn readme_walkthrough_with_the_cli() {
    let server = Server::start();
    let config = tempfile::tempdir().expect("tempdir");
    let config_dir = config.path().to_str().unwrap().to_string();
    let cert = server.data_dir().join("tls").join("cert.pem");
    let cert = cert.to_str().unwrap().to_string();
    let endpoint = kms_endpoint();
    let envs = [
        ("KEYWARD_CONFIG_DIR", config_dir.as_str()),
        ("KEYWARD_PASSWORD", ADMIN_PASSWORD),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ];
    let run = |args: &[&str]| {
        let (ok, out, err) = cli(args, &envs);
        assert!(ok, "keyward {args:?} failed:\nstdout: {out}\nstderr: {err}");
        out
    };

    run(&[
        "login",
        "--url",
        &server.url,
        "--user",
        "admin",
        "--ca-cert",
        &cert,
    ]);
    run(&[
        "aws",
        "connections",
        "create",
        "localstack",
        "--access-key-id",
        "AKIAIOSFODNN7EXAMPLE",
        "--region",
        "ap-south-1",
        "--endpoint-url",
        &endpoint,
    ]);
    let tested: Value = serde_json::from_str(&run(&[
        "--json",
        "aws",
        "connections",
        "test",
        "localstack",
    ]))
    .expect("JSON");
    assert_eq!(tested["connection_ok"], true, "{tested}");
    let created: Value = serde_json::from_str(&run(&[
        "--json",
        "aws",
        "kms",
        "create",
        "kms",
        "--account-id",
        "000000000000",
        "--connection",
        "localstack",
        "--region",
        "ap-south-1",
    ]))
    .expect("JSON");
    assert_kms_shape(&created, "kms", "localstack", &["ap-south-1"]);
    let got: Value =
        serde_json::from_str(&run(&["--json", "aws", "kms", "get", "kms"])).expect("JSON");
    assert_eq!(got, created);
    let table = run(&["aws", "kms", "list"]);
    assert!(
        table.contains("kms") && table.contains("ap-south-1"),
        "{table}"
    );

    // The same container as the API shows it.
    let token = server.admin().await;
    let k = server
        .get(&format!("{BASE}/kms"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(k["id"], created["id"]);
    assert_eq!(k["connection"], "localstack");
}
