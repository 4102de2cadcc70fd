//! A server killed (SIGKILL) in the middle of a rotation to a new key resumes it at its next
//! start, or fails it cleanly, and never creates two successor keys.
//!
//! The AWS connection goes through the tests' proxy (common::proxy), which holds a chosen AWS
//! operation of the rotation; the server is killed while it waits for that answer, the proxy
//! then forwards the held request to LocalStack (AWS carries it out after the crash) or drops
//! it (AWS never sees it), and the server restarts on the same data directory. Its scheduler
//! tick (`reconcile_rotations`) takes over the rotation whose lease expired and drives it to
//! its end. Each test works in a LocalStack account of its own, so that ListKeys counts are
//! exact, and reads AWS directly (as that account, not through the proxy).
//!
//! The first server runs with a lease of 1 s and its scheduler off (so that it never takes
//! over its own rotation while the proxy holds it); the restarted one with a lease and a tick
//! of 1 s, so that it takes the rotation over at once instead of after the default 300 s.
// Test code: a panic is how a check fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::proxy::{Lose, Proxy, Release};
use common::{ADMIN_PASSWORD, Aws, Server};
use serde_json::{Value, json};

const KEYS: &str = "/api/v1/cckm/aws/keys";
const UPLOAD: &str = "/api/v1/cckm/aws/upload-key";
const REGION: &str = "ap-south-1";
const ROTATION_TAG: &str = "keyward_rotation_id";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn arn_of(v: &Value) -> String {
    v["aws_param"]["Arn"].as_str().expect("Arn").to_string()
}

fn kid_of(v: &Value) -> String {
    v["aws_param"]["KeyID"].as_str().expect("KeyID").to_string()
}

