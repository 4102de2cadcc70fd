//! The safety nets around every route (`harden`):
//!
//! - a handler that panics still answers: 500 in CipherTrust's error shape, and the panic is
//!   logged with its location only (a formatted panic message may carry request data);
//! - an error response made below the routes (an axum rejection, a fallback) that is not
//!   already CipherTrust's JSON error body is rewritten into it;
//! - a response sent before the request's body was read: a small rest of the body is read
//!   and dropped, so the keep-alive connection carries the client's next request; otherwise
//!   the response says `Connection: close`, so the client knows to open a new connection.

use std::any::Any;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::error_response;
use crate::extract::bounded;

/// The three nets, outermost first: unread bodies, error shape, panics.
pub fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(ciphertrust_errors))
        .layer(middleware::from_fn(close_unread_bodies))
}

/// The answer to a panicked handler. The payload is not logged unless it is a fixed text
/// (`panic!("...")` without arguments): a formatted one may hold request data.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    match payload.downcast_ref::<&'static str>() {
        Some(text) => tracing::error!(panic = %text, "a request handler panicked"),
        None => tracing::error!("a request handler panicked (its message is not logged)"),
    }
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        14,
        "NCERRInternalServerError: Internal server error",
        "An internal error occurred; the server log has the details under this request's id."
            .into(),
    )
}

/// Logs where a panic happened, without its message (see [`panic_response`]). Installed by
/// `app::run`.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let fixed = info.payload().downcast_ref::<&'static str>().copied();
        tracing::error!(%location, message = fixed.unwrap_or("(not logged)"), "panic");
    }));
}

