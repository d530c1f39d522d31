//! The metric exporter's wrapper: counts and times each export, runs gRPC
//! ones on the export runtime (the SDK's reader thread has no tokio context),
//! and for OTLP/HTTP (protobuf or JSON) encodes the body itself — the
//! exporter's own encoding of the same data, plus the histogram exemplars
//! opentelemetry_sdk leaves out ([`super::exemplars`]) — for the exporter's
//! client to send ([`super::prepared`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use prost::Message as _;

use super::exemplars::Exemplars;
use super::prepared::PreparedBody;
use super::stats::ExportStats;
use super::transport::ExportRuntime;

/// Wraps a metric exporter; see the module docs.
pub(crate) struct Counting<E> {
    pub(crate) inner: E,
    pub(crate) stats: Arc<ExportStats>,
    pub(crate) runtime: Arc<ExportRuntime>,
    /// HTTP: the body the exporter's client sends, and the exemplars to add.
    pub(crate) exemplars: Option<WithExemplars>,
}

/// Where an HTTP metric export's body with exemplars goes.
pub(crate) struct WithExemplars {
    /// The body the exporter's client sends.
    pub(crate) body: PreparedBody,
    /// The exemplars to add.
    pub(crate) exemplars: Arc<Exemplars>,
    /// OTLP/HTTP-JSON (else protobuf).
    pub(crate) json: bool,
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
        let result = match &self.exemplars {
            Some(with) => {
                if with.json {
                    // Should JSON encoding fail, the exporter reports its own failure.
                    if let Some(body) = encode_json(metrics, &with.exemplars) {
                        with.body.set_as(body, super::prepared::JSON);
                    }
                } else {
                    with.body.set(encode(metrics, &with.exemplars));
                }
                let result = self.runtime.run_nested(self.inner.export(metrics)).await;
                with.body.clear();
                result
            }
            None => self.runtime.run_nested(self.inner.export(metrics)).await,
        };
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
