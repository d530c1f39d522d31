//! Test support: a scripted OTLP receiver on loopback that records every
//! request exactly as it arrived (path, headers, body) and answers from a
//! script — to check on the wire what a collector cannot show: headers,
//! compression, content types, retries and their timing.
//!
//! It speaks HTTP/1.1 (OTLP/HTTP, protobuf or JSON) and HTTP/2 with prior
//! knowledge (OTLP/gRPC, as tonic sends over `http://`). Besides answers
//! (success, HTTP and gRPC statuses) the script can play a misbehaving
//! collector: a slow answer ([`Reply::Delay`]), a TCP reset without an answer
//! ([`Reply::Reset`]) and a success whose body is garbage ([`Reply::Garbage`]).
//!
//! Every protobuf request it accepts is decoded (opentelemetry-proto) into a
//! [`Tally`]: log records and spans counted, each also by the integer value of
//! an id attribute, so a test can check that exactly N distinct items
//! arrived. [`OtlpReceiver::start_counting`] keeps only that tally (and each
//! request's path, headers and time), not the bodies: for large runs, e.g.
//! behind a real collector that forwards to it. Use it with
//!
//! ```ignore
//! #[path = "support/otlp_receiver.rs"]
//! mod otlp_receiver;
//! ```
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::io::Read as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The request path, e.g. `/v1/logs` or `/opentelemetry.proto.collector.logs.v1.LogsService/Export`.
    pub path: String,
    /// Its headers (gRPC: its metadata).
    pub headers: HeaderMap,
    /// The raw body (empty when the receiver keeps no bodies).
    pub body: Vec<u8>,
    /// How the script answered it.
    pub reply: Reply,
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
    /// Success with an OTLP `partial_success` rejecting this many items
    /// (in the answer's encoding: protobuf, OTLP/JSON or gRPC).
    Partial(i64),
    /// A gRPC status code whose `grpc-status-details-bin` carries a
    /// `google.rpc.RetryInfo` asking the client to wait this long.
    GrpcRetryInfo(u32, Duration),
    /// Success, but only after this long (past the client's timeout, the
    /// client gives up first). The data counts as accepted.
    Delay(Duration),
    /// No answer: the connection is reset (TCP RST). Not accepted.
    Reset,
    /// Status 200 (gRPC: status 0) with a body that is not an OTLP response.
    /// The data counts as accepted.
    Garbage,
    /// Like [`Reply::Garbage`], with a body of this many bytes.
    Oversized(usize),
}

impl Reply {
    /// Whether the receiver keeps (tallies) the data of a request answered so.
    pub fn accepts(&self) -> bool {
        matches!(
            self,
            Reply::Ok | Reply::Delay(_) | Reply::Garbage | Reply::Oversized(_) | Reply::Partial(_)
        )
    }
}

/// What the receiver accepted, decoded from OTLP protobuf (HTTP or gRPC):
/// log records and spans, each counted and, when it carries the integer
/// attribute the receiver was told about, recorded by that id.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Log records accepted (duplicates included).
    pub logs: u64,
    /// Spans accepted (duplicates included).
    pub spans: u64,
    /// Distinct ids of the accepted log records.
    pub log_ids: HashSet<i64>,
    /// Distinct ids of the accepted spans.
    pub span_ids: HashSet<i64>,
    /// Log records and spans without the id attribute.
    pub without_id: u64,
    /// Accepted requests whose body did not decode.
    pub undecodable: u64,
    /// Accepted requests.
    pub requests: u64,
}

/// The receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    tally: Arc<Mutex<Tally>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// What every request handler shares.
#[derive(Clone)]
struct State {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    tally: Arc<Mutex<Tally>>,
    /// The attribute whose integer value identifies a log record or span.
    id_attribute: Option<&'static str>,
    keep_bodies: bool,
}

impl OtlpReceiver {
    /// Starts on a free loopback port; keeps every request's body.
    pub fn start() -> Self {
        Self::launch(None, true)
    }

    /// Starts on a free loopback port; keeps no bodies, only the [`Tally`],
    /// identifying log records and spans by the integer attribute `id_attribute`.
    pub fn start_counting(id_attribute: &'static str) -> Self {
        Self::launch(Some(id_attribute), false)
    }

