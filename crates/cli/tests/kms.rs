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
        "connection is the connection as it was given: {k}"
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
    // Echoed as given (the id): Thales' provider needs it back as it sent it (issue 11).
    assert_kms_shape(&second, "second", conn_id, &["ap-south-1"]);
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

const ACCOUNTS: &str = "/api/v1/cckm/aws/accounts";
const CONNECTIONS: &str = "/api/v1/connectionmgmt/services/aws/connections";
const KEYS: &str = "/api/v1/cckm/aws/keys";
const TEMPLATES: &str = "/api/v1/cckm/aws/templates";

/// `data "ciphertrust_aws_account_details"` (provider-calls.md §3): the account from STS
/// GetCallerIdentity and the Regions from EC2 DescribeRegions, both from LocalStack through the
/// connection's endpoint.
#[tokio::test]
async fn account_details_come_from_sts_and_ec2() {
    let server = Server::start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "aws-ls").await;
    let conn_id = conn["id"].as_str().unwrap();

    // The provider's body: AccountDetailsInputModelJSON, the role fields as "".
    let body = json!({"connection": conn_id, "assume_role_arn": "", "assume_role_external_id": ""});
    let details = server
        .post(ACCOUNTS, &token, body.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(details["account_id"], "000000000000", "{details}");
    let regions: Vec<&str> = details["regions"]
        .as_array()
        .expect("regions is an array")
        .iter()
        .map(|r| r.as_str().expect("a Region is a string"))
        .collect();
    // The examples index regions[0..3] and the Line A tests add us-west-1.
    assert!(regions.len() >= 3, "{details}");
    for r in ["us-east-1", "us-west-1", "ap-south-1"] {
        assert!(regions.contains(&r), "{r} missing: {details}");
    }
    let mut unique = regions.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), regions.len(), "no Region twice: {details}");
    // A read-only CCKM user may not have Keyward call AWS with the connection's secret (or
    // assume a role of its choosing); the refusal is audited.
    let reader = server
        .user_token(&token, "acct-reader", &["CCKM Users"])
        .await;
    server
        .post(ACCOUNTS, &reader, body.clone())
        .await
        .expect(403);
    let actions = audit_actions(&server, &token).await;
    for outcome in ["success", "denied"] {
        assert!(
            actions.contains(&(
                "connection.account-details".to_string(),
                outcome.to_string()
            )),
            "{actions:?}"
        );
    }
    // AWS's order, every time (Terraform compares the list at each refresh, destroy included).
    let again = server.post(ACCOUNTS, &token, body).await.expect(200).body;
    assert_eq!(again, details);

    // By name, with `validate`, and through an assumed role (LocalStack's STS grants it).
    let by_name = server
        .post(
            ACCOUNTS,
            &token,
            json!({"connection": "aws-ls", "validate": true}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(by_name, details);
    let assumed = server
        .post(
            ACCOUNTS,
            &token,
            json!({"connection": "aws-ls", "assume_role_arn": "arn:aws:iam::000000000000:role/cckm", "assume_role_external_id": "ext-id-1"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(assumed["account_id"], "000000000000", "{assumed}");

    // What is refused, and how.
    server
        .post(ACCOUNTS, &token, json!({"connection": "missing"}))
        .await
        .expect_error(404, "missing");
    server
        .post(ACCOUNTS, &token, json!({"connection": ""}))
        .await
        .expect_error(400, "connection");
    server
        .post(
            ACCOUNTS,
            &token,
            json!({"connection": "aws-ls", "assume_role_arn": "not-an-arn"}),
        )
        .await
        .expect_error(400, "assume_role_arn");
    server
        .post(
            ACCOUNTS,
            &token,
            json!({"connection": "aws-ls", "assume_role_external_id": "ext-id-1"}),
        )
        .await
        .expect_error(400, "assume_role_external_id");

    // AWS unreachable: the AWS error mapping (503), not a hang.
    let dead = server
        .aws_connection(
            &token,
            "dead",
            "AKIAIOSFODNN7EXAMPLE",
            "us-east-1",
            "http://127.0.0.1:9",
        )
        .await;
    let r = server
        .post(ACCOUNTS, &token, json!({"connection": dead["id"]}))
        .await;
    assert!(
        r.status.as_u16() == 503 || r.status.as_u16() == 502,
        "{} {}",
        r.status,
        r.body
    );
}

/// `ciphertrust_aws_kms` (provider-calls.md §4, §8.4, §9): create with the connection's id,
/// the fields it reads back, PATCH with `name`/`account_id` as "", and the list filters.
#[tokio::test]
async fn the_terraform_providers_kms_container() {
    let server = Server::start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "aws-ls").await;
    let conn_id = conn["id"].as_str().unwrap();
    let regions = ["us-west-1", "us-east-1", "eu-west-1"];

    let body = json!({"account_id": "000000000000", "connection": conn_id, "name": "TerraformTest",
        "regions": regions, "assume_role_arn": "", "assume_role_external_id": ""});
    let k = server.post(BASE, &token, body).await.expect(201).body;
    for f in [
        "id",
        "uri",
        "account",
        "createdAt",
        "updatedAt",
        "name",
        "account_id",
        "connection",
        "arn",
        "status",
    ] {
        assert!(k[f].is_string(), "{f}: {k}");
    }
    assert_eq!(k["connection"], conn_id, "the id as sent: {k}");
    assert_eq!(k["regions"], json!(regions), "order kept: {k}");
    assert_eq!(k["auto_added"], false);
    assert!(k["acls"].is_array());
    let id = k["id"].as_str().unwrap();

    // Line A's PATCH: the same struct with name and account_id as "".
    let patch = json!({"account_id": "", "connection": conn_id, "name": "",
        "regions": ["us-west-1", "us-east-1"], "assume_role_arn": "", "assume_role_external_id": ""});
    let p = server
        .patch(&format!("{BASE}/{id}"), &token, patch.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(p["id"], id);
    assert_eq!(p["name"], "TerraformTest");
    assert_eq!(p["account_id"], "000000000000");
    assert_eq!(p["connection"], conn_id);
    assert_eq!(p["regions"], json!(["us-west-1", "us-east-1"]));
    assert_eq!(p["createdAt"], k["createdAt"]);
    // The same PATCH again changes nothing and still answers with the whole container.
    let same = server
        .patch(&format!("{BASE}/{id}"), &token, patch)
        .await
        .expect(200)
        .body;
    assert_eq!(same, p);
    // A real rename or another account is refused.
    server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"name": "other", "regions": ["us-east-1"]}),
        )
        .await
        .expect_error(400, "name");
    server
        .patch(
            &format!("{BASE}/{id}"),
            &token,
            json!({"account_id": "111111111111", "regions": ["us-east-1"]}),
        )
        .await
        .expect_error(400, "account_id");
    // Named by its name, the connection is echoed by name.
    let by_name = server
        .post(
            BASE,
            &token,
            json!({"account_id": "111111111111", "connection": "aws-ls", "name": "second", "regions": ["us-east-1"]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(by_name["connection"], "aws-ls");

    // Line A's data source: the account's containers, or by id and name (§8.4); Line B's
    // list with a trailing slash (§9).
    let by_account = server
        .get(&format!("{BASE}?account_id=000000000000"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_account["total"], 1, "{by_account}");
    assert_eq!(by_account["resources"][0]["id"], id);
    assert_eq!(by_account["resources"][0]["regions"], p["regions"]);
    let by_both = server
        .get(&format!("{BASE}?id={id}&name=TerraformTest"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_both["total"], 1, "{by_both}");
    let mismatch = server
        .get(&format!("{BASE}?id={id}&name=second"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(mismatch["total"], 0, "{mismatch}");
    let slash = server
        .get(&format!("{BASE}/?account_id=111111111111"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(slash["total"], 1, "{slash}");
    assert_eq!(slash["resources"][0]["name"], "second");
    let all = server
        .get(&format!("{BASE}/?"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(all["total"], 2, "{all}");
    for item in all["resources"].as_array().unwrap() {
        assert!(item["auto_added"].is_boolean() && item["acls"].is_array());
    }
    let empty = server
        .get(&format!("{BASE}?account_id="), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(empty["total"], 2, "an empty filter is no filter");

    // The other list paths the provider builds (§1.3).
    server.get(&format!("{KEYS}?"), &token).await.expect(200);
    server
        .get("/api/v1/scheduler/job-configs/?skip=0&limit=256", &token)
        .await
        .expect(200);
    server
        .get(
            "/api/v1/scheduler/job-configs/?operation=cckm_key_rotation&skip=0&limit=256",
            &token,
        )
        .await
        .expect(200);
    // The Swagger UI is left as it is.
    let docs = server
        .call(reqwest::Method::GET, "/api/docs/", None, None)
        .await;
    assert_eq!(docs.status.as_u16(), 200);
}

async fn audit_actions(server: &Server, token: &str) -> Vec<(String, String)> {
    let r = server
        .get("/api/v1/audit/records?limit=-1", token)
        .await
        .expect(200)
        .body;
    r["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_string(),
                a["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Terraform's destroy (provider-calls.md §10, issue 11 point 3): the keys are only scheduled
/// for deletion, then the template, the KMS container and the connection are deleted while
/// the keys still point at them. Each delete is refused while a live key uses what it
/// deletes, and succeeds once they are pending deletion: the template detaches them, the
/// container forgets their records, each audited.
#[tokio::test]
async fn destroy_in_the_providers_order_once_keys_are_pending_deletion() {
    let server = Server::start();
    let token = server.admin().await;
    let conn = server.localstack_connection(&token, "aws-ls").await;
    let conn_id = conn["id"].as_str().unwrap().to_string();
    let kms = server
        .post(
            BASE,
            &token,
            json!({"account_id": "000000000000", "connection": conn_id, "name": "tf-kms", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201)
        .body;
    let kms_id = kms["id"].as_str().unwrap().to_string();
    let policy = json!({"Version": "2012-10-17", "Id": "kms-tf-1", "Statement": [{"Sid": "Enable IAM User Permissions 1",
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]});
    let tpl = server
        .post(
            TEMPLATES,
            &token,
            json!({"account_id": "", "kms": kms_id, "name": "tf-tpl", "external_accounts": null,
                "key_admins": null, "key_admins_roles": null, "key_users": null, "key_users_roles": null,
                "Policy": policy}),
        )
        .await
        .expect(201)
        .body;
    let tpl_id = tpl["id"].as_str().unwrap().to_string();
    let mut keys = Vec::new();
    for template in [Some(tpl_id.as_str()), None] {
        let key = server
            .post(
                KEYS,
                &token,
                json!({"kms": kms_id, "region": "ap-south-1", "policytemplate": template,
                    "aws_param": {"Alias": "", "CustomerMasterKeySpec": "", "Description": "", "KeyUsage": "",
                    "Origin": "", "MultiRegion": false, "Policy": null, "Tags": null}}),
            )
            .await
            .expect(201)
            .body;
        keys.push(key["id"].as_str().unwrap().to_string());
    }

    // While the keys are live, every delete is refused and nothing changes.
    server
        .delete(&format!("{TEMPLATES}/{tpl_id}"), &token)
        .await
        .expect_error(409, "tf-tpl");
    server
        .delete(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect_error(409, "not pending deletion");
    server
        .delete(&format!("{CONNECTIONS}/{conn_id}"), &token)
        .await
        .expect_error(409, "KMS container");

    // The provider's key destroy removes the template tag first (which detaches the key:
    // templates.rs) and then schedules the deletion. Here the key keeps its tag, as when that
    // removal failed: the template delete below must detach it.
    server
        .post(
            &format!("{KEYS}/{}/schedule-deletion", keys[0]),
            &token,
            json!({"days": 7}),
        )
        .await
        .expect(200);
    // One key still live: still refused.
    server
        .delete(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect_error(409, "1 key");
    server
        .post(
            &format!("{KEYS}/{}/schedule-deletion", keys[1]),
            &token,
            json!({"days": 7}),
        )
        .await
        .expect(200);
    for k in &keys {
        let rec = server
            .get(&format!("{KEYS}/{k}"), &token)
            .await
            .expect(200)
            .body;
        assert_eq!(rec["aws_param"]["KeyState"], "PendingDeletion", "{rec}");
    }

    // Now the deletes go through, in the provider's order.
    server
        .delete(&format!("{TEMPLATES}/{tpl_id}"), &token)
        .await
        .expect(204);
    let rec = server
        .get(&format!("{KEYS}/{}", keys[0]), &token)
        .await
        .expect(200)
        .body;
    assert!(
        rec.get("policytemplate").is_none_or(Value::is_null),
        "detached: {rec}"
    );
    server
        .delete(&format!("{BASE}/{kms_id}"), &token)
        .await
        .expect(204);
    for k in &keys {
        server.get(&format!("{KEYS}/{k}"), &token).await.expect(404);
    }
    server
        .delete(&format!("{CONNECTIONS}/{conn_id}"), &token)
        .await
        .expect(204);

    let actions = audit_actions(&server, &token).await;
    let count = |a: &str| {
        actions
            .iter()
            .filter(|(x, o)| x == a && o == "success")
            .count()
    };
    assert_eq!(count("key.detach-template"), 1, "{actions:?}");
    assert_eq!(count("template.delete"), 1, "{actions:?}");
    assert_eq!(count("key.forget"), 2, "{actions:?}");
    assert_eq!(count("kms.delete"), 1, "{actions:?}");
    assert_eq!(count("connection.delete"), 1, "{actions:?}");
}
