//! The pipeline's self-metrics as OTLP observable instruments, read at each
//! export: per sink (records, dropped by reason, errors, queue depth) and per
//! OTLP signal (exported, dropped, export errors).

use std::sync::{Arc, Weak};

use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;

use super::metrics::otlp_name;
use super::stats::ExportStats;
use crate::metrics::MetricNames;
use crate::pipeline::Pipeline;

/// Picks `(value, reason)` observations out of a sink's health or a signal's counts.
type Pick<T> = fn(&T) -> Vec<(u64, Option<&'static str>)>;

/// Per-signal export counters, by signal name.
pub(crate) type SignalStats = Vec<(&'static str, Arc<ExportStats>)>;

/// Registers the pipeline's self-metrics as observable instruments: per sink
/// (records, dropped by reason, errors, queue depth) and per OTLP signal
/// (exported, dropped, failed).
pub(crate) fn register_self_metrics(
    meter: &Meter,
    names: &MetricNames,
    pipeline: Weak<Pipeline>,
    signals: SignalStats,
) {
    let sinks = {
        let pipeline = pipeline.clone();
        move || {
            pipeline
                .upgrade()
                .map(|p| crate::telemetry::health_of(&p))
                .unwrap_or_default()
        }
    };
    let per_sink = {
        let sinks = sinks.clone();
        move |pick: Pick<crate::sinks::SinkHealth>| {
            let sinks = sinks.clone();
            move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
                for health in sinks() {
                    for (value, reason) in pick(&health) {
                        let mut attributes = vec![KeyValue::new("sink", health.name.clone())];
                        if let Some(reason) = reason {
                            attributes.push(KeyValue::new("reason", reason));
                        }
                        observer.observe(value, &attributes);
                    }
                }
            }
        }
    };
    let _ = meter
        .u64_observable_counter(otlp_name(&names.sink_records))
        .with_description("Records delivered per sink")
        .with_callback(per_sink(|h| vec![(h.delivered, None)]))
        .build();
    let _ = meter
        .u64_observable_counter(otlp_name(&names.sink_dropped))
        .with_description("Records dropped per sink and reason")
        .with_callback(per_sink(|h| {
            vec![
                (h.dropped_queue_full, Some("queue_full")),
                (h.dropped_closed, Some("closed")),
                (h.dropped_circuit_open, Some("circuit_open")),
            ]
        }))
        .build();
    let _ = meter
        .u64_observable_counter(otlp_name(&names.sink_errors))
        .with_description("Records in failed sink writes")
        .with_callback(per_sink(|h| vec![(h.failed, None)]))
        .build();
    for (name, description, pick) in [
        (
            &names.file_retention_deleted_files,
            "Rotated files retention deleted per file sink",
            (|f| f.retention_deleted_files) as fn(&crate::sinks::FileHealth) -> u64,
        ),
        (
            &names.file_retention_deleted_bytes,
            "On-disk bytes retention deleted per file sink",
            |f| f.retention_deleted_bytes,
        ),
        (&names.file_reopens, "Reopens of the active file per file sink", |f| {
            f.reopens
        }),
    ] {
        let sinks = sinks.clone();
        let _ = meter
            .u64_observable_counter(otlp_name(name))
            .with_description(description)
            .with_callback(move |observer| {
                for health in sinks() {
                    if let Some(file) = &health.file {
                        observer.observe(pick(file), &[KeyValue::new("sink", health.name.clone())]);
                    }
                }
            })
            .build();
    }
    let _ = meter
        .u64_observable_gauge(names.sink_queue_depth.clone())
        .with_description("Records waiting per sink")
        .with_callback(per_sink(|h| vec![(h.queue_depth as u64, None)]))
        .build();
    let signals = Arc::new(signals);
    let per_signal = |pick: Pick<super::ExportCounts>| {
        let signals = Arc::clone(&signals);
        move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
            for (signal, stats) in signals.iter() {
                let counts = stats.snapshot();
                for (value, reason) in pick(&counts) {
                    if *signal == "logs" && matches!(reason, Some("queue_full" | "closed")) {
                        continue;
                    }
                    let mut attributes = vec![KeyValue::new("signal", *signal)];
                    if let Some(reason) = reason {
                        attributes.push(KeyValue::new("reason", reason));
                    }
                    observer.observe(value, &attributes);
                }
            }
        }
    };
    let _ = meter
        .u64_observable_counter(otlp_name(&names.otlp_exported))
        .with_description("Items the collector accepted, per signal")
        .with_callback(per_signal(|c| vec![(c.exported, None)]))
        .build();
    let _ = meter
        .u64_observable_counter(otlp_name(&names.otlp_dropped))
        .with_description("Items dropped before export, per signal and reason")
        .with_callback(per_signal(|c| {
            vec![
                (c.dropped_queue_full, Some("queue_full")),
                (c.dropped_closed, Some("closed")),
                (c.failed, Some("export_failed")),
                (c.rejected, Some("rejected")),
            ]
        }))
        .build();
    // (For logs the queue is the `otlp` sink's: its drops are in the per-sink
    // series; the zero queue counts here are left out below.)
    let _ = meter
        .u64_observable_counter(otlp_name(&names.otlp_export_errors))
        .with_description("Export calls that failed after retries, per signal")
        .with_callback(per_signal(|c| vec![(c.export_errors, None)]))
        .build();
}
