//! Key policy templates against LocalStack: CRUD, applying a template when a key is made and
//! through the policy action, auto_push, and the reserved tag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::{Value, json};

const TEMPLATES: &str = "/api/v1/cckm/aws/templates";
const KEYS: &str = "/api/v1/cckm/aws/keys";

async fn setup(server: &Server) -> String {
    let admin = server.admin().await;
    server.localstack_connection(&admin, "ls").await;
    server
        .post(
            "/api/v1/cckm/aws/kms",
            &admin,
            json!({"name": "kms", "account_id": "000000000000", "connection": "ls", "regions": ["ap-south-1"]}),
        )
        .await
        .expect(201);
    admin
}

fn policy_text(key: &Value) -> String {
    key["aws_param"]["Policy"].to_string()
}

fn has_template_tag(key: &Value, id: &str) -> bool {
    key["aws_param"]["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["TagKey"] == "cckm_policy_template_id" && t["TagValue"] == id)
}

#[tokio::test]
async fn a_template_makes_and_follows_key_policies() {
    let server = Server::start();
    let admin = setup(&server).await;
    let user = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);

    let t = server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "users-tpl", "kms": "kms", "key_users": [user]}),
        )
        .await
        .expect(201)
        .body;
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["account_id"], "000000000000");
    assert_eq!(t["is_verified"], false);
    assert!(t["uri"].as_str().unwrap().ends_with(&tid));

    // A key made from the template carries its policy and the reserved tag.
    let key = server
        .post(
            KEYS,
            &admin,
            json!({"kms": "kms", "region": "ap-south-1", "policytemplate": "users-tpl"}),
        )
        .await
        .expect(201)
        .body;
    let key_id = key["id"].as_str().unwrap().to_string();
    assert!(
        policy_text(&key).contains(&format!("arn:aws:iam::000000000000:user/{user}")),
        "{}",
        policy_text(&key)
    );
    assert!(has_template_tag(&key, &tid));
    assert_eq!(
        server
            .get(&format!("{TEMPLATES}/{tid}"), &admin)
            .await
            .expect(200)
            .body["is_verified"],
        true
    );

    // auto_push re-applies a changed template to the key in AWS.
    let other = format!("{user}x");
    let r = server
        .patch(
            &format!("{TEMPLATES}/users-tpl"),
            &admin,
            json!({"key_users": [other], "auto_push": true}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["auto_push_result"]["keys_updated"], 1, "{r}");
    let key = server
        .get(&format!("{KEYS}/{key_id}"), &admin)
        .await
        .expect(200)
        .body;
    assert!(policy_text(&key).contains(&format!("user/{other}")));

    // In use: the template cannot go.
    server
        .delete(&format!("{TEMPLATES}/{tid}"), &admin)
        .await
        .expect_error(409, "applied to 1 key");

    // The reserved tag is not for hands.
    server
        .post(
            &format!("{KEYS}/{key_id}/remove-tags"),
            &admin,
            json!({"tags": ["cckm_policy_template_id"]}),
        )
        .await
        .expect_error(400, "reserved");
    server
        .post(
            &format!("{KEYS}/{key_id}/add-tags"),
            &admin,
            json!({"tags": [{"tag_key": "cckm_policy_template_id", "tag_value": "x"}]}),
        )
        .await
        .expect_error(400, "reserved");

    // Another policy detaches the key from the template; then the template can go.
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Sid": "root", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "kms:*", "Resource": "*"}]});
    let key = server
        .post(
            &format!("{KEYS}/{key_id}/policy"),
            &admin,
            json!({"policy": doc}),
        )
        .await
        .expect(200)
        .body;
    assert!(!has_template_tag(&key, &tid));
    server
        .delete(&format!("{TEMPLATES}/{tid}"), &admin)
        .await
        .expect(204);
    server
        .get(&format!("{TEMPLATES}/{tid}"), &admin)
        .await
        .expect(404);

    // The policy action applies a template too.
    let t2 = server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "doc-tpl", "account_id": "000000000000", "policy": doc}),
        )
        .await
        .expect(201)
        .body;
    let key = server
        .post(
            &format!("{KEYS}/{key_id}/policy"),
            &admin,
            json!({"policytemplate": t2["id"]}),
        )
        .await
        .expect(200)
        .body;
    assert!(has_template_tag(&key, t2["id"].as_str().unwrap()));
}

#[tokio::test]
async fn template_input_is_checked_and_roles_apply() {
    let server = Server::start();
    let admin = setup(&server).await;
    server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "t", "kms": "kms", "key_users": ["bob"], "policy": {"Statement": []}}),
        )
        .await
        .expect_error(400, "mutually exclusive");
    server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "t", "kms": "nope", "key_users": ["bob"]}),
        )
        .await
        .expect_error(400, "kms:");
    server
        .post(TEMPLATES, &admin, json!({"name": "t", "kms": "kms"}))
        .await
        .expect_error(400, "policy:");
    server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "t", "kms": "kms", "account_id": "111122223333", "key_users": ["bob"]}),
        )
        .await
        .expect_error(400, "account_id:");
    server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "t", "kms": "kms", "key_users": ["bob"]}),
        )
        .await
        .expect(201);
    server
        .post(
            TEMPLATES,
            &admin,
            json!({"name": "t", "kms": "kms", "key_users": ["carol"]}),
        )
        .await
        .expect_error(409, "already exists");
    server
        .post(
            KEYS,
            &admin,
            json!({"kms": "kms", "region": "ap-south-1", "policytemplate": "missing"}),
        )
        .await
        .expect_error(400, "policytemplate:");
    let list = server
        .get(&format!("{TEMPLATES}?limit=-1"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(list["total"], 1);

    let viewer = server.user_token(&admin, "viewer", &["CCKM Users"]).await;
    server.get(TEMPLATES, &viewer).await.expect(200);
    server
        .post(
            TEMPLATES,
            &viewer,
            json!({"name": "v", "kms": "kms", "key_users": ["bob"]}),
        )
        .await
        .expect(403);
}
