//! The metric exporter's wrapper: counts and times each export and runs
//! gRPC ones on the export runtime (the SDK's reader thread has no tokio context).

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;

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
