//! `Idempotency-Key` on POST requests: the HTTP side of `core/src/idempotency.rs`. A POST
//! (other than `/auth/...`) that carries the header is authenticated, its body digested
//! (SHA-256) and the key claimed for (the caller, the key) with its route (method and path);
//! a retry gets the first answer replayed (with `Idempotent-Replayed: true`). The request runs
//! on a task of its own, so a client that disconnects does not keep its answer from being
//! stored.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_core::CoreError;
use keyward_core::idempotency::IdempotencyStart;

use crate::error::ApiError;
use crate::extract::{Authed, body_read_rejection};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// The largest answer kept (key records are a few KiB).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

fn digest(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

pub async fn layer(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST
        || req.uri().path().starts_with("/api/v1/auth/")
        || !req.headers().contains_key(HEADER)
    {
        return next.run(req).await;
    }
    let key = match req.headers().get(HEADER).map(HeaderValue::to_str) {
        Some(Ok(k)) => k.trim().to_string(),
        _ => {
            return ApiError(CoreError::invalid(
                "Idempotency-Key: 1 to 255 visible ASCII characters",
            ))
            .into_response();
        }
    };
    let (mut parts, body) = req.into_parts();
    let caller = match Authed::from_request_parts(&mut parts, &s).await {
        Ok(Authed(c)) => c,
        Err(rejection) => return rejection,
    };
    let bytes = match to_bytes(body, s.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => return body_read_rejection(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let route = format!("POST {}", parts.uri.path());
    match s
        .keyward
        .idempotency_start(&caller, &key, &route, &digest(&bytes))
        .await
    {
        Err(e) => return ApiError(e).into_response(),
        Ok(IdempotencyStart::Replay { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return resp;
        }
        Ok(IdempotencyStart::Run) => {}
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let keyward = s.keyward.clone();
    let run = tokio::spawn(async move {
        let resp = next.run(req).await;
        let (parts, body) = resp.into_parts();
        let bytes = to_bytes(body, MAX_ANSWER_BYTES).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = keyward
            .idempotency_finish(&caller, &key, parts.status.as_u16(), &text)
            .await
        {
            tracing::warn!(error = %e, "could not store the answer of an idempotent request");
        }
        Response::from_parts(parts, Body::from(bytes))
    });
    match run.await {
        Ok(resp) => resp,
        Err(e) => ApiError(CoreError::internal(format!(
            "the request's task stopped: {e}"
        )))
        .into_response(),
    }
}
