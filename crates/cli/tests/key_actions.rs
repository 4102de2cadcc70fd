//! The actions on an AWS key (`POST /api/v1/cckm/aws/keys/{id}/<action>`) against LocalStack's
//! KMS: each returns the whole record as re-read from AWS. Schedule and cancel deletion, enable
//! and disable (and what AWS refuses in a key's state), description, tags, aliases, policy,
//! automatic and on-demand rotation, refresh, replication, the public key, alias verification,
//! unknown actions and keys; and update-primary-region, which LocalStack does not implement,
//! against an injected AWS response.
//!
//! Each test works in a LocalStack account of its own (`localstack_account_connection`).
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{DEFAULT_ACCESS_KEY, Reply, Server, tag_pairs};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const VERIFY: &str = "/api/v1/cckm/aws/alias/verify";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A server, an admin token, a LocalStack connection `ls` in an account of its own, and a KMS
/// container `kms` over `regions`. Returns (server, token, account id).
async fn setup(regions: &[&str]) -> (Server, String, String) {
    let server = Server::start();
    let token = server.admin().await;
    let (_, account) = server.localstack_account_connection(&token, "ls").await;
    server
        .kms_container(&token, "kms", "ls", &account, regions)
        .await;
    (server, token, account)
}

/// Creates a key in `kms` / ap-south-1 and returns the record.
async fn create_key(server: &Server, token: &str, aws_param: Value) -> Value {
    server
        .post(
            KEYS,
            token,
            json!({"kms": "kms", "region": "ap-south-1", "aws_param": aws_param}),
        )
        .await
        .expect(201)
        .body
}

fn id_of(k: &Value) -> String {
    k["id"].as_str().expect("id").to_string()
}

async fn act(server: &Server, token: &str, key: &Value, action: &str, body: Value) -> Reply {
    server
        .post(&format!("{KEYS}/{}/{action}", id_of(key)), token, body)
        .await
}

/// Runs an action that must succeed and checks that it returned the record as stored.
async fn act_ok(server: &Server, token: &str, key: &Value, action: &str, body: Value) -> Value {
    let rec = act(server, token, key, action, body).await.expect(200).body;
    assert_eq!(rec["id"], key["id"], "{action} returned another record");
    let stored = get(server, token, key).await;
    assert_eq!(
        rec, stored,
        "{action}: the response is not the stored record"
    );
    rec
}

async fn get(server: &Server, token: &str, key: &Value) -> Value {
    server
        .get(&format!("{KEYS}/{}", id_of(key)), token)
        .await
        .expect(200)
        .body
}

/// The record with the fields that every re-read changes taken out.
fn without_sync_times(k: &Value) -> Value {
    let mut k = k.clone();
    let o = k.as_object_mut().unwrap();
    o.remove("synced_at");
    o.remove("updatedAt");
    k
}