fn future_days(days: i64) -> String {
    (Utc::now() + chrono::Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first server: a lease of 1 s, and no scheduler (see the module's comment).
fn first_server() -> Server {
    Server::start_with(
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_SCHEDULER_TICK_SECS", "0"),
            ("KEYWARD_SCHEDULER_LEASE_SECS", "1"),
        ],
    )
}

/// The server restarted on the data directory of a killed one, with a scheduler tick and a
/// lease of 1 s.
async fn restart(dir: tempfile::TempDir) -> (Server, String) {
    let server = Server::start_in(
        dir,
        &[],
        &[
            ("KEYWARD_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYWARD_SCHEDULER_TICK_SECS", "1"),
            ("KEYWARD_SCHEDULER_LEASE_SECS", "1"),
        ],
    );
    let admin = server.admin().await;
    (server, admin)
}

/// A server whose AWS connection to a fresh LocalStack account goes through the proxy, and a
/// KMS container `kms` over ap-south-1.
async fn setup(proxy: &Proxy) -> (Server, String, Aws) {
    let server = first_server();
    let admin = server.admin().await;
    let aws = Aws::fresh();
    server
        .kms_through(&admin, &aws, "proxied", &proxy.url)
        .await;
    (server, admin, aws)
}

/// A native key with an alias and a tag, made through the proxy.
async fn native_key(server: &Server, admin: &str, proxy: &Proxy, alias: &str) -> Value {
    let key = server
        .post(
            KEYS,
            admin,
            json!({"kms": "kms", "region": REGION, "aws_param": {
                "Alias": alias,
                "Description": "rotation crash test key",
                "Tags": [{"TagKey": "team", "TagValue": "crypto"}],
            }}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        proxy.count("CreateKey"),
        1,
        "the key was not made through the proxy: {:?}",
        proxy.seen()
    );
    key
}

/// Starts `POST .../rotate` in the background; its answer never comes (the server is killed).
fn start_rotation(
    server: &Server,
    admin: &str,
    id: &str,
    body: Value,
) -> tokio::task::JoinHandle<()> {
    let request = server
        .client()
        .post(format!("{}{KEYS}/{id}/rotate", server.url))
        .bearer_auth(admin)
        .json(&body);
    tokio::spawn(async move {
        let _ = request.send().await;
    })
}

/// Waits (60 s at most) until the old key's record says it was rotated; returns the record.
async fn wait_rotated(server: &Server, admin: &str, old_id: &str, proxy: &Proxy) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rec = server
            .get(&format!("{KEYS}/{old_id}"), admin)
            .await
            .expect(200)
            .body;
        if rec["rotation_status"] == "rotated" && rec["rotated_to"].is_string() {
            return rec;
        }
        assert!(
            rec["rotation_status"] != "failed",
            "the rotation failed after the restart: {rec}\nAWS calls: {:?}\nstderr:\n{}",
            proxy.seen(),
            server.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "the rotation was not finished within 60 s of the restart: {rec}\nAWS calls: {:?}\nstderr:\n{}",
            proxy.seen(),
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The AWS operations the proxy saw from `from` on, without the `TrentService.` prefix.
fn ops_since(proxy: &Proxy, from: usize) -> Vec<String> {
    proxy.seen()[from..]
        .iter()
        .map(|t| t.trim_start_matches("TrentService.").to_string())
        .collect()
}

/// Holds `operation` at the proxy and starts the rotation of `old_id` with `body` in the
/// background; returns once the proxy holds it, with the background request and the AWS
/// operations the rotation sent until then.
async fn rotate_until_held(
    server: &Server,
    admin: &str,
    proxy: &Proxy,
    old_id: &str,
    body: Value,
    operation: &str,
) -> (tokio::task::JoinHandle<()>, Vec<String>) {
    let mark = proxy.seen().len();
    proxy.hold(operation);
    let rotate = start_rotation(server, admin, old_id, body);
    proxy.wait_held(Duration::from_secs(30)).await;
    (rotate, ops_since(proxy, mark))
}

/// Kills the server (SIGKILL) while the proxy holds the rotation's request; returns its data
/// directory.
async fn kill(server: Server, rotate: tokio::task::JoinHandle<()>) -> tempfile::TempDir {
    let dir = server.kill_keep_data();
    let _ = rotate.await;
    dir
}

/// Restarts on the killed server's data directory, waits until the rotation of `old` is
/// finished and checks that it left one successor (see [`assert_one_successor`]); returns
/// the server, an admin token, the old key's record and the successor's.
async fn restart_and_finish(
    dir: tempfile::TempDir,
    proxy: &Proxy,
    aws: &Aws,
    old: &Value,
    alias: &str,
) -> (Server, String, Value, Value) {
    let (server, admin) = restart(dir).await;
    let rotated = wait_rotated(&server, &admin, &id_of(old), proxy).await;
    let new = assert_one_successor(&server, &admin, aws, old, &rotated, alias).await;
    (server, admin, rotated, new)
}

/// Asserts that the test took less than 90 s from `started`.
fn assert_quick(started: Instant) {
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
}

/// What every test checks once the rotation is done: exactly the old key and one successor
/// in the account, the successor is the record `rotated_to` names and holds the aliases, the
/// rotation tag is gone from it, and the history shows one completed rotation.
async fn assert_one_successor(
    server: &Server,
    admin: &str,
    aws: &Aws,
    old: &Value,
    rotated: &Value,
    alias: &str,
) -> Value {
    let old_id = id_of(old);
    let new_id = rotated["rotated_to"].as_str().unwrap().to_string();
    let new = server
        .get(&format!("{KEYS}/{new_id}"), admin)
        .await
        .expect(200)
        .body;
    let new_kid = kid_of(&new);
    let mut ids = aws.key_ids().await;
    ids.sort();
    let mut expected = vec![kid_of(old), new_kid.clone()];
    expected.sort();
    assert_eq!(
        ids, expected,
        "exactly the old key and its successor in AWS"
    );
    assert_eq!(new["rotated_from"], old_id.as_str(), "{new}");
    assert_eq!(new["rotation_status"], "", "{new}");
    assert_eq!(new["aws_param"]["KeyState"], "Enabled", "{new}");
    assert_eq!(aws.describe(&new_kid).await["KeyState"], "Enabled");
    assert_eq!(aws.describe(&kid_of(old)).await["KeyState"], "Enabled");
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&new)
    );
    let tags = aws.tags(&new_kid).await;
    assert!(
        tags.iter().all(|(k, _)| k != ROTATION_TAG),
        "the rotation tag is still on the successor: {tags:?}"
    );
    let h = server
        .get(&format!("{KEYS}/{old_id}/rotations"), admin)
        .await
        .expect(200)
        .body;
    assert_eq!(h["total"], 1, "{h}");
    let r = &h["resources"][0];
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["rotation_type"], "new_key", "{r}");
    assert_eq!(r["rotated_from"], old_id.as_str(), "{r}");
    assert_eq!(r["rotated_to"], new_id.as_str(), "{r}");
    assert_eq!(r["rotated_to_arn"], arn_of(&new).as_str(), "{r}");
    assert!(
        // At start-up when the lease had run out before the restart, else at a scheduler tick.
        [
            "took over interrupted rotations",
            "took over rotations interrupted by the last shutdown"
        ]
        .iter()
        .any(|m| server.stderr().contains(m)),
        "no takeover in the log:\n{}",
        server.stderr()
    );
    new
}

/// Killed while UpdateAlias (moving the alias to the successor) was in flight; AWS then
/// carries it out (`Forward`) or never sees it (`Drop`).
async fn killed_while_moving_the_alias(release: Release) {
    let started = Instant::now();
    let proxy = Proxy::start();
    let (server, admin, aws) = setup(&proxy).await;
    let alias = unique("crash");
    let old = native_key(&server, &admin, &proxy, &alias).await;
    let old_id = id_of(&old);
    let (blob, _) = aws
        .encrypt(&format!("alias/{alias}"), b"before the crash")
        .await;

    let (rotate, before) =
        rotate_until_held(&server, &admin, &proxy, &old_id, json!({}), "UpdateAlias").await;
    assert!(
        before.iter().any(|o| o == "CreateKey") && before.last().unwrap() == "UpdateAlias",
        "{before:?}"
    );
    assert_eq!(aws.key_ids().await.len(), 2, "the successor exists in AWS");

    let dir = kill(server, rotate).await;
    let status = proxy.release(release);
    let expected_target = match release {
        Release::Forward => {
            assert_eq!(status, Some(200));
            None
        }
        Release::Drop => Some(arn_of(&old)),
    };
    if let Some(arn) = expected_target {
        assert_eq!(aws.alias_target(&format!("alias/{alias}")).await, arn);
    }

    let (_server, _admin, rotated, new) = restart_and_finish(dir, &proxy, &aws, &old, &alias).await;
    assert_eq!(
        new["aws_param"]["Tags"],
        json!([{"TagKey": "team", "TagValue": "crypto"}]),
        "{new}"
    );
    assert_eq!(rotated["aws_param"]["KeyState"], "Enabled", "{rotated}");
    assert_eq!(aws.decrypt(&blob).await, b"before the crash");
    let (after, _) = aws.encrypt(&format!("alias/{alias}"), b"after").await;
    assert_eq!(aws.decrypt(&after).await, b"after");
    assert_quick(started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_moving_the_alias_aws_never_saw_it_the_rotation_is_finished() {
    killed_while_moving_the_alias(Release::Drop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_moving_the_alias_aws_moved_it_the_rotation_is_finished() {
    killed_while_moving_the_alias(Release::Forward).await;
}

/// Killed while CreateKey was in flight. With `Forward`, AWS creates the successor after the
/// crash and the server never learned its id: the next start finds it by its rotation tag and
/// finishes the rotation with that very key. With `Drop`, AWS never made it: the next start
/// makes it. Either way there is one successor.
async fn killed_while_creating_the_successor(release: Release) {
    let started = Instant::now();
    let proxy = Proxy::start();
    let (server, admin, aws) = setup(&proxy).await;
    let alias = unique("crash");
    let old = native_key(&server, &admin, &proxy, &alias).await;
    let old_id = id_of(&old);

    let (rotate, before) =
        rotate_until_held(&server, &admin, &proxy, &old_id, json!({}), "CreateKey").await;
    assert_eq!(before.last().map(String::as_str), Some("CreateKey"));
    assert_eq!(aws.key_ids().await, vec![kid_of(&old)]);

    let dir = kill(server, rotate).await;
    let status = proxy.release(release);
    let made_after_the_crash = match release {
        Release::Forward => {
            assert_eq!(status, Some(200));
            let ids = aws.key_ids().await;
            assert_eq!(ids.len(), 2, "{ids:?}");
            let made = ids.into_iter().find(|k| *k != kid_of(&old)).unwrap();
            let tags = aws.tags(&made).await;
            assert!(
                tags.iter().any(|(k, _)| k == ROTATION_TAG),
                "the successor AWS made carries no rotation tag: {tags:?}"
            );
            Some(made)
        }
        Release::Drop => {
            assert_eq!(aws.key_ids().await, vec![kid_of(&old)]);
            None
        }
    };

    let (_server, _admin, _rotated, new) =
        restart_and_finish(dir, &proxy, &aws, &old, &alias).await;
    if let Some(made) = made_after_the_crash {
        assert_eq!(kid_of(&new), made, "the rotation made another successor");
    }
    // Only one CreateKey after the restart at most, and none when AWS had made the key.
    let creates = proxy.count("CreateKey");
    match release {
        Release::Forward => assert_eq!(creates, 2, "{:?}", proxy.seen()),
        Release::Drop => assert_eq!(creates, 3, "{:?}", proxy.seen()),
    }
    assert_quick(started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_creating_the_successor_aws_made_it_the_rotation_finishes_with_that_key() {
    killed_while_creating_the_successor(Release::Forward).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_creating_the_successor_aws_never_saw_it_the_rotation_makes_one() {
    killed_while_creating_the_successor(Release::Drop).await;
}

/// A BYOK key (material from Keyward's vault) killed while ImportKeyMaterial of its
/// successor was in flight: after the restart the successor holds new material (Enabled),
/// ciphertexts made before still decrypt, and there are exactly two keys.
async fn killed_while_importing_the_successors_material(release: Release) {
    let started = Instant::now();
    let proxy = Proxy::start();
    let (server, admin, aws) = setup(&proxy).await;
    let alias = unique("crash-byok");
    let old = server
        .post(
            UPLOAD,
            &admin,
            json!({"kms": "kms", "region": REGION, "key_expiration": true, "valid_to": future_days(60),
                   "aws_param": {"Alias": alias, "Description": "byok rotation crash test key"}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(old["aws_param"]["KeyState"], "Enabled", "{old}");
    assert_eq!(proxy.count("ImportKeyMaterial"), 1, "{:?}", proxy.seen());
    let old_id = id_of(&old);
    let old_local = old["local_key_id"].as_str().unwrap().to_string();
    let (blob, _) = aws
        .encrypt(&format!("alias/{alias}"), b"byok before the crash")
        .await;

    let valid_to = future_days(45);
    let (rotate, before) = rotate_until_held(
        &server,
        &admin,
        &proxy,
        &old_id,
        json!({"key_expiration": true, "valid_to": valid_to}),
        "ImportKeyMaterial",
    )
    .await;
    assert!(
        before.iter().any(|o| o == "CreateKey")
            && before.iter().any(|o| o == "GetParametersForImport")
            && !before.iter().any(|o| o == "UpdateAlias"),
        "{before:?}"
    );

    let dir = kill(server, rotate).await;
    let ids = aws.key_ids().await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let successor = ids.into_iter().find(|k| *k != kid_of(&old)).unwrap();
    let status = proxy.release(release);
    let state = aws.describe(&successor).await["KeyState"].clone();
    match release {
        Release::Forward => {
            assert_eq!(status, Some(200));
            assert_eq!(state, "Enabled");
        }
        Release::Drop => assert_eq!(state, "PendingImport"),
    }

    let (server, admin, _rotated, new) = restart_and_finish(dir, &proxy, &aws, &old, &alias).await;
    assert_eq!(kid_of(&new), successor);
    let np = &new["aws_param"];
    assert_eq!(np["Origin"], "EXTERNAL", "{new}");
    assert_eq!(np["ExpirationModel"], "KEY_MATERIAL_EXPIRES", "{new}");
    assert_eq!(np["ValidTo"], valid_to.as_str(), "{new}");
    assert_eq!(new["key_material_origin"], "cckm", "{new}");
    assert_eq!(new["key_source"], "local", "{new}");
    let new_local = new["local_key_id"].as_str().unwrap_or_default();
    assert!(!new_local.is_empty(), "{new}");
    assert_ne!(new_local, old_local, "the successor holds new material");
    assert_eq!(aws.decrypt(&blob).await, b"byok before the crash");
    let (after, _) = aws.encrypt(&format!("alias/{alias}"), b"byok after").await;
    assert_eq!(aws.decrypt(&after).await, b"byok after");
    let h = server
        .get(&format!("{KEYS}/{old_id}/rotations"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(h["resources"][0]["local_key_id"], new_local, "{h}");
    // One vault key per generation: the restart used the source the journal named.
    let vault = server
        .get("/api/v1/vault/keys2?limit=-1", &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(vault["total"], 2, "{vault}");
    let used = server
        .get(&format!("/api/v1/vault/keys2/{new_local}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(used["used_by_aws_keys"], json!([id_of(&new)]), "{used}");
    assert_quick(started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byok_killed_while_importing_aws_imported_the_successor_is_enabled() {
    killed_while_importing_the_successors_material(Release::Forward).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byok_killed_while_importing_aws_never_saw_it_the_successor_is_enabled() {
    killed_while_importing_the_successors_material(Release::Drop).await;
}

/// CreateKey reaches AWS, which makes the key, but its answer is lost (the connection is
/// closed): the rotation fails, and no successor may be left behind, let alone several.
/// (CreateKey is sent once: the SDK's retry would make a key per attempt; the clean-up finds
/// the key by the rotation's tag and schedules its deletion.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_key_whose_answer_is_lost_leaves_no_successor() {
    let proxy = Proxy::start();
    let (server, admin, aws) = setup(&proxy).await;
    let alias = unique("lost");
    let old = native_key(&server, &admin, &proxy, &alias).await;
    let old_id = id_of(&old);
    proxy.lose("CreateKey", Lose::Answer);
    let r = server
        .post(&format!("{KEYS}/{old_id}/rotate"), &admin, json!({}))
        .await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.body);
    assert_eq!(
        proxy.count("CreateKey"),
        2,
        "CreateKey is sent once by the rotation"
    );
    proxy.stop_losing();
    let rec = server
        .get(&format!("{KEYS}/{old_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(rec["rotation_status"], "failed", "{rec}");
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&old)
    );
    let mut made = Vec::new();
    for k in aws.key_ids().await {
        if k != kid_of(&old) {
            let state = aws.describe(&k).await["KeyState"].clone();
            made.push((k, state));
        }
    }
    assert!(
        made.len() <= 1,
        "{} successors were made in AWS for one rotation: {made:?}; CreateKey requests: {}",
        made.len(),
        proxy.count("CreateKey") - 1
    );
    assert!(
        made.iter().all(|(_, state)| state == "PendingDeletion"),
        "a successor of the failed rotation is left: {made:?}"
    );
}

/// A client that gives up (closes its connection) in the middle of a rotation does not stop
/// it: the rotation runs on a task of its own and ends, on this server, without a restart
/// (its scheduler is off, so nothing else could finish it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_does_not_stop_the_rotation() {
    let proxy = Proxy::start();
    let (server, admin, aws) = setup(&proxy).await;
    let alias = unique("gave-up");
    let old = native_key(&server, &admin, &proxy, &alias).await;
    let old_id = id_of(&old);
    let (rotate, _) =
        rotate_until_held(&server, &admin, &proxy, &old_id, json!({}), "UpdateAlias").await;
    rotate.abort();
    let _ = rotate.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.release(Release::Forward);
    let rec = wait_rotated(&server, &admin, &old_id, &proxy).await;
    let new_id = rec["rotated_to"].as_str().unwrap();
    let new = server
        .get(&format!("{KEYS}/{new_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(
        aws.alias_target(&format!("alias/{alias}")).await,
        arn_of(&new)
    );
    assert_eq!(aws.key_count().await, 2);
}
