//! Inventory synchronisation jobs (`/api/v1/cckm/aws/synchronization-jobs`, spec 1.6) against
//! LocalStack: keys made outside Keyward appear with their aliases, tags and policy, keys made
//! through Keyward keep their record, records of keys AWS no longer has are marked gone,
//! ListKeys paging, synchronize_all and regions, validation, the job list's filters and paging,
//! cancel (of a finished job, and of a running one), permissions, the audit trail, two jobs on
//! one container at once, a container deleted under a running job, and a job interrupted by a
//! crash.
//!
//! LocalStack is shared by every test binary and cannot be reset, and a sync lists whole
//! Regions, so each test that talks to it works in a fresh LocalStack account of its own
//! (`common::fresh_localstack_account`), empty whatever earlier tests and runs did, and makes
//! the keys "outside Keyward" with raw AWS JSON 1.1 calls straight to LocalStack in that account.
//! (Made-up Region names would not isolate anything: LocalStack files a Region name it does not
//! know under us-east-1.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Server, fresh_localstack_account, kms_endpoint};
use serde_json::{Value, json};

const JOBS: &str = "/api/v1/cckm/aws/synchronization-jobs";
const KEYS: &str = "/api/v1/cckm/aws/keys";
const KMS: &str = "/api/v1/cckm/aws/kms";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A fresh, empty AWS account in LocalStack, reached both through Keyward and directly.
#[derive(Clone)]
struct Account {
    access_key_id: String,
    id: String,
    http: reqwest::Client,
}

impl Account {
    fn fresh() -> Self {
        let (access_key_id, id) = fresh_localstack_account();
        Self {
            access_key_id,
            id,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// One AWS KMS call straight to LocalStack, as a tool outside Keyward would make it (AWS
    /// JSON 1.1; LocalStack does not check the signature, it reads the account from the access
    /// key id and the Region from the credential scope).
    async fn call(&self, region: &str, op: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(kms_endpoint())
            .header("X-Amz-Target", format!("TrentService.{op}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0",
                    self.access_key_id
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{op} in {region}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{op} in {region}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// Creates a key directly in LocalStack; returns its KeyMetadata.
    async fn create_key(&self, region: &str, body: Value) -> Value {
        let meta = self.call(region, "CreateKey", body).await["KeyMetadata"].clone();
        assert_eq!(meta["AWSAccountId"], self.id.as_str(), "{meta}");
        meta
    }

    /// Creates `n` keys directly in LocalStack, a few at a time; returns their ids.
    async fn create_keys(&self, region: &'static str, n: usize) -> BTreeSet<String> {
        let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (acct, gate) = (self.clone(), gate.clone());
            tasks.spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let meta = acct
                    .create_key(region, json!({"Description": format!("bulk {i}")}))
                    .await;
                key_id(&meta)
            });
        }
        let mut made = BTreeSet::new();
        while let Some(id) = tasks.join_next().await {
            made.insert(id.unwrap());
        }
        assert_eq!(made.len(), n);
        made
    }

    /// Every key id LocalStack lists in the Region (following ListKeys' pages).
    async fn key_ids(&self, region: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut marker: Option<String> = None;
        loop {
            let mut body = json!({"Limit": 1000});
            if let Some(m) = &marker {
                body["Marker"] = json!(m);
            }
            let page = self.call(region, "ListKeys", body).await;
            for k in page["Keys"].as_array().expect("Keys") {
                out.insert(k["KeyId"].as_str().unwrap().to_string());
            }
            match page["NextMarker"].as_str() {
                Some(m) if page["Truncated"] == true => marker = Some(m.to_string()),
                _ => return out,
            }
        }
    }

    /// A Keyward connection to LocalStack in this account.
    async fn connect(&self, server: &Server, token: &str, name: &str) {
        server
            .post(
                "/api/v1/connectionmgmt/services/aws/connections",
                token,
                json!({
                    "name": name,
                    "access_key_id": self.access_key_id,
                    "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                    "aws_region": "ap-south-1",
                    "endpoint_url": kms_endpoint(),
                }),
            )
            .await
            .expect(201);
    }
}

fn key_id(meta: &Value) -> String {
    meta["KeyId"].as_str().expect("KeyId").to_string()
}

/// Creates a KMS container `name` on connection `connection` in an account, with these Regions.
async fn container(
    server: &Server,
    token: &str,
    name: &str,
    connection: &str,
    account_id: &str,
    regions: &[&str],
) -> String {
    let kms = server
        .post(
            KMS,
            token,
            json!({"name": name, "account_id": account_id, "connection": connection, "regions": regions}),
        )
        .await
        .expect(201)
        .body;
    kms["id"].as_str().unwrap().to_string()
}

/// An AWS connection whose endpoint is `endpoint_url` (not LocalStack).
async fn connection_to(server: &Server, token: &str, name: &str, endpoint_url: &str) {
    server
        .post(
            "/api/v1/connectionmgmt/services/aws/connections",
            token,
            json!({
                "name": name,
                "access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_region": "ap-south-1",
                "endpoint_url": endpoint_url,
            }),
        )
        .await
        .expect(201);
}

fn is_utc_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| t.contains('T') && t.ends_with('Z'))
}

/// Asserts every field of spec 1.6's job object.
fn assert_job_shape(job: &Value, kms_ids: &[&str], regions: &[&str], synchronize_all: bool) {
    let id = job["id"].as_str().expect("id");
    assert!(!id.is_empty());
    assert_eq!(job["uri"], format!("kylo:kylo:cckm:synchronize:{id}"));
    assert_eq!(job["account"], "kylo:kylo:admin:accounts:kylo");
    assert_eq!(job["application"], "ncryptify:gemalto:admin:apps:kylo");
    assert_eq!(
        job["devAccount"],
        "ncryptify:gemalto:admin:accounts:gemalto"
    );
    assert!(is_utc_timestamp(&job["createdAt"]), "createdAt in {job}");
    assert!(is_utc_timestamp(&job["updatedAt"]), "updatedAt in {job}");
    let status = job["overall_status"].as_str().expect("overall_status");
    assert!(
        ["in_progress", "completed", "failed"].contains(&status),
        "overall_status {status}"
    );
    assert!(
        job["detailed_status"].is_object(),
        "detailed_status in {job}"
    );
    assert_eq!(job["cloud"], "aws");
    let got: BTreeSet<&str> = job["kms"]
        .as_array()
        .expect("kms")
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(got, kms_ids.iter().copied().collect(), "kms in {job}");
    assert_eq!(job["regions"], json!(regions));
    assert_eq!(job["synchronize_all"], synchronize_all);
    assert!(job["abort"].is_boolean(), "abort in {job}");
}

