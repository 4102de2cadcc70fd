//! AWS keys (`/api/v1/cckm/aws/keys`) against LocalStack's KMS: create for every key spec of
//! CCKM's list with its defaults, the create options (Origin EXTERNAL, MultiRegion, Description,
//! Tags, a policy document, a policy built from key administrators / users / external
//! accounts), the record's shape (seed 004's example response), validation that names the field
//! and creates nothing in AWS, a duplicate alias, get, forget (the AWS key stays), the list
//! filters with paging, and what a "CCKM Users" member may do.
//!
//! Each test works in a LocalStack account of its own (`localstack_account_connection`), so
//! what it counts in AWS is only what it made; aliases are unique per test run as well.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Reply, Server, assert_json_shape, seed_example, tag_pairs};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const SEED_004: &str = include_str!("fixtures/seeds/004_8f4ee90fcafdcf76.txt");

/// A unique alias name (without `alias/`).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A server, an admin token, a LocalStack connection in an account of its own and a KMS
/// container `kms` over the given regions. Returns (server, token, account id, container).
async fn setup(regions: &[&str]) -> (Server, String, String, Value) {
    let server = Server::start();
    let token = server.admin().await;
    let (_, account) = server.localstack_account_connection(&token, "ls").await;
    let kms = server
        .kms_container(&token, "kms", "ls", &account, regions)
        .await;
    (server, token, account, kms)
}

async fn create(server: &Server, token: &str, body: Value) -> Reply {
    server.post(KEYS, token, body).await
}