    fn launch(id_attribute: Option<&'static str>, keep_bodies: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = State {
            received: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(VecDeque::new())),
            tally: Arc::new(Mutex::new(Tally::default())),
            id_attribute,
            keep_bodies,
        };
        let (received, script, tally) = (
            Arc::clone(&state.received),
            Arc::clone(&state.script),
            Arc::clone(&state.tally),
        );
        let app = axum::Router::new().fallback(
            move |ConnectInfo(connection): ConnectInfo<Connection>, request: Request<Body>| {
                let state = state.clone();
                async move { answer(request, &state, &connection).await }
            },
        );
        runtime.spawn(async move {
            let service = app.into_make_service_with_connect_info::<Connection>();
            let _ = axum::serve(ResettableListener(listener), service).await;
        });
        OtlpReceiver {
            addr,
            received,
            script,
            tally,
            runtime: Some(runtime),
        }
    }

    /// What was accepted so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    /// Counts of what was accepted so far (no id sets): `(logs, distinct
    /// log ids, spans, distinct span ids)`.
    pub fn counts(&self) -> (u64, usize, u64, usize) {
        let tally = self.tally.lock().unwrap();
        (tally.logs, tally.log_ids.len(), tally.spans, tally.span_ids.len())
    }

    /// Distinct ids in `range` accepted so far: `(log records, spans)`.
    pub fn ids_in(&self, range: std::ops::Range<i64>) -> (usize, usize) {
        let tally = self.tally.lock().unwrap();
        let count = |ids: &HashSet<i64>| ids.iter().filter(|id| range.contains(id)).count();
        (count(&tally.log_ids), count(&tally.span_ids))
    }

    /// Waits (bounded) until `done` holds for the tally; returns it.
    pub fn wait_for_tally(&self, what: &str, timeout: Duration, done: impl Fn(&Tally) -> bool) -> Tally {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let tally = self.tally.lock().unwrap();
                if done(&tally) {
                    return tally.clone();
                }
                if Instant::now() >= deadline {
                    panic!(
                        "timed out waiting for {what}; accepted {} log records ({} distinct), {} spans ({} distinct) in {} requests",
                        tally.logs,
                        tally.log_ids.len(),
                        tally.spans,
                        tally.span_ids.len(),
                        tally.requests
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
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

    /// Scripted replies not used yet.
    pub fn script_left(&self) -> usize {
        self.script.lock().unwrap().len()
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

async fn answer(request: Request<Body>, state: &State, connection: &Connection) -> Response<Body> {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let reply = state.script.lock().unwrap().pop_front().unwrap_or(Reply::Ok);
    let mut record = Received {
        at,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        reply: reply.clone(),
    };
    let grpc = record.is_grpc();
    let path_of_request = record.path.clone();
    let content_type = record
        .header("content-type")
        .unwrap_or("application/x-protobuf")
        .to_owned();
    if reply.accepts() && !content_type.contains("json") {
        tally(&record, state);
    }
    if !state.keep_bodies {
        record.body = Vec::new();
    }
    state.received.lock().unwrap().push(record);
    let reply = match reply {
        Reply::Delay(delay) => {
            tokio::time::sleep(delay).await;
            Reply::Ok
        }
        Reply::Reset => {
            connection.reset();
            // Never written: the connection fails first.
            Reply::Http(500, None)
        }
        other => other,
    };
    match (reply, grpc) {
        (Reply::Oversized(size), true) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let mut frame = vec![0];
            frame.extend_from_slice(&(size as u32).to_be_bytes());
            frame.resize(5 + size, 0xab);
            let body = GrpcBody {
                data: Some(Bytes::from(frame)),
                trailers: Some(trailers),
            };
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/grpc")
                .body(Body::new(body))
                .unwrap()
        }
        (Reply::Oversized(size), false) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", content_type)
            .body(Body::from(vec![0xab; size]))
            .unwrap(),
        (Reply::Garbage, true) => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let mut frame = vec![0, 0, 0, 0, 16];
            frame.extend_from_slice(&[0xff; 16]);
            let body = GrpcBody {
                data: Some(Bytes::from(frame)),
                trailers: Some(trailers),
            };
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/grpc")
                .body(Body::new(body))
                .unwrap()
        }
        (Reply::Garbage, false) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", content_type)
            .body(Body::from(&b"\xff\xfe not an OTLP response \x00\x01"[..]))
            .unwrap(),
        (Reply::Delay(_) | Reply::Reset, _) => unreachable!("mapped above"),
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
        (Reply::Partial(rejected), grpc) => {
            let (proto, json) = partial_success(&path_of_request, rejected);
            if grpc {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                let mut frame = vec![0];
                frame.extend_from_slice(&(proto.len() as u32).to_be_bytes());
                frame.extend_from_slice(&proto);
                let body = GrpcBody {
                    data: Some(Bytes::from(frame)),
                    trailers: Some(trailers),
                };
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/grpc")
                    .body(Body::new(body))
                    .unwrap()
            } else if content_type.contains("json") {
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", content_type)
                    .body(Body::from(json))
                    .unwrap()
            } else {
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", content_type)
                    .body(Body::from(proto))
                    .unwrap()
            }
        }
        (Reply::GrpcRetryInfo(code, delay), _) => {
            use tonic_types::{ErrorDetails, StatusExt as _};
            let status = tonic::Status::with_error_details(
                tonic::Code::from(code as i32),
                "scripted throttle",
                ErrorDetails::with_retry_info(Some(delay)),
            );
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/grpc")
                .body(Body::empty())
                .unwrap();
            status.add_header(response.headers_mut()).unwrap();
            response
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

/// Decodes an accepted protobuf request into the tally.
fn tally(record: &Received, state: &State) {
    let payload = record.payload();
    let mut found: Vec<(bool, Option<i64>)> = Vec::new();
    let decoded = if record.path.ends_with("/v1/logs") || record.path.ends_with("LogsService/Export") {
        ExportLogsServiceRequest::decode(payload.as_slice()).map(|request| {
            for log in request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
            {
                found.push((true, id_of(&log.attributes, state.id_attribute)));
            }
        })
    } else if record.path.ends_with("/v1/traces") || record.path.ends_with("TraceService/Export") {
        ExportTraceServiceRequest::decode(payload.as_slice()).map(|request| {
            for span in request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                found.push((false, id_of(&span.attributes, state.id_attribute)));
            }
        })
    } else {
        Ok(())
    };
    let mut tally = state.tally.lock().unwrap();
    tally.requests += 1;
    if decoded.is_err() {
        tally.undecodable += 1;
    }
    for (is_log, id) in found {
        if is_log {
            tally.logs += 1;
        } else {
            tally.spans += 1;
        }
        match id {
            Some(id) if is_log => {
                tally.log_ids.insert(id);
            }
            Some(id) => {
                tally.span_ids.insert(id);
            }
            None => tally.without_id += 1,
        }
    }
}

fn id_of(attributes: &[KeyValue], name: Option<&str>) -> Option<i64> {
    let name = name?;
    let value = attributes
        .iter()
        .find(|kv| kv.key == name)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    match value {
        any_value::Value::IntValue(v) => Some(*v),
        any_value::Value::StringValue(v) => v.parse().ok(),
        _ => None,
    }
}

/// The listener: every connection it accepts can be reset by its handler.
struct ResettableListener(tokio::net::TcpListener);

impl axum::serve::Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let stream = ResettableStream {
                        stream,
                        reset: Arc::new(AtomicBool::new(false)),
                    };
                    return (stream, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A connection that fails every read and write once reset; dropped then,
/// its socket closes with `SO_LINGER` 0, which sends a TCP RST.
struct ResettableStream {
    stream: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn check(&self) -> std::io::Result<()> {
        if self.reset.load(Ordering::Acquire) {
            let _ = self.stream.set_zero_linger();
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "scripted reset",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A handler's handle on its connection (axum connect info).
#[derive(Clone)]
struct Connection(Arc<AtomicBool>);

impl Connection {
    fn reset(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Connected<axum::serve::IncomingStream<'_, ResettableListener>> for Connection {
    fn connect_info(stream: axum::serve::IncomingStream<'_, ResettableListener>) -> Self {
        Connection(Arc::clone(&stream.io().reset))
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

/// An OTLP response of the signal `path` names with a `partial_success`
/// rejecting `rejected` items: protobuf, and OTLP/JSON (int64 as a string).
fn partial_success(path: &str, rejected: i64) -> (Vec<u8>, String) {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    let message = "scripted partial success".to_owned();
    let path = path.to_ascii_lowercase();
    let (proto, key) = if path.contains("trace") {
        let partial = trace::v1::ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.clone(),
        };
        let response = trace::v1::ExportTraceServiceResponse {
            partial_success: Some(partial),
        };
        (response.encode_to_vec(), "rejectedSpans")
    } else if path.contains("log") {
        let partial = logs::v1::ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: message.clone(),
        };
        let response = logs::v1::ExportLogsServiceResponse {
            partial_success: Some(partial),
        };
        (response.encode_to_vec(), "rejectedLogRecords")
    } else {
        let partial = metrics::v1::ExportMetricsPartialSuccess {
            rejected_data_points: rejected,
            error_message: message.clone(),
        };
        let response = metrics::v1::ExportMetricsServiceResponse {
            partial_success: Some(partial),
        };
        (response.encode_to_vec(), "rejectedDataPoints")
    };
    let json = format!(r#"{{"partialSuccess":{{"{key}":"{rejected}","errorMessage":"{message}"}}}}"#);
    (proto, json)
}
