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

    // Removing the template's tag detaches the key from the template (what Thales' provider
    // does before it schedules a key's deletion); the policy applied stays. Then the template
    // can be applied again. Setting the tag by hand is refused.
    let detached = server
        .post(
            &format!("{KEYS}/{key_id}/remove-tags"),
            &admin,
            json!({"tags": ["cckm_policy_template_id"]}),
        )
        .await
        .expect(200)
        .body;
    assert!(!has_template_tag(&detached, &tid), "{detached}");
    assert!(policy_text(&detached).contains(&format!("user/{other}")));
    let key = server
        .post(
            &format!("{KEYS}/{key_id}/policy"),
            &admin,
            json!({"policytemplate": tid}),
        )
        .await
        .expect(200)
        .body;
    assert!(has_template_tag(&key, &tid), "{key}");
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

/// What the provider reads from a template (provider-calls.md §8.1), with its types.
fn assert_template_reads(t: &Value) {
    for f in ["id", "account_id", "kms", "name"] {
        assert!(t[f].is_string(), "{f}: {t}");
    }
    for f in [
        "external_accounts",
        "key_admins",
        "key_admins_roles",
        "key_users",
        "key_users_roles",
    ] {
        assert!(
            t[f].as_array()
                .is_some_and(|l| l.iter().all(Value::is_string)),
            "{f}: {t}"
        );
    }
    assert!(t["is_verified"].is_boolean(), "{t}");
    assert!(t["auto_push"].is_boolean(), "{t}");
}

/// `ciphertrust_aws_policy_template` (provider-calls.md §8.1): create with `account_id:""`
/// and null lists (PolicyTemplatePayloadJSON), the answer echoing `kms` as configured, the
/// lists as given (names, not ARNs) and the policy; PATCH with
/// KeyPolicyTemplateUpdatePayloadJSON answers with the whole template.
#[tokio::test]
async fn the_terraform_providers_policy_template() {
    let server = Server::start();
    let admin = setup(&server).await;
    let kms = server
        .get("/api/v1/cckm/aws/kms/kms", &admin)
        .await
        .expect(200)
        .body;
    let kms_id = kms["id"].as_str().unwrap();
    let policy = json!({"Version": "2012-10-17", "Id": "kms-tf-1", "Statement": [{"Sid": "Enable IAM User Permissions 1",
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]});

    // The test configuration: kms, name, policy.
    let t = server
        .post(
            TEMPLATES,
            &admin,
            json!({"account_id": "", "kms": kms_id, "name": "tf-policy", "external_accounts": null,
                "key_admins": null, "key_admins_roles": null, "key_users": null, "key_users_roles": null,
                "Policy": policy}),
        )
        .await
        .expect(201)
        .body;
    assert_template_reads(&t);
    assert_eq!(t["kms"], kms_id, "kms as configured: {t}");
    assert_eq!(t["account_id"], "000000000000");
    assert_eq!(t["policy"], policy);
    assert_eq!(t["is_verified"], false);

    // The example: users and admins by name, no policy.
    let t2 = server
        .post(
            TEMPLATES,
            &admin,
            json!({"account_id": "", "kms": kms_id, "name": "tf-users", "external_accounts": null,
                "key_admins": ["key_administrator"], "key_admins_roles": null,
                "key_users": ["key_user_1", "key_user_2"], "key_users_roles": null}),
        )
        .await
        .expect(201)
        .body;
    assert_template_reads(&t2);
    assert_eq!(t2["key_admins"], json!(["key_administrator"]));
    assert_eq!(t2["key_users"], json!(["key_user_1", "key_user_2"]));
    let id2 = t2["id"].as_str().unwrap();

    // Update: lists removed since the state go as [], the others as null; auto_push the plan's.
    let p = server
        .patch(
            &format!("{TEMPLATES}/{id2}"),
            &admin,
            json!({"external_accounts": null, "key_admins": ["key_administrator"], "key_admins_roles": null,
                "key_users": [], "key_users_roles": ["key_role"], "Policy": null, "auto_push": false}),
        )
        .await
        .expect(200)
        .body;
    assert_template_reads(&p);
    assert_eq!(p["id"], id2);
    assert_eq!(p["name"], "tf-users");
    assert_eq!(p["kms"], kms_id);
    assert_eq!(p["key_admins"], json!(["key_administrator"]));
    assert_eq!(p["key_users"], json!([]));
    assert_eq!(p["key_users_roles"], json!(["key_role"]));
    assert_eq!(p["auto_push"], false);
    let got = server
        .get(&format!("{TEMPLATES}/{id2}"), &admin)
        .await
        .expect(200)
        .body;
    assert_template_reads(&got);
    assert_eq!(got["key_users_roles"], json!(["key_role"]));
    // A list sent as null stays as it is; [] empties only that list.
    let p = server
        .patch(
            &format!("{TEMPLATES}/{id2}"),
            &admin,
            json!({"external_accounts": null, "key_admins": null, "key_admins_roles": null,
                "key_users": ["key_user_3"], "key_users_roles": [], "Policy": null, "auto_push": false}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(p["key_admins"], json!(["key_administrator"]));
    assert_eq!(p["key_users"], json!(["key_user_3"]));
    assert_eq!(p["key_users_roles"], json!([]));
    // Emptying every list would leave nothing to build a policy from: 400, nothing changed.
    server
        .patch(
            &format!("{TEMPLATES}/{id2}"),
            &admin,
            json!({"external_accounts": null, "key_admins": [], "key_admins_roles": null,
                "key_users": [], "key_users_roles": null, "Policy": null, "auto_push": false}),
        )
        .await
        .expect_error(400, "no principals");
    let got = server
        .get(&format!("{TEMPLATES}/{id2}"), &admin)
        .await
        .expect(200)
        .body;
    assert_eq!(got["key_users"], json!(["key_user_3"]));
    // Switching to a policy document.
    let p = server
        .patch(
            &format!("{TEMPLATES}/{id2}"),
            &admin,
            json!({"external_accounts": null, "key_admins": [], "key_admins_roles": null,
                "key_users": null, "key_users_roles": [], "Policy": policy, "auto_push": true}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(p["policy"], policy);
    assert_eq!(p["key_admins"], json!([]));
    assert_eq!(p["auto_push"], true);

    // Made with the container's name, the template shows that name.
    let by_name = server
        .post(
            TEMPLATES,
            &admin,
            json!({"kms": "kms", "name": "by-name", "key_users": ["u"]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(by_name["kms"], "kms");

    // Deleted with nothing using it.
    server
        .delete(&format!("{TEMPLATES}/{id2}"), &admin)
        .await
        .expect(204);
}
