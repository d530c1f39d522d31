//! Spans: `tracing` spans become OTLP spans through tracing-opentelemetry,
//! exported by [`SpanQueue`] — a bounded queue and one worker thread that
//! batches by size and interval and counts every span it drops or fails to
//! deliver. Aureus events become span events; a failed step or a blocking
//! CRV gate marks the span's status as an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::stats::ExportStats;
use super::transport::ExportRuntime;
use crate::event::EventKind;
use crate::record::Record;

// Spans are nearly every message; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Message {
    Span(SpanData),
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// Batching settings of a [`SpanQueue`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) capacity: usize,
    pub(crate) max_batch: usize,
    pub(crate) interval: Duration,
    /// Longest a flush waits for the worker.
    pub(crate) flush_timeout: Duration,
}

/// The span queue's length, readable after the queue moved into the provider.
pub(crate) struct Backlog(Receiver<Message>);

impl Backlog {
    /// Spans (and control messages) waiting for the worker.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A span processor: never blocks the span's thread; drops (and counts)
/// when its queue is full.
pub(crate) struct SpanQueue {
    tx: Sender<Message>,
    stats: Arc<ExportStats>,
    flush_timeout: Duration,
}

impl std::fmt::Debug for SpanQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanQueue").field("queued", &self.tx.len()).finish()
    }
}

impl SpanQueue {
    /// Starts the worker thread that owns `exporter`.
    pub(crate) fn start<E>(
        mut exporter: E,
        resource: &Resource,
        batching: Batching,
        runtime: Arc<ExportRuntime>,
        stats: Arc<ExportStats>,
    ) -> std::io::Result<(Self, Backlog)>
    where
        E: SpanExporter + 'static,
    {
        exporter.set_resource(resource);
        let (tx, rx) = bounded(batching.capacity.max(1));
        let backlog = Backlog(rx.clone());
        let worker_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("aureus-otlp-traces".to_owned())
            .spawn(move || {
                crate::pipeline::mark_worker_thread();
                let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
                run(exporter, rx, batching, &runtime, &worker_stats);
            })?;
        Ok((
            SpanQueue {
                tx,
                stats,
                flush_timeout: batching.flush_timeout,
            },
            backlog,
        ))
    }

    fn request(&self, make: impl FnOnce(Sender<()>) -> Message, timeout: Duration) -> OTelSdkResult {
        let (ack_tx, ack_rx) = bounded(1);
        let deadline = Instant::now() + timeout;
        self.tx
            .send_deadline(make(ack_tx), deadline)
            .map_err(|_| OTelSdkError::Timeout(timeout))?;
        ack_rx
            .recv_deadline(deadline)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

impl SpanProcessor for SpanQueue {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, parent: &opentelemetry::Context) {
        use opentelemetry::baggage::BaggageExt as _;
        use opentelemetry::trace::Span as _;
        let id: Option<opentelemetry::Value> = match crate::correlation::span_hint() {
            Some(id) => Some(id.shared().into()),
            None => parent
                .baggage()
                .get(super::CORRELATION_ATTRIBUTE)
                .map(|value| value.as_str().to_owned().into()),
        };
        if let Some(id) = id {
            span.set_attribute(opentelemetry::KeyValue::new(super::CORRELATION_ATTRIBUTE, id));
        }
    }

    fn on_end(&self, span: SpanData) {
        match self.tx.try_send(Message::Span(span)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.stats.dropped_queue_full(),
            Err(TrySendError::Disconnected(_)) => self.stats.dropped_closed(1),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.request(Message::Flush, self.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.request(Message::Shutdown, timeout)
    }
}

fn run<E: SpanExporter>(
    exporter: E,
    rx: Receiver<Message>,
    batching: Batching,
    runtime: &ExportRuntime,
    stats: &ExportStats,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(batching.max_batch);
    let mut first_at: Option<Instant> = None;
    let export = |batch: &mut Vec<SpanData>| {
        if batch.is_empty() {
            return;
        }
        let items = batch.len() as u64;
        let started = Instant::now();
        let result = runtime
            .block_on(exporter.export(std::mem::take(batch)))
            .map_err(|err| err.to_string());
        stats.exported(items, started.elapsed(), &result);
    };
    loop {
        let message = match first_at {
            Some(first) => match rx.recv_deadline(first + batching.interval) {
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(message) => Some(message),
                Err(_) => break,
            },
        };
        match message {
            Some(Message::Span(span)) => {
                batch.push(span);
                first_at.get_or_insert_with(Instant::now);
                if batch.len() >= batching.max_batch {
                    export(&mut batch);
                    first_at = None;
                }
            }
            Some(Message::Flush(ack)) => {
                drain_spans(&rx, &mut batch, batching.max_batch, &export);
                export(&mut batch);
                first_at = None;
                let _ = ack.send(());
            }
            Some(Message::Shutdown(ack)) => {
                drain_spans(&rx, &mut batch, batching.max_batch, &export);
                export(&mut batch);
                let _ = exporter.shutdown();
                let _ = ack.send(());
                return;
            }
            None => {
                export(&mut batch);
                first_at = None;
            }
        }
    }
    export(&mut batch);
    let _ = exporter.shutdown();
}

/// Moves every span already queued into batches (exporting full ones).
fn drain_spans(rx: &Receiver<Message>, batch: &mut Vec<SpanData>, max: usize, export: &dyn Fn(&mut Vec<SpanData>)) {
    while let Ok(message) = rx.try_recv() {
        match message {
            Message::Span(span) => {
                batch.push(span);
                if batch.len() >= max {
                    export(batch);
                }
            }
            Message::Flush(ack) | Message::Shutdown(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// Copies the active OpenTelemetry span's ids into `record`, and marks that
/// span's status as an error for a failed step or a blocking CRV gate.
pub(crate) fn annotate(record: &mut Record) {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let context = span.span_context();
        if !context.is_valid() {
            return;
        }
        record.trace_id = Some(u128::from_be_bytes(context.trace_id().to_bytes()));
        record.otel_span_id = Some(u64::from_be_bytes(context.span_id().to_bytes()));
        if let Some(reason) = failure(record) {
            span.set_status(Status::error(reason));
        }
    });
}

/// Why an Aureus event marks its span as failed, if it does.
fn failure(record: &Record) -> Option<String> {
    let is_false = |name: &str| record.field(name).and_then(|v| v.as_bool()) == Some(false);
    let is_true = |name: &str| record.field(name).and_then(|v| v.as_bool()) == Some(true);
    match record.kind? {
        EventKind::StepEnd if is_false("success") => Some(match record.str_field("error") {
            Some(error) if !error.is_empty() => format!("step failed: {error}"),
            _ => "step failed".to_owned(),
        }),
        EventKind::CrvResult if is_true("blocked") => Some(match record.str_field("gate_name") {
            Some(gate) => format!("CRV gate {gate} blocked"),
            None => "CRV gate blocked".to_owned(),
        }),
        _ => None,
    }
}
