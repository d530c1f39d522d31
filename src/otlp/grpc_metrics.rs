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
//! A response's `partial_success` is a success (the OTLP specification says
//! not to retry it); its rejected count and message are logged as a
//! warning under the `opentelemetry_otlp` target.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;

use super::exemplars::Exemplars;
use crate::config::ValidatedRetry;

/// Exports metrics over OTLP/gRPC with exemplars; see the module docs.
pub(crate) struct GrpcMetricExporter {
    /// `None` once shut down.
    client: Mutex<Option<MetricsServiceClient<Channel>>>,
    metadata: MetadataMap,
    timeout: Duration,
    retry: ValidatedRetry,
    exemplars: Arc<Exemplars>,
}

impl std::fmt::Debug for GrpcMetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricExporter")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl GrpcMetricExporter {
    /// An exporter on `channel` (built with the signal's endpoint, TLS and
    /// timeout), sending `metadata` with every call, gzip-compressed when
    /// `gzip`, each export (retries included) bounded by `timeout`.
    pub(crate) fn new(
        channel: Channel,
        metadata: MetadataMap,
        gzip: bool,
        timeout: Duration,
        retry: ValidatedRetry,
        exemplars: Arc<Exemplars>,
    ) -> Self {
        let mut client = MetricsServiceClient::new(channel);
        if gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        GrpcMetricExporter {
            client: Mutex::new(Some(client)),
            metadata,
            timeout,
            retry,
            exemplars,
        }
    }

    fn client(&self) -> Option<MetricsServiceClient<Channel>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl PushMetricExporter for GrpcMetricExporter {
    /// Must run inside a tokio runtime (the export runtime, see
    /// [`super::transport::ExportRuntime::run_nested`]).
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let Some(client) = self.client() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let mut message = ExportMetricsServiceRequest::from(metrics);
        self.exemplars.attach(&mut message);
        let result = super::grpc_retry::with_backoff(&self.retry, self.timeout, || {
            let mut client = client.clone();
            let mut request = tonic::Request::new(message.clone());
            *request.metadata_mut() = self.metadata.clone();
            request.set_timeout(self.timeout);
            async move { client.export(request).await }
        })
        .await;
        match result {
            Ok(response) => {
                if let Some(partial) = response.into_inner().partial_success {
                    if partial.rejected_data_points > 0 || !partial.error_message.is_empty() {
                        tracing::warn!(
                            target: "opentelemetry_otlp",
                            rejected_data_points = partial.rejected_data_points,
                            error_message = partial.error_message.as_str(),
                            "the collector accepted the metrics export in part"
                        );
                    }
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
        self.client.lock().unwrap_or_else(PoisonError::into_inner).take();
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
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
