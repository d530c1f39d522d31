//! The OTLP/gRPC metric exporter: `MetricsService/Export` calls carrying
//! the histogram exemplars opentelemetry_sdk leaves out.
//!
//! opentelemetry-otlp's tonic exporter encodes its request inside tonic,
//! with no hook for the body (interceptors see only metadata), so over gRPC
//! the metrics go through this exporter instead: the SDK's own conversion
//! of the collected data (`ExportMetricsServiceRequest::from`), the
//! exemplars of every histogram point added ([`super::exemplars`]), sent on
//! a tonic channel built from the same `[otlp]` settings as the span and
//! log exporters' ([`super::transport::grpc_channel`]): endpoint, TLS with
//! a custom CA, per-call timeout, metadata (`headers`), gzip both ways, and
//! retries by the OTLP specification's rules ([`super::grpc_retry`]).
//!
//! The call is made on the channel directly rather than through tonic's
//! generated client, so that the collector's status alone decides the
//! outcome, as over OTLP/HTTP: a success (`grpc-status` 0) whose answer is
//! not an OTLP response — garbage, or larger than the 4 MiB read (tonic's
//! decoder would fail the call as `INTERNAL` or `OUT_OF_RANGE`, and
//! `OUT_OF_RANGE` is retried: the collector would get the same data twice)
//! — is a success, logged as a warning. The whole call, answer body and
//! trailers included, is bounded by what is left of the export's `timeout`.
//!
//! A response's `partial_success` is a success (the OTLP specification says
//! not to retry it); its rejected count and message are logged as a
//! warning under the `opentelemetry_otlp` target.

use std::io::{Read as _, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use prost::Message as _;
use tonic::codegen::Service as _;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::exemplars::Exemplars;
use crate::config::ValidatedRetry;

/// The gRPC method: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// What opentelemetry-otlp's exporters send as `User-Agent` (its version;
/// `tests/otlp_wire.rs` compares it with theirs on the wire).
const USER_AGENT: &str = "OTel-OTLP-Exporter-Rust/0.33.1";

/// Most of an answer's body kept (the HTTP exporters' limit too): the rest
/// is read and discarded, and the trailers' status still decides.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Exports metrics over OTLP/gRPC with exemplars; see the module docs.
pub(crate) struct GrpcMetricExporter {
    /// `None` once shut down.
    channel: Mutex<Option<Channel>>,
    /// The signal's metadata (`headers`) as HTTP/2 headers.
    metadata: HeaderMap,
    gzip: bool,
    timeout: Duration,
    retry: ValidatedRetry,
    exemplars: Arc<Exemplars>,
    temporality: Temporality,
}

impl std::fmt::Debug for GrpcMetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricExporter")
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl GrpcMetricExporter {
    /// An exporter on `channel` (built with the signal's endpoint and TLS),
    /// sending `metadata` with every call, gzip-compressed when `gzip`, each
    /// export (retries, answers and trailers included) bounded by `timeout`,
    /// asking the SDK for `temporality`.
    pub(crate) fn new(
        channel: Channel,
        metadata: MetadataMap,
        gzip: bool,
        timeout: Duration,
        retry: ValidatedRetry,
        exemplars: Arc<Exemplars>,
        temporality: Temporality,
    ) -> Self {
        let mut metadata = metadata.into_headers();
        // As tonic does: a call's status is the server's to send.
        for reserved in ["grpc-status", "grpc-message", "grpc-message-type"] {
            metadata.remove(reserved);
        }
        // As opentelemetry-otlp's exporters identify themselves (the OTLP
        // exporter specification's User-Agent), unless `headers` set one;
        // the channel appends tonic's.
        if !metadata.contains_key(http::header::USER_AGENT) {
            metadata.insert(http::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        GrpcMetricExporter {
            channel: Mutex::new(Some(channel)),
            metadata,
            gzip,
            timeout,
            retry,
            exemplars,
            temporality,
        }
    }

    fn channel(&self) -> Option<Channel> {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// One `Export` call carrying `frame`, given `within` to finish.
    async fn call(&self, mut channel: Channel, frame: Bytes, within: Duration) -> Result<Answer, Status> {
        let mut request = http::Request::new(tonic::body::Body::new(Full::new(frame)));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = http::Uri::from_static(EXPORT_PATH);
        let headers = request.headers_mut();
        headers.clone_from(&self.metadata);
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        if let Ok(timeout) = HeaderValue::try_from(grpc_timeout(within)) {
            headers.insert("grpc-timeout", timeout);
        }
        if self.gzip {
            headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
            headers.insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
        }
        std::future::poll_fn(|cx| channel.poll_ready(cx))
            .await
            .map_err(|err| Status::from_error(err.into()))?;
        let response = channel
            .call(request)
            .await
            .map_err(|err| Status::from_error(err.into()))?;
        let (parts, mut body) = response.into_parts();
        // A trailers-only answer carries its status in the headers.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            if status.code() != Code::Ok {
                return Err(status);
            }
        }
        if parts.status != StatusCode::OK {
            return Err(status_of_http(parts.status));
        }
        let mut kept = Vec::new();
        let mut discarded = 0usize;
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            match frame?.into_data() {
                Ok(data) => {
                    let room = MAX_ANSWER_BYTES - kept.len();
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                    discarded = discarded.saturating_add(data.len().saturating_sub(room));
                }
                Err(frame) => {
                    if let Ok(map) = frame.into_trailers() {
                        trailers.get_or_insert_with(HeaderMap::new).extend(map);
                    }
                }
            }
        }
        let status = trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&parts.headers));
        match status {
            Some(status) if status.code() == Code::Ok => {}
            Some(status) => return Err(status),
            // As tonic (and grpc-go): a stream that ends without a status is UNKNOWN.
            None => return Err(Status::unknown("the collector's answer ended without a grpc-status")),
        }
        let gzipped = parts
            .headers
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding.as_bytes() == b"gzip");
        Ok(Answer::read(&kept, discarded, gzipped))
    }
}

