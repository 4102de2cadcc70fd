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
    // Shown as ARNs, as CipherTrust shows them (Thales' Terraform provider expects them).
    assert_eq!(
        built["key_admins"],
        json!([format!("arn:aws:iam::{account}:user/alice")])
    );
    assert_eq!(
        built["key_admins_roles"],
        json!([format!("arn:aws:iam::{account}:role/ops")])
    );
    assert_eq!(
        built["key_users"],
        json!([format!("arn:aws:iam::{account}:user/bob")])
    );
    assert_eq!(
        built["key_users_roles"],
        json!([format!("arn:aws:iam::{account}:role/app")])
    );
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

// ---------------------------------------------------------------------------------------------
// Thales' Terraform provider (issue 11): its requests for AWS keys with the bodies its Go code
// builds (tests/terraform/provider-calls.md §5, §6, §8.3, §9), and every field it reads from
// a key record with the type it decodes it into (§5.3).
// ---------------------------------------------------------------------------------------------

/// `aws_param` as the provider marshals `AWSKeyParamJSON` with nothing set (§5.2(a)), with
/// `over`'s members in its place.
fn go_aws_param(over: Value) -> Value {
    let mut p = json!({"Alias": "", "BypassPolicyLockoutSafetyCheck": false,
        "CustomerMasterKeySpec": "", "Description": "", "KeyUsage": "", "MultiRegion": false,
        "Policy": null, "Tags": null, "Origin": ""});
    for (k, v) in over.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

/// `CreateAWSKeyPayloadJSON` (§5.2(a)): the principal lists and template `null` unless `top`
/// gives them.
fn go_create(kms_id: &str, region: &str, aws_param: Value, top: Value) -> Value {
    let mut b = json!({"kms": kms_id, "region": region, "external_accounts": null,
        "key_admins": null, "key_admins_roles": null, "key_users": null,
        "key_users_roles": null, "policytemplate": null, "aws_param": go_aws_param(aws_param)});
    for (k, v) in top.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// Every field of §5.3 has the type the provider reads it as (gjson reads a missing field as
/// `""`/false/0, so an optional one may be absent, never of another type).
fn assert_provider_shape(k: &Value) {
    let at = |path: &str| -> Value {
        path.split('.')
            .try_fold(k, |v, p| v.get(p))
            .cloned()
            .unwrap_or(Value::Null)
    };
    for path in [
        "id",
        "region",
        "aws_param.Arn",
        "aws_param.AWSAccountId",
        "aws_param.KeyID",
        "aws_param.KeyId",
        "cloud_name",
        "createdAt",
        "updatedAt",
        "synced_at",
        "aws_param.CustomerMasterKeySpec",
        "aws_param.KeyManager",
        "key_material_origin",
        "aws_param.KeyState",
        "key_type",
        "kms_id",
        "kms",
        "aws_param.KeyUsage",
        "aws_param.Origin",
        "aws_param.Description",
        "rotation_status",
    ] {
        assert!(at(path).is_string(), "{path} is not a string in {k}");
    }
    for path in [
        "deletion_date",
        "aws_param.ExpirationModel",
        "key_source",
        "local_key_id",
        "local_key_name",
        "rotated_at",
        "rotated_to",
        "rotated_from",
        "aws_param.ValidTo",
        "aws_param.NextRotationDate",
        "replica_policy",
    ] {
        let v = at(path);
        assert!(
            v.is_null() || v.is_string(),
            "{path} is not a string in {k}"
        );
    }
    for path in [
        "aws_param.EncryptionAlgorithms",
        "external_accounts",
        "key_admins",
        "key_admins_roles",
        "key_users",
        "key_users_roles",
        "aws_param.Alias",
    ] {
        let v = at(path);
        assert!(
            v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "{path} is not an array of strings in {k}"
        );
    }
    assert!(at("aws_param.Alias").is_array(), "aws_param.Alias in {k}");
    let tags = at("aws_param.Tags");
    assert!(
        tags.as_array().is_some_and(|a| a
            .iter()
            .all(|t| t["TagKey"].is_string() && t["TagValue"].is_string())),
        "aws_param.Tags in {k}"
    );
    for path in [
        "aws_param.KeyRotationEnabled",
        "aws_param.Enabled",
        "aws_param.MultiRegion",
    ] {
        assert!(at(path).is_boolean(), "{path} is not a bool in {k}");
    }
    let period = at("aws_param.RotationPeriodInDays");
    assert!(
        period.is_null() || period.is_i64(),
        "RotationPeriodInDays in {k}"
    );
    // labels: json.Unmarshal into map[string]string.
    let labels = k["labels"]
        .as_object()
        .unwrap_or_else(|| panic!("labels in {k}"));
    assert!(labels.values().all(Value::is_string), "labels in {k}");
    assert_eq!(at("aws_param.KeyID"), at("aws_param.KeyId"));
    let policy = at("aws_param.Policy");
    assert!(policy.is_null() || policy.is_object() || policy.is_string());
    if let Some(c) = k["aws_param"].get("MultiRegionConfiguration") {
        assert!(c["MultiRegionKeyType"].is_string(), "{k}");
        assert!(c["PrimaryKey"]["Arn"].is_string(), "{k}");
        assert!(c["PrimaryKey"]["Region"].is_string(), "{k}");
        assert!(
            c["ReplicaKeys"].as_array().is_some_and(|a| a
                .iter()
                .all(|r| r["Arn"].is_string() && r["Region"].is_string())),
            "{k}"
        );
    }
}

/// `GET /keys?<query>`: the list, whose `total` is a number.
async fn provider_list(server: &Server, token: &str, query: &str) -> Value {
    let list = server
        .get(&format!("{KEYS}?{query}"), token)
        .await
        .expect(200)
        .body;
    assert!(list["total"].is_i64(), "{list}");
    list
}

/// §5.2(a) and §5.3/§5.4/§8.3: the provider's create bodies (minimal and with every option),
/// the record's fields and types, and the list filters its refresh and data source use.
#[tokio::test]
async fn terraform_provider_creates_keys_and_finds_them_with_its_filters() {
    let (server, token, account, kms) = setup(&["ap-south-1", "us-west-2"]).await;
    let kms_id = kms["id"].as_str().unwrap();

    // The minimal resource: every string "", every pointer null.
    let minimal = create(
        &server,
        &token,
        go_create(kms_id, "ap-south-1", json!({}), json!({})),
    )
    .await
    .expect(201)
    .body;
    assert_provider_shape(&minimal);
    assert_eq!(minimal["region"], "ap-south-1");
    assert_eq!(
        minimal["aws_param"]["CustomerMasterKeySpec"],
        "SYMMETRIC_DEFAULT"
    );
    assert_eq!(minimal["aws_param"]["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(minimal["aws_param"]["Origin"], "AWS_KMS");
    assert_eq!(minimal["aws_param"]["Enabled"], true);
    assert_eq!(minimal["aws_param"]["KeyRotationEnabled"], false);
    assert_eq!(minimal["aws_param"]["Alias"], json!([]));
    assert_eq!(minimal["labels"], json!({}));

    // Every option: alias, tags, description, principals by name, multi-Region, RSA_4096.
    let alias = unique("tf");
    let full = create(
        &server,
        &token,
        go_create(
            kms_id,
            "ap-south-1",
            json!({"Alias": alias, "CustomerMasterKeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY",
                   "Description": "tf key", "MultiRegion": true,
                   "Tags": [{"TagKey": "TagKey1", "TagValue": "TagValue1"},
                            {"TagKey": "TagKey2", "TagValue": "TagValue2"}]}),
            json!({"key_admins": ["alice"], "key_users": ["bob"],
                   "key_admins_roles": ["ops"], "key_users_roles": ["app"]}),
        ),
    )
    .await
    .expect(201)
    .body;
    assert_provider_shape(&full);
    let p = &full["aws_param"];
    assert_eq!(p["Alias"], json!([format!("alias/{alias}")]));
    assert_eq!(p["Description"], "tf key");
    assert_eq!(p["CustomerMasterKeySpec"], "RSA_4096");
    assert_eq!(p["KeyUsage"], "SIGN_VERIFY");
    assert_eq!(p["MultiRegion"], true);
    assert_eq!(
        p["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    assert_eq!(
        p["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
        "ap-south-1"
    );
    assert_eq!(p["MultiRegionConfiguration"]["PrimaryKey"]["Arn"], p["Arn"]);
    let mut tags = tag_pairs(&p["Tags"]);
    tags.sort();
    assert_eq!(
        tags,
        [("TagKey1", "TagValue1"), ("TagKey2", "TagValue2")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    // The principals are shown as ARNs, as CipherTrust shows them.
    assert_eq!(
        full["key_admins"],
        json!([format!("arn:aws:iam::{account}:user/alice")])
    );
    assert_eq!(
        full["key_users"],
        json!([format!("arn:aws:iam::{account}:user/bob")])
    );
    assert_eq!(
        full["key_admins_roles"],
        json!([format!("arn:aws:iam::{account}:role/ops")])
    );
    assert_eq!(
        full["key_users_roles"],
        json!([format!("arn:aws:iam::{account}:role/app")])
    );

    let ecc = create(
        &server,
        &token,
        go_create(
            kms_id,
            "ap-south-1",
            json!({"CustomerMasterKeySpec": "ECC_NIST_P521", "KeyUsage": "SIGN_VERIFY"}),
            json!({}),
        ),
    )
    .await
    .expect(201)
    .body;
    assert_provider_shape(&ecc);
    assert_eq!(ecc["aws_param"]["CustomerMasterKeySpec"], "ECC_NIST_P521");
    assert_eq!(ecc["key_type"], "asymmetric");

    // The import path's first call (§5.2(c)): Origin EXTERNAL.
    let ext = create(
        &server,
        &token,
        go_create(
            kms_id,
            "ap-south-1",
            json!({"Origin": "EXTERNAL"}),
            json!({}),
        ),
    )
    .await
    .expect(201)
    .body;
    assert_provider_shape(&ext);
    assert_eq!(ext["aws_param"]["Origin"], "EXTERNAL");
    assert_eq!(ext["aws_param"]["KeyState"], "PendingImport");

    // GET returns what the create returned.
    for k in [&minimal, &full, &ecc, &ext] {
        let got = server
            .get(&format!("{KEYS}/{}", k["id"].as_str().unwrap()), &token)
            .await
            .expect(200)
            .body;
        assert_eq!(&got, k);
    }

    // Line A's refresh: keyid and region, exactly one.
    let kid = full["aws_param"]["KeyID"].as_str().unwrap();
    let list = provider_list(&server, &token, &format!("keyid={kid}&region=ap-south-1")).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0], full);
    assert_provider_shape(&list["resources"][0]);
    // The data source: by id; by alias (no prefix) with keyid and region.
    let list = provider_list(
        &server,
        &token,
        &format!("id={}", full["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0]["id"], full["id"]);
    let list = provider_list(
        &server,
        &token,
        &format!("alias={alias}&keyid={kid}&region=ap-south-1"),
    )
    .await;
    assert_eq!(list["total"], 1, "{list}");
    let list = provider_list(&server, &token, &format!("alias={alias}")).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0]["id"], full["id"]);
    // Another Region: none.
    let list = provider_list(&server, &token, &format!("keyid={kid}&region=us-west-2")).await;
    assert_eq!(list["total"], 0, "{list}");
    // ListWithFilters with no filter: `keys?`.
    let list = provider_list(&server, &token, "").await;
    assert_eq!(list["total"], 4, "{list}");
    for k in list["resources"].as_array().unwrap() {
        assert_provider_shape(k);
    }
    // Line B's primary lookup.
    let list = provider_list(
        &server,
        &token,
        &format!("keyid={kid}&multi_region=true&multi_region_key_type=PRIMARY"),
    )
    .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0]["id"], full["id"]);
    let list = provider_list(
        &server,
        &token,
        &format!(
            "keyid={}&multi_region=true&multi_region_key_type=PRIMARY",
            minimal["aws_param"]["KeyID"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(list["total"], 0, "{list}");
}

/// `POST /keys/{id}/<action>` with the provider's body (`None`: no body at all), answered 200
/// with the key record (which the provider reads as in §5.3).
async fn provider_act(
    server: &Server,
    token: &str,
    id: &str,
    action: &str,
    body: Option<Value>,
) -> Value {
    let r = server
        .call(
            reqwest::Method::POST,
            &format!("{KEYS}/{id}/{action}"),
            Some(token),
            body,
        )
        .await
        .expect(200);
    assert_eq!(r.body["id"], id, "{action}: {}", r.body);
    assert_provider_shape(&r.body);
    r.body
}

/// §5.2, §5.5, §5.6 and §9: every key action the provider sends, with its bodies.
#[tokio::test]
async fn terraform_provider_key_actions_take_its_bodies() {
    let (server, token, _account, kms) = setup(&["ap-south-1"]).await;
    let kms_id = kms["id"].as_str().unwrap();
    let key = create(
        &server,
        &token,
        go_create(
            kms_id,
            "ap-south-1",
            json!({"Description": "d0"}),
            json!({}),
        ),
    )
    .await
    .expect(201)
    .body;
    let id = key["id"].as_str().unwrap().to_string();
    let id = id.as_str();

    // Aliases: the name without `alias/`.
    let (a1, a2) = (unique("tf"), unique("tf"));
    for a in [&a1, &a2] {
        provider_act(&server, &token, id, "add-alias", Some(json!({"alias": a}))).await;
    }
    let k = provider_act(
        &server,
        &token,
        id,
        "delete-alias",
        Some(json!({"alias": a2})),
    )
    .await;
    assert_eq!(k["aws_param"]["Alias"], json!([format!("alias/{a1}")]));

    // Tags: snake_case members here.
    provider_act(
        &server,
        &token,
        id,
        "add-tags",
        Some(json!({"tags": [{"tag_key": "k1", "tag_value": "v1"}, {"tag_key": "k2", "tag_value": "v2"}]})),
    )
    .await;
    let k = provider_act(
        &server,
        &token,
        id,
        "remove-tags",
        Some(json!({"tags": ["k2"]})),
    )
    .await;
    assert_eq!(
        tag_pairs(&k["aws_param"]["Tags"]),
        [("k1".to_string(), "v1".to_string())]
    );

    let k = provider_act(
        &server,
        &token,
        id,
        "update-description",
        Some(json!({"description": "d1"})),
    )
    .await;
    assert_eq!(k["aws_param"]["Description"], "d1");

    // Policy: KeyPolicyPayloadJSON, a document under `Policy`; then a template.
    let doc = json!({"Version": "2012-10-17", "Id": "tf-policy", "Statement": [{"Sid": "Enable IAM User Permissions",
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", key["aws_param"]["AWSAccountId"].as_str().unwrap())},
        "Action": "kms:*", "Resource": "*"}]});
    let k = provider_act(
        &server,
        &token,
        id,
        "policy",
        Some(json!({"external_accounts": null, "key_admins": null, "key_admins_roles": null,
                    "key_users": null, "key_users_roles": null, "Policy": doc, "policytemplate": null})),
    )
    .await;
    assert_eq!(k["aws_param"]["Policy"]["Id"], "tf-policy", "{k}");
    let template = server
        .post(
            "/api/v1/cckm/aws/templates",
            &token,
            json!({"name": unique("tpl"), "kms": "kms", "key_users": ["bob"]}),
        )
        .await
        .expect(201)
        .body;
    let k = provider_act(
        &server,
        &token,
        id,
        "policy",
        Some(
            json!({"external_accounts": null, "key_admins": null, "key_admins_roles": null,
                    "key_users": null, "key_users_roles": null, "Policy": null,
                    "policytemplate": template["id"]}),
        ),
    )
    .await;
    assert_eq!(k["policytemplate"], template["id"], "{k}");
    assert!(
        k["aws_param"]["Policy"].to_string().contains("user/bob"),
        "{k}"
    );

    // enable / disable: no body, and a JSON content type with an empty body.
    let k = provider_act(&server, &token, id, "disable", None).await;
    assert_eq!(k["aws_param"]["Enabled"], false);
    assert_eq!(k["aws_param"]["KeyState"], "Disabled");
    let r = server
        .client()
        .post(format!("{}{KEYS}/{id}/enable", server.url))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    let r = common::reply(r).await.expect(200);
    assert_eq!(r.body["aws_param"]["Enabled"], true, "{}", r.body);
    for action in ["disable", "enable"] {
        let r = server
            .client()
            .post(format!("{}{KEYS}/{id}/{action}", server.url))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body("")
            .send()
            .await
            .unwrap();
        common::reply(r).await.expect(200);
    }

    // Automatic rotation: 0 is AWS's default period (365 days), then 128, then off.
    let k = provider_act(
        &server,
        &token,
        id,
        "enable-auto-rotation",
        Some(json!({"rotation_period_in_days": 0})),
    )
    .await;
    assert_eq!(k["aws_param"]["KeyRotationEnabled"], true, "{k}");
    assert_eq!(k["aws_param"]["RotationPeriodInDays"], 365, "{k}");
    let k = provider_act(
        &server,
        &token,
        id,
        "enable-auto-rotation",
        Some(json!({"rotation_period_in_days": 128})),
    )
    .await;
    assert_eq!(k["aws_param"]["RotationPeriodInDays"], 128, "{k}");
    let k = provider_act(&server, &token, id, "disable-auto-rotation", None).await;
    assert_eq!(k["aws_param"]["KeyRotationEnabled"], false, "{k}");

    // A rotation job, its key source "ciphertrust" (Keyward's vault), shown in the labels.
    let config = server
        .post(
            "/api/v1/scheduler/job-configs",
            &token,
            json!({"name": unique("rot"), "operation": "cckm_key_rotation", "run_at": "0 9 * * sat",
                   "cckm_key_rotation_params": {"cloud_name": "aws"}}),
        )
        .await
        .expect(201)
        .body;
    let config_id = config["id"].as_str().unwrap();
    let k = provider_act(
        &server,
        &token,
        id,
        "enable-rotation-job",
        Some(
            json!({"job_config_id": config_id, "auto_rotate_disable_encrypt": false,
                    "auto_rotate_key_source": "ciphertrust",
                    "auto_rotate_disable_encrypt_on_all_accounts": false}),
        ),
    )
    .await;
    assert_eq!(
        k["labels"],
        json!({"job_config_id": config_id, "auto_rotate_key_source": "ciphertrust"}),
        "{k}"
    );
    let got = server
        .get(&format!("{KEYS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(got["labels"], k["labels"]);
    let k = provider_act(&server, &token, id, "disable-rotation-job", None).await;
    assert_eq!(k["labels"], json!({}), "{k}");

    // Line B's rotation resource: refresh with `{}`, rotate-material with no body.
    provider_act(&server, &token, id, "refresh", Some(json!({}))).await;
    provider_act(&server, &token, id, "rotate-material", None).await;
    // Line B's RotateMaterialPayloadJSON with nothing set; new material is import-material's.
    provider_act(
        &server,
        &token,
        id,
        "rotate-material",
        Some(json!({"key_expiration": false})),
    )
    .await;
    server
        .post(
            &format!("{KEYS}/{id}/rotate-material"),
            &token,
            json!({"source_key_identifier": "x", "key_expiration": false}),
        )
        .await
        .expect_error(400, "source_key_identifier");

    // Destroy: schedule-deletion with the default 7 days.
    let k = provider_act(
        &server,
        &token,
        id,
        "schedule-deletion",
        Some(json!({"days": 7})),
    )
    .await;
    assert_eq!(k["aws_param"]["KeyState"], "PendingDeletion", "{k}");
    assert!(k["deletion_date"].is_string(), "{k}");
}

/// A vault key as the provider's `ciphertrust_cm_key` creates it (§7.1, §5.2(c) step 2).
async fn provider_vault_key(server: &Server, token: &str, body: Value) -> Value {
    server
        .post("/api/v1/vault/keys2", token, body)
        .await
        .expect(201)
        .body
}

/// Polls `GET /keys/{id}` while `aws_param.KeyState` is `Creating` (§5.2(d) step 2).
async fn provider_wait_created(server: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let k = server
            .get(&format!("{KEYS}/{id}"), token)
            .await
            .expect(200)
            .body;
        assert_provider_shape(&k);
        if k["aws_param"]["KeyState"] != "Creating" {
            return k;
        }
        assert!(Instant::now() < deadline, "still Creating: {k}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// §5.2(b), (c), (d) and §6: upload-key, import-material (both resources' bodies, with and
/// without expiry) and replicate-key with the provider's bodies, then an import into the
/// EXTERNAL replica from what the primary's record says.
#[tokio::test]
async fn terraform_provider_uploads_imports_and_replicates() {
    let (server, token, _account, kms) = setup(&["ap-south-1", "us-west-2"]).await;
    let kms_id = kms["id"].as_str().unwrap();
    let nulls = json!({"external_accounts": null, "key_admins": null, "key_admins_roles": null,
        "key_users": null, "key_users_roles": null, "policytemplate": null});
    let upload_body = |vault_id: &str, over: Value| {
        let mut p = go_aws_param(over);
        p["ValidTo"] = json!("");
        let mut b = nulls.clone();
        b["kms"] = json!(kms_id);
        b["region"] = json!("ap-south-1");
        b["aws_param"] = p;
        b["source_key_identifier"] = json!(vault_id);
        b["key_expiration"] = json!(false);
        b["source_key_tier"] = json!("local");
        b
    };

    // upload-key: Origin "" and ValidTo "".
    let aes = provider_vault_key(
        &server,
        &token,
        json!({"algorithm": "aes", "assignSelfAsOwner": true, "name": unique("tf-aes"), "size": 256}),
    )
    .await;
    let up = server
        .post(
            "/api/v1/cckm/aws/upload-key",
            &token,
            upload_body(aes["id"].as_str().unwrap(), json!({})),
        )
        .await
        .expect(201)
        .body;
    assert_provider_shape(&up);
    assert_eq!(up["aws_param"]["Origin"], "EXTERNAL", "{up}");
    assert_eq!(up["aws_param"]["KeyState"], "Enabled", "{up}");
    assert_eq!(up["local_key_id"], aes["id"]);
    assert_eq!(up["local_key_name"], aes["name"]);
    assert_eq!(up["key_source"], "local");

    // TestCckmAWSKeyMultiRegionLocal uploads an RSA vault key as RSA_2048: see
    // `terraform_provider_uploads_an_rsa_vault_key` (the vault's keys are AES only for now).

    // import-material, Line A's key resource (§5.2(c)): an EXTERNAL key, then the material.
    let external = |over: Value| {
        let body = go_create(
            kms_id,
            "ap-south-1",
            json!({"Origin": "EXTERNAL"}),
            json!({}),
        );
        let mut body = body;
        for (k, v) in over.as_object().unwrap() {
            body["aws_param"][k] = v.clone();
        }
        body
    };
    let e1 = create(&server, &token, external(json!({})))
        .await
        .expect(201)
        .body;
    let e1_id = e1["id"].as_str().unwrap();
    let k = provider_act(
        &server,
        &token,
        e1_id,
        "import-material",
        Some(
            json!({"source_key_identifier": aes["id"], "source_key_tier": "local",
                    "key_expiration": false, "valid_to": ""}),
        ),
    )
    .await;
    assert_eq!(k["aws_param"]["KeyState"], "Enabled", "{k}");
    assert_eq!(k["local_key_id"], aes["id"]);
    assert_eq!(k["key_source"], "local");
    assert_eq!(
        k["aws_param"]["ExpirationModel"], "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "{k}"
    );

    // The import-material resource (§6): import_type "", the material fields null.
    let e2 = create(&server, &token, external(json!({})))
        .await
        .expect(201)
        .body;
    let k = provider_act(
        &server,
        &token,
        e2["id"].as_str().unwrap(),
        "import-material",
        Some(
            json!({"import_type": "", "key_material_description": null, "key_material_id": null,
                    "source_key_identifier": aes["id"], "source_key_tier": "local",
                    "key_expiration": false, "valid_to": ""}),
        ),
    )
    .await;
    assert_eq!(k["aws_param"]["KeyState"], "Enabled", "{k}");
    assert_eq!(k["aws_param"]["KeyID"], e2["aws_param"]["KeyID"]);
    assert_eq!(k["region"], "ap-south-1");

    // Expiring material: valid_to now + 1 day (Go's RFC3339, `Z`).
    let valid_to = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let e3 = create(&server, &token, external(json!({})))
        .await
        .expect(201)
        .body;
    let k = provider_act(
        &server,
        &token,
        e3["id"].as_str().unwrap(),
        "import-material",
        Some(
            json!({"source_key_identifier": aes["id"], "source_key_tier": "local",
                    "key_expiration": true, "valid_to": valid_to}),
        ),
    )
    .await;
    assert_eq!(
        k["aws_param"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES",
        "{k}"
    );
    assert_eq!(k["aws_param"]["ValidTo"], valid_to, "{k}");

    // replicate-key (§5.2(d)): kms "", tags null, aws_param with Origin "".
    let primary = server
        .post(
            "/api/v1/cckm/aws/upload-key",
            &token,
            upload_body(aes["id"].as_str().unwrap(), json!({"MultiRegion": true})),
        )
        .await
        .expect(201)
        .body;
    let primary_id = primary["id"].as_str().unwrap();
    let mut body = json!({"aws_param": go_aws_param(json!({})), "replica_region": "us-west-2",
        "tags": null, "kms": ""});
    for (k, v) in nulls.as_object().unwrap() {
        body[k] = v.clone();
    }
    let replica = server
        .post(&format!("{KEYS}/{primary_id}/replicate-key"), &token, body)
        .await
        .expect(201)
        .body;
    assert_provider_shape(&replica);
    assert_eq!(replica["region"], "us-west-2");
    assert_eq!(replica["kms_id"], kms["id"], "the primary's container");
    assert_eq!(replica["aws_param"]["KeyID"], primary["aws_param"]["KeyID"]);
    let replica_id = replica["id"].as_str().unwrap();
    let replica = provider_wait_created(&server, &token, replica_id).await;
    assert_eq!(
        replica["aws_param"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    // Step 3: the primary's local_key_id and key_source go into the replica's import.
    let primary = server
        .get(&format!("{KEYS}/{primary_id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(primary["aws_param"]["Origin"], "EXTERNAL");
    // AWS makes the replica of an EXTERNAL key PendingImport; LocalStack copies the primary's
    // material, so the replica is Enabled there and the import below is a re-import of the
    // same material (which AWS allows as well).
    assert!(
        ["PendingImport", "Enabled"].contains(&replica["aws_param"]["KeyState"].as_str().unwrap()),
        "{replica}"
    );
    {
        let k = provider_act(
            &server,
            &token,
            replica_id,
            "import-material",
            Some(json!({"source_key_identifier": primary["local_key_id"],
                        "source_key_tier": primary["key_source"],
                        "key_expiration": true, "valid_to": valid_to})),
        )
        .await;
        assert_eq!(k["aws_param"]["KeyState"], "Enabled", "{k}");
        assert_eq!(
            k["aws_param"]["ExpirationModel"], "KEY_MATERIAL_EXPIRES",
            "{k}"
        );
        assert!(
            k["aws_param"]["ValidTo"]
                .as_str()
                .unwrap()
                .contains(&valid_to[..19]),
            "{k}"
        );
    }
    let list = provider_list(
        &server,
        &token,
        &format!(
            "keyid={}&region=us-west-2",
            replica["aws_param"]["KeyID"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0]["id"], replica_id);
    // update-primary-region takes the provider's body at the primary's id; LocalStack does not
    // implement UpdatePrimaryRegion (501), so this only shows the body is accepted (the
    // effect is tested against injected AWS answers in key_actions.rs).
    let r = server
        .post(
            &format!("{KEYS}/{primary_id}/update-primary-region"),
            &token,
            json!({"PrimaryRegion": "us-west-2"}),
        )
        .await;
    assert_ne!(r.status.as_u16(), 400, "{}", r.body);
    assert_ne!(r.status.as_u16(), 404, "{}", r.body);
}

/// TestCckmAWSKeyMultiRegionLocal (§5.2(b)): an RSA vault key uploaded as a multi-Region
/// RSA_2048 key. The material (PKCS #8) goes to AWS with RSA_AES_KEY_WRAP_SHA_256. A vault key
/// that does not fit the spec is a 400 naming `source_key_identifier`, before AWS is called.
#[tokio::test]
async fn terraform_provider_uploads_an_rsa_vault_key() {
    let (server, token, _account, kms) = setup(&["ap-south-1"]).await;
    let kms_id = kms["id"].as_str().unwrap();
    let upload = |vault_id: &Value| {
        let mut p = go_aws_param(json!({"CustomerMasterKeySpec": "RSA_2048",
            "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": true}));
        p["ValidTo"] = json!("");
        json!({"kms": kms_id, "region": "ap-south-1", "external_accounts": null,
               "key_admins": null, "key_admins_roles": null, "key_users": null,
               "key_users_roles": null, "policytemplate": null, "aws_param": p,
               "source_key_identifier": vault_id, "key_expiration": false,
               "source_key_tier": "local"})
    };
    let aes = provider_vault_key(
        &server,
        &token,
        json!({"algorithm": "aes", "assignSelfAsOwner": true, "name": unique("tf-aes"), "size": 256}),
    )
    .await;
    server
        .post("/api/v1/cckm/aws/upload-key", &token, upload(&aes["id"]))
        .await
        .expect_error(400, "source_key_identifier");

    let rsa = server
        .post(
            "/api/v1/vault/keys2",
            &token,
            json!({"algorithm": "rsa", "assignSelfAsOwner": true, "name": unique("tf-rsa"), "size": 2048}),
        )
        .await;
    let rsa = rsa.expect(201).body;
    let up = server
        .post("/api/v1/cckm/aws/upload-key", &token, upload(&rsa["id"]))
        .await
        .expect(201)
        .body;
    assert_provider_shape(&up);
    assert_eq!(up["aws_param"]["CustomerMasterKeySpec"], "RSA_2048");
    assert_eq!(up["aws_param"]["Origin"], "EXTERNAL");
    assert_eq!(up["aws_param"]["KeyState"], "Enabled", "{up}");
    assert_eq!(up["aws_param"]["MultiRegion"], true);
    assert_eq!(up["local_key_id"], rsa["id"]);
    assert_eq!(up["local_key_name"], rsa["name"]);
    assert_eq!(up["key_source"], "local");
}

// ---------------------------------------------------------------------------------------------
// AWS calls per operation, whatever the size of the Region (issue 12, goal 2)

/// Every AWS operation's call count in the server's `/metrics` (both outcomes summed).
async fn aws_call_counts(server: &Server) -> std::collections::BTreeMap<String, u64> {
    let text = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("keyward_aws_calls_total{"))
    {
        let op = line
            .split("operation=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no operation in {line}"))
            .to_string();
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *counts.entry(op).or_insert(0) += n as u64;
    }
    counts
}

/// The calls made between two readings of the metrics, by operation (those made only).
fn calls_between(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A raw AWS JSON 1.1 request to LocalStack as `access_key` in `region`.
async fn kms_raw_in(access_key: &str, region: &str, operation: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(common::kms_endpoint())
        .header("X-Amz-Target", format!("TrentService.{operation}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            format!("AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("LocalStack answers");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(
        status.is_success(),
        "{operation} in {region}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Makes `n` aliases straight in LocalStack (not through Keyward) in a Region, spread over a few
/// keys of their own, 8 requests at a time.
async fn crowd_region(access_key: &str, region: &'static str, keys: usize, n: usize) {
    let mut targets = Vec::new();
    for i in 0..keys {
        let meta = kms_raw_in(
            access_key,
            region,
            "CreateKey",
            json!({"Description": format!("crowd {i}")}),
        )
        .await;
        targets.push(meta["KeyMetadata"]["KeyId"].as_str().unwrap().to_string());
    }
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (gate, access_key, target) = (
            gate.clone(),
            access_key.to_string(),
            targets[i % targets.len()].clone(),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            kms_raw_in(
                &access_key,
                region,
                "CreateAlias",
                json!({"AliasName": format!("alias/{}", unique("crowd")), "TargetKeyId": target}),
            )
            .await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Runs create (alias, tag), add-alias, upload-key (alias), replicate-key (alias in the
/// replica's Region) and rotate (retain_alias) once each, and returns each one's AWS calls.
async fn calls_of_each_operation(
    server: &Server,
    token: &str,
) -> Vec<(&'static str, std::collections::BTreeMap<String, u64>)> {
    let mut out = Vec::new();
    let mut before = aws_call_counts(server).await;
    let mut measured = |name: &'static str, after: std::collections::BTreeMap<String, u64>| {
        out.push((name, calls_between(&before, &after)));
        before = after;
    };

    let key = create_ok(
        server,
        token,
        json!({"Alias": unique("count"), "Tags": [{"TagKey": "team", "TagValue": "blue"}]}),
    )
    .await;
    measured("create", aws_call_counts(server).await);
    let id = key["id"].as_str().unwrap();

    server
        .post(
            &format!("{KEYS}/{id}/add-alias"),
            token,
            json!({"alias": unique("count-more")}),
        )
        .await
        .expect(200);
    measured("add-alias", aws_call_counts(server).await);

    server
        .post(
            "/api/v1/cckm/aws/upload-key",
            token,
            json!({"kms": "kms", "region": "ap-south-1", "source_key_tier": "local",
                "aws_param": {"Alias": unique("count-up")}}),
        )
        .await
        .expect(201);
    measured("upload-key", aws_call_counts(server).await);

    let primary = create_ok(server, token, json!({"MultiRegion": true})).await;
    let before_replica = aws_call_counts(server).await;
    measured("create (multi-Region, no alias)", before_replica);
    server
        .post(
            &format!("{KEYS}/{}/replicate-key", primary["id"].as_str().unwrap()),
            token,
            json!({"replica_region": "us-west-2", "aws_param": {"Alias": unique("count-rep")}}),
        )
        .await
        .expect(201);
    measured("replicate-key", aws_call_counts(server).await);

    server
        .post(
            &format!("{KEYS}/{id}/rotate"),
            token,
            json!({"retain_alias": true}),
        )
        .await
        .expect(201);
    measured("rotate", aws_call_counts(server).await);
    out
}

/// Create, add-alias, upload-key, replicate-key and rotate make the same AWS calls, operation by
/// operation, in a Region crowded with hundreds of aliases made outside Keyward as in an empty
/// one: an alias is checked with one DescribeKey, never by paging through ListAliases. And a
/// create reads back nothing Keyward knows already (the metadata CreateKey returned, the alias
/// it made, the tags and policy it sent, rotation off).
#[tokio::test]
async fn aws_calls_per_operation_do_not_grow_with_the_aliases_in_the_region() {
    const CROWD: usize = 400;
    let server = Server::start();
    let token = server.admin().await;
    let (access_key, account) = common::fresh_localstack_account();
    server
        .aws_connection(
            &token,
            "ls",
            &access_key,
            "ap-south-1",
            &common::kms_endpoint(),
        )
        .await;
    server
        .kms_container(&token, "kms", "ls", &account, &["ap-south-1", "us-west-2"])
        .await;

    let empty = calls_of_each_operation(&server, &token).await;
    let started = Instant::now();
    crowd_region(&access_key, "ap-south-1", 10, CROWD).await;
    crowd_region(&access_key, "us-west-2", 10, CROWD).await;
    eprintln!(
        "made {CROWD} aliases in each of two Regions in {:?}",
        started.elapsed()
    );
    let crowded = calls_of_each_operation(&server, &token).await;

    eprintln!("AWS calls per operation (empty Region | {CROWD} more aliases):");
    for ((name, e), (_, c)) in empty.iter().zip(&crowded) {
        eprintln!(
            "  {name}: {} | {}  {e:?} | {c:?}",
            e.values().sum::<u64>(),
            c.values().sum::<u64>()
        );
    }
    assert_eq!(
        empty, crowded,
        "the same calls whatever the aliases in the Region"
    );

    let create = &empty[0].1;
    assert_eq!(
        create,
        &[
            ("CreateAlias", 1),
            ("CreateKey", 1),
            ("DescribeKey", 1),   // the alias check: NotFoundException, free
            ("GetKeyPolicy", 1),  // the default policy, which AWS chose
            ("UntagResource", 1), // the create's journal tag
        ]
        .into_iter()
        .map(|(op, n)| (op.to_string(), n))
        .collect(),
        "a create's calls"
    );
    for (name, calls) in &empty {
        assert!(
            !calls.contains_key("ListKeys"),
            "{name} lists no keys: {calls:?}"
        );
    }
}