fn is_ciphertrust_error(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// Rewrites an error response that is not JSON (axum's plain-text rejections, an empty body)
/// into CipherTrust's error body, keeping the status and any text as the message.
async fn ciphertrust_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_ciphertrust_error(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let (code, desc, default) = match status {
        StatusCode::NOT_FOUND => (
            16,
            "NCERRResourceNotFound: Resource not found",
            "no such resource or route",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            4,
            "NCERRBadRequest: Method not allowed",
            "this route does not accept that HTTP method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            4,
            "NCERRBadRequest: Request body too large",
            "the request body is larger than the server accepts (max_body_bytes)",
        ),
        StatusCode::URI_TOO_LONG => (
            4,
            "NCERRBadRequest: URI too long",
            "the URL is too long; send fewer or shorter query parameters",
        ),
        StatusCode::UNAUTHORIZED => (
            5,
            "NCERRUnauthorizedAccess: Unauthorized",
            "Unauthorised: give a valid bearer token",
        ),
        StatusCode::FORBIDDEN => (7, "NCERRForbidden: Operation not permitted", "not allowed"),
        s if s.is_server_error() => (
            14,
            "NCERRInternalServerError: Internal server error",
            "An internal error occurred; the server log has the details under this request's id.",
        ),
        _ => (
            4,
            "NCERRBadRequest: Bad HTTP request",
            "the request could not be read",
        ),
    };
    // A 5xx body never carries internals; a 4xx rejection's text says what to fix.
    let message = if text.is_empty() || status.is_server_error() {
        default.to_string()
    } else {
        bounded(&text, 512)
    };
    let mut fresh = error_response(status, code, desc, message);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

/// Whether a request carries a body (a non-zero length, or chunked).
fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// The most of an unread body that is read (and dropped) after the response, so that the
/// connection can carry the client's next request.
const DRAIN_MAX_BYTES: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// A response made without reading its request's body (a 401 from the token check, a 404):
/// the rest of the body, up to [`DRAIN_MAX_BYTES`] arriving within [`DRAIN_TIMEOUT`], is read
/// and dropped so the keep-alive connection stays usable; a larger or slower body is not
/// read, and the response says `Connection: close` so the client does not send its next
/// request on a connection the server is about to close.
async fn close_unread_bodies(req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let left = Arc::new(Mutex::new(None));
    let req = req.map(|body| {
        Body::new(Tracked {
            inner: Some(body),
            read: read.clone(),
            left: left.clone(),
        })
    });
    let mut response = next.run(req).await;
    if read.load(Ordering::Acquire) {
        return response;
    }
    let rest = left.lock().ok().and_then(|mut l| l.take());
    let drained = match rest {
        Some(body) => matches!(
            tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(body, DRAIN_MAX_BYTES)).await,
            Ok(Ok(_))
        ),
        None => false,
    };
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end, and hands what is left of
/// it back to [`close_unread_bodies`] when the handler drops it unread.
struct Tracked {
    inner: Option<Body>,
    read: Arc<AtomicBool>,
    left: Arc<Mutex<Option<Body>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.read.load(Ordering::Acquire)
            && let Some(body) = self.inner.take()
            && let Ok(mut left) = self.left.lock()
        {
            *left = Some(body);
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.as_ref().is_some_and(|b| b.is_end_stream()),
            _ => false,
        };
        if ended {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("a test handler panics")
    }

    async fn boom_with_data() -> &'static str {
        let secret = "hunter2";
        panic!("formatted with {secret}")
    }

    async fn read_body(body: Bytes) -> String {
        format!("{} bytes", body.len())
    }

    async fn ignore_body() -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    fn app() -> Router {
        harden(
            Router::new()
                .route("/boom", get(boom))
                .route("/boom-data", get(boom_with_data))
                .route("/read", post(read_body))
                .route("/ignore", post(ignore_body))
                .route(
                    "/text-error",
                    get(|| async { (StatusCode::BAD_REQUEST, "Invalid URL: fix it") }),
                )
                .route("/empty-error", get(|| async { StatusCode::URI_TOO_LONG })),
        )
    }

    async fn send(req: Request) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let r = app().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, headers, v)
    }

    fn get_req(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_ciphertrust_shape() {
        for path in ["/boom", "/boom-data"] {
            let (status, headers, v) = send(get_req(path)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            assert_eq!(v["code"], 14, "{v}");
            assert_eq!(
                v["codeDesc"],
                "NCERRInternalServerError: Internal server error"
            );
            let msg = v["message"].as_str().unwrap();
            assert!(!msg.contains("panic") && !msg.contains("hunter2"), "{msg}");
        }
    }

    #[tokio::test]
    async fn plain_and_empty_error_bodies_become_ciphertrust_errors() {
        let (status, _, v) = send(get_req("/text-error")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["code"], 4);
        assert_eq!(v["message"], "Invalid URL: fix it");
        let (status, _, v) = send(get_req("/empty-error")).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG);
        assert!(v["message"].as_str().unwrap().contains("URL is too long"));
        assert!(v["codeDesc"].as_str().unwrap().starts_with("NCERR"));
        // A route that does not exist in a bare router: axum's empty 404.
        let (status, _, v) = send(get_req("/nothing-here")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(v["code"], 16);
    }

    #[tokio::test]
    async fn an_unread_body_is_drained_or_the_response_says_connection_close() {
        let post_req = |path: &str| {
            Request::builder()
                .method("POST")
                .uri(path)
                .header(header::CONTENT_LENGTH, "5")
                .body(Body::from("hello"))
                .unwrap()
        };
        // A small unread body is drained: the connection stays open.
        let (status, headers, _) = send(post_req("/ignore")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.get(header::CONNECTION).is_none());
        // A body over the drain limit is left unread: the response says so.
        let big = vec![b'x'; DRAIN_MAX_BYTES + 1];
        let (status, headers, _) = send(
            Request::builder()
                .method("POST")
                .uri("/ignore")
                .header(header::CONTENT_LENGTH, big.len().to_string())
                .body(Body::from(big))
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::CONNECTION], "close");
        let (status, headers, _) = send(post_req("/read")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get(header::CONNECTION).is_none());
        // No body: nothing left unread.
        let (_, headers, _) = send(
            Request::builder()
                .method("POST")
                .uri("/ignore")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(headers.get(header::CONNECTION).is_none());
    }
}