/// What a successful call answered.
#[derive(Debug, PartialEq)]
enum Answer {
    /// An OTLP response (empty when the body held no message).
    Response(ExportMetricsServiceResponse),
    /// Not an OTLP response; why.
    Unreadable(String),
}

impl Answer {
    /// The answer in `kept` (the first [`MAX_ANSWER_BYTES`] of the body,
    /// `discarded` more not kept); `gzipped` when the answer's
    /// `grpc-encoding` is gzip.
    fn read(kept: &[u8], discarded: usize, gzipped: bool) -> Self {
        if discarded > 0 {
            return Answer::Unreadable(format!(
                "{} bytes, more than the {MAX_ANSWER_BYTES} read",
                kept.len().saturating_add(discarded)
            ));
        }
        if kept.is_empty() {
            return Answer::Response(ExportMetricsServiceResponse::default());
        }
        let Some((&flag, rest)) = kept.split_first() else {
            return Answer::Response(ExportMetricsServiceResponse::default());
        };
        let Some((length, rest)) = rest.split_first_chunk::<4>() else {
            return Answer::Unreadable("a truncated gRPC frame".to_owned());
        };
        let length = u32::from_be_bytes(*length) as usize;
        let Some(message) = rest.get(..length) else {
            return Answer::Unreadable("a truncated gRPC frame".to_owned());
        };
        let mut inflated = Vec::new();
        let message = match (flag, gzipped) {
            (0, _) => message,
            (1, true) => {
                let read = flate2::read::GzDecoder::new(message)
                    .take(MAX_ANSWER_BYTES as u64)
                    .read_to_end(&mut inflated);
                if let Err(err) = read {
                    return Answer::Unreadable(format!("not gzip: {err}"));
                }
                &inflated[..]
            }
            (flag, _) => return Answer::Unreadable(format!("a gRPC frame with compressed-flag {flag}")),
        };
        match ExportMetricsServiceResponse::decode(message) {
            Ok(response) => Answer::Response(response),
            Err(err) => Answer::Unreadable(format!("not an ExportMetricsServiceResponse: {err}")),
        }
    }

    /// Logs a partial success or an unreadable answer (both successes).
    fn report(&self) {
        match self {
            Answer::Response(response) => {
                if let Some(partial) = &response.partial_success {
                    if partial.rejected_data_points > 0 || !partial.error_message.is_empty() {
                        tracing::warn!(
                            target: "opentelemetry_otlp",
                            rejected_data_points = partial.rejected_data_points,
                            error_message = partial.error_message.as_str(),
                            "the collector accepted the metrics export in part"
                        );
                    }
                }
            }
            Answer::Unreadable(why) => tracing::warn!(
                target: "opentelemetry_otlp",
                answer = why.as_str(),
                "the collector accepted the metrics export (grpc-status 0) with an answer that is not an OTLP response"
            ),
        }
    }
}

