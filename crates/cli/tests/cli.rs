//! The command-line client against a real server: login (with --ca-cert or --insecure), the
//! stored credentials, connections, KMS containers, users, errors and logout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::cli_user::{Cli, ca_cert};
use common::{ADMIN_PASSWORD, Server};
use reqwest::Method;
use serde_json::{Value, json};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn login_keeps_a_private_refresh_token_and_logout_revokes_it() {
    let server = Server::start();
    let cli = Cli::new();
    let out = cli.ok_env(
        &[
            "login",
            "--url",
            &server.url,
            "--user",
            "admin",
            "--ca-cert",
            &ca_cert(&server),
        ],
        &[("KEYWARD_PASSWORD", ADMIN_PASSWORD)],
    );
    assert!(out.contains("logged in"), "{out}");
    let creds_path = cli.credentials();
    assert_eq!(mode(&creds_path), 0o600, "credentials file mode");
    let text = std::fs::read_to_string(&creds_path).unwrap();
    assert!(
        !text.contains(ADMIN_PASSWORD),
        "the password is stored: {text}"
    );
    let creds: Value = serde_json::from_str(&text).unwrap();
    let refresh = creds["refresh_token"].as_str().unwrap().to_string();
    assert!(!refresh.is_empty(), "{text}");
    // The stored refresh token works.
    let r = server
        .call(
            Method::POST,
            "/api/v1/auth/tokens",
            None,
            Some(json!({"grant_type": "refresh_token", "refresh_token": refresh})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["token_type"], "Bearer");
    // Commands use it.
    let out = cli.ok(&["users", "list"]);
    assert!(out.contains("admin"), "{out}");

    let out = cli.ok(&["logout"]);
    assert!(out.contains("logged out"), "{out}");
    assert!(!creds_path.exists(), "credentials file left behind");
    server
        .call(
            Method::POST,
            "/api/v1/auth/tokens",
            None,
            Some(json!({"grant_type": "refresh_token", "refresh_token": refresh})),
        )
        .await
        .expect_error(401, "");
    let err = cli.fails(&["users", "list"]);
    assert!(err.contains("not logged in"), "{err}");
}

#[tokio::test]
async fn login_with_insecure_accepts_the_self_signed_certificate() {
    let server = Server::start();
    let cli = Cli::new();
    // Without --insecure or --ca-cert the self-signed certificate is refused.
    let err = cli.fails_env(
        &["login", "--url", &server.url, "--user", "admin"],
        &[("KEYWARD_PASSWORD", ADMIN_PASSWORD)],
    );
    assert!(err.contains("--insecure"), "{err}");
    assert!(!cli.credentials().exists());

    cli.ok_env(
        &[
            "login",
            "--url",
            &server.url,
            "--user",
            "admin",
            "--insecure",
        ],
        &[("KEYWARD_PASSWORD", ADMIN_PASSWORD)],
    );
    assert_eq!(mode(&cli.credentials()), 0o600);
    let users = cli.json(&["users", "list"]);
    assert!(users["total"].as_i64().unwrap() >= 1, "{users}");
}

#[tokio::test]
async fn a_wrong_password_fails_with_the_servers_message() {
    let server = Server::start();
    let cli = Cli::new();
    let err = cli.fails_env(
        &[
            "login",
            "--url",
            &server.url,
            "--user",
            "admin",
            "--ca-cert",
            &ca_cert(&server),
        ],
        &[("KEYWARD_PASSWORD", "not-the-password")],
    );
    let r = server
        .login_reply("admin", "not-the-password")
        .await
        .expect(401);
    let message = r.body["message"].as_str().unwrap();
    assert!(
        err.contains(message),
        "stderr {err:?} lacks the server's message {message:?}"
    );
    assert!(err.contains("401"), "{err}");
    assert!(
        !cli.credentials().exists(),
        "credentials stored after a failed login"
    );
}

#[tokio::test]
async fn connections_and_kms_containers() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let endpoint = common::kms_endpoint();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    let out = cli.ok_env(
        &[
            "aws",
            "connections",
            "create",
            "ls-conn",
            "--access-key-id",
            "AKIAIOSFODNN7EXAMPLE",
            "--region",
            "ap-south-1",
            "--endpoint-url",
            &endpoint,
        ],
        &[("AWS_SECRET_ACCESS_KEY", secret)],
    );
    assert!(out.contains("ls-conn"), "{out}");
    assert!(!out.contains(secret), "the secret is printed: {out}");

    let out = cli.ok(&["aws", "connections", "list"]);
    assert!(out.contains("ls-conn"), "{out}");
    assert!(out.contains("1 of 1"), "{out}");

    let conn = cli.json(&["aws", "connections", "get", "ls-conn"]);
    assert_eq!(conn["name"], "ls-conn");
    assert_eq!(conn["aws_region"], "ap-south-1");
    assert_eq!(conn["endpoint_url"], endpoint.as_str());
    assert!(conn.get("secret_access_key").is_none(), "{conn}");
    assert!(!conn.to_string().contains(secret), "{conn}");
    let id = conn["id"].as_str().unwrap().to_string();
    // Stored as given, secret sealed.
    let admin = server.admin().await;
    let stored = server
        .get(
            &format!("/api/v1/connectionmgmt/services/aws/connections/{id}"),
            &admin,
        )
        .await
        .expect(200);
    assert_eq!(stored.body["access_key_id"], "AKIAIOSFODNN7EXAMPLE");

    let out = cli.ok(&["aws", "connections", "test", "ls-conn"]);
    assert!(out.contains("works"), "{out}");

    let out = cli.ok(&[
        "aws",
        "kms",
        "create",
        "kms",
        "--account-id",
        "000000000000",
        "--connection",
        "ls-conn",
        "--region",
        "ap-south-1",
    ]);
    assert!(out.contains("kms"), "{out}");
    let out = cli.ok(&["aws", "kms", "list"]);
    assert!(out.contains("000000000000"), "{out}");
    assert!(out.contains("1 of 1"), "{out}");
    let kms = cli.json(&["aws", "kms", "get", "kms"]);
    assert_eq!(kms["name"], "kms");
    assert_eq!(kms["account_id"], "000000000000");
    assert_eq!(kms["regions"], json!(["ap-south-1"]));
    let listed = cli.json(&["aws", "kms", "list"]);
    assert_eq!(listed["total"], 1);

    cli.ok(&["aws", "kms", "delete", "kms"]);
    let listed = cli.json(&["aws", "kms", "list"]);
    assert_eq!(listed["total"], 0, "{listed}");
    cli.fails(&["aws", "kms", "get", "kms"]);

    cli.ok(&["aws", "connections", "delete", "ls-conn"]);
    let listed = cli.json(&["aws", "connections", "list"]);
    assert_eq!(listed["total"], 0, "{listed}");
    server
        .get(
            &format!("/api/v1/connectionmgmt/services/aws/connections/{id}"),
            &admin,
        )
        .await
        .expect(404);
}

