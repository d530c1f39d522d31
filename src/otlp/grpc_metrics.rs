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
//! The call is made on the channel directly ([`super::grpc_call`]), so
//! that the collector's status alone decides the outcome, as over
//! OTLP/HTTP: a success whose answer is not an OTLP response is a success,
//! logged as a warning, never sent again. Each call, answer body and
//! trailers included, is bounded by what is left of the export's `timeout`.
//!
//! A response's `partial_success` is a success (the OTLP specification says
//! not to retry it); its rejected count and message are logged as a
//! warning under the `opentelemetry_otlp` target.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::Status;

use super::exemplars::Exemplars;
use super::grpc_call::{self, encode_frame, Answer};
use super::partial::{PartialSuccess, Rejections};
use crate::config::ValidatedRetry;

/// What opentelemetry-otlp's exporters send as `User-Agent` (its version;
/// `tests/otlp_wire.rs` compares it with theirs on the wire).
const USER_AGENT: &str = "OTel-OTLP-Exporter-Rust/0.33.1";

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
    /// Where answers' partial successes are counted.
    rejections: Rejections,
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
    /// asking the SDK for `temporality`, counting the data points answers
    /// report rejected in `rejections` ([`super::partial`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        channel: Channel,
        metadata: MetadataMap,
        gzip: bool,
        timeout: Duration,
        retry: ValidatedRetry,
        exemplars: Arc<Exemplars>,
        temporality: Temporality,
        rejections: Rejections,
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
            rejections,
        }
    }

    fn channel(&self) -> Option<Channel> {
        self.channel.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
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
            let call = grpc_call::export(channel.clone(), &self.metadata, self.gzip, frame.clone(), within);
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
                match answer {
                    Answer::Response(response) => {
                        if let Some(partial) = response.partial_success {
                            self.rejections.record(&PartialSuccess {
                                rejected: u64::try_from(partial.rejected_data_points).unwrap_or(0),
                                message: partial.error_message,
                            });
                        }
                    }
                    Answer::Unreadable(why) => tracing::warn!(
                        target: "opentelemetry_otlp",
                        answer = why.as_str(),
                        "the collector accepted the metrics export (grpc-status 0) with an answer that is not an OTLP response"
                    ),
                }
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