/// `message` as one gRPC length-prefixed message, gzip-compressed when `gzip`.
fn encode_frame(message: &ExportMetricsServiceRequest, gzip: bool) -> std::io::Result<Bytes> {
    let encoded = message.encode_to_vec();
    let (flag, payload) = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&encoded)?;
        (1u8, encoder.finish()?)
    } else {
        (0u8, encoded)
    };
    let length = u32::try_from(payload.len())
        .map_err(|_| std::io::Error::other(format!("{} bytes: too large for one gRPC message", payload.len())))?;
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(flag);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(Bytes::from(frame))
}

/// The `grpc-timeout` header value for `within`: whole milliseconds (at
/// least 1), at most eight digits as the gRPC protocol allows.
fn grpc_timeout(within: Duration) -> String {
    let millis = within.as_millis().clamp(1, 99_999_999);
    format!("{millis}m")
}

/// The status of an answer without a `grpc-status`, from its HTTP status
/// (gRPC's "HTTP to gRPC status code mapping").
fn status_of_http(status: StatusCode) -> Status {
    let code = match status {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("the collector answered HTTP {status}"))
}

impl PushMetricExporter for GrpcMetricExporter {
    /// Must run inside a tokio runtime (the export runtime, see
    /// [`super::transport::ExportRuntime::run_nested`]).
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let Some(channel) = self.channel() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let mut message = ExportMetricsServiceRequest::from(metrics);
        self.exemplars.attach(&mut message);
        let frame = encode_frame(&message, self.gzip)
            .map_err(|err| OTelSdkError::InternalFailure(format!("metrics export not encoded: {err}")))?;
        let result = super::grpc_retry::with_backoff(&self.retry, self.timeout, |within| {
            let call = self.call(channel.clone(), frame.clone(), within);
            async move {
                match tokio::time::timeout(within, call).await {
                    Ok(answer) => answer,
                    Err(_) => Err(Status::deadline_exceeded(format!(
                        "no complete answer within the export's timeout ({within:?} left)"
                    ))),
                }
            }
        })
        .await;
        match result {
            Ok(answer) => {
                answer.report();
                Ok(())
            }
            Err(status) => Err(OTelSdkError::InternalFailure(describe(&status))),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner).take();
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// A failed export's text: the gRPC code, message and the cause chain (as
/// opentelemetry-otlp words its own gRPC failures).
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("metrics export failed with gRPC code: {:?}", status.code());
    if !status.message().is_empty() {
        text.push_str(": ");
        text.push_str(status.message());
    }
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess;

    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![flag];
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn answers_are_read_leniently() {
        let partial = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "bad points".into(),
            }),
        };
        let encoded = partial.encode_to_vec();
        assert_eq!(
            Answer::read(&frame(0, &encoded), 0, false),
            Answer::Response(partial.clone())
        );
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzipped.write_all(&encoded).unwrap();
        let gzipped = gzipped.finish().unwrap();
        assert_eq!(Answer::read(&frame(1, &gzipped), 0, true), Answer::Response(partial));
        assert_eq!(
            Answer::read(&[], 0, false),
            Answer::Response(ExportMetricsServiceResponse::default())
        );
        for (kept, discarded, gzip) in [
            (frame(0, &[0xff; 16]), 0, false),
            (frame(1, &[0xff; 16]), 0, true),
            (frame(1, &encoded), 0, false),
            (frame(7, &encoded), 0, false),
            (frame(0, &encoded)[..6].to_vec(), 0, false),
            (vec![0, 0, 0], 0, false),
            (frame(0, &[0xab; 64]), 6 << 20, false),
        ] {
            assert!(
                matches!(Answer::read(&kept, discarded, gzip), Answer::Unreadable(_)),
                "{kept:?}"
            );
        }
    }

    #[test]
    fn frames_and_timeouts_follow_the_grpc_protocol() {
        let request = ExportMetricsServiceRequest::default();
        assert_eq!(&encode_frame(&request, false).unwrap()[..], &[0, 0, 0, 0, 0]);
        let gzipped = encode_frame(&request, true).unwrap();
        assert_eq!(gzipped[0], 1);
        assert_eq!(
            u32::from_be_bytes(gzipped[1..5].try_into().unwrap()) as usize,
            gzipped.len() - 5
        );
        assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500m");
        assert_eq!(grpc_timeout(Duration::ZERO), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(1_000_000)), "99999999m");
        assert_eq!(
            status_of_http(StatusCode::SERVICE_UNAVAILABLE).code(),
            Code::Unavailable
        );
        assert_eq!(status_of_http(StatusCode::NOT_FOUND).code(), Code::Unimplemented);
    }
}
