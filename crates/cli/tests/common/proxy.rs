//! A fault-injecting HTTP proxy of the tests' own, on 127.0.0.1 in front of LocalStack (an AWS
//! connection's endpoint_url points at it). It forwards every request to LocalStack, except
//! that it can hold the first request of a chosen operation (`X-Amz-Target`) until the test
//! releases it: then it forwards it, or drops it; and it can lose every request of an
//! operation, or its answer. So a test stops the server at a chosen AWS call, kills it there,
//! and decides what AWS sees. It records the X-Amz-Target of every request, in order.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::kms_endpoint;

/// A request the proxy holds: the client's connection and the request's bytes.
pub struct Held {
    stream: TcpStream,
    request: Vec<u8>,
}

#[derive(Default)]
pub struct ProxyState {
    /// The operation to hold (once), e.g. `TrentService.ImportKeyMaterial`.
    hold: Option<String>,
    held: Option<Held>,
    /// An operation whose every request is lost (see [`Lose`]): the client's connection is
    /// closed without an answer.
    lose: Option<(String, Lose)>,
    /// The X-Amz-Target of every request, in order.
    seen: Vec<String>,
}

pub struct Proxy {
    pub url: String,
    upstream: String,
    state: Arc<Mutex<ProxyState>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lose {
    /// LocalStack gets the request and carries it out; its answer is lost.
    Answer,
    /// LocalStack never sees the request.
    Request,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Send the held request on to LocalStack (its answer goes to the client, if it still
    /// listens; after a crash, to nobody).
    Forward,
    /// Close the connection; LocalStack never sees the request.
    Drop,
}

impl Proxy {
    /// A proxy in front of LocalStack's KMS (KEYWARD_TEST_KMS_ENDPOINT).
    pub fn start() -> Self {
        let upstream = kms_endpoint()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let (st, up) = (state.clone(), upstream.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (st, up) = (st.clone(), up.clone());
                std::thread::spawn(move || serve(stream, &st, &up));
            }
        });
        Self {
            url,
            upstream,
            state,
        }
    }

    /// Holds the next request of this operation (the part after `TrentService.`).
    pub fn hold(&self, operation: &str) {
        self.state.lock().unwrap().hold = Some(format!("TrentService.{operation}"));
    }

    /// Whether a request is held now.
    pub fn is_holding(&self) -> bool {
        self.state.lock().unwrap().held.is_some()
    }

    /// Waits until the request to hold has come.
    pub async fn wait_held(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_holding() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the request to hold did not come within {timeout:?}; seen: {:?}",
                self.seen()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Releases the held request; for `Forward`, returns LocalStack's HTTP status.
    pub fn release(&self, how: Release) -> Option<u16> {
        let held = self
            .state
            .lock()
            .unwrap()
            .held
            .take()
            .expect("a held request");
        match how {
            Release::Drop => {
                drop(held.stream);
                None
            }
            Release::Forward => {
                let response = forward(&held.request, &self.upstream);
                let mut stream = held.stream;
                let _ = stream.write_all(&response);
                Some(status_of(&response))
            }
        }
    }

    /// From now on, every request of this operation is lost as `how` says.
    pub fn lose(&self, operation: &str, how: Lose) {
        self.state.lock().unwrap().lose = Some((format!("TrentService.{operation}"), how));
    }

    pub fn stop_losing(&self) {
        self.state.lock().unwrap().lose = None;
    }

    /// The X-Amz-Target of every request so far, in order (`TrentService.CreateKey`, ...).
    pub fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests of this operation came so far.
    pub fn count(&self, operation: &str) -> usize {
        let target = format!("TrentService.{operation}");
        self.seen().iter().filter(|t| **t == target).count()
    }
}

/// One client connection: reads one request, holds it or forwards it, answers, closes.
fn serve(mut stream: TcpStream, state: &Mutex<ProxyState>, upstream: &str) {
    let Some((request, target)) = read_request(&mut stream) else {
        return;
    };
    {
        let mut s = state.lock().unwrap();
        s.seen.push(target.clone());
        if s.hold.as_deref() == Some(target.as_str()) && s.held.is_none() {
            s.hold = None;
            s.held = Some(Held { stream, request });
            return;
        }
    }
    let lose = match &state.lock().unwrap().lose {
        Some((op, how)) if *op == target => Some(*how),
        _ => None,
    };
    if lose == Some(Lose::Request) {
        return;
    }
    let response = forward(&request, upstream);
    if lose == Some(Lose::Answer) {
        return;
    }
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

/// Reads one HTTP request (head and Content-Length body); returns its bytes, with the
/// Connection header set to close, and its X-Amz-Target.
fn read_request(stream: &mut TcpStream) -> Option<(Vec<u8>, String)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
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
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let target = header("x-amz-target").unwrap_or_default();
    let mut request = close_connection(&head).into_bytes();
    request.extend_from_slice(&buf[head_end..]);
    Some((request, target))
}

/// The head with any Connection header replaced by `Connection: close`.
fn close_connection(head: &str) -> String {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| {
            !l.split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
        })
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

/// Sends the request to LocalStack and returns its whole response (it closes the connection
/// after it, as the request asks), with `Connection: close` for the client.
fn forward(request: &[u8], upstream: &str) -> Vec<u8> {
    let mut up = TcpStream::connect(upstream).expect("connect to LocalStack");
    up.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    up.write_all(request).expect("send to LocalStack");
    let mut response = Vec::new();
    up.read_to_end(&mut response)
        .expect("read LocalStack's answer");
    match response.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => {
            let head = String::from_utf8_lossy(&response[..i + 4]).to_string();
            let mut out = close_connection(&head).into_bytes();
            out.extend_from_slice(&response[i + 4..]);
            out
        }
        None => response,
    }
}

/// The HTTP status of a response.
pub fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
