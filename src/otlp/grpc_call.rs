//! One OTLP/gRPC `MetricsService/Export` call made on a tonic channel
//! directly (not through tonic's generated client), so that the
//! collector's status alone decides the outcome, as over OTLP/HTTP: the
//! request is one gRPC length-prefixed message; the answer's body is read
//! up to [`MAX_ANSWER_BYTES`] (the rest read and discarded) and then its
//! trailers. A success (`grpc-status` 0) whose answer is not an OTLP
//! response — garbage, or larger than what is kept — is a success
//! ([`Answer::Unreadable`]): tonic's decoder would fail the call as
//! `INTERNAL` or `OUT_OF_RANGE`, and `OUT_OF_RANGE` is retried, sending the
//! collector the same data again. Follows "gRPC over HTTP2"
//! (<https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md>) and its
//! HTTP-to-gRPC status mapping.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use prost::Message as _;
use tonic::codegen::Service as _;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The gRPC method: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// Most of an answer's body kept (the HTTP exporters' limit too): the rest
/// is read and discarded, and the trailers' status still decides.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// One `Export` call on `channel` carrying `frame` (see [`encode_frame`]),
/// with `metadata`, gzip-compressed when `gzip`, given `within` to finish
/// (sent as `grpc-timeout`; the caller bounds the call by it). `Ok` when the
/// collector's status is OK, whatever the answer's body; `Err` with the
/// collector's status, the HTTP status's, or the transport's error.
pub(crate) async fn export(
    mut channel: Channel,
    metadata: &HeaderMap,
    gzip: bool,
    frame: Bytes,
    within: Duration,
) -> Result<Answer, Status> {
    let mut request = http::Request::new(tonic::body::Body::new(Full::new(frame)));
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from_static(EXPORT_PATH);
    let headers = request.headers_mut();
    headers.clone_from(metadata);
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    if let Ok(timeout) = HeaderValue::try_from(grpc_timeout(within)) {
        headers.insert("grpc-timeout", timeout);
    }
    if gzip {
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

/// What a successful call answered.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer {
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
}

/// `message` as one gRPC length-prefixed message, gzip-compressed when `gzip`.
pub(crate) fn encode_frame(message: &ExportMetricsServiceRequest, gzip: bool) -> std::io::Result<Bytes> {
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
