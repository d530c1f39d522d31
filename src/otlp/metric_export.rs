//! The metric exporter and its wrapper. [`Counting`] counts and times each
//! export and runs it on the export runtime (the SDK's reader thread has no
//! tokio context). [`MetricExporter`] carries the histogram exemplars
//! opentelemetry_sdk leaves out ([`super::exemplars`]): for OTLP/HTTP
//! (protobuf or JSON) it encodes the body itself — the exporter's own
//! encoding of the same data plus the exemplars — for the exporter's client
//! to send ([`super::prepared`]); for OTLP/gRPC it is our own client
//! ([`super::grpc_metrics`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use prost::Message as _;

use super::exemplars::Exemplars;
use super::grpc_metrics::GrpcMetricExporter;
use super::prepared::PreparedBody;
use super::stats::ExportStats;
use super::transport::ExportRuntime;

/// Wraps a metric exporter; see the module docs.
pub(crate) struct Counting<E> {
    pub(crate) inner: E,
    pub(crate) stats: Arc<ExportStats>,
    pub(crate) runtime: Arc<ExportRuntime>,
}

impl<E> std::fmt::Debug for Counting<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingMetricExporter").finish_non_exhaustive()
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counting<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.stats.created(1);
        self.stats.begin_export(1);
        let started = Instant::now();
        let result = self.runtime.run_nested(self.inner.export(metrics)).await;
        let outcome = result.as_ref().map(|_| ()).map_err(|err| err.to_string());
        self.stats.exported(1, started.elapsed(), &outcome);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// The metric exporter of one OTLP pipeline; both carry exemplars.
#[derive(Debug)]
pub(crate) enum MetricExporter {
    /// OTLP/HTTP: opentelemetry-otlp's exporter, whose client sends the
    /// body prepared here.
    Http {
        exporter: opentelemetry_otlp::MetricExporter,
        with: WithExemplars,
    },
    /// OTLP/gRPC: our own client.
    Grpc(GrpcMetricExporter),
}

/// Where an HTTP metric export's body with exemplars goes.
#[derive(Debug)]
pub(crate) struct WithExemplars {
    /// The body the exporter's client sends.
    pub(crate) body: PreparedBody,
    /// The exemplars to add.
    pub(crate) exemplars: Arc<Exemplars>,
    /// OTLP/HTTP-JSON (else protobuf).
    pub(crate) json: bool,
}

impl PushMetricExporter for MetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        match self {
            MetricExporter::Http { exporter, with } => {
                if with.json {
                    // Should JSON encoding fail, the exporter reports its own failure.
                    if let Some(body) = encode_json(metrics, &with.exemplars) {
                        with.body.set_as(body, super::prepared::JSON);
                    }
                } else {
                    with.body.set(encode(metrics, &with.exemplars));
                }
                let result = exporter.export(metrics).await;
                with.body.clear();
                result
            }
            MetricExporter::Grpc(exporter) => exporter.export(metrics).await,
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            MetricExporter::Http { exporter, .. } => exporter.force_flush(),
            MetricExporter::Grpc(exporter) => exporter.force_flush(),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            MetricExporter::Http { exporter, .. } => exporter.shutdown_with_timeout(timeout),
            MetricExporter::Grpc(exporter) => exporter.shutdown_with_timeout(timeout),
        }
    }

    fn temporality(&self) -> Temporality {
        match self {
            MetricExporter::Http { exporter, .. } => exporter.temporality(),
            MetricExporter::Grpc(exporter) => exporter.temporality(),
        }
    }
}

/// `metrics` as the OTLP/HTTP-protobuf body the exporter would send, with
/// the exemplars of its histogram data points.
pub(crate) fn encode(metrics: &ResourceMetrics, exemplars: &Exemplars) -> Vec<u8> {
    let mut request = ExportMetricsServiceRequest::from(metrics);
    exemplars.attach(&mut request);
    request.encode_to_vec()
}

/// `metrics` as the OTLP/HTTP-JSON body the exporter would send (pretty
/// printed, as it does), with the exemplars of its histogram data points.
pub(crate) fn encode_json(metrics: &ResourceMetrics, exemplars: &Exemplars) -> Option<Vec<u8>> {
    let mut request = ExportMetricsServiceRequest::from(metrics);
    exemplars.attach(&mut request);
    serde_json::to_string_pretty(&request).ok().map(String::into_bytes)
}