fn tags_of(k: &Value) -> Vec<(String, String)> {
    let mut t = tag_pairs(&k["aws_param"]["Tags"]);
    t.sort();
    t
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

fn date(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a date: {v}")))
        .unwrap_or_else(|e| panic!("{v}: {e}"))
        .with_timezone(&Utc)
}

/// Asserts a 400 whose message names `field`, and that the key is as it was.
async fn refused(
    server: &Server,
    token: &str,
    key: &Value,
    action: &str,
    body: Value,
    field: &str,
) {
    let before = get(server, token, key).await;
    act(server, token, key, action, body.clone())
        .await
        .expect_error(400, field);
    assert_eq!(get(server, token, key).await, before, "{action} {body}");
}

async fn alias_free(server: &Server, token: &str, alias: &str) -> bool {
    let r = server
        .post(
            VERIFY,
            token,
            json!({"alias": alias, "region": "ap-south-1", "kms": "kms"}),
        )
        .await;
    match r.status.as_u16() {
        200 => {
            assert_eq!(r.body, json!({"message": "Alias available"}));
            true
        }
        409 => false,
        s => panic!("alias/verify answered {s}: {}", r.body),
    }
}

#[tokio::test]
async fn deletion_and_enable_disable() {
    let (server, token, _) = setup(&["ap-south-1"]).await;
    let key = create_key(&server, &token, json!({"Alias": unique("del")})).await;

    // Days outside 7..30 are refused before AWS; the key stays as it was in AWS too.
    for days in [6, 31, 0, -7] {
        refused(
            &server,
            &token,
            &key,
            "schedule-deletion",
            json!({"days": days}),
            "days",
        )
        .await;
    }
    refused(
        &server,
        &token,
        &key,
        "schedule-deletion",
        json!({}),
        "days",
    )
    .await;
    let refreshed = act_ok(&server, &token, &key, "refresh", json!({})).await;
    assert_eq!(refreshed["aws_param"]["KeyState"], "Enabled");
    assert!(refreshed["aws_param"].get("DeletionDate").is_none());

    let before = Utc::now();
    let pending = act_ok(
        &server,
        &token,
        &key,
        "schedule-deletion",
        json!({"days": 7}),
    )
    .await;
    let p = &pending["aws_param"];
    assert_eq!(p["KeyState"], "PendingDeletion", "{pending}");
    assert_eq!(p["Enabled"], false);
    let deletion = date(&p["DeletionDate"]);
    let days = (deletion - before).num_hours();
    assert!((7 * 24 - 1..=7 * 24 + 1).contains(&days), "{deletion}");
    assert_ne!(pending["synced_at"], key["synced_at"]);
    assert_eq!(pending["createdAt"], key["createdAt"]);

    // Schedule twice, and enable while pending deletion: AWS's reason comes back.
    act(
        &server,
        &token,
        &key,
        "schedule-deletion",
        json!({"days": 7}),
    )
    .await
    .expect_error(422, "is pending deletion");
    let r = act(&server, &token, &key, "enable", json!({})).await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let msg = r.body["message"].as_str().unwrap_or("");
    assert!(msg.contains("is pending deletion"), "{msg}");
    assert!(msg.contains("KMSInvalidStateException"), "{msg}");
    assert_eq!(get(&server, &token, &key).await, pending);

    // Cancel: the key ends Disabled.
    let cancelled = act_ok(&server, &token, &key, "cancel-deletion", json!({})).await;
    assert_eq!(cancelled["aws_param"]["KeyState"], "Disabled");
    assert_eq!(cancelled["aws_param"]["Enabled"], false);
    assert!(cancelled["aws_param"].get("DeletionDate").is_none());
    assert!(cancelled.get("deletion_date").is_none());
    act(&server, &token, &key, "cancel-deletion", json!({}))
        .await
        .expect(422);

    let enabled = act_ok(&server, &token, &key, "enable", json!({})).await;
    assert_eq!(enabled["aws_param"]["KeyState"], "Enabled");
    assert_eq!(enabled["aws_param"]["Enabled"], true);
    let disabled = act_ok(&server, &token, &key, "disable", json!({})).await;
    assert_eq!(disabled["aws_param"]["KeyState"], "Disabled");
    assert_eq!(disabled["aws_param"]["Enabled"], false);
    let enabled = act_ok(&server, &token, &key, "enable", json!({})).await;
    assert_eq!(enabled["aws_param"]["KeyState"], "Enabled");

    // 30 days is the longest window.
    let before = Utc::now();
    let pending = act_ok(
        &server,
        &token,
        &key,
        "schedule-deletion",
        json!({"days": 30}),
    )
    .await;
    let deletion = date(&pending["aws_param"]["DeletionDate"]);
    let days = (deletion - before).num_hours();
    assert!((30 * 24 - 1..=30 * 24 + 1).contains(&days), "{deletion}");
    assert_eq!(
        pending["deletion_date"],
        pending["aws_param"]["DeletionDate"]
    );
}

#[tokio::test]
async fn description_tags_and_aliases() {
    let (server, token, _) = setup(&["ap-south-1"]).await;
    let a1 = unique("first");
    let a2 = unique("second");
    let key = create_key(
        &server,
        &token,
        json!({"Alias": a1, "Tags": [{"TagKey": "env", "TagValue": "prod"}]}),
    )
    .await;

    let k = act_ok(
        &server,
        &token,
        &key,
        "update-description",
        json!({"description": "key-description"}),
    )
    .await;
    assert_eq!(k["aws_param"]["Description"], "key-description");
    refused(
        &server,
        &token,
        &key,
        "update-description",
        json!({"description": "d".repeat(8193)}),
        "description",
    )
    .await;
    refused(
        &server,
        &token,
        &key,
        "update-description",
        json!({}),
        "description",
    )
    .await;

    // add-tags: snake_case; an existing key gets the new value.
    let k = act_ok(
        &server,
        &token,
        &key,
        "add-tags",
        json!({"tags": [{"tag_key": "team", "tag_value": "blue"}, {"tag_key": "env", "tag_value": "dev"}]}),
    )
    .await;
    assert_eq!(tags_of(&k), [pair("env", "dev"), pair("team", "blue")]);
    for (body, field) in [
        (
            json!({"tags": [{"tag_key": "aws:owner", "tag_value": "x"}]}),
            "aws:",
        ),
        (
            json!({"tags": [{"tag_key": "owner", "tag_value": "two words"}]}),
            "tags",
        ),
        (
            json!({"tags": [{"tag_key": "o", "tag_value": "a"}, {"tag_key": "o", "tag_value": "b"}]}),
            "twice",
        ),
        (
            json!({"tags": [{"TagKey": "o", "TagValue": "a"}]}),
            "TagKey",
        ),
        (json!({}), "tags"),
    ] {
        refused(&server, &token, &key, "add-tags", body, field).await;
    }
    // More than 50 tags in all.
    let many: Vec<Value> = (0..49)
        .map(|i| json!({"tag_key": format!("k{i}"), "tag_value": "v"}))
        .collect();
    refused(
        &server,
        &token,
        &key,
        "add-tags",
        json!({"tags": many}),
        "tags",
    )
    .await;

    let k = act_ok(
        &server,
        &token,
        &key,
        "remove-tags",
        json!({"tags": ["env", "not-there"]}),
    )
    .await;
    assert_eq!(tags_of(&k), [pair("team", "blue")]);
    refused(
        &server,
        &token,
        &key,
        "remove-tags",
        json!({"tags": []}),
        "tags",
    )
    .await;

    // Aliases: add one, refuse bad ones, delete one the key has, refuse one it has not.
    let k = act_ok(&server, &token, &key, "add-alias", json!({"alias": a2})).await;
    let mut want = vec![format!("alias/{a1}"), format!("alias/{a2}")];
    want.sort();
    assert_eq!(k["aws_param"]["Alias"], json!(want));
    for bad in ["aws/mine", "alias/aws/mine", "has space", ""] {
        refused(
            &server,
            &token,
            &key,
            "add-alias",
            json!({"alias": bad}),
            "alias",
        )
        .await;
    }
    // An alias AWS already has: AWS's reason.
    let r = act(&server, &token, &key, "add-alias", json!({"alias": a1})).await;
    assert!(r.status.is_client_error(), "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("AlreadyExists"),
        "{}",
        r.body
    );
    refused(
        &server,
        &token,
        &key,
        "delete-alias",
        json!({"alias": unique("not-mine")}),
        "alias",
    )
    .await;
    let k = act_ok(
        &server,
        &token,
        &key,
        "delete-alias",
        json!({"alias": format!("alias/{a1}")}),
    )
    .await;
    assert_eq!(k["aws_param"]["Alias"], json!([format!("alias/{a2}")]));
    assert!(alias_free(&server, &token, &a1).await);
    assert!(!alias_free(&server, &token, &a2).await);
    let k = act_ok(&server, &token, &key, "delete-alias", json!({"alias": a2})).await;
    assert_eq!(k["aws_param"]["Alias"], json!([]));
}

#[tokio::test]
async fn key_policy() {
    let (server, token, account) = setup(&["ap-south-1"]).await;
    let key = create_key(&server, &token, json!({})).await;
    let document = |id: &str| {
        json!({
            "Version": "2012-10-17",
            "Id": id,
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": "kms:*",
                "Resource": "*"
            }]
        })
    };

    let k = act_ok(
        &server,
        &token,
        &key,
        "policy",
        json!({"policy": document("doc-1")}),
    )
    .await;
    assert_eq!(k["aws_param"]["Policy"], document("doc-1"));
    // Terraform's spelling.
    let k = act_ok(
        &server,
        &token,
        &key,
        "policy",
        json!({"Policy": document("doc-2")}),
    )
    .await;
    assert_eq!(k["aws_param"]["Policy"], document("doc-2"));

    let k = act_ok(
        &server,
        &token,
        &key,
        "policy",
        json!({"key_admins": ["alice"], "key_users": ["bob"], "external_accounts": ["111122223333"]}),
    )
    .await;
    let text = k["aws_param"]["Policy"].to_string();
    for principal in [
        format!("arn:aws:iam::{account}:root"),
        format!("arn:aws:iam::{account}:user/alice"),
        format!("arn:aws:iam::{account}:user/bob"),
        "arn:aws:iam::111122223333:root".to_string(),
    ] {
        assert!(text.contains(&principal), "{principal} not in {text}");
    }
    // Shown as ARNs, as CipherTrust shows them (Thales' Terraform provider expects them).
    assert_eq!(
        k["key_admins"],
        json!([format!("arn:aws:iam::{account}:user/alice")])
    );
    assert_eq!(
        k["key_users"],
        json!([format!("arn:aws:iam::{account}:user/bob")])
    );

    // Mutually exclusive; nothing at all; not an object.
    refused(
        &server,
        &token,
        &key,
        "policy",
        json!({"policy": document("doc-3"), "key_users": ["carol"]}),
        "mutually exclusive",
    )
    .await;
    refused(&server, &token, &key, "policy", json!({}), "policy").await;
    refused(
        &server,
        &token,
        &key,
        "policy",
        json!({"policy": "not json"}),
        "policy",
    )
    .await;

    // A document again: the principal lists go.
    let k = act_ok(
        &server,
        &token,
        &key,
        "policy",
        json!({"policy": document("doc-4")}),
    )
    .await;
    assert_eq!(k["aws_param"]["Policy"], document("doc-4"));
    assert!(k.get("key_users").is_none(), "{k}");
}

