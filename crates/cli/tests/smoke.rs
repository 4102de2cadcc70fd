//! The server boots, serves HTTPS only, and answers health checks.

mod common;

use common::Server;

#[tokio::test]
async fn boots_and_serves_https_health() {
    let server = Server::start();
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let r = server
        .call(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "ok");
    assert!(r.headers.contains_key("x-request-id"));
    // Plain HTTP on the same port is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/healthz", server.port))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}
