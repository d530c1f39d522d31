//! [`AureusMetrics`]: Aureus events → the contract's counters and histograms.

use std::sync::Arc;

use metrics::{Counter, Histogram, Key, Label, Recorder};

use super::contract::{label, DurationUnit, MetricNames, MISSING_LABEL_VALUE};
use super::family::Family;
use super::sample::MetricSample;
use crate::event::EventKind;

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("aureus", metrics::Level::INFO, Some(module_path!()));

/// The handles of one task type's `step_end` series, indexed by `success`.
#[derive(Clone)]
struct StepEndHandles {
    completed: [Counter; 2],
    duration: [Histogram; 2],
}

fn bool_label(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// Maps Aureus events to DESIGN's metric table through a `metrics` [`Recorder`].
///
/// Handles are resolved once per label set and cached: recording an event
/// whose labels were seen before formats nothing and allocates nothing.
/// `workflow_id`, `task_id` and `correlation_id` are never labels. Each
/// metric keeps at most its cardinality limit of series; label sets past it
/// are folded into one series whose free-text label reads `other`, and every
/// fold is counted in `<prefix>_telemetry_cardinality_overflow_total{metric}`.
pub struct AureusMetrics {
    names: MetricNames,
    started: Family<Counter>,
    step_end: Family<StepEndHandles>,
    tools: Family<Counter>,
    crv: Family<[Counter; 4]>,
    policy: [Counter; 4],
    snapshots: Counter,
    rollbacks: Counter,
    /// `refused_values{field="duration_ms", reason}` by [`DurationRefusal`].
    refused_duration: [Counter; 4],
    duration_scale: f64,
}

/// Why a `step_end.duration_ms` was left out of the duration histogram.
#[derive(Clone, Copy)]
enum DurationRefusal {
    Missing = 0,
    NotANumber = 1,
    Infinite = 2,
    Negative = 3,
}

impl DurationRefusal {
    const REASONS: [&'static str; 4] = ["missing", "nan", "infinite", "negative"];

    fn of(duration: Option<f64>) -> Option<Self> {
        match duration {
            None => Some(Self::Missing),
            Some(d) if d.is_nan() => Some(Self::NotANumber),
            Some(d) if d.is_infinite() => Some(Self::Infinite),
            Some(d) if d < 0.0 => Some(Self::Negative),
            Some(_) => None,
        }
    }
}

impl std::fmt::Debug for AureusMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AureusMetrics")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl AureusMetrics {
    /// Registers the contract's metrics named under `prefix` with `recorder`,
    /// keeping at most `series_limit` series per metric; durations in milliseconds.
    pub fn new(recorder: Arc<dyn Recorder + Send + Sync>, prefix: &str, series_limit: usize) -> Self {
        Self::with_duration_unit(recorder, prefix, series_limit, DurationUnit::Milliseconds)
    }

    /// Like [`AureusMetrics::new`], with the duration histogram in `unit`.
    pub fn with_duration_unit(
        recorder: Arc<dyn Recorder + Send + Sync>,
        prefix: &str,
        series_limit: usize,
        unit: DurationUnit,
    ) -> Self {
        let names = MetricNames::new(prefix, unit);
        for (name, help) in names.descriptions() {
            recorder.describe_counter(name.to_owned().into(), None, help.into());
        }
        let counter = {
            let recorder = Arc::clone(&recorder);
            move |name: &str, labels: Vec<Label>| {
                recorder.register_counter(&Key::from_parts(name.to_owned(), labels), &METADATA)
            }
        };
        let overflow = |metric: &str| {
            counter(
                &names.cardinality_overflow,
                vec![Label::new(label::METRIC, metric.to_owned())],
            )
        };

        let started = {
            let (name, counter) = (names.tasks_started.clone(), counter.clone());
            Family::new(
                series_limit,
                overflow(&names.tasks_started),
                Box::new(move |v: &str| counter(&name, vec![Label::new(label::TASK_TYPE, v.to_owned())])),
            )
        };
        let step_end = {
            let (completed, duration) = (names.tasks_completed.clone(), names.task_duration.clone());
            let (counter, recorder) = (counter.clone(), Arc::clone(&recorder));
            Family::new(
                series_limit / 2,
                overflow(&names.tasks_completed),
                Box::new(move |v: &str| {
                    let labels = |success: bool| {
                        vec![
                            Label::new(label::TASK_TYPE, v.to_owned()),
                            Label::new(label::SUCCESS, bool_label(success)),
                        ]
                    };
                    let histogram = |success| {
                        recorder.register_histogram(&Key::from_parts(duration.clone(), labels(success)), &METADATA)
                    };
                    StepEndHandles {
                        completed: [counter(&completed, labels(false)), counter(&completed, labels(true))],
                        duration: [histogram(false), histogram(true)],
                    }
                }),
            )
        };
        let tools = {
            let (name, counter) = (names.tool_calls.clone(), counter.clone());
            Family::new(
                series_limit,
                overflow(&names.tool_calls),
                Box::new(move |v: &str| counter(&name, vec![Label::new(label::TOOL_NAME, v.to_owned())])),
            )
        };
        let crv = {
            let (name, counter) = (names.crv_checks.clone(), counter.clone());
            Family::new(
                series_limit / 4,
                overflow(&names.crv_checks),
                Box::new(move |v: &str| {
                    [(false, false), (false, true), (true, false), (true, true)].map(|(passed, blocked)| {
                        counter(
                            &name,
                            vec![
                                Label::new(label::GATE_NAME, v.to_owned()),
                                Label::new(label::PASSED, bool_label(passed)),
                                Label::new(label::BLOCKED, bool_label(blocked)),
                            ],
                        )
                    })
                }),
            )
        };
        let policy = [(false, false), (false, true), (true, false), (true, true)].map(|(allowed, approval)| {
            counter(
                &names.policy_checks,
                vec![
                    Label::new(label::ALLOWED, bool_label(allowed)),
                    Label::new(label::REQUIRES_APPROVAL, bool_label(approval)),
                ],
            )
        });
        let snapshots = counter(&names.snapshots, Vec::new());
        let rollbacks = counter(&names.rollbacks, Vec::new());
        let refused_duration = DurationRefusal::REASONS.map(|reason| {
            counter(
                &names.refused_values,
                vec![
                    Label::new(label::FIELD, "duration_ms"),
                    Label::new(label::REASON, reason),
                ],
            )
        });
        AureusMetrics {
            names,
            started,
            step_end,
            tools,
            crv,
            policy,
            snapshots,
            rollbacks,
            refused_duration,
            duration_scale: unit.per_millisecond(),
        }
    }

    /// The metric names in use.
    pub fn names(&self) -> &MetricNames {
        &self.names
    }

    /// Records one Aureus event's sample.
    #[inline]
    pub(crate) fn observe(&self, sample: &MetricSample<'_>) {
        let label = sample.label.unwrap_or(MISSING_LABEL_VALUE);
        let index = |first: bool, second: bool| (first as usize) * 2 + second as usize;
        match sample.kind {
            EventKind::StepStart => self.started.with(label, |c| c.increment(1)),
            EventKind::StepEnd => self.step_end.with(label, |h| {
                let outcome = sample.first as usize;
                h.completed[outcome].increment(1);
                match (DurationRefusal::of(sample.number), sample.number) {
                    (None, Some(duration)) => h.duration[outcome].record(duration * self.duration_scale),
                    (Some(refusal), _) => self.refused_duration[refusal as usize].increment(1),
                    (None, None) => {}
                }
            }),
            EventKind::ToolCall => self.tools.with(label, |c| c.increment(1)),
            EventKind::CrvResult => self
                .crv
                .with(label, |c| c[index(sample.first, sample.second)].increment(1)),
            EventKind::PolicyCheck => self.policy[index(sample.first, sample.second)].increment(1),
            EventKind::SnapshotCommit => self.snapshots.increment(1),
            EventKind::Rollback => self.rollbacks.increment(1),
            EventKind::LlmPrompt | EventKind::LlmResponse | EventKind::LlmArtifactGenerated | EventKind::Custom => {}
        }
    }
}