#[tokio::test]
async fn rotation_and_public_key() {
    let (server, token, _) = setup(&["ap-south-1"]).await;
    let sym = create_key(&server, &token, json!({})).await;
    let rsa = create_key(
        &server,
        &token,
        json!({"CustomerMasterKeySpec": "RSA_2048"}),
    )
    .await;

    for days in [89, 2561] {
        refused(
            &server,
            &token,
            &sym,
            "enable-auto-rotation",
            json!({"rotation_period_in_days": days}),
            "rotation_period_in_days",
        )
        .await;
    }
    let k = act_ok(
        &server,
        &token,
        &sym,
        "enable-auto-rotation",
        json!({"rotation_period_in_days": 90}),
    )
    .await;
    assert_eq!(k["aws_param"]["KeyRotationEnabled"], true, "{k}");
    assert_eq!(k["aws_param"]["RotationPeriodInDays"], 90, "{k}");
    let status = act(&server, &token, &sym, "get-key-rotation-status", json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(status["KeyRotationEnabled"], true, "{status}");
    assert_eq!(status["RotationPeriodInDays"], 90, "{status}");
    assert_eq!(status["KeyId"], sym["aws_param"]["Arn"]);
    let k = act_ok(
        &server,
        &token,
        &sym,
        "enable-auto-rotation",
        json!({"rotation_period_in_days": 2560}),
    )
    .await;
    assert_eq!(k["aws_param"]["RotationPeriodInDays"], 2560, "{k}");

    let k = act_ok(&server, &token, &sym, "disable-auto-rotation", json!({})).await;
    assert_eq!(k["aws_param"]["KeyRotationEnabled"], false, "{k}");
    let status = act(&server, &token, &sym, "get-key-rotation-status", json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(status["KeyRotationEnabled"], false, "{status}");

    // On-demand rotation of a symmetric key.
    let k = act_ok(&server, &token, &sym, "rotate-material", json!({})).await;
    assert_eq!(k["aws_param"]["KeyState"], "Enabled");

    // An RSA key rotates neither way; refused by Keyward, not by AWS.
    for (action, body) in [
        (
            "enable-auto-rotation",
            json!({"rotation_period_in_days": 90}),
        ),
        ("enable-auto-rotation", json!({})),
        ("rotate-material", json!({})),
    ] {
        let r = act(&server, &token, &rsa, action, body)
            .await
            .expect_error(400, action);
        let msg = r.body["message"].as_str().unwrap();
        assert!(!msg.contains("Exception"), "AWS was asked: {msg}");
    }

    // The public key of an asymmetric key, PEM; a symmetric key has none.
    let pk = server
        .get(
            &format!("{KEYS}/{}/download-public-key", id_of(&rsa)),
            &token,
        )
        .await
        .expect(200)
        .body;
    let pem = pk["public_key"].as_str().expect("public_key");
    let lines: Vec<&str> = pem.trim_end().lines().collect();
    assert_eq!(lines.first(), Some(&"-----BEGIN PUBLIC KEY-----"), "{pem}");
    assert_eq!(lines.last(), Some(&"-----END PUBLIC KEY-----"), "{pem}");
    let body: String = lines[1..lines.len() - 1].concat();
    assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() <= 64));
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)),
        "{pem}"
    );
    // A DER SubjectPublicKeyInfo of an RSA 2048 key is 294 bytes: 392 base64 characters.
    assert_eq!(body.len(), 392, "{pem}");
    assert!(
        body.starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
        "{pem}"
    );
    assert_eq!(pk["KeySpec"], "RSA_2048");
    assert_eq!(pk["KeyId"], rsa["aws_param"]["Arn"]);
    server
        .get(
            &format!("{KEYS}/{}/download-public-key", id_of(&sym)),
            &token,
        )
        .await
        .expect_error(400, "asymmetric");
}

