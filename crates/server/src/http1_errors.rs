//! Errors that hyper answers itself, before a request reaches the routes: a request line
//! longer than 64 KiB (414, a 100 KB query string), headers over hyper's buffer (431), a
//! request that is not HTTP (400). hyper writes them with an empty body; [`ShapedIo`] (around
//! each TLS connection) rewrites such a response into CipherTrust's error body, with an
//! `X-Request-Id` like every other response.
//!
//! A response is rewritten only when its bytes start a write with an HTTP/1 4xx status line,
//! carry no `x-request-id` (every response of the routes has one) and end with their empty
//! body: only hyper's own answers look like that. The connection is closed after them anyway.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use keyward_api::ErrorBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose hyper-made error responses come out in CipherTrust's shape.
pub struct ShapedIo<T> {
    inner: T,
    /// A rewritten response still to be written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ShapedIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<T: AsyncWrite + Unpin> ShapedIo<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ShapedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ShapedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(replacement) = rewrite(buf) {
            self.pending = Some((replacement, 0));
            // Written as far as the connection takes it now; flush and shutdown finish it.
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // hyper then writes each response head in one piece (it flattens its buffers), which
    // `rewrite` needs to see whole.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// CipherTrust's version of a response hyper made itself, if `buf` is one.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 4")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 4"))?;
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if head_end + 4 != buf.len() {
        return None;
    }
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let headers: Vec<&str> = lines.collect();
    let lower: Vec<String> = headers.iter().map(|h| h.to_ascii_lowercase()).collect();
    if lower.iter().any(|h| h.starts_with("x-request-id:"))
        || !lower
            .iter()
            .any(|h| h.replace(' ', "") == "content-length:0")
    {
        return None;
    }
    let status: u16 = std::str::from_utf8(rest.get(..2)?)
        .ok()?
        .parse::<u16>()
        .ok()
        .map(|n| 400 + n)?;
    let (desc, message) = match status {
        414 => (
            "NCERRBadRequest: URI too long",
            "the URL is too long: the request line must be under 64 KiB; send fewer or shorter query parameters",
        ),
        431 => (
            "NCERRBadRequest: Request header fields too large",
            "the request's headers are too large; send fewer or smaller headers",
        ),
        _ => (
            "NCERRBadRequest: Bad HTTP request",
            "the request is not valid HTTP/1.1; check the request line and headers",
        ),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(status, request_id, "refused before routing: {message}");
    let body = serde_json::to_vec(&ErrorBody {
        code: 4,
        code_desc: desc.into(),
        message: message.into(),
    })
    .ok()?;
    let mut out = format!("{status_line}\r\n");
    for h in &headers {
        let l = h.to_ascii_lowercase();
        if !(l.starts_with("content-length:") || l.starts_with("content-type:")) {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hypers_empty_414_becomes_a_ciphertrust_error() {
        let raw = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 02:16:23 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(raw).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("connection: close"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("x-request-id: "));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], 4);
        assert!(v["message"].as_str().unwrap().contains("URL is too long"));
    }

    #[test]
    fn responses_of_the_routes_are_left_alone() {
        for raw in [
            // Has a request id: made by the routes.
            &b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n"[..],
            // Has a body.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"{\"code\":4}",
            b"HTTP/1.1 4",
        ] {
            assert!(rewrite(raw).is_none(), "{}", String::from_utf8_lossy(raw));
        }
    }
}