/// POSTs a job, expecting 201.
async fn start_sync(server: &Server, token: &str, body: Value) -> Value {
    server.post(JOBS, token, body).await.expect(201).body
}

/// Polls the job until it is no longer in progress (at most 120 s).
async fn wait_done(server: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = server
            .get(&format!("{JOBS}/{id}"), token)
            .await
            .expect(200)
            .body;
        if job["overall_status"] != "in_progress" {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} still in progress after 120 s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts a job and waits for it; asserts it completed.
async fn sync_completed(server: &Server, token: &str, body: Value) -> Value {
    let job = start_sync(server, token, body).await;
    let done = wait_done(server, token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["overall_status"], "completed", "job: {done}");
    done
}

async fn keys(server: &Server, token: &str, query: &str) -> Value {
    server
        .get(&format!("{KEYS}?{query}"), token)
        .await
        .expect(200)
        .body
}

/// The one record of an AWS key id in a Region.
async fn record_of(server: &Server, token: &str, region: &str, aws_key_id: &str) -> Value {
    let list = keys(
        server,
        token,
        &format!("keyid={aws_key_id}&region={region}&limit=-1"),
    )
    .await;
    assert_eq!(list["total"], 1, "records of {aws_key_id}: {list}");
    list["resources"][0].clone()
}

fn resources(list: &Value) -> &Vec<Value> {
    list["resources"].as_array().expect("resources")
}

fn ids(list: &Value) -> Vec<String> {
    resources(list)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The key's tags as a map.
fn tags(rec: &Value) -> BTreeMap<String, String> {
    rec["aws_param"]["Tags"]
        .as_array()
        .expect("Tags")
        .iter()
        .map(|t| {
            (
                t["TagKey"].as_str().unwrap().to_string(),
                t["TagValue"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn audit_records(server: &Server, token: &str) -> Vec<Value> {
    let page = server
        .get("/api/v1/audit/records?limit=-1", token)
        .await
        .expect(200)
        .body;
    resources(&page).clone()
}

async fn open_db(server: &Server) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(server.data_dir().join("keyward.db"))
        .busy_timeout(Duration::from_secs(10));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open keyward.db")
}

/// An "AWS" on loopback that accepts connections and never answers; each accepted connection
/// is reported on the channel. Returns its URL.
fn hanging_endpoint() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            held.push(stream);
            let _ = accepted_tx.send(());
        }
    });
    (url, accepted_rx)
}

/// A server whose AWS calls give up after one 2-second attempt, for jobs against an endpoint
/// that never answers.
fn impatient_server() -> Server {
    Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_AWS_MAX_ATTEMPTS", "1"),
            ("KEYWARD_AWS_ATTEMPT_TIMEOUT_SECS", "2"),
            ("KEYWARD_AWS_OPERATION_TIMEOUT_SECS", "2"),
        ],
    )
}