/// Creates a key in `kms` / ap-south-1 with these `aws_param` and returns the record.
async fn create_ok(server: &Server, token: &str, aws_param: Value) -> Value {
    create(
        server,
        token,
        json!({"kms": "kms", "region": "ap-south-1", "aws_param": aws_param}),
    )
    .await
    .expect(201)
    .body
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

/// The ids of a list response's resources.
fn ids(list: &Value) -> Vec<String> {
    list["resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no resources in {list}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Says whether AWS has this alias, through `POST /cckm/aws/alias/verify`.
async fn alias_taken(server: &Server, token: &str, alias: &str, region: &str) -> bool {
    let r = server
        .post(
            "/api/v1/cckm/aws/alias/verify",
            token,
            json!({"alias": alias, "region": region, "kms": "kms"}),
        )
        .await;
    match r.status.as_u16() {
        200 => {
            assert_eq!(r.body["message"], "Alias available");
            false
        }
        409 => true,
        s => panic!("alias/verify answered {s}: {}", r.body),
    }
}

/// Runs a synchronization job over the container and waits for it: afterwards Keyward has a
/// record of every key AWS has there.
async fn sync_and_wait(server: &Server, token: &str) {
    let job = server
        .post(
            "/api/v1/cckm/aws/synchronization-jobs",
            token,
            json!({"kms": ["kms"]}),
        )
        .await
        .expect(201)
        .body;
    let id = job["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = server
            .get(
                &format!("/api/v1/cckm/aws/synchronization-jobs/{id}"),
                token,
            )
            .await
            .expect(200)
            .body;
        match j["overall_status"].as_str() {
            Some("in_progress") => {}
            Some("completed") => return,
            _ => panic!("synchronization job failed: {j}"),
        }
        assert!(
            Instant::now() < deadline,
            "synchronization job still running: {j}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every key spec of CCKM's list, created with `CustomerMasterKeySpec` or (every other one)
/// `KeySpec`, gets CCKM's default usage, the right key type and AWS's algorithm list.
#[tokio::test]
async fn every_key_spec_is_created_with_its_defaults() {
    let (server, token, account, kms) = setup(&["ap-south-1"]).await;
    let rsa_encrypt = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"].as_slice();
    let cases: [(&str, &str, &str, &str, &[&str]); 12] = [
        (
            "SYMMETRIC_DEFAULT",
            "symmetric",
            "ENCRYPT_DECRYPT",
            "EncryptionAlgorithms",
            &["SYMMETRIC_DEFAULT"],
        ),
        (
            "RSA_2048",
            "asymmetric",
            "ENCRYPT_DECRYPT",
            "EncryptionAlgorithms",
            rsa_encrypt,
        ),
        (
            "RSA_3072",
            "asymmetric",
            "ENCRYPT_DECRYPT",
            "EncryptionAlgorithms",
            rsa_encrypt,
        ),
        (
            "RSA_4096",
            "asymmetric",
            "ENCRYPT_DECRYPT",
            "EncryptionAlgorithms",
            rsa_encrypt,
        ),
        (
            "ECC_NIST_P256",
            "asymmetric",
            "SIGN_VERIFY",
            "SigningAlgorithms",
            &["ECDSA_SHA_256"],
        ),
        (
            "ECC_NIST_P384",
            "asymmetric",
            "SIGN_VERIFY",
            "SigningAlgorithms",
            &["ECDSA_SHA_384"],
        ),
        (
            "ECC_NIST_P521",
            "asymmetric",
            "SIGN_VERIFY",
            "SigningAlgorithms",
            &["ECDSA_SHA_512"],
        ),
        (
            "ECC_SECG_P256K1",
            "asymmetric",
            "SIGN_VERIFY",
            "SigningAlgorithms",
            &["ECDSA_SHA_256"],
        ),
        (
            "HMAC_224",
            "hmac",
            "GENERATE_VERIFY_MAC",
            "MacAlgorithms",
            &["HMAC_SHA_224"],
        ),
        (
            "HMAC_256",
            "hmac",
            "GENERATE_VERIFY_MAC",
            "MacAlgorithms",
            &["HMAC_SHA_256"],
        ),
        (
            "HMAC_384",
            "hmac",
            "GENERATE_VERIFY_MAC",
            "MacAlgorithms",
            &["HMAC_SHA_384"],
        ),
        (
            "HMAC_512",
            "hmac",
            "GENERATE_VERIFY_MAC",
            "MacAlgorithms",
            &["HMAC_SHA_512"],
        ),
    ];
    let (_, seed_response) = seed_example(SEED_004);
    for (i, (spec, key_type, usage, algorithms_field, algorithms)) in cases.iter().enumerate() {
        let spec_field = if i % 2 == 0 {
            "CustomerMasterKeySpec"
        } else {
            "KeySpec"
        };
        let alias = unique("spec");
        let k = create_ok(
            &server,
            &token,
            json!({spec_field: spec, "Alias": alias, "Tags": [{"TagKey": "spec", "TagValue": spec}]}),
        )
        .await;
        let p = &k["aws_param"];
        let what = format!("{spec} via {spec_field}: {k}");
        assert_eq!(k["key_type"], *key_type, "{what}");
        assert_eq!(p["CustomerMasterKeySpec"], *spec, "{what}");
        assert_eq!(p["KeyUsage"], *usage, "{what}");
        assert_eq!(strings(&p[*algorithms_field]), *algorithms, "{what}");
        for other in ["EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms"] {
            if other != *algorithms_field {
                assert!(p.get(other).is_none(), "{other} on {what}");
            }
        }
        assert_eq!(p["KeyState"], "Enabled", "{what}");
        assert_eq!(p["Enabled"], true);
        assert_eq!(p["Origin"], "AWS_KMS");
        assert_eq!(p["KeyManager"], "CUSTOMER");
        assert_eq!(p["MultiRegion"], false);
        assert_eq!(p["AWSAccountId"], account.as_str());
        assert_eq!(p["Alias"], json!([format!("alias/{alias}")]));
        assert_eq!(p["Tags"], json!([{"TagKey": "spec", "TagValue": spec}]));
        assert_eq!(p["KeyRotationEnabled"], false);
        let key_id = p["KeyID"].as_str().unwrap();
        assert_eq!(
            p["Arn"],
            format!("arn:aws:kms:ap-south-1:{account}:key/{key_id}")
        );
        // No policy was asked for: AWS's default key policy, as an object.
        assert_eq!(p["Policy"]["Id"], "key-default-1", "{what}");
        assert_eq!(
            p["Policy"]["Statement"][0]["Principal"]["AWS"],
            format!("arn:aws:iam::{account}:root")
        );
        assert_eq!(k["key_material_origin"], "native");
        assert_eq!(k["kms"], "kms");
        assert_eq!(k["kms_id"], kms["id"]);
        assert_eq!(k["region"], "ap-south-1");
        assert_eq!(k["gone"], false);
        assert_eq!(k["cloud_name"], "aws");
        let id = k["id"].as_str().unwrap();
        assert_eq!(k["uri"], format!("kylo:kylo:cckm:aws-key:{id}"));
        if *spec == "SYMMETRIC_DEFAULT" {
            // Every field of seed 004's example response, with the same JSON types.
            assert_json_shape(&seed_response, &k, "record");
        }
        // GET returns the same record.
        let got = server
            .get(&format!("{KEYS}/{id}"), &token)
            .await
            .expect(200)
            .body;
        assert_eq!(got, k);
    }

    // RSA for signing: AWS's RSA signing algorithms; KeySpec and CustomerMasterKeySpec together
    // are fine when they agree.
    let k = create_ok(
        &server,
        &token,
        json!({"KeySpec": "RSA_2048", "CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}),
    )
    .await;
    assert_eq!(k["key_type"], "asymmetric");
    assert_eq!(k["aws_param"]["KeyUsage"], "SIGN_VERIFY");
    let signing = strings(&k["aws_param"]["SigningAlgorithms"]);
    for a in ["RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_512"] {
        assert!(signing.iter().any(|s| s == a), "{a} not in {signing:?}");
    }
    assert!(k["aws_param"].get("EncryptionAlgorithms").is_none());

    let list = server.get(KEYS, &token).await.expect(200).body;
    assert_eq!(list["total"], 13);
}

/// Origin EXTERNAL, MultiRegion, Description, Tags, a policy document, and a policy built from
/// key administrators, users and external accounts, each read back from AWS.
#[tokio::test]
async fn create_options_are_applied_in_aws() {
    let (server, token, account, _) = setup(&["ap-south-1"]).await;

    // Origin EXTERNAL: no material yet.
    let ext = create_ok(&server, &token, json!({"Origin": "EXTERNAL"})).await;
    assert_eq!(ext["aws_param"]["Origin"], "EXTERNAL");
    assert_eq!(ext["aws_param"]["KeyState"], "PendingImport");
    assert_eq!(ext["aws_param"]["Enabled"], false);
    assert_eq!(ext["key_material_origin"], "unknown");
    assert_eq!(ext["key_type"], "symmetric");

    // MultiRegion with a description and tags.
    let mrk = create_ok(
        &server,
        &token,
        json!({
            "MultiRegion": true,
            "Description": "payments data key",
            "Tags": [
                {"TagKey": "env", "TagValue": "prod"},
                {"TagKey": "team", "TagValue": "a_b.c/d=e+f-g@h"},
                {"TagKey": "empty", "TagValue": ""}
            ]
        }),
    )
    .await;
    let p = &mrk["aws_param"];
    assert_eq!(p["MultiRegion"], true);
    assert!(p["KeyID"].as_str().unwrap().starts_with("mrk-"), "{p}");
    let cfg = &p["MultiRegionConfiguration"];
    assert_eq!(cfg["MultiRegionKeyType"], "PRIMARY", "{p}");
    assert_eq!(cfg["PrimaryKey"]["Region"], "ap-south-1");
    assert_eq!(cfg["PrimaryKey"]["Arn"], p["Arn"]);
    assert_eq!(cfg["ReplicaKeys"], json!([]));
    assert_eq!(p["Description"], "payments data key");
    let mut tags = tag_pairs(&p["Tags"]);
    tags.sort();
    assert_eq!(
        tags,
        [
            ("empty".to_string(), String::new()),
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "a_b.c/d=e+f-g@h".to_string())
        ]
    );

    // A policy document (an object), with the lockout check bypassed.
    let document = json!({
        "Version": "2012-10-17",
        "Id": "custom-policy-1",
        "Statement": [{
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    let with_policy = create_ok(
        &server,
        &token,
        json!({"Policy": document, "BypassPolicyLockoutSafetyCheck": true}),
    )
    .await;
    assert_eq!(with_policy["aws_param"]["Policy"], document);
    assert!(with_policy.get("key_users").is_none());

    // key_admins / key_users / roles / external accounts: Keyward writes the policy.
    let built = create(
        &server,
        &token,
        json!({
            "kms": "kms",
            "region": "ap-south-1",
            "aws_param": {"CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
            "key_admins": ["alice"],
            "key_admins_roles": ["ops"],
            "key_users": ["bob"],
            "key_users_roles": ["app"],
            "external_accounts": ["111122223333"]
        }),
    )
    .await
    .expect(201)
    .body;
    let policy = &built["aws_param"]["Policy"];
    assert!(policy.is_object(), "{policy}");
    let text = policy.to_string();
    for principal in [
        format!("arn:aws:iam::{account}:root"),
        format!("arn:aws:iam::{account}:user/alice"),
        format!("arn:aws:iam::{account}:role/ops"),
        format!("arn:aws:iam::{account}:user/bob"),
        format!("arn:aws:iam::{account}:role/app"),
        "arn:aws:iam::111122223333:root".to_string(),
    ] {
        assert!(text.contains(&principal), "{principal} not in {text}");
    }
    // Users of a signing key may sign, not encrypt.
    assert!(text.contains("kms:Sign"), "{text}");
    assert!(!text.contains("kms:Encrypt"), "{text}");
    let admins_statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Principal"]["AWS"].to_string().contains("user/alice"))
        .expect("a statement for the administrators");
    assert!(
        !admins_statement["Principal"]["AWS"]
            .to_string()
            .contains("user/bob"),
        "users are not administrators: {admins_statement}"
    );
    assert_eq!(built["key_admins"], json!(["alice"]));
    assert_eq!(built["key_admins_roles"], json!(["ops"]));
    assert_eq!(built["key_users"], json!(["bob"]));
    assert_eq!(built["key_users_roles"], json!(["app"]));
    assert_eq!(built["external_accounts"], json!(["111122223333"]));

    // The stored records are what GET returns.
    for k in [&ext, &mrk, &with_policy, &built] {
        let got = server
            .get(&format!("{KEYS}/{}", k["id"].as_str().unwrap()), &token)
            .await
            .expect(200)
            .body;
        assert_eq!(&got, k);
    }
}

/// Every refused create names the field, and nothing is created in AWS: no alias appears, no
/// record is stored, and a synchronization of the (otherwise empty) AWS account finds only the
/// one key that was created.
#[tokio::test]
async fn refused_creates_name_the_field_and_create_nothing_in_aws() {
    let (server, token, _, _) = setup(&["ap-south-1"]).await;
    let taken = unique("taken");
    create_ok(&server, &token, json!({"Alias": taken})).await;

    // A duplicate alias: 409, checked before CreateKey.
    create(
        &server,
        &token,
        json!({"kms": "kms", "region": "ap-south-1", "aws_param": {"Alias": taken}}),
    )
    .await
    .expect_error(409, &taken);
    // Given with its prefix too.
    create(
        &server,
        &token,
        json!({"kms": "kms", "region": "ap-south-1", "aws_param": {"Alias": format!("alias/{taken}")}}),
    )
    .await
    .expect(409);

    let many_tags: Vec<Value> = (0..51)
        .map(|i| json!({"TagKey": format!("k{i}"), "TagValue": "v"}))
        .collect();
    // (aws_param, top-level extras, field the message must name)
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            json!({"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"}),
            json!({}),
            "aws_param.KeyUsage",
        ),
        (
            json!({"CustomerMasterKeySpec": "HMAC_256", "KeyUsage": "ENCRYPT_DECRYPT"}),
            json!({}),
            "aws_param.KeyUsage",
        ),
        (
            json!({"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "ENCRYPT_DECRYPT"}),
            json!({}),
            "aws_param.KeyUsage",
        ),
        (
            json!({"CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "GENERATE_VERIFY_MAC"}),
            json!({}),
            "aws_param.KeyUsage",
        ),
        (
            json!({"CustomerMasterKeySpec": "RSA_1024"}),
            json!({}),
            "aws_param.CustomerMasterKeySpec",
        ),
        (
            json!({"CustomerMasterKeySpec": "RSA_2048", "KeySpec": "RSA_4096"}),
            json!({}),
            "aws_param.KeySpec",
        ),
        (
            json!({"KeyUsage": "DECRYPT_ONLY"}),
            json!({}),
            "aws_param.KeyUsage",
        ),
        (
            json!({"Origin": "AWS_CLOUDHSM"}),
            json!({}),
            "aws_param.Origin",
        ),
        (json!({"Alias": "has space"}), json!({}), "aws_param.Alias"),
        (json!({"Alias": "bad*char"}), json!({}), "aws_param.Alias"),
        (
            json!({"Alias": "a".repeat(251)}),
            json!({}),
            "aws_param.Alias",
        ),
        (json!({"Alias": "aws/my-key"}), json!({}), "aws_param.Alias"),
        (
            json!({"Alias": "alias/aws/my-key"}),
            json!({}),
            "aws_param.Alias",
        ),
        (
            json!({"Tags": [{"TagKey": "aws:owner", "TagValue": "x"}]}),
            json!({}),
            "aws_param.Tags",
        ),
        (
            json!({"Tags": [{"TagKey": "owner", "TagValue": "has space"}]}),
            json!({}),
            "aws_param.Tags",
        ),
        (
            json!({"Tags": [{"TagKey": "owner", "TagValue": "a"}, {"TagKey": "owner", "TagValue": "b"}]}),
            json!({}),
            "aws_param.Tags",
        ),
        (json!({"Tags": many_tags}), json!({}), "aws_param.Tags"),
        (
            json!({"Policy": {"Version": "2012-10-17", "Statement": []}}),
            json!({"key_users": ["bob"]}),
            "mutually exclusive",
        ),
        (json!({"Policy": [1, 2]}), json!({}), "aws_param.Policy"),
        (
            json!({}),
            json!({"key_users": ["not a user!"]}),
            "key_users",
        ),
        (
            json!({}),
            json!({"external_accounts": ["12345"]}),
            "external_accounts",
        ),
        (
            json!({"Description": "d".repeat(8193)}),
            json!({}),
            "aws_param.Description",
        ),
        (json!({}), json!({"region": "us-west-2"}), "region"),
        (json!({}), json!({"region": ""}), "region"),
        (json!({}), json!({"kms": "no-such-kms"}), "kms"),
    ];
    for (aws_param, extras, field) in cases {
        // A valid alias of its own (where the case is not about the alias): had anything reached
        // AWS, the alias would exist.
        let mut aws_param = aws_param;
        let alias = unique("refused");
        if aws_param.get("Alias").is_none() {
            aws_param["Alias"] = json!(alias);
        }
        let mut body = json!({"kms": "kms", "region": "ap-south-1", "aws_param": aws_param});
        for (k, v) in extras.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = create(&server, &token, body.clone()).await;
        let shown = body.to_string().chars().take(300).collect::<String>();
        assert_eq!(r.status.as_u16(), 400, "{shown} -> {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(field),
            "{shown}: message {msg:?} does not name {field}"
        );
        assert!(
            r.body["codeDesc"]
                .as_str()
                .unwrap_or("")
                .starts_with("NCERR"),
            "{}",
            r.body
        );
        assert!(
            !alias_taken(&server, &token, &alias, "ap-south-1").await,
            "{shown}: the alias was created in AWS"
        );
    }
    // A Description of exactly 8192 characters is fine.
    let long = create_ok(&server, &token, json!({"Description": "d".repeat(8192)})).await;
    assert_eq!(
        long["aws_param"]["Description"].as_str().unwrap().len(),
        8192
    );

    // Keyward stored two records; AWS has two keys.
    let list = server.get(KEYS, &token).await.expect(200).body;
    assert_eq!(list["total"], 2, "{list}");
    sync_and_wait(&server, &token).await;
    let list = server.get(KEYS, &token).await.expect(200).body;
    assert_eq!(
        list["total"], 2,
        "a synchronization found keys the refused requests made: {list}"
    );
    // An empty Alias is "not given" (it used to be refused): the key is made without one.
    let k = create_ok(
        &server,
        &token,
        json!({"Alias": "", "Origin": "", "KeyUsage": ""}),
    )
    .await;
    assert_eq!(k["aws_param"]["Alias"], json!([]), "{k}");
    // Unknown members, in aws_param or beside it, are ignored (they used to be refused,
    // naming them).
    let alias = unique("colour");
    let k = create(
        &server,
        &token,
        json!({"kms": "kms", "region": "ap-south-1", "colour": "blue",
               "aws_param": {"Alias": alias, "Colour": "blue"}}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(
        k["aws_param"]["Alias"],
        json!([format!("alias/{alias}")]),
        "{k}"
    );
}

/// GET one; DELETE forgets Keyward's record (204, then 404) and leaves the AWS key alone.
#[tokio::test]
async fn get_and_forget_leaves_the_aws_key() {
    let (server, token, _, _) = setup(&["ap-south-1"]).await;
    let alias = unique("forget");
    let k = create_ok(&server, &token, json!({"Alias": alias})).await;
    let id = k["id"].as_str().unwrap();
    let path = format!("{KEYS}/{id}");
    assert_eq!(server.get(&path, &token).await.expect(200).body, k);

    let r = server.delete(&path, &token).await.expect(204);
    assert!(r.body.is_null());
    server.get(&path, &token).await.expect_error(404, id);
    server.delete(&path, &token).await.expect(404);
    server
        .post(&format!("{path}/enable"), &token, json!({}))
        .await
        .expect(404);
    assert_eq!(server.get(KEYS, &token).await.expect(200).body["total"], 0);
    // The AWS key and its alias are still there.
    assert!(alias_taken(&server, &token, &alias, "ap-south-1").await);
    server
        .post(
            "/api/v1/cckm/aws/alias/verify",
            &token,
            json!({"alias": alias, "region": "ap-south-1", "kms": "kms"}),
        )
        .await
        .expect_error(409, &alias);
    // A synchronization brings the key back under a new record.
    sync_and_wait(&server, &token).await;
    let list = server
        .get(
            &format!("{KEYS}?keyid={}", k["aws_param"]["KeyID"].as_str().unwrap()),
            &token,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], 1, "{list}");
    assert_ne!(list["resources"][0]["id"], k["id"]);
    assert_eq!(
        list["resources"][0]["aws_param"]["Alias"],
        json!([format!("alias/{alias}")])
    );

    // Unknown ids.
    let missing = uuid::Uuid::new_v4();
    server
        .get(&format!("{KEYS}/{missing}"), &token)
        .await
        .expect_error(404, &missing.to_string());
    server
        .delete(&format!("{KEYS}/{missing}"), &token)
        .await
        .expect(404);
}

/// The list filters of spec 1.4a, paging and sorting, and a bad filter value.
#[tokio::test]
async fn list_filters_paging_and_sorting() {
    let (server, token, account, kms) = setup(&["ap-south-1", "us-east-1"]).await;
    let other = server
        .kms_container(&token, "other", "ls", &account, &["ap-south-1"])
        .await;
    let a1 = unique("sym");
    let a2 = unique("rsa");
    let sym = create_ok(
        &server,
        &token,
        json!({"Alias": a1, "Tags": [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "x"}]}),
    )
    .await;
    let rsa = create(
        &server,
        &token,
        json!({"kms": kms["id"], "region": "us-east-1", "aws_param": {
            "Alias": a2, "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY",
            "Tags": [{"TagKey": "env", "TagValue": "dev"}]
        }}),
    )
    .await
    .expect(201)
    .body;
    let ext = create_ok(
        &server,
        &token,
        json!({"Origin": "EXTERNAL", "MultiRegion": true}),
    )
    .await;
    let hmac = create(
        &server,
        &token,
        json!({"kms": "other", "region": "ap-south-1", "aws_param": {"CustomerMasterKeySpec": "HMAC_256"}}),
    )
    .await
    .expect(201)
    .body;
    // sym is disabled: keystate and enabled differ from rsa's.
    let sym = server
        .post(
            &format!("{KEYS}/{}/disable", sym["id"].as_str().unwrap()),
            &token,
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(sym["aws_param"]["KeyState"], "Disabled");
    let id = |k: &Value| k["id"].as_str().unwrap().to_string();
    let (s, r, e, h) = (id(&sym), id(&rsa), id(&ext), id(&hmac));
    let all = [s.clone(), r.clone(), e.clone(), h.clone()];

    let query = |q: String| {
        let server = &server;
        let token = &token;
        async move {
            let list = server
                .get(&format!("{KEYS}?{q}"), token)
                .await
                .expect(200)
                .body;
            let mut got = ids(&list);
            assert_eq!(
                list["total"].as_u64().unwrap() as usize,
                got.len(),
                "{q}: {list}"
            );
            got.sort();
            got
        }
    };
    let sorted = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let enc = |s: &str| {
        s.replace('/', "%2F")
            .replace(':', "%3A")
            .replace('=', "%3D")
    };
    let cases: Vec<(String, Vec<String>)> = vec![
        (String::new(), sorted(&all.iter().collect::<Vec<_>>())),
        (format!("id={s}"), sorted(&[&s])),
        (
            format!("keyid={}", rsa["aws_param"]["KeyID"].as_str().unwrap()),
            sorted(&[&r]),
        ),
        (
            format!("arn={}", enc(ext["aws_param"]["Arn"].as_str().unwrap())),
            sorted(&[&e]),
        ),
        (format!("alias={a1}"), sorted(&[&s])),
        (
            format!("alias={}", enc(&format!("alias/{a2}"))),
            sorted(&[&r]),
        ),
        ("alias=no-such-alias".to_string(), vec![]),
        ("kms=other".to_string(), sorted(&[&h])),
        ("kms=kms".to_string(), sorted(&[&s, &r, &e])),
        (
            format!("kms_id={}", other["id"].as_str().unwrap()),
            sorted(&[&h]),
        ),
        ("region=us-east-1".to_string(), sorted(&[&r])),
        ("region=ap-south-1".to_string(), sorted(&[&s, &e, &h])),
        ("origin=EXTERNAL".to_string(), sorted(&[&e])),
        ("origin=AWS_KMS".to_string(), sorted(&[&s, &r, &h])),
        ("keystate=PendingImport".to_string(), sorted(&[&e])),
        ("keystate=Disabled".to_string(), sorted(&[&s])),
        ("keystate=Enabled".to_string(), sorted(&[&r, &h])),
        ("keyusage=SIGN_VERIFY".to_string(), sorted(&[&r])),
        ("keyusage=GENERATE_VERIFY_MAC".to_string(), sorted(&[&h])),
        ("keyusage=ENCRYPT_DECRYPT".to_string(), sorted(&[&s, &e])),
        ("enabled=true".to_string(), sorted(&[&r, &h])),
        ("enabled=false".to_string(), sorted(&[&s, &e])),
        (
            "gone=false".to_string(),
            sorted(&all.iter().collect::<Vec<_>>()),
        ),
        ("gone=true".to_string(), vec![]),
        ("key_material_origin=unknown".to_string(), sorted(&[&e])),
        (
            "key_material_origin=native".to_string(),
            sorted(&[&s, &r, &h]),
        ),
        ("key_material_origin=cckm".to_string(), vec![]),
        ("multi_region=true".to_string(), sorted(&[&e])),
        ("multi_region=false".to_string(), sorted(&[&s, &r, &h])),
        ("CustomerMasterKeySpec=RSA_2048".to_string(), sorted(&[&r])),
        ("CustomerMasterKeySpec=HMAC_256".to_string(), sorted(&[&h])),
        (
            "CustomerMasterKeySpec=SYMMETRIC_DEFAULT".to_string(),
            sorted(&[&s, &e]),
        ),
        ("tags=env".to_string(), sorted(&[&s, &r])),
        (format!("tags={}", enc("env=prod")), sorted(&[&s])),
        (format!("tags={}", enc("env=dev")), sorted(&[&r])),
        (format!("tags=env{}team{}x", "%2C", "%3D"), sorted(&[&s])),
        ("tags=nope".to_string(), vec![]),
        (
            "rotation_job_enabled=false".to_string(),
            sorted(&all.iter().collect::<Vec<_>>()),
        ),
        ("rotation_job_enabled=true".to_string(), vec![]),
        (
            "kms=kms&region=ap-south-1&origin=AWS_KMS".to_string(),
            sorted(&[&s]),
        ),
    ];
    for (q, want) in cases {
        assert_eq!(query(q.clone()).await, want, "filter {q:?}");
    }

    // Paging: the envelope, skip and limit.
    let page = server
        .get(&format!("{KEYS}?limit=2"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 4);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["skip"], 0);
    assert_eq!(ids(&page), [s.clone(), r.clone()], "creation order");
    let page = server
        .get(&format!("{KEYS}?skip=3&limit=2"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 4);
    assert_eq!(page["skip"], 3);
    assert_eq!(ids(&page), vec![h.clone()]);
    let page = server
        .get(&format!("{KEYS}?skip=10"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(page["total"], 4);
    assert_eq!(ids(&page), Vec::<String>::new());
    // Sorting: by region, then creation order.
    let page = server
        .get(&format!("{KEYS}?sort=region"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&page), [s.clone(), e.clone(), h.clone(), r.clone()]);
    let page = server
        .get(&format!("{KEYS}?sort=-region&limit=1"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&page), vec![r.clone()]);
    let page = server
        .get(&format!("{KEYS}?sort=-createdAt"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&page), [h.clone(), e.clone(), r.clone(), s.clone()]);

    // Bad filter values name the parameter.
    for (q, field) in [
        ("keystate=Bogus", "keystate"),
        ("origin=SOMEWHERE", "origin"),
        ("keyusage=DECRYPT_ONLY", "keyusage"),
        ("key_material_origin=mine", "key_material_origin"),
        ("CustomerMasterKeySpec=RSA_1024", "CustomerMasterKeySpec"),
        ("enabled=maybe", "enabled"),
        ("sort=colour", "colour"),
        ("limit=x", "limit"),
    ] {
        server
            .get(&format!("{KEYS}?{q}"), &token)
            .await
            .expect_error(400, field);
    }
}

/// A "CCKM Users" member reads keys but may not create them or act on them.
#[tokio::test]
async fn cckm_users_may_read_but_not_change_keys() {
    let (server, token, _, _) = setup(&["ap-south-1"]).await;
    let k = create_ok(&server, &token, json!({})).await;
    let id = k["id"].as_str().unwrap();
    let reader = server.user_token(&token, "reader", &["CCKM Users"]).await;

    let list = server.get(KEYS, &reader).await.expect(200).body;
    assert_eq!(ids(&list), [id.to_string()]);
    assert_eq!(
        server
            .get(&format!("{KEYS}/{id}"), &reader)
            .await
            .expect(200)
            .body,
        k
    );
    server
        .post(
            KEYS,
            &reader,
            json!({"kms": "kms", "region": "ap-south-1", "aws_param": {"Alias": unique("nope")}}),
        )
        .await
        .expect(403);
    for (action, body) in [
        ("disable", json!({})),
        ("schedule-deletion", json!({"days": 7})),
        (
            "add-tags",
            json!({"tags": [{"tag_key": "k", "tag_value": "v"}]}),
        ),
        ("update-description", json!({"description": "mine"})),
        ("refresh", json!({})),
    ] {
        server
            .post(&format!("{KEYS}/{id}/{action}"), &reader, body)
            .await
            .expect(403);
    }
    server
        .delete(&format!("{KEYS}/{id}"), &reader)
        .await
        .expect(403);
    // Nothing changed.
    let after = server
        .get(&format!("{KEYS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(after, k);
    // No token at all: 401.
    server
        .call(reqwest::Method::GET, KEYS, None, None)
        .await
        .expect(401);
}

/// `POST` with an Idempotency-Key, as `token`.
async fn post_idempotent(
    server: &Server,
    token: &str,
    path: &str,
    key: &str,
    body: &Value,
) -> Reply {
    let resp = server
        .client()
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request");
    common::reply(resp).await
}

/// Idempotency-Key (issue 9, point 5): a retried create gets the first answer and makes no
/// second key; the key with another body or route is refused (422); concurrent duplicates
/// make one key; a retried action answers the first result too. The create journal's tag is
/// neither in the answer nor left on the AWS key.
#[tokio::test]
async fn an_idempotency_key_makes_a_retry_answer_the_first_result() {
    let server = Server::start();
    let token = server.admin().await;
    let aws = common::Aws::fresh();
    server.localstack_kms(&token, &aws).await;
    let name = unique("idem");
    let body = json!({"kms": "kms", "region": "ap-south-1", "aws_param": {
        "Alias": name, "Tags": [{"TagKey": "team", "TagValue": "crypto"}]}});

    let first = post_idempotent(&server, &token, KEYS, "create-1", &body)
        .await
        .expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_idempotent(&server, &token, KEYS, "create-1", &body)
        .await
        .expect(201);
    assert_eq!(again.body, first.body, "the retry answers the first result");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(aws.key_count().await, 1, "one key in AWS");
    let kid = first.body["aws_param"]["KeyID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        first.body["aws_param"]["Tags"],
        json!([{"TagKey": "team", "TagValue": "crypto"}]),
        "{}",
        first.body
    );
    assert_eq!(
        aws.tags(&kid).await,
        vec![("team".to_string(), "crypto".to_string())],
        "the create tag is removed from the AWS key"
    );

    // The same key with another body, or on another route: 422, nothing made.
    let mut other = body.clone();
    other["aws_param"]["Description"] = json!("another");
    post_idempotent(&server, &token, KEYS, "create-1", &other)
        .await
        .expect_error(422, "different request body");
    let id = first.body["id"].as_str().unwrap().to_string();
    post_idempotent(
        &server,
        &token,
        &format!("{KEYS}/{id}/disable"),
        "create-1",
        &json!({}),
    )
    .await
    .expect_error(422, "was used for POST /api/v1/cckm/aws/keys");
    assert_eq!(aws.key_count().await, 1);

    // Concurrent duplicates: one key; each answer is the first result or 409 (still running).
    let name2 = unique("idem-concurrent");
    let body2 = json!({"kms": "kms", "region": "ap-south-1", "aws_param": {"Alias": name2}});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let request = server
            .client()
            .post(format!("{}{KEYS}", server.url))
            .bearer_auth(&token)
            .header("Idempotency-Key", "create-2")
            .json(&body2);
        tasks.push(tokio::spawn(async move {
            common::reply(request.send().await.expect("request")).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let mut ids = std::collections::HashSet::new();
    for a in &answers {
        match a.status.as_u16() {
            201 => {
                ids.insert(a.body["id"].as_str().unwrap().to_string());
            }
            409 => assert!(
                a.body["message"]
                    .as_str()
                    .unwrap()
                    .contains("still running"),
                "{}",
                a.body
            ),
            s => panic!("unexpected {s}: {}", a.body),
        }
    }
    assert_eq!(
        ids.len(),
        1,
        "{answers:?}",
        answers = answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    let later = post_idempotent(&server, &token, KEYS, "create-2", &body2)
        .await
        .expect(201);
    assert!(ids.contains(later.body["id"].as_str().unwrap()));
    assert_eq!(aws.key_count().await, 2, "one key per Idempotency-Key");

    // An action: the retry answers the first result (the key is not disabled twice).
    let d1 = post_idempotent(
        &server,
        &token,
        &format!("{KEYS}/{id}/disable"),
        "disable-1",
        &json!({}),
    )
    .await
    .expect(200);
    let d2 = post_idempotent(
        &server,
        &token,
        &format!("{KEYS}/{id}/disable"),
        "disable-1",
        &json!({}),
    )
    .await
    .expect(200);
    assert_eq!(d1.body, d2.body);
    assert_eq!(d2.headers["idempotent-replayed"], "true");
    // Another user's key of the same name is theirs alone.
    let user = server
        .user_token(&token, "idem-user", &["CCKM Admins"])
        .await;
    let mine = post_idempotent(
        &server,
        &user,
        KEYS,
        "create-1",
        &json!({"kms": "kms", "region": "ap-south-1", "aws_param": {}}),
    )
    .await
    .expect(201);
    assert_ne!(mine.body["id"], first.body["id"]);
    assert_eq!(aws.key_count().await, 3);
}