#[tokio::test]
async fn a_failing_connection_test_exits_non_zero_with_awss_error() {
    let server = Server::start();
    let cli = Cli::login(&server);
    // Nothing listens on port 9 (discard) of 127.0.0.1 here, so AWS is unreachable.
    cli.ok_env(
        &[
            "aws",
            "connections",
            "create",
            "dead",
            "--access-key-id",
            "AKIAIOSFODNN7EXAMPLE",
            "--region",
            "ap-south-1",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        &[(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )],
    );
    let err = cli.fails(&["aws", "connections", "test", "dead"]);
    assert!(err.contains("connection dead failed"), "{err}");
}

#[tokio::test]
async fn errors_exit_non_zero_with_the_servers_message() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let admin = server.admin().await;
    let r = server
        .get(
            "/api/v1/connectionmgmt/services/aws/connections/nope",
            &admin,
        )
        .await
        .expect(404);
    let message = r.body["message"].as_str().unwrap();
    let err = cli.fails(&["aws", "connections", "get", "nope"]);
    assert!(
        err.contains(message),
        "stderr {err:?} lacks the server's message {message:?}"
    );
    assert!(err.contains("404"), "{err}");

    // A KMS container on an unknown connection: the server's validation message.
    let err = cli.fails(&[
        "aws",
        "kms",
        "create",
        "k2",
        "--account-id",
        "000000000000",
        "--connection",
        "nope",
        "--region",
        "ap-south-1",
    ]);
    assert!(err.contains("nope"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[tokio::test]
async fn users_create_list_passwd_delete() {
    let server = Server::start();
    let cli = Cli::login(&server);

    cli.ok_env(
        &["users", "create", "bob", "--group", "CCKM Users"],
        &[("KEYWARD_NEW_PASSWORD", "bob-password-1")],
    );
    let out = cli.ok(&["users", "list"]);
    assert!(out.contains("bob"), "{out}");
    assert!(out.contains("CCKM Users"), "{out}");
    let listed = cli.json(&["users", "list"]);
    let bob = listed["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .cloned()
        .unwrap_or_else(|| panic!("bob not listed: {listed}"));
    assert_eq!(bob["groups"], json!(["CCKM Users"]));
    assert!(!listed.to_string().contains("bob-password-1"));
    let bob_session = server
        .login_reply("bob", "bob-password-1")
        .await
        .expect(200);
    let bob_refresh = bob_session.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    // A duplicate is refused with the server's message.
    let err = cli.fails_env(
        &["users", "create", "bob", "--group", "CCKM Users"],
        &[("KEYWARD_NEW_PASSWORD", "bob-password-2")],
    );
    assert!(err.contains("409"), "{err}");

    cli.ok_env(
        &["users", "passwd", "bob"],
        &[("KEYWARD_NEW_PASSWORD", "bob-password-2")],
    );
    server
        .login_reply("bob", "bob-password-1")
        .await
        .expect(401);
    server.login("bob", "bob-password-2").await;
    // As the command says, bob's earlier refresh tokens no longer work.
    server
        .call(
            Method::POST,
            "/api/v1/auth/tokens",
            None,
            Some(json!({"grant_type": "refresh_token", "refresh_token": bob_refresh})),
        )
        .await
        .expect(401);

    cli.ok(&["users", "delete", "bob"]);
    let listed = cli.json(&["users", "list"]);
    assert!(
        !listed["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "bob"),
        "bob still listed: {listed}"
    );
    server
        .login_reply("bob", "bob-password-2")
        .await
        .expect(401);
    let err = cli.fails(&["users", "delete", "bob"]);
    assert!(err.contains("bob"), "{err}");
}