fn admin_env() -> [(&'static str, &'static str); 1] {
    [("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD)]
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn sync_discovers_outside_keys_upserts_keyward_keys_and_marks_gone() {
    const REGION: &str = "sa-east-1";
    let server = Server::start();
    let token = server.admin().await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    let kms_id = container(&server, &token, "disc", "ls", &acct.id, &[REGION]).await;
    let made_alias = "alias/disc-made";
    let outside_alias = "alias/disc-outside";
    let team = "blue".to_string();

    // A key made through Keyward.
    let made = server
        .post(
            KEYS,
            &token,
            json!({
                "kms": "disc",
                "region": REGION,
                "aws_param": {
                    "Alias": made_alias,
                    "Description": "made through keyward",
                    "Tags": [{"TagKey": "owner", "TagValue": "keyward"}]
                }
            }),
        )
        .await
        .expect(201)
        .body;
    let made_id = made["id"].as_str().unwrap().to_string();
    let made_key_id = made["aws_param"]["KeyID"].as_str().unwrap().to_string();

    // Keys made outside Keyward, straight in LocalStack: one with a policy, tags and an alias,
    // an asymmetric signing key, and one with imported (not yet imported) material.
    let policy = json!({
        "Version": "2012-10-17",
        "Id": "outside-policy",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{}:root", acct.id)},
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    let plain = acct.create_key(
        REGION,
        json!({
            "Description": "made outside",
            "Policy": policy.to_string(),
            "Tags": [{"TagKey": "team", "TagValue": team}, {"TagKey": "env", "TagValue": "test"}]
        }),
    )
    .await;
    let plain_id = key_id(&plain);
    acct.call(
        REGION,
        "CreateAlias",
        json!({"AliasName": outside_alias, "TargetKeyId": plain_id}),
    )
    .await;
    let signing = acct.create_key(
        REGION,
        json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "Description": "signing"}),
    )
    .await;
    let signing_id = key_id(&signing);
    let external = acct.create_key(REGION, json!({"Origin": "EXTERNAL"})).await;
    let external_id = key_id(&external);

    // Before the sync Keyward knows only its own key; AWS lists these four.
    assert_eq!(keys(&server, &token, "kms=disc").await["total"], 1);
    let in_aws = acct.key_ids(REGION).await;
    let expected: BTreeSet<String> = [&made_key_id, &plain_id, &signing_id, &external_id]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(in_aws, expected);
    let n = in_aws.len();

    // The job object of spec 1.6, created in progress.
    let job = start_sync(&server, &token, json!({"kms": ["disc"]})).await;
    assert_job_shape(&job, &[&kms_id], &[], false);
    assert_eq!(job["overall_status"], "in_progress");
    assert_eq!(job["detailed_status"], json!({"disc": "in_progress"}));
    assert_eq!(job["abort"], false);
    let job_id = job["id"].as_str().unwrap().to_string();

    let done = wait_done(&server, &token, &job_id).await;
    assert_job_shape(&done, &[&kms_id], &[], false);
    assert_eq!(done["overall_status"], "completed", "job: {done}");
    assert_eq!(done["detailed_status"], json!({"disc": "completed"}));
    assert_eq!(done["id"], job["id"]);
    assert_eq!(done["createdAt"], job["createdAt"]);
    assert_eq!(done["abort"], false);
    assert_eq!(
        (
            done["keys_seen"].clone(),
            done["keys_added"].clone(),
            done["keys_gone"].clone()
        ),
        (json!(n), json!(n - 1), json!(0)),
        "job: {done}"
    );

    // One record per AWS key, no duplicates; the key made through Keyward keeps its id.
    let all = keys(&server, &token, "kms=disc&limit=-1").await;
    assert_eq!(all["total"], n, "{all}");
    let key_ids: BTreeSet<String> = resources(&all)
        .iter()
        .map(|r| r["aws_param"]["KeyID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(key_ids, in_aws);
    let made_after = record_of(&server, &token, REGION, &made_key_id).await;
    assert_eq!(
        made_after["id"],
        made_id.as_str(),
        "upsert, not a new record"
    );
    assert_eq!(made_after["createdAt"], made["createdAt"]);
    assert_eq!(made_after["gone"], false);
    assert_eq!(made_after["aws_param"]["Alias"], json!([made_alias]));
    assert_eq!(tags(&made_after)["owner"], "keyward");
    assert!(
        made_after["synced_at"].as_str().unwrap() > made["synced_at"].as_str().unwrap(),
        "synced_at moves on: {} then {}",
        made["synced_at"],
        made_after["synced_at"]
    );

    // The key made outside: the whole record with AWS's metadata, aliases, tags and policy.
    let rec = record_of(&server, &token, REGION, &plain_id).await;
    let rec_id = rec["id"].as_str().unwrap();
    assert_ne!(rec_id, plain_id, "a Keyward id, not the AWS key id");
    assert_eq!(rec["uri"], format!("kylo:kylo:cckm:aws-key:{rec_id}"));
    assert_eq!(rec["account"], "kylo:kylo:admin:accounts:kylo");
    assert_eq!(rec["kms"], "disc");
    assert_eq!(rec["kms_id"], kms_id.as_str());
    assert_eq!(rec["region"], REGION);
    assert_eq!(rec["cloud_name"], "aws");
    assert_eq!(rec["gone"], false);
    assert_eq!(rec["key_material_origin"], "native");
    assert_eq!(rec["key_type"], "symmetric");
    for ts in ["createdAt", "updatedAt", "synced_at"] {
        assert!(is_utc_timestamp(&rec[ts]), "{ts} in {rec}");
    }
    let p = &rec["aws_param"];
    assert_eq!(p["KeyID"], plain_id.as_str());
    assert_eq!(p["Arn"], plain["Arn"]);
    assert_eq!(p["AWSAccountId"], acct.id.as_str());
    assert_eq!(p["Description"], "made outside");
    assert_eq!(p["KeyState"], "Enabled");
    assert_eq!(p["Enabled"], true);
    assert_eq!(p["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(p["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(p["Origin"], "AWS_KMS");
    assert_eq!(p["KeyManager"], "CUSTOMER");
    assert_eq!(p["MultiRegion"], false);
    assert!(p["CreationDate"].is_string(), "CreationDate in {p}");
    assert_eq!(p["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    assert_eq!(p["Alias"], json!([outside_alias]));
    assert_eq!(
        tags(&rec),
        BTreeMap::from([
            ("env".to_string(), "test".to_string()),
            ("team".to_string(), team.clone())
        ])
    );
    assert_eq!(p["Policy"], policy, "the policy as an object");
    assert_eq!(p["KeyRotationEnabled"], false);
    // The same record by id, and through the filters.
    let by_id = server
        .get(&format!("{KEYS}/{rec_id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(by_id, rec);
    assert_eq!(
        ids(&keys(&server, &token, &format!("alias={outside_alias}")).await),
        [rec_id]
    );
    assert_eq!(
        ids(&keys(&server, &token, &format!("kms=disc&tags=team={team}")).await),
        [rec_id]
    );

    let sig = record_of(&server, &token, REGION, &signing_id).await;
    assert_eq!(sig["key_type"], "asymmetric");
    assert_eq!(sig["key_material_origin"], "native");
    assert_eq!(sig["aws_param"]["KeyUsage"], "SIGN_VERIFY");
    assert_eq!(sig["aws_param"]["CustomerMasterKeySpec"], "ECC_NIST_P256");
    assert!(
        sig["aws_param"]["SigningAlgorithms"].is_array(),
        "SigningAlgorithms in {sig}"
    );
    let ext = record_of(&server, &token, REGION, &external_id).await;
    assert_eq!(ext["key_material_origin"], "unknown");
    assert_eq!(ext["aws_param"]["Origin"], "EXTERNAL");
    assert_eq!(ext["aws_param"]["KeyState"], "PendingImport");
    let natives = keys(
        &server,
        &token,
        "kms=disc&key_material_origin=native&limit=-1",
    )
    .await;
    assert!(ids(&natives).contains(&rec_id.to_string()));
    assert!(!ids(&natives).contains(&ext["id"].as_str().unwrap().to_string()));

    // A record whose key AWS does not have: a copy of the Keyward-made key's row under an AWS
    // key id that LocalStack never issued. (LocalStack keeps deleted keys listed in
    // PendingDeletion, so a real deletion cannot show this.) SQLite in WAL mode lets this
    // second writer in while the server runs.
    let ghost_id = uuid::Uuid::new_v4().to_string();
    let ghost_key_id = uuid::Uuid::new_v4().to_string();
    let ghost_arn = format!("arn:aws:kms:{REGION}:{}:key/{ghost_key_id}", acct.id);
    let db = open_db(&server).await;
    let inserted = sqlx::query(
        "INSERT INTO aws_keys (id, kms_id, region, key_id, arn, record_json, created_at, updated_at, cloud_name, key_state, key_usage, key_spec, origin, enabled, gone, key_material_origin, multi_region, multi_region_key_type, aliases_json, tags_json, job_config_id, synced_at, valid_to) \
         SELECT ?, kms_id, region, ?, ?, json_set(record_json, '$.id', ?, '$.aws.metadata.key_id', ?, '$.aws.metadata.arn', ?, '$.aws.aliases', json('[]')), created_at, updated_at, cloud_name, key_state, key_usage, key_spec, origin, enabled, gone, key_material_origin, multi_region, multi_region_key_type, '[]', tags_json, job_config_id, synced_at, valid_to \
         FROM aws_keys WHERE id = ?",
    )
    .bind(&ghost_id)
    .bind(&ghost_key_id)
    .bind(&ghost_arn)
    .bind(&ghost_id)
    .bind(&ghost_key_id)
    .bind(&ghost_arn)
    .bind(&made_id)
    .execute(&db)
    .await
    .expect("insert a record of a key AWS does not have");
    assert_eq!(inserted.rows_affected(), 1);
    db.close().await;
    let ghost = server
        .get(&format!("{KEYS}/{ghost_id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(ghost["aws_param"]["KeyID"], ghost_key_id.as_str());
    assert_eq!(ghost["gone"], false);
    assert_eq!(
        keys(&server, &token, "kms=disc&gone=true").await["total"],
        0
    );

    // Meanwhile, outside Keyward, one key is scheduled for deletion.
    acct.call(
        REGION,
        "ScheduleKeyDeletion",
        json!({"KeyId": plain_id, "PendingWindowInDays": 7}),
    )
    .await;

    let second = sync_completed(&server, &token, json!({"kms": [kms_id]})).await;
    assert_eq!(
        (
            second["keys_seen"].clone(),
            second["keys_added"].clone(),
            second["keys_gone"].clone()
        ),
        (json!(n), json!(0), json!(1)),
        "job: {second}"
    );
    let gone = keys(&server, &token, "kms=disc&gone=true&limit=-1").await;
    assert_eq!(ids(&gone), [ghost_id.as_str()], "{gone}");
    assert_eq!(resources(&gone)[0]["gone"], true);
    let still = keys(&server, &token, "kms=disc&gone=false&limit=-1").await;
    assert_eq!(still["total"], n, "{still}");
    assert_eq!(
        keys(&server, &token, "kms=disc&limit=-1").await["total"],
        n + 1
    );
    // The key scheduled outside Keyward is updated in place, not gone.
    let doomed = record_of(&server, &token, REGION, &plain_id).await;
    assert_eq!(doomed["id"], rec_id);
    assert_eq!(doomed["gone"], false);
    assert_eq!(doomed["aws_param"]["KeyState"], "PendingDeletion");
    assert_eq!(doomed["aws_param"]["Enabled"], false);
    assert!(
        doomed["aws_param"]["DeletionDate"].is_string(),
        "DeletionDate in {doomed}"
    );
    assert_eq!(
        record_of(&server, &token, REGION, &made_key_id).await["id"],
        made_id.as_str()
    );

    // The audit trail: both jobs' start and finish, and each discovered key.
    let second_id = second["id"].as_str().unwrap();
    let audit = audit_records(&server, &token).await;
    let of =
        |action: &str| -> Vec<&Value> { audit.iter().filter(|r| r["action"] == action).collect() };
    let starts: BTreeSet<&str> = of("sync.start")
        .iter()
        .map(|r| {
            assert_eq!(r["actor"], "admin");
            assert_eq!(r["outcome"], "success");
            r["target"].as_str().unwrap()
        })
        .collect();
    assert_eq!(starts, [job_id.as_str(), second_id].into());
    let finishes: BTreeMap<&str, &str> = of("sync.finish")
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "success");
            (r["target"].as_str().unwrap(), r["detail"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        finishes.keys().copied().collect::<BTreeSet<_>>(),
        [job_id.as_str(), second_id].into()
    );
    assert!(
        finishes[job_id.as_str()].contains(&format!("{n} keys seen, {} added, 0 gone", n - 1)),
        "{finishes:?}"
    );
    assert!(
        finishes[second_id].contains(&format!("{n} keys seen, 0 added, 1 gone")),
        "{finishes:?}"
    );
    let discovered: BTreeSet<&str> = of("key.discover")
        .iter()
        .map(|r| {
            assert_eq!(r["outcome"], "success");
            assert!(
                r["detail"].as_str().unwrap().contains(&job_id),
                "detail names the job: {r}"
            );
            r["target"].as_str().unwrap()
        })
        .collect();
    let arns: BTreeSet<&str> = [&plain, &signing, &external]
        .iter()
        .map(|m| m["Arn"].as_str().unwrap())
        .collect();
    assert!(discovered.is_superset(&arns), "{discovered:?}");
    assert_eq!(
        discovered.len(),
        n - 1,
        "every key but Keyward's own was discovered"
    );
}

#[tokio::test]
async fn sync_pages_through_more_than_100_keys_in_a_region() {
    const REGION: &str = "ap-northeast-3";
    const N: usize = 110;
    let server = Server::start();
    let token = server.admin().await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    let kms_id = container(&server, &token, "paged", "ls", &acct.id, &[REGION]).await;

    // LocalStack pages ListKeys: 110 keys are two pages of 100. (Keyward asks for pages of 1,000
    // since issue 12: `a_sync_killed_between_pages_keeps_whole_pages_and_the_next_job_finishes`
    // checks its paging with 1,050 keys.)
    let started = Instant::now();
    let made = acct.create_keys(REGION, N).await;
    assert_eq!(made.len(), N);
    eprintln!("created {N} keys in LocalStack in {:?}", started.elapsed());
    let in_aws = acct.key_ids(REGION).await;
    assert_eq!(in_aws, made);
    let n = in_aws.len();
    let first_page = acct.call(REGION, "ListKeys", json!({"Limit": 100})).await;
    assert_eq!(first_page["Keys"].as_array().unwrap().len(), 100);
    assert_eq!(first_page["Truncated"], true, "a second page is needed");

    let done = sync_completed(&server, &token, json!({"kms": ["paged"]})).await;
    assert_job_shape(&done, &[&kms_id], &[], false);
    assert_eq!(done["keys_seen"], n);
    assert_eq!(done["keys_added"], n);

    let all = keys(&server, &token, &format!("region={REGION}&limit=-1")).await;
    assert_eq!(all["total"], n);
    let synced: BTreeSet<String> = resources(&all)
        .iter()
        .map(|r| r["aws_param"]["KeyID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(synced, in_aws, "every key of every page, once");
    let last_page = keys(
        &server,
        &token,
        &format!("region={REGION}&skip=100&limit=-1"),
    )
    .await;
    assert_eq!(last_page["total"], n);
    assert_eq!(resources(&last_page).len(), n - 100);

    // A second pass over both pages adds nothing and marks nothing gone.
    let again = sync_completed(&server, &token, json!({"kms": ["paged"]})).await;
    assert_eq!(
        (
            again["keys_seen"].clone(),
            again["keys_added"].clone(),
            again["keys_gone"].clone()
        ),
        (json!(n), json!(0), json!(0))
    );
    assert_eq!(
        keys(&server, &token, &format!("region={REGION}")).await["total"],
        n
    );
}

#[tokio::test]
async fn regions_restrict_a_job_and_synchronize_all_syncs_every_container() {
    const A1: &str = "eu-west-3";
    const A2: &str = "eu-north-1";
    const B1: &str = "ca-central-1";
    let server = Server::start();
    let token = server.admin().await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    let a = container(&server, &token, "alpha", "ls", &acct.id, &[A1, A2]).await;
    let b = container(&server, &token, "beta", "ls", &acct.id, &[B1]).await;
    let ka = key_id(&acct.create_key(A1, json!({"Description": "in a-1"})).await);
    let ka2 = key_id(&acct.create_key(A2, json!({"Description": "in a-2"})).await);
    let kb = key_id(&acct.create_key(B1, json!({"Description": "in b-1"})).await);

    // regions: only those Regions of the container.
    let job = start_sync(&server, &token, json!({"kms": ["alpha"], "regions": [A2]})).await;
    assert_job_shape(&job, &[&a], &[A2], false);
    let done = wait_done(&server, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["overall_status"], "completed", "{done}");
    assert_eq!(done["detailed_status"], json!({"alpha": "completed"}));
    assert_eq!(done["regions"], json!([A2]));
    assert_eq!(done["keys_added"], 1);
    let alpha = keys(&server, &token, "kms=alpha&limit=-1").await;
    assert_eq!(alpha["total"], 1, "{alpha}");
    assert_eq!(
        keys(&server, &token, &format!("region={A2}")).await["total"],
        1
    );
    let ka2_id = record_of(&server, &token, A2, &ka2).await["id"].clone();
    assert_eq!(
        keys(&server, &token, &format!("region={A1}")).await["total"],
        0
    );
    assert_eq!(keys(&server, &token, "kms=beta").await["total"], 0);

    // synchronize_all: every container, every Region.
    let all = start_sync(&server, &token, json!({"synchronize_all": true})).await;
    assert_job_shape(&all, &[&a, &b], &[], true);
    assert_eq!(
        all["detailed_status"],
        json!({"alpha": "in_progress", "beta": "in_progress"})
    );
    let done = wait_done(&server, &token, all["id"].as_str().unwrap()).await;
    assert_eq!(done["overall_status"], "completed", "{done}");
    assert_eq!(
        done["detailed_status"],
        json!({"alpha": "completed", "beta": "completed"})
    );
    assert_eq!(done["synchronize_all"], true);
    assert_eq!(
        (done["keys_seen"].clone(), done["keys_added"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(record_of(&server, &token, A1, &ka).await["kms"], "alpha");
    assert_eq!(record_of(&server, &token, A2, &ka2).await["id"], ka2_id);
    assert_eq!(record_of(&server, &token, B1, &kb).await["kms"], "beta");
    assert_eq!(keys(&server, &token, "limit=-1").await["total"], 3);
}

#[tokio::test]
async fn start_validation_names_the_field_and_records_nothing() {
    const REGION: &str = "me-south-1";
    let server = Server::start();
    let token = server.admin().await;

    // No container at all: nothing to synchronise.
    server
        .post(JOBS, &token, json!({"synchronize_all": true}))
        .await
        .expect_error(400, "synchronize_all");

    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    container(&server, &token, "val", "ls", &acct.id, &[REGION]).await;
    for (body, field) in [
        (
            json!({"synchronize_all": true, "kms": ["val"]}),
            "synchronize_all",
        ),
        (
            json!({"synchronize_all": true, "regions": [REGION]}),
            "synchronize_all",
        ),
        (json!({}), "kms"),
        (json!({"kms": []}), "kms"),
        (json!({"synchronize_all": false}), "kms"),
        (json!({"kms": ["no-such-container"]}), "no-such-container"),
        (json!({"kms": ["no-such-container"]}), "kms"),
        (
            json!({"kms": ["val"], "regions": ["eu-south-2"]}),
            "regions",
        ),
        (
            json!({"kms": ["val"], "regions": ["eu-south-2"]}),
            "eu-south-2",
        ),
        (
            json!({"kms": ["val"], "regions": ["not a region"]}),
            "regions",
        ),
        (json!({"kms": ["val"], "cloud": "gcp"}), "cloud"),
        (json!({"kms": "val"}), "kms"),
    ] {
        let r = server.post(JOBS, &token, body.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{body} -> {}", r.body);
        let msg = r.body["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(field),
            "{body}: message {msg:?} should name {field}"
        );
    }
    // A refused request records no job.
    let list = server.get(JOBS, &token).await.expect(200).body;
    assert_eq!(list["total"], 0, "{list}");
    // The same body with the fields right is accepted, with the cloud named.
    let ok = sync_completed(
        &server,
        &token,
        // An unknown member is ignored (it used to be refused, naming it).
        json!({"kms": ["val"], "regions": [REGION], "cloud": "aws", "synchronize_all": false,
               "bogus": 1}),
    )
    .await;
    assert_eq!(ok["regions"], json!([REGION]));
}

#[tokio::test]
async fn list_filters_paging_cancel_and_permissions() {
    const R1: &str = "af-south-1";
    const R2: &str = "ap-southeast-4";
    const R3: &str = "il-central-1";
    // One attempt per AWS call, so that the job against a closed port fails quickly.
    let server = Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let token = server.admin().await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    let la = container(&server, &token, "la", "ls", &acct.id, &[R1]).await;
    let lb = container(&server, &token, "lb", "ls", &acct.id, &[R2]).await;
    // A port nothing listens on (bound, then released).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    connection_to(
        &server,
        &token,
        "closed",
        &format!("http://127.0.0.1:{closed}"),
    )
    .await;
    let lc = container(&server, &token, "lc", "closed", "000000000000", &[R3]).await;

    let j1 = sync_completed(&server, &token, json!({"kms": ["la"]})).await;
    let j2 = sync_completed(&server, &token, json!({"kms": [lb]})).await;
    let j3 = sync_completed(&server, &token, json!({"kms": ["la", "lb", "la"]})).await;
    assert_job_shape(&j3, &[&la, &lb], &[], false);
    assert_eq!(
        j3["kms"].as_array().unwrap().len(),
        2,
        "duplicates collapse"
    );
    let j4 = start_sync(&server, &token, json!({"kms": ["lc"]})).await;
    let j4 = wait_done(&server, &token, j4["id"].as_str().unwrap()).await;
    assert_eq!(j4["overall_status"], "failed", "{j4}");
    let why = j4["detailed_status"]["lc"].as_str().unwrap();
    assert!(why.starts_with(&format!("failed: {R3}: ")), "{why}");
    assert_job_shape(&j4, &[&lc], &[], false);
    let finish = audit_records(&server, &token)
        .await
        .into_iter()
        .find(|r| r["action"] == "sync.finish" && r["target"] == j4["id"])
        .expect("sync.finish of the failed job");
    assert_eq!(finish["outcome"], "failure", "{finish}");
    let [i1, i2, i3, i4] = [&j1, &j2, &j3, &j4].map(|j| j["id"].as_str().unwrap().to_string());
    let (i1, i2, i3, i4) = (i1.as_str(), i2.as_str(), i3.as_str(), i4.as_str());

    // Newest first by default; the envelope of every list.
    let list = server.get(JOBS, &token).await.expect(200).body;
    assert_eq!(
        (
            list["skip"].clone(),
            list["limit"].clone(),
            list["total"].clone()
        ),
        (json!(0), json!(10), json!(4))
    );
    assert_eq!(ids(&list), [i4, i3, i2, i1]);
    for job in resources(&list) {
        assert!(
            job["uri"]
                .as_str()
                .unwrap()
                .starts_with("kylo:kylo:cckm:synchronize:")
        );
    }
    let get = |q: &'static str| {
        let server = &server;
        let token = &token;
        async move {
            server
                .get(&format!("{JOBS}?{q}"), token)
                .await
                .expect(200)
                .body
        }
    };
    assert_eq!(ids(&get("kms=la").await), [i3, i1]);
    assert_eq!(
        ids(&server
            .get(&format!("{JOBS}?kms={lb}"), &token)
            .await
            .expect(200)
            .body),
        [i3, i2]
    );
    assert_eq!(get("kms=no-such-container").await["total"], 0);
    assert_eq!(ids(&get("overall_status=completed").await), [i3, i2, i1]);
    assert_eq!(ids(&get("overall_status=failed").await), [i4]);
    assert_eq!(get("overall_status=in_progress").await["total"], 0);
    assert_eq!(ids(&get("overall_status=completed&kms=lb").await), [i3, i2]);
    assert_eq!(get("overall_status=failed&kms=la").await["total"], 0);
    assert_eq!(
        ids(&server
            .get(&format!("{JOBS}?id={i2}"), &token)
            .await
            .expect(200)
            .body),
        [i2]
    );
    server
        .get(&format!("{JOBS}?overall_status=done"), &token)
        .await
        .expect_error(400, "overall_status");

    // Paging and sorting.
    let page = get("limit=2").await;
    assert_eq!(
        (page["total"].clone(), page["limit"].clone()),
        (json!(4), json!(2))
    );
    assert_eq!(ids(&page), [i4, i3]);
    let page = get("skip=2&limit=2").await;
    assert_eq!(page["skip"], 2);
    assert_eq!(ids(&page), [i2, i1]);
    assert!(resources(&get("skip=4").await).is_empty());
    assert_eq!(ids(&get("sort=createdAt").await), [i1, i2, i3, i4]);
    assert_eq!(ids(&get("sort=createdAt&limit=1&skip=1").await), [i2]);
    server
        .get(&format!("{JOBS}?limit=-2"), &token)
        .await
        .expect_error(400, "limit");

    // GET one; unknown ids.
    let one = server
        .get(&format!("{JOBS}/{i2}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(one, j2);
    server
        .get(&format!("{JOBS}/no-such-job"), &token)
        .await
        .expect_error(404, "no-such-job");

    // Cancel: only a job in progress.
    server
        .post(&format!("{JOBS}/{i1}/cancel"), &token, json!({}))
        .await
        .expect_error(422, "completed");
    server
        .post(&format!("{JOBS}/{i4}/cancel"), &token, json!({}))
        .await
        .expect_error(422, "failed");
    server
        .post(&format!("{JOBS}/no-such-job/cancel"), &token, json!({}))
        .await
        .expect_error(404, "no-such-job");
    let after = server
        .get(&format!("{JOBS}/{i1}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(after["abort"], false);
    assert_eq!(after["overall_status"], "completed");

    // A "CCKM Users" user may read jobs but neither start nor cancel one.
    let user = server.user_token(&token, "viewer", &["CCKM Users"]).await;
    assert_eq!(
        ids(&server.get(JOBS, &user).await.expect(200).body),
        [i4, i3, i2, i1]
    );
    server.get(&format!("{JOBS}/{i1}"), &user).await.expect(200);
    server
        .post(JOBS, &user, json!({"kms": ["la"]}))
        .await
        .expect(403);
    server
        .post(JOBS, &user, json!({"synchronize_all": true}))
        .await
        .expect(403);
    server
        .post(&format!("{JOBS}/{i1}/cancel"), &user, json!({}))
        .await
        .expect(403);
    assert_eq!(
        get("").await["total"],
        4,
        "the refused start recorded nothing"
    );
    // A "CCKM Admins" user may start one.
    let cckm_admin = server
        .user_token(&token, "operator", &["CCKM Admins"])
        .await;
    sync_completed(&server, &cckm_admin, json!({"kms": ["la"]})).await;
    // Without a token: 401.
    let anon = server.call(reqwest::Method::GET, JOBS, None, None).await;
    assert_eq!(anon.status.as_u16(), 401);
}

#[tokio::test]
async fn a_job_interrupted_by_a_crash_is_failed_at_the_next_start() {
    const REGION: &str = "ap-east-1";
    // An "AWS" that never answers: the job stays in progress.
    let (hang_url, accepted_rx) = hanging_endpoint();

    let server = Server::start();
    let token = server.admin().await;
    connection_to(&server, &token, "hangs", &hang_url).await;
    let kms_id = container(&server, &token, "hang", "hangs", "000000000000", &[REGION]).await;

    let job = start_sync(&server, &token, json!({"kms": ["hang"]})).await;
    let id = job["id"].as_str().unwrap().to_string();
    accepted_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the job calls the endpoint");
    let running = server
        .get(&format!("{JOBS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(running["overall_status"], "in_progress", "{running}");
    assert_eq!(running["detailed_status"], json!({"hang": "in_progress"}));

    // Cancelling a running job sets abort; it stays in progress until it stops.
    let cancelled = server
        .post(&format!("{JOBS}/{id}/cancel"), &token, json!({}))
        .await
        .expect(200)
        .body;
    assert_job_shape(&cancelled, &[&kms_id], &[], false);
    assert_eq!(cancelled["abort"], true);
    assert_eq!(cancelled["overall_status"], "in_progress");
    let audit = audit_records(&server, &token).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "sync.cancel" && r["target"] == id.as_str()),
        "sync.cancel audited"
    );

    // The server dies without a chance to clean up.
    let pid = server.pid();
    let dir = server.kill_keep_data();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "keyward {pid} is dead"
    );

    let server = Server::start_in(dir, &[], &admin_env());
    let token = server.admin().await;
    let job = server
        .get(&format!("{JOBS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_job_shape(&job, &[&kms_id], &[], false);
    assert_eq!(job["overall_status"], "failed", "{job}");
    let why = job["detailed_status"]["hang"].as_str().unwrap();
    assert!(
        why.starts_with("failed") && why.contains("interrupted"),
        "{why}"
    );
    assert_eq!(job["abort"], true, "the cancel is kept");
    assert!(is_utc_timestamp(&job["completed_at"]), "{job}");
    assert_eq!(
        server
            .get(&format!("{JOBS}?overall_status=in_progress"), &token)
            .await
            .expect(200)
            .body["total"],
        0
    );
    assert!(
        server.stderr().contains("interrupted"),
        "the start-up logs it: {}",
        server.stderr()
    );
    // Nothing resumes it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = server
        .get(&format!("{JOBS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(later, job);
}

#[tokio::test]
async fn two_jobs_at_once_on_one_container_upsert_without_duplicates() {
    const REGION: &str = "us-west-1";
    const N: usize = 40;
    let server = Server::start();
    let token = server.admin().await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    container(&server, &token, "twice", "ls", &acct.id, &[REGION]).await;
    let made = acct.create_keys(REGION, N).await;

    // Both jobs discover the same keys at the same time.
    let j1 = start_sync(&server, &token, json!({"kms": ["twice"]})).await;
    let j2 = start_sync(&server, &token, json!({"kms": ["twice"]})).await;
    let d1 = wait_done(&server, &token, j1["id"].as_str().unwrap()).await;
    let d2 = wait_done(&server, &token, j2["id"].as_str().unwrap()).await;
    assert_eq!(d1["overall_status"], "completed", "{d1}");
    assert_eq!(d2["overall_status"], "completed", "{d2}");
    assert_eq!(d1["keys_seen"], N);
    assert_eq!(d2["keys_seen"], N);
    assert_eq!(
        d1["keys_added"].as_u64().unwrap() + d2["keys_added"].as_u64().unwrap(),
        N as u64,
        "each key is added once: {d1} {d2}"
    );

    let all = keys(&server, &token, "kms=twice&limit=-1").await;
    assert_eq!(all["total"], N, "one record per key");
    let synced: BTreeSet<String> = resources(&all)
        .iter()
        .map(|r| r["aws_param"]["KeyID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(synced, made);
    let discovered = audit_records(&server, &token)
        .await
        .iter()
        .filter(|r| r["action"] == "key.discover")
        .count();
    assert_eq!(discovered, N);
}

#[tokio::test]
async fn cancel_stops_a_running_job_before_its_next_container() {
    const SLOW: &str = "ap-southeast-1";
    const REGION: &str = "ap-southeast-2";
    let server = impatient_server();
    let token = server.admin().await;
    let (hang_url, accepted) = hanging_endpoint();
    connection_to(&server, &token, "hangs", &hang_url).await;
    container(&server, &token, "slow", "hangs", "000000000000", &[SLOW]).await;
    let acct = Account::fresh();
    acct.connect(&server, &token, "ls").await;
    container(&server, &token, "fast", "ls", &acct.id, &[REGION]).await;
    acct.create_key(REGION, json!({"Description": "never synced"}))
        .await;

    // Containers are synchronised in the order given: "slow" first.
    let job = start_sync(&server, &token, json!({"kms": ["slow", "fast"]})).await;
    let id = job["id"].as_str().unwrap();
    accepted
        .recv_timeout(Duration::from_secs(30))
        .expect("the job calls the slow endpoint");
    let cancelled = server
        .post(&format!("{JOBS}/{id}/cancel"), &token, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(cancelled["abort"], true);
    assert_eq!(cancelled["overall_status"], "in_progress");

    let done = wait_done(&server, &token, id).await;
    assert_eq!(done["abort"], true, "{done}");
    assert_eq!(done["detailed_status"]["fast"], "aborted", "{done}");
    let slow = done["detailed_status"]["slow"].as_str().unwrap();
    assert!(slow.starts_with(&format!("failed: {SLOW}: ")), "{slow}");
    assert_eq!(
        done["overall_status"], "failed",
        "the slow container failed"
    );
    assert_eq!(keys(&server, &token, "kms=fast").await["total"], 0);
    server
        .post(&format!("{JOBS}/{id}/cancel"), &token, json!({}))
        .await
        .expect_error(422, "failed");
}

#[tokio::test]
async fn a_container_deleted_while_its_job_runs_is_reported_failed() {
    const SLOW: &str = "ap-south-2";
    let server = impatient_server();
    let token = server.admin().await;
    let (hang_url, accepted) = hanging_endpoint();
    connection_to(&server, &token, "hangs", &hang_url).await;
    container(&server, &token, "slow", "hangs", "000000000000", &[SLOW]).await;
    let doomed = container(&server, &token, "doomed", "hangs", "000000000000", &[SLOW]).await;

    let job = start_sync(&server, &token, json!({"kms": ["slow", "doomed"]})).await;
    let id = job["id"].as_str().unwrap();
    accepted
        .recv_timeout(Duration::from_secs(30))
        .expect("the job calls the slow endpoint");
    server
        .delete(&format!("{KMS}/{doomed}"), &token)
        .await
        .expect(204);

    let done = wait_done(&server, &token, id).await;
    assert_eq!(done["overall_status"], "failed", "{done}");
    let status = done["detailed_status"].as_object().unwrap();
    assert_eq!(
        status.keys().map(String::as_str).collect::<Vec<_>>(),
        ["doomed", "slow"],
        "one entry per container, by name: {done}"
    );
    assert_eq!(status["doomed"], "failed: the KMS container was deleted");
    assert!(
        status["slow"].as_str().unwrap().starts_with("failed: "),
        "{done}"
    );
}

/// Every AWS operation's call count in the server's `/metrics` (both outcomes summed).
async fn aws_calls(server: &Server, operation: &str) -> u64 {
    let text = server
        .client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("keyward_aws_calls_total{")
                && l.contains(&format!("operation=\"{operation}\""))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

/// The total of a list of key records (one request, limit 1).
async fn record_count(server: &Server, token: &str, query: &str) -> u64 {
    keys(server, token, &format!("{query}&limit=1")).await["total"]
        .as_u64()
        .unwrap()
}

/// A sync of 1,050 keys: ListKeys asks for pages of 1,000 (two calls, where pages of 100 took
/// eleven), and the records are written a page's worth per transaction. Killed with SIGKILL
/// while its second ListKeys page is held at a proxy, the first 1,000 keys are stored whole,
/// with their audit records (the chain verifies), and not one of the rest; the next start fails
/// the job; a new job adds exactly the 50 missing keys, again with two ListKeys calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_between_pages_keeps_whole_pages_and_the_next_job_finishes() {
    use common::proxy::{Proxy, Release};
    const REGION: &str = "eu-south-1";
    const N: usize = 1050;
    let proxy = Proxy::start();
    let server = Server::start();
    let token = server.admin().await;
    let acct = Account::fresh();
    server
        .post(
            "/api/v1/connectionmgmt/services/aws/connections",
            &token,
            json!({
                "name": "px",
                "access_key_id": acct.access_key_id,
                "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_region": "ap-south-1",
                "endpoint_url": proxy.url,
            }),
        )
        .await
        .expect(201);
    let kms_id = container(&server, &token, "crash", "px", &acct.id, &[REGION]).await;
    let started = Instant::now();
    let made = acct.create_keys(REGION, N).await;
    eprintln!("created {N} keys in LocalStack in {:?}", started.elapsed());

    // The first ListKeys goes through; the second (keys 1,001 to 1,050) is held.
    let lists_before = proxy.count("ListKeys");
    proxy.hold("ListKeys");
    let job = start_sync(&server, &token, json!({"kms": ["crash"]})).await;
    let id = job["id"].as_str().unwrap().to_string();
    proxy.wait_held(Duration::from_secs(30)).await;
    assert_eq!(proxy.release(Release::Forward), Some(200));
    proxy.hold("ListKeys");
    proxy.wait_held(Duration::from_secs(120)).await;
    assert_eq!(
        proxy.count("ListKeys") - lists_before,
        2,
        "the second page is asked for after 1,000 keys"
    );
    // The first page's records are written in one transaction: all of them or none.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = record_count(&server, &token, "kms=crash").await;
        assert!(n == 0 || n == 1000, "{n} records: a page is written whole");
        if n == 1000 {
            break;
        }
        assert!(Instant::now() < deadline, "the first page was not written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        server
            .get(&format!("{JOBS}/{id}"), &token)
            .await
            .expect(200)
            .body["overall_status"],
        "in_progress"
    );

    let dir = server.kill_keep_data();
    assert_eq!(proxy.release(Release::Drop), None);
    let data = dir.path().join("data");
    let (ok, out, err) = common::cli(
        &[
            "admin",
            "verify-audit",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(ok, "the audit chain verifies after the kill: {out} {err}");

    let server = Server::start_in(dir, &[], &admin_env());
    let token = server.admin().await;
    let failed = server
        .get(&format!("{JOBS}/{id}"), &token)
        .await
        .expect(200)
        .body;
    assert_eq!(failed["overall_status"], "failed", "{failed}");
    assert!(
        failed["detailed_status"]["crash"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{failed}"
    );
    let kept = keys(&server, &token, "kms=crash&limit=-1").await;
    assert_eq!(kept["total"], 1000);
    for rec in resources(&kept) {
        let p = &rec["aws_param"];
        assert!(
            made.contains(p["KeyID"].as_str().unwrap()),
            "a key of the account: {rec}"
        );
        assert_eq!(p["KeyState"], "Enabled", "{rec}");
        assert!(p["Policy"].is_object(), "read whole: {rec}");
        assert_eq!(rec["gone"], false);
    }
    let discovered = |audit: &[Value]| {
        audit
            .iter()
            .filter(|r| r["action"] == "key.discover")
            .count()
    };
    assert_eq!(discovered(&audit_records(&server, &token).await), 1000);

    let list_keys_before = aws_calls(&server, "ListKeys").await;
    let describes_before = aws_calls(&server, "DescribeKey").await;
    let done = sync_completed(&server, &token, json!({"kms": [kms_id]})).await;
    assert_eq!(
        (
            done["keys_seen"].clone(),
            done["keys_added"].clone(),
            done["keys_gone"].clone()
        ),
        (json!(N), json!(N - 1000), json!(0)),
        "{done}"
    );
    assert_eq!(
        aws_calls(&server, "ListKeys").await - list_keys_before,
        2,
        "{N} keys in pages of 1,000"
    );
    assert_eq!(
        aws_calls(&server, "DescribeKey").await - describes_before,
        N as u64,
        "each key read once"
    );
    let all = keys(&server, &token, "kms=crash&limit=-1").await;
    let synced: BTreeSet<String> = resources(&all)
        .iter()
        .map(|r| r["aws_param"]["KeyID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(synced, made, "every key once");
    assert_eq!(discovered(&audit_records(&server, &token).await), N);
}
