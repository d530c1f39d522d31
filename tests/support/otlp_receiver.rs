//! Test support: a scripted OTLP receiver on loopback that records every
//! request exactly as it arrived (path, headers, body) and answers from a
//! script — to check on the wire what a collector cannot show: headers,
//! compression, content types, retries and their timing.
//!
//! It speaks HTTP/1.1 (OTLP/HTTP, protobuf or JSON) and HTTP/2 with prior
//! knowledge (OTLP/gRPC, as tonic sends over `http://`). Use it with
//!
//! ```ignore
//! #[path = "support/otlp_receiver.rs"]
//! mod otlp_receiver;
//! ```
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The request path, e.g. `/v1/logs` or `/opentelemetry.proto.collector.logs.v1.LogsService/Export`.
    pub path: String,
    /// Its headers (gRPC: its metadata).
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Received {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether this is a gRPC call.
    pub fn is_grpc(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.starts_with("application/grpc"))
    }

    /// The payload with transport compression undone: gzip (HTTP
    /// `content-encoding`) or the gRPC frame's compressed flag.
    pub fn payload(&self) -> Vec<u8> {
        if self.is_grpc() {
            let Some(frame) = self.body.get(5..) else {
                return Vec::new();
            };
            if self.body.first() == Some(&1) {
                return gunzip(frame);
            }
            return frame.to_vec();
        }
        if self.header("content-encoding") == Some("gzip") {
            return gunzip(&self.body);
        }
        self.body.clone()
    }

    /// Whether the body was compressed on the wire.
    pub fn compressed(&self) -> bool {
        if self.is_grpc() {
            self.body.first() == Some(&1)
        } else {
            self.header("content-encoding") == Some("gzip")
        }
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("body is valid gzip");
    out
}

/// How to answer the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Success.
    Ok,
    /// An HTTP status, with an optional `Retry-After` value.
    Http(u16, Option<&'static str>),
    /// A gRPC status code (e.g. 14 UNAVAILABLE), trailers-only.
    Grpc(u32),
}

/// The receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpReceiver {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let state = (Arc::clone(&received), Arc::clone(&script));
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let (received, script) = state.clone();
            async move { answer(request, &received, &script).await }
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OtlpReceiver {
            addr,
            received,
            script,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues replies for the next requests (then: success).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until `done` holds for what was received.
    pub fn wait_for(&self, what: &str, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if Instant::now() >= deadline {
                let paths: Vec<_> = received.iter().map(|r| r.path.clone()).collect();
                panic!("timed out waiting for {what}; received {paths:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn answer(
    request: Request<Body>,
    received: &Mutex<Vec<Received>>,
    script: &Mutex<VecDeque<Reply>>,
) -> Response<Body> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let record = Received {
        at,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
    };
    let grpc = record.is_grpc();
    let content_type = record
        .header("content-type")
        .unwrap_or("application/x-protobuf")
        .to_owned();
    received.lock().unwrap().push(record);
    let reply = script.lock().unwrap().pop_front().unwrap_or(Reply::Ok);
    match (reply, grpc) {
        (Reply::Ok, true) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let body = GrpcBody {
                data: Some(Bytes::from_static(&[0, 0, 0, 0, 0])),
                trailers: Some(trailers),
            };
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/grpc")
                .body(Body::new(body))
                .unwrap()
        }
        (Reply::Grpc(code), _) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/grpc")
            .header("grpc-status", code.to_string())
            .header("grpc-message", "scripted")
            .body(Body::empty())
            .unwrap(),
        (Reply::Ok, false) => {
            let body = if content_type.contains("json") { "{}" } else { "" };
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", content_type)
                .body(Body::from(body))
                .unwrap()
        }
        (Reply::Http(status, retry_after), _) => {
            let mut response = Response::builder().status(status);
            if let Some(after) = retry_after {
                response = response.header("retry-after", after);
            }
            response.body(Body::from("scripted failure")).unwrap()
        }
    }
}

/// One data frame, then trailers (a unary gRPC response).
struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for GrpcBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }
}