/// refresh re-reads AWS: a change made through another record of the same AWS key (a second
/// container over the same account, filled by a synchronization) shows after a refresh.
#[tokio::test]
async fn refresh_rereads_aws() {
    let (server, token, account) = setup(&["ap-south-1"]).await;
    let key = create_key(&server, &token, json!({"Alias": unique("refresh")})).await;
    let same = act_ok(&server, &token, &key, "refresh", json!({})).await;
    assert_eq!(without_sync_times(&same), without_sync_times(&key));
    assert_ne!(same["synced_at"], key["synced_at"]);

    server
        .kms_container(&token, "mirror", "ls", &account, &["ap-south-1"])
        .await;
    let job = server
        .post(
            "/api/v1/cckm/aws/synchronization-jobs",
            &token,
            json!({"kms": ["mirror"]}),
        )
        .await
        .expect(201)
        .body;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = server
            .get(
                &format!(
                    "/api/v1/cckm/aws/synchronization-jobs/{}",
                    job["id"].as_str().unwrap()
                ),
                &token,
            )
            .await
            .expect(200)
            .body;
        if j["overall_status"] == "completed" {
            break;
        }
        assert_eq!(j["overall_status"], "in_progress", "{j}");
        assert!(Instant::now() < deadline, "{j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mirror = server
        .get(&format!("{KEYS}?kms=mirror"), &token)
        .await
        .expect(200)
        .body["resources"][0]
        .clone();
    assert_eq!(mirror["aws_param"]["KeyID"], key["aws_param"]["KeyID"]);
    act_ok(&server, &token, &mirror, "disable", json!({})).await;
    act_ok(
        &server,
        &token,
        &mirror,
        "update-description",
        json!({"description": "changed elsewhere"}),
    )
    .await;

    // The first record does not know yet; a refresh reads the change.
    assert_eq!(
        get(&server, &token, &key).await["aws_param"]["KeyState"],
        "Enabled"
    );
    let k = act_ok(&server, &token, &key, "refresh", json!({})).await;
    assert_eq!(k["aws_param"]["KeyState"], "Disabled");
    assert_eq!(k["aws_param"]["Description"], "changed elsewhere");
}

#[tokio::test]
async fn replicate_key_returns_the_replica() {
    let (server, token, account) = setup(&["ap-south-1", "us-east-1"]).await;
    let primary = create_key(
        &server,
        &token,
        json!({"MultiRegion": true, "Alias": unique("primary")}),
    )
    .await;
    let single = create_key(&server, &token, json!({})).await;
    let key_id = primary["aws_param"]["KeyID"].as_str().unwrap();

    let replica_alias = unique("replica");
    let r = act(
        &server,
        &token,
        &primary,
        "replicate-key",
        json!({
            "replica_region": "us-east-1",
            "aws_param": {"Description": "the replica", "Alias": replica_alias}
        }),
    )
    .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    let replica = r.body;
    assert_ne!(replica["id"], primary["id"]);
    assert_eq!(replica["region"], "us-east-1");
    assert_eq!(replica["kms"], "kms");
    assert_eq!(
        replica["uri"],
        format!("kylo:kylo:cckm:aws-replica-key:{}", id_of(&replica))
    );
    let p = &replica["aws_param"];
    assert_eq!(p["KeyID"], key_id);
    assert_eq!(
        p["Arn"],
        format!("arn:aws:kms:us-east-1:{account}:key/{key_id}")
    );
    assert_eq!(p["MultiRegion"], true);
    assert_eq!(
        p["MultiRegionConfiguration"]["MultiRegionKeyType"], "REPLICA",
        "{p}"
    );
    assert_eq!(
        p["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
        "ap-south-1"
    );
    assert_eq!(
        p["MultiRegionConfiguration"]["PrimaryKey"]["Arn"],
        primary["aws_param"]["Arn"]
    );
    assert_eq!(p["Description"], "the replica");
    assert_eq!(p["Alias"], json!([format!("alias/{replica_alias}")]));
    // (Tags given to replicate-key are not asserted: LocalStack's ReplicateKey ignores them.)
    assert_eq!(replica["key_type"], "symmetric");
    assert_eq!(
        get(&server, &token, &replica).await,
        replica,
        "the replica's record is stored"
    );

    // Replication changed the primary in AWS (it has a replica now): its record shows it
    // without a refresh.
    let k = get(&server, &token, &primary).await;
    let replicas = &k["aws_param"]["MultiRegionConfiguration"]["ReplicaKeys"];
    assert_eq!(
        replicas,
        &json!([{"Arn": p["Arn"], "Region": "us-east-1"}]),
        "{k}"
    );
    let list = server
        .get(&format!("{KEYS}?multi_region_key_type=REPLICA"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], 1);
    assert_eq!(list["resources"][0]["id"], replica["id"]);

    // What cannot be replicated.
    refused(
        &server,
        &token,
        &single,
        "replicate-key",
        json!({"replica_region": "us-east-1"}),
        "multi-Region",
    )
    .await;
    refused(
        &server,
        &token,
        &primary,
        "replicate-key",
        json!({"replica_region": "ap-south-1"}),
        "replica_region",
    )
    .await;
    refused(
        &server,
        &token,
        &primary,
        "replicate-key",
        json!({"replica_region": "eu-west-1"}),
        "eu-west-1",
    )
    .await;
    refused(
        &server,
        &token,
        &primary,
        "replicate-key",
        json!({"replica_region": "nowhere"}),
        "replica_region",
    )
    .await;
    refused(
        &server,
        &token,
        &replica,
        "replicate-key",
        json!({"replica_region": "ap-south-1"}),
        "primary",
    )
    .await;
    let list = server.get(KEYS, &token).await.expect(200).body;
    assert_eq!(list["total"], 3);
}

#[tokio::test]
async fn alias_verify_unknown_actions_and_keys() {
    let (server, token, _) = setup(&["ap-south-1"]).await;
    let alias = unique("verify");
    let key = create_key(&server, &token, json!({"Alias": alias})).await;

    let free = unique("free");
    assert_eq!(
        server
            .post(
                VERIFY,
                &token,
                json!({"alias": free, "region": "ap-south-1", "kms": "kms"})
            )
            .await
            .expect(200)
            .body,
        json!({"message": "Alias available"})
    );
    for taken in [alias.clone(), format!("alias/{alias}")] {
        server
            .post(
                VERIFY,
                &token,
                json!({"alias": taken, "region": "ap-south-1", "kms": "kms"}),
            )
            .await
            .expect_error(409, &alias);
    }
    for (body, field) in [
        (
            json!({"alias": "aws/x", "region": "ap-south-1", "kms": "kms"}),
            "alias",
        ),
        (
            json!({"alias": "a b", "region": "ap-south-1", "kms": "kms"}),
            "alias",
        ),
        (
            json!({"alias": free, "region": "us-east-1", "kms": "kms"}),
            "region",
        ),
        (
            json!({"alias": free, "region": "ap-south-1", "kms": "nope"}),
            "kms",
        ),
        (json!({"alias": free, "region": "ap-south-1"}), "kms"),
    ] {
        server
            .post(VERIFY, &token, body)
            .await
            .expect_error(400, field);
    }

    // An unknown action on a known key, and known actions on an unknown key.
    act(&server, &token, &key, "explode", json!({}))
        .await
        .expect(404);
    act(&server, &token, &key, "rotate-everything", json!({}))
        .await
        .expect(404);
    let missing = uuid::Uuid::new_v4().to_string();
    for (action, body) in [
        ("enable", json!({})),
        ("schedule-deletion", json!({"days": 7})),
        ("refresh", json!({})),
        ("get-key-rotation-status", json!({})),
        ("replicate-key", json!({"replica_region": "us-east-1"})),
        (
            "update-primary-region",
            json!({"PrimaryRegion": "us-east-1"}),
        ),
    ] {
        server
            .post(&format!("{KEYS}/{missing}/{action}"), &token, body)
            .await
            .expect_error(404, &missing);
    }
    server
        .get(&format!("{KEYS}/{missing}/download-public-key"), &token)
        .await
        .expect(404);
    // A body that is not JSON.
    let r = server
        .client()
        .post(format!(
            "{}{KEYS}/{}/schedule-deletion",
            server.url,
            id_of(&key)
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{days: 7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(get(&server, &token, &key).await, key);
}

// ---------------------------------------------------------------------------------------------
// update-primary-region with an injected AWS response.
//
// LocalStack does not implement UpdatePrimaryRegion (it answers 501, see kms-emulator.md), so
// this test injects AWS's responses instead: a small HTTP responder on 127.0.0.1 plays KMS for
// a connection whose endpoint_url points at it. It answers the JSON 1.1 operations Keyward
// calls (the X-Amz-Target header names the operation; the Region is the one in the request's
// SigV4 credential scope) for one multi-Region key, with the bodies AWS documents, and keeps
// which Region is the primary so that UpdatePrimaryRegion flips it as AWS does.

const FAKE_ACCOUNT: &str = "111122223333";
const FAKE_KEY_ID: &str = "mrk-1234abcd12ab34cd56ef1234567890ab";

fn fake_arn(region: &str) -> String {
    format!("arn:aws:kms:{region}:{FAKE_ACCOUNT}:key/{FAKE_KEY_ID}")
}

fn fake_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{FAKE_ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The multi-Region key's Regions: which one is the primary, and the replicas.
struct FakeKey {
    primary: String,
    replicas: BTreeSet<String>,
    /// Key states other than Enabled, by Region, with the deletion window.
    states: BTreeMap<String, (&'static str, i64)>,
}

impl FakeKey {
    /// DescribeKey's KeyMetadata of the key in `region`.
    fn metadata(&self, region: &str) -> Value {
        let regional = |r: &str| json!({"Arn": fake_arn(r), "Region": r});
        let replica_keys: Vec<Value> = self.replicas.iter().map(|r| regional(r)).collect();
        let (state, window) = self.states.get(region).copied().unwrap_or(("Enabled", 0));
        let mut m = json!({
            "AWSAccountId": FAKE_ACCOUNT,
            "KeyId": FAKE_KEY_ID,
            "Arn": fake_arn(region),
            "CreationDate": 1_700_000_000.0,
            "Enabled": state == "Enabled",
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": state,
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": true,
            "MultiRegionConfiguration": {
                "MultiRegionKeyType": if region == self.primary { "PRIMARY" } else { "REPLICA" },
                "PrimaryKey": regional(&self.primary),
                "ReplicaKeys": replica_keys
            }
        });
        match state {
            "PendingDeletion" => m["DeletionDate"] = json!(1_700_000_000 + window * 86_400),
            "PendingReplicaDeletion" => m["PendingDeletionWindowInDays"] = json!(window),
            _ => {}
        }
        m
    }

    fn exists_in(&self, region: &str) -> bool {
        region == self.primary || self.replicas.contains(region)
    }
}

/// One request the responder got: operation, Region, body.
#[derive(Debug, Clone)]
struct Call {
    operation: String,
    region: String,
    body: Value,
}

struct FakeKms {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeKms {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        std::thread::spawn(move || {
            let mut key: Option<FakeKey> = None;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(call) = read_call(&mut stream) else {
                    continue;
                };
                seen.lock().unwrap().push(call.clone());
                let (status, body) = answer(&mut key, &call);
                respond(&mut stream, status, &body);
            }
        });
        Self { url, calls }
    }

    fn calls(&self, operation: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.operation == operation)
            .cloned()
            .collect()
    }
}

fn aws_error(kind: &str, message: String) -> (u16, Value) {
    (400, json!({"__type": kind, "message": message}))
}

/// AWS's answer to one call.
fn answer(key: &mut Option<FakeKey>, call: &Call) -> (u16, Value) {
    let region = call.region.as_str();
    if call.operation == "CreateKey" {
        assert_eq!(call.body["MultiRegion"], true, "{call:?}");
        let k = FakeKey {
            primary: region.to_string(),
            replicas: BTreeSet::new(),
            states: BTreeMap::new(),
        };
        let metadata = k.metadata(region);
        *key = Some(k);
        return (200, json!({"KeyMetadata": metadata}));
    }
    let Some(k) = key.as_mut().filter(|k| k.exists_in(region)) else {
        return aws_error(
            "NotFoundException",
            format!("Key '{}' does not exist", fake_arn(region)),
        );
    };
    match call.operation.as_str() {
        "DescribeKey" => (200, json!({"KeyMetadata": k.metadata(region)})),
        "ListAliases" => (200, json!({"Aliases": [], "Truncated": false})),
        "ListResourceTags" => (200, json!({"Tags": [], "Truncated": false})),
        "GetKeyPolicy" => (
            200,
            json!({"PolicyName": "default", "Policy": fake_policy()}),
        ),
        "ReplicateKey" => {
            let replica = call.body["ReplicaRegion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if region != k.primary || replica == k.primary || !k.replicas.insert(replica.clone()) {
                return aws_error(
                    "AlreadyExistsException",
                    format!("{FAKE_KEY_ID} already has a key in {replica}"),
                );
            }
            (
                200,
                json!({
                    "ReplicaKeyMetadata": k.metadata(&replica),
                    "ReplicaPolicy": fake_policy(),
                    "ReplicaTags": []
                }),
            )
        }
        "GetKeyRotationStatus" => (
            200,
            json!({"KeyRotationEnabled": false, "KeyId": fake_arn(region)}),
        ),
        "ScheduleKeyDeletion" => {
            let days = call.body["PendingWindowInDays"].as_i64().unwrap_or(30);
            // A primary with replicas waits for them: PendingReplicaDeletion, no date yet.
            let state = if region == k.primary && !k.replicas.is_empty() {
                "PendingReplicaDeletion"
            } else {
                "PendingDeletion"
            };
            k.states.insert(region.to_string(), (state, days));
            let mut out =
                json!({"KeyId": fake_arn(region), "KeyState": state, "PendingWindowInDays": days});
            if state == "PendingDeletion" {
                out["DeletionDate"] = json!(1_700_000_000 + days * 86_400);
            }
            (200, out)
        }
        "CancelKeyDeletion" => {
            k.states.insert(region.to_string(), ("Disabled", 0));
            (200, json!({"KeyId": fake_arn(region)}))
        }
        "UpdatePrimaryRegion" => {
            // AWS takes the call in the primary's Region, for a Region that has a replica.
            if region != k.primary {
                return aws_error(
                    "UnsupportedOperationException",
                    format!("{} is not a multi-Region primary key", fake_arn(region)),
                );
            }
            let target = call.body["PrimaryRegion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if !k.replicas.remove(&target) {
                return aws_error(
                    "NotFoundException",
                    format!("There is no replica of {FAKE_KEY_ID} in {target}"),
                );
            }
            let old = std::mem::replace(&mut k.primary, target);
            k.replicas.insert(old);
            (200, json!({}))
        }
        other => aws_error(
            "UnsupportedOperationException",
            format!("the test's responder does not play {other}"),
        ),
    }
}

/// Reads one HTTP request: the operation (from X-Amz-Target), the Region (from the SigV4
/// credential scope in Authorization) and the JSON body.
fn read_call(stream: &mut TcpStream) -> Option<Call> {
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
    let operation = header("x-amz-target")
        .unwrap_or_default()
        .trim_start_matches("TrentService.")
        .to_string();
    // Credential=<access key>/<date>/<region>/kms/aws4_request
    let region = header("authorization")
        .and_then(|a| {
            let scope = a.split("Credential=").nth(1)?;
            scope.split('/').nth(2).map(String::from)
        })
        .unwrap_or_default();
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    Some(Call {
        operation,
        region,
        body,
    })
}

fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let text = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: 11111111-2222-3333-4444-555555555555\r\nConnection: close\r\n",
        if status == 200 { "OK" } else { "Bad Request" },
        text.len()
    );
    if status != 200 {
        head.push_str(&format!(
            "x-amzn-ErrorType: {}\r\n",
            body["__type"].as_str().unwrap_or("")
        ));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

/// A server whose container `kms` (us-east-1, eu-west-1) is on a connection to the responder,
/// and a multi-Region key made through Keyward: the primary in us-east-1 and its replica in
/// eu-west-1. Returns (responder, server, token, primary record, replica record).
async fn fake_aws_multi_region_key() -> (FakeKms, Server, String, Value, Value) {
    let fake = FakeKms::start();
    let server = Server::start();
    let token = server.admin().await;
    server
        .aws_connection(
            &token,
            "fake-aws",
            DEFAULT_ACCESS_KEY,
            "us-east-1",
            &fake.url,
        )
        .await;
    server
        .kms_container(
            &token,
            "kms",
            "fake-aws",
            FAKE_ACCOUNT,
            &["us-east-1", "eu-west-1"],
        )
        .await;
    let primary = server
        .post(
            KEYS,
            &token,
            json!({"kms": "kms", "region": "us-east-1", "aws_param": {"MultiRegion": true}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        primary["aws_param"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    let replica = act(
        &server,
        &token,
        &primary,
        "replicate-key",
        json!({"replica_region": "eu-west-1"}),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(replica["region"], "eu-west-1");
    assert_eq!(
        replica["aws_param"]["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    // The primary's record shows its new replica (no refresh needed).
    let primary = get(&server, &token, &primary).await;
    let cfg = &primary["aws_param"]["MultiRegionConfiguration"];
    assert_eq!(
        cfg["ReplicaKeys"],
        json!([{"Arn": fake_arn("eu-west-1"), "Region": "eu-west-1"}]),
        "{primary}"
    );
    (fake, server, token, primary, replica)
}

/// update-primary-region against injected AWS responses (the emulator cannot produce them):
/// the primary in us-east-1 with a replica in eu-west-1 becomes a replica of eu-west-1, asked
/// through the primary's record (as Terraform does); then back, asked through the replica's
/// record (as CCKM's documentation does).
#[tokio::test]
async fn update_primary_region_with_injected_aws_responses() {
    let (fake, server, token, primary, replica) = fake_aws_multi_region_key().await;

    // Refused before AWS: a Region without a replica, and the current primary's Region.
    refused(
        &server,
        &token,
        &primary,
        "update-primary-region",
        json!({"PrimaryRegion": "ap-south-1"}),
        "PrimaryRegion",
    )
    .await;
    refused(
        &server,
        &token,
        &primary,
        "update-primary-region",
        json!({"PrimaryRegion": "us-east-1"}),
        "PrimaryRegion",
    )
    .await;
    refused(
        &server,
        &token,
        &primary,
        "update-primary-region",
        json!({"primary_region": "eu-west-1"}),
        "primary_region",
    )
    .await;
    assert!(fake.calls("UpdatePrimaryRegion").is_empty());

    let updated = act_ok(
        &server,
        &token,
        &primary,
        "update-primary-region",
        json!({"PrimaryRegion": "eu-west-1"}),
    )
    .await;
    let calls = fake.calls("UpdatePrimaryRegion");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].region, "us-east-1", "sent to the primary's Region");
    assert_eq!(calls[0].body["PrimaryRegion"], "eu-west-1");
    assert_eq!(calls[0].body["KeyId"], FAKE_KEY_ID);
    let cfg = &updated["aws_param"]["MultiRegionConfiguration"];
    assert_eq!(cfg["PrimaryKey"]["Region"], "eu-west-1", "{updated}");
    assert_eq!(cfg["PrimaryKey"]["Arn"], fake_arn("eu-west-1"));
    assert_eq!(cfg["MultiRegionKeyType"], "REPLICA");
    assert_eq!(
        cfg["ReplicaKeys"],
        json!([{"Arn": fake_arn("us-east-1"), "Region": "us-east-1"}])
    );
    assert_eq!(updated["region"], "us-east-1");
    assert_eq!(
        updated["uri"],
        format!("kylo:kylo:cckm:aws-replica-key:{}", id_of(&updated))
    );
    // Keyward's record of the key in eu-west-1 shows the change too, without a refresh.
    let new_primary = get(&server, &token, &replica).await;
    let cfg = &new_primary["aws_param"]["MultiRegionConfiguration"];
    assert_eq!(cfg["MultiRegionKeyType"], "PRIMARY", "{new_primary}");
    assert_eq!(cfg["PrimaryKey"]["Region"], "eu-west-1");
    assert_eq!(
        new_primary["uri"],
        format!("kylo:kylo:cckm:aws-key:{}", id_of(&new_primary))
    );

    // Back again, through the record of the current primary (eu-west-1): the call goes to
    // eu-west-1.
    let back = act_ok(
        &server,
        &token,
        &replica,
        "update-primary-region",
        json!({"PrimaryRegion": "us-east-1"}),
    )
    .await;
    let calls = fake.calls("UpdatePrimaryRegion");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].region, "eu-west-1", "sent to the primary's Region");
    assert_eq!(calls[1].body["PrimaryRegion"], "us-east-1");
    let cfg = &back["aws_param"]["MultiRegionConfiguration"];
    assert_eq!(cfg["MultiRegionKeyType"], "REPLICA", "{back}");
    assert_eq!(cfg["PrimaryKey"]["Region"], "us-east-1");
    let us = get(&server, &token, &primary).await;
    assert_eq!(
        us["aws_param"]["MultiRegionConfiguration"]["MultiRegionKeyType"], "PRIMARY",
        "{us}"
    );

    // And once more through the replica's record, as CCKM's documentation has it ({id} is the
    // replica to make the primary): the call goes to the primary's Region, us-east-1.
    let flipped = act_ok(
        &server,
        &token,
        &replica,
        "update-primary-region",
        json!({"PrimaryRegion": "eu-west-1"}),
    )
    .await;
    let calls = fake.calls("UpdatePrimaryRegion");
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[2].region, "us-east-1", "sent to the primary's Region");
    assert_eq!(calls[2].body["PrimaryRegion"], "eu-west-1");
    let cfg = &flipped["aws_param"]["MultiRegionConfiguration"];
    assert_eq!(cfg["MultiRegionKeyType"], "PRIMARY", "{flipped}");
    assert_eq!(cfg["ReplicaKeys"][0]["Region"], "us-east-1");
    let us = get(&server, &token, &primary).await;
    assert_eq!(
        us["aws_param"]["MultiRegionConfiguration"]["MultiRegionKeyType"], "REPLICA",
        "{us}"
    );
}

/// Scheduling the deletion of a multi-Region primary that has a replica, against injected AWS
/// responses (LocalStack puts such a key in PendingDeletion; AWS keeps it in
/// PendingReplicaDeletion, with no deletion date, until its replicas are gone).
#[tokio::test]
async fn schedule_deletion_of_a_primary_with_replicas_with_injected_aws_responses() {
    let (fake, server, token, primary, replica) = fake_aws_multi_region_key().await;

    let k = act_ok(
        &server,
        &token,
        &primary,
        "schedule-deletion",
        json!({"days": 7}),
    )
    .await;
    let calls = fake.calls("ScheduleKeyDeletion");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].region, "us-east-1");
    assert_eq!(calls[0].body["PendingWindowInDays"], 7);
    let p = &k["aws_param"];
    assert_eq!(p["KeyState"], "PendingReplicaDeletion", "{k}");
    assert_eq!(p["Enabled"], false);
    assert_eq!(p["PendingDeletionWindowInDays"], 7);
    assert!(p.get("DeletionDate").is_none(), "{k}");
    assert!(k.get("deletion_date").is_none(), "{k}");
    let list = server
        .get(&format!("{KEYS}?keystate=PendingReplicaDeletion"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["resources"][0]["id"], primary["id"]);

    // The replica is scheduled on its own and gets a date; cancelling the primary's deletion
    // leaves it Disabled.
    let r = act_ok(
        &server,
        &token,
        &replica,
        "schedule-deletion",
        json!({"days": 7}),
    )
    .await;
    assert_eq!(r["aws_param"]["KeyState"], "PendingDeletion");
    assert!(r["aws_param"]["DeletionDate"].is_string(), "{r}");
    let k = act_ok(&server, &token, &primary, "cancel-deletion", json!({})).await;
    assert_eq!(k["aws_param"]["KeyState"], "Disabled");
    assert!(k["aws_param"].get("PendingDeletionWindowInDays").is_none());
}
