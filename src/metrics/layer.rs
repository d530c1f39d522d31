//! [`MetricsLayer`]: Aureus metrics as a standalone `tracing` layer.

use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::aureus::AureusMetrics;
use super::sample::SampleVisitor;
use crate::event::{fields, is_aureus_target};

/// A [`Layer`] that turns Aureus events into the contract's metrics, reading
/// only the fields it needs straight from the event (no record, no allocation).
///
/// [`crate::init`] does not need it — its pipeline feeds the same
/// [`AureusMetrics`] from the record it builds anyway. Use it when composing
/// a subscriber by hand.
///
/// ```
/// use std::sync::Arc;
/// use tracing_subscriber::prelude::*;
/// use aureus_observability::metrics::{AureusMetrics, MetricsLayer};
///
/// let recorder = Arc::new(aureus_observability::metrics::ExpositionRecorder::new());
/// let metrics = Arc::new(AureusMetrics::new(recorder.clone(), "aureus", 1000));
/// let subscriber = tracing_subscriber::registry().with(MetricsLayer::new(metrics));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "fs.read");
/// });
/// assert!(recorder.render().contains(r#"aureus_tool_calls_total{tool_name="fs.read"} 1"#));
/// ```
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<AureusMetrics>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<AureusMetrics>) -> Self {
        MetricsLayer { metrics }
    }
}

impl<S: Subscriber> Layer<S> for MetricsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if !is_aureus_target(metadata.target()) || metadata.fields().field(fields::EVENT_TYPE).is_none() {
            return;
        }
        let mut visitor = SampleVisitor::new();
        event.record(&mut visitor);
        if let Some(sample) = visitor.sample() {
            self.metrics.observe(&sample);
        }
    }
}
