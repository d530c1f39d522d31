//! [`MetricsLayer`]: Aureus metrics as a standalone `tracing` layer.

use std::sync::Arc;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::aureus::AureusMetrics;
use super::sample::SampleVisitor;
use crate::event::{fields, is_aureus_target};
use crate::pipeline::Redactor;

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
///
/// Label values come from the event's own fields (`task_type`, `tool_name`,
/// `gate_name`). Without [`MetricsLayer::with_redaction`] they are used as
/// written; with it, the same redaction as the stack's applies to them.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<AureusMetrics>,
    redactor: Option<Arc<Redactor>>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<AureusMetrics>) -> Self {
        MetricsLayer {
            metrics,
            redactor: None,
        }
    }

    /// Redacts label values as the stack does (`[redaction]` in the
    /// configuration): a label whose field is named in `redaction.fields`
    /// (case-insensitively) reads `[REDACTED]`, and every match of a
    /// `redaction.patterns` regular expression in a value is replaced by
    /// `[REDACTED]`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming
    /// `redaction.patterns` when a pattern is not a valid regular expression.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tracing_subscriber::prelude::*;
    /// use aureus_observability::config::RedactionConfig;
    /// use aureus_observability::metrics::{AureusMetrics, ExpositionRecorder, MetricsLayer};
    ///
    /// let recorder = Arc::new(ExpositionRecorder::new());
    /// let metrics = Arc::new(AureusMetrics::new(recorder.clone(), "aureus", 1000));
    /// let redaction = RedactionConfig { patterns: vec!["sk-[a-z0-9]+".into()], ..Default::default() };
    /// let layer = MetricsLayer::new(metrics).with_redaction(&redaction)?;
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info!(target: "aureus", event_type = "tool_call", tool_name = "fetch sk-abc1");
    /// });
    /// assert!(recorder.render().contains(r#"tool_name="fetch [REDACTED]""#));
    /// # Ok::<(), aureus_observability::Error>(())
    /// ```
    pub fn with_redaction(mut self, redaction: &crate::config::RedactionConfig) -> crate::Result<Self> {
        let redactor = Redactor::new(&redaction.fields, &redaction.patterns)?;
        self.redactor = (!redactor.is_noop()).then(|| Arc::new(redactor));
        Ok(self)
    }
}

/// The field each kind's label comes from.
fn label_field(kind: crate::event::EventKind) -> &'static str {
    use crate::event::EventKind;
    match kind {
        EventKind::ToolCall => fields::TOOL_NAME,
        EventKind::CrvResult => fields::GATE_NAME,
        _ => fields::TASK_TYPE,
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
        let Some(mut sample) = visitor.sample() else {
            return;
        };
        match (&self.redactor, sample.label) {
            (Some(redactor), Some(label)) => {
                let redacted = if redactor.is_sensitive(label_field(sample.kind)) {
                    std::borrow::Cow::Borrowed(crate::pipeline::REDACTED)
                } else {
                    redactor.redact_text(label)
                };
                sample.label = Some(&redacted);
                self.metrics.observe(&sample);
            }
            _ => self.metrics.observe(&sample),
        }
    }
}
