//! Spans: `tracing` spans become OTLP spans through tracing-opentelemetry,
//! exported by [`SpanQueue`] — a bounded queue and one worker thread that
//! batches by size and interval and counts every span it drops or fails to
//! deliver. A full queue drops the new span (counted), or with
//! `otlp.batch.overflow = "block"` makes the ending thread wait for room.
//! Aureus events become span events; a failed step or a blocking CRV gate
//! marks the span's status as an error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use super::prepared::PreparedBody;
use super::proto_spans::SpanEncoder;
use super::stats::ExportStats;
use super::transport::ExportRuntime;
use crate::event::EventKind;
use crate::pipeline::{OverflowPolicy, Redactor};
use crate::record::Record;

// Spans are nearly every message; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Message {
    /// A span and the bytes reserved for it.
    Span(SpanData, u64),
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// Batching settings of a [`SpanQueue`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batching {
    pub(crate) capacity: usize,
    /// Bytes the queued spans may hold (an estimate, see [`super::redact::span_bytes`]).
    pub(crate) max_bytes: u64,
    pub(crate) max_batch: usize,
    pub(crate) interval: Duration,
    /// Longest a flush waits for the worker.
    pub(crate) flush_timeout: Duration,
    /// What a full queue does: drop the span, or make its thread wait.
    pub(crate) overflow: OverflowPolicy,
}

/// What the worker does to each span before export: redaction, and text cut
/// to `max_field_bytes` like record fields.
#[derive(Clone)]
pub(crate) struct Scrub {
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) max_field_bytes: usize,
    /// Whether message content goes out (`genai.capture_content`).
    pub(crate) capture: crate::config::ContentCapture,
}

/// Largest request body sent (opentelemetry-otlp's default limit): a larger
/// batch fails as a whole, as it would on the exporter's own path.
const MAX_BODY_BYTES: usize = 64 << 20;

/// The direct path: the request body encoded from the spans.
struct Direct {
    encoder: SpanEncoder,
    body: PreparedBody,
    buf: Vec<u8>,
}

/// A span processor behind a queue bounded by count and by bytes. When it is
/// full, `drop` drops the new span (counted as `queue_full`) and never
/// blocks the span's thread; `block` makes that thread wait for room until
/// the queue is shut down or its worker is gone (then the span is counted as
/// `dropped_closed`). Exporter threads never wait.
pub(crate) struct SpanQueue {
    tx: Sender<Message>,
    stats: Arc<ExportStats>,
    max_bytes: u64,
    flush_timeout: Duration,
    overflow: OverflowPolicy,
    /// Set when shutdown begins and when the worker ends.
    closed: Arc<AtomicBool>,
}

/// Why a span did not enter the queue.
enum Refused {
    Full,
    Closed,
}

/// How long a waiting producer sleeps between checks for byte room, at most.
const LONGEST_NAP: Duration = Duration::from_millis(1);
/// How often a producer blocked on a full channel checks for closure.
const CLOSED_CHECK: Duration = Duration::from_millis(10);

/// Marks the queue closed when the worker ends, however it ends.
struct CloseOnExit(Arc<AtomicBool>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for SpanQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanQueue").field("messages", &self.tx.len()).finish()
    }
}

impl SpanQueue {
    /// Starts the worker thread that owns `exporter`.
    pub(crate) fn start<E>(
        mut exporter: E,
        resource: &Resource,
        batching: Batching,
        scrub: Scrub,
        runtime: Arc<ExportRuntime>,
        stats: Arc<ExportStats>,
        prepared: Option<PreparedBody>,
    ) -> std::io::Result<Self>
    where
        E: SpanExporter + 'static,
    {
        exporter.set_resource(resource);
        let direct = prepared.map(|body| Direct {
            encoder: SpanEncoder::new(resource),
            body,
            buf: Vec::new(),
        });
        let (tx, rx) = bounded(batching.capacity.max(1));
        let worker_stats = Arc::clone(&stats);
        let closed = Arc::new(AtomicBool::new(false));
        let on_exit = CloseOnExit(Arc::clone(&closed));
        std::thread::Builder::new()
            .name("aureus-otlp-traces".to_owned())
            .spawn(move || {
                let _on_exit = on_exit;
                crate::pipeline::mark_worker_thread();
                let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
                Worker {
                    exporter,
                    direct,
                    scrub,
                    runtime,
                    stats: worker_stats,
                    max_batch: batching.max_batch.max(1),
                    full_bytes: (batching.max_bytes / 2).max(1),
                    batch: Vec::new(),
                    batch_bytes: 0,
                }
                .run(rx, batching.interval);
            })?;
        Ok(SpanQueue {
            tx,
            stats,
            max_bytes: batching.max_bytes,
            flush_timeout: batching.flush_timeout,
            overflow: batching.overflow,
            closed,
        })
    }

    /// Reserves room for a span of `bytes`: at once, or (`wait`) once the
    /// worker has made room, unless the queue closes meanwhile.
    fn reserve(&self, bytes: u64, wait: bool) -> Result<(), Refused> {
        let mut nap = Duration::from_micros(20);
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(Refused::Closed);
            }
            if self.stats.reserve(bytes, self.max_bytes) {
                return Ok(());
            }
            if !wait {
                return Err(Refused::Full);
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(LONGEST_NAP);
        }
    }

    /// Puts a reserved span on the channel: at once, or (`wait`) once there
    /// is room, unless the queue closes meanwhile.
    fn send(&self, message: Message, wait: bool) -> Result<(), Refused> {
        if !wait {
            return self.tx.try_send(message).map_err(|err| match err {
                TrySendError::Full(_) => Refused::Full,
                TrySendError::Disconnected(_) => Refused::Closed,
            });
        }
        let mut message = match self.tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(Refused::Closed),
            Err(TrySendError::Full(back)) => back,
        };
        loop {
            match self.tx.send_timeout(message, CLOSED_CHECK) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(Refused::Closed),
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.closed.load(Ordering::Acquire) {
                        return Err(Refused::Closed);
                    }
                    message = back;
                }
            }
        }
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
        self.stats.created(1);
        let bytes = super::redact::span_bytes(&span) as u64;
        // An exporter thread waiting on its own queue could wait forever.
        let wait = self.overflow == OverflowPolicy::Block && !crate::pipeline::is_worker_thread();
        let refused = match self.reserve(bytes, wait) {
            Ok(()) => match self.send(Message::Span(span, bytes), wait) {
                Ok(()) => return,
                Err(refused) => {
                    self.stats.unreserve(bytes);
                    refused
                }
            },
            Err(refused) => refused,
        };
        match refused {
            Refused::Full => self.stats.dropped_queue_full(),
            Refused::Closed => self.stats.dropped_closed(1),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.request(Message::Flush, self.flush_timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // Spans ending from now on are refused, and waiting producers released.
        self.closed.store(true, Ordering::Release);
        self.request(Message::Shutdown, timeout)
    }
}

/// The span queue's worker: batches spans by size and interval, scrubs and
/// exports them, and accounts for every one.
struct Worker<E> {
    exporter: E,
    /// HTTP/protobuf: the body is encoded here from the spans (see [`super::prepared`]).
    direct: Option<Direct>,
    scrub: Scrub,
    runtime: Arc<ExportRuntime>,
    stats: Arc<ExportStats>,
    max_batch: usize,
    /// A batch holding this many bytes (half the queue's byte bound) goes
    /// out at once: waiting for the interval would leave producers short of
    /// room (dropping, or with `block` waiting) while the queue is half empty.
    full_bytes: u64,
    batch: Vec<SpanData>,
    /// Bytes reserved for the spans in `batch` (still counted as queued).
    batch_bytes: u64,
}

impl<E: SpanExporter> Worker<E> {
    fn run(mut self, rx: Receiver<Message>, interval: Duration) {
        let mut first_at: Option<Instant> = None;
        loop {
            let message = match first_at {
                Some(first) => match rx.recv_deadline(first + interval) {
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
                Some(Message::Span(span, bytes)) => {
                    self.push(span, bytes);
                    first_at.get_or_insert_with(Instant::now);
                    if self.is_full() {
                        self.export();
                        first_at = None;
                    }
                }
                Some(Message::Flush(ack)) => {
                    self.drain(&rx);
                    self.export();
                    first_at = None;
                    let _ = ack.send(());
                }
                Some(Message::Shutdown(ack)) => {
                    self.drain(&rx);
                    self.export();
                    let _ = self.exporter.shutdown();
                    let _ = ack.send(());
                    return;
                }
                None => {
                    self.export();
                    first_at = None;
                }
            }
        }
        self.export();
        let _ = self.exporter.shutdown();
    }

    fn is_full(&self) -> bool {
        self.batch.len() >= self.max_batch || self.batch_bytes >= self.full_bytes
    }

    fn push(&mut self, span: SpanData, bytes: u64) {
        self.batch.push(span);
        self.batch_bytes += bytes;
    }

    /// Moves every span already queued into batches (exporting full ones).
    fn drain(&mut self, rx: &Receiver<Message>) {
        while let Ok(message) = rx.try_recv() {
            match message {
                Message::Span(span, bytes) => {
                    self.push(span, bytes);
                    if self.is_full() {
                        self.export();
                    }
                }
                Message::Flush(ack) | Message::Shutdown(ack) => {
                    let _ = ack.send(());
                }
            }
        }
    }

    /// Scrubs and exports the batch; its spans are in flight until the
    /// exporter answers, then exported or failed.
    fn export(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let items = batch.len() as u64;
        self.stats.dequeued(items, std::mem::take(&mut self.batch_bytes));
        for span in batch.iter_mut() {
            super::genai::shape_span(self.scrub.capture, span);
            super::redact::redact_span(&self.scrub.redactor, self.scrub.max_field_bytes, span);
        }
        let started = Instant::now();
        if let Some(direct) = &mut self.direct {
            direct.encoder.encode(&batch, &mut direct.buf);
            if direct.buf.len() > MAX_BODY_BYTES {
                let message = format!(
                    "OTLP HTTP request body is {} bytes, exceeding the limit of {MAX_BODY_BYTES} bytes; reduce otlp.batch.max_batch",
                    direct.buf.len()
                );
                self.stats.exported(items, started.elapsed(), &Err(message));
                return;
            }
            direct.body.set(std::mem::take(&mut direct.buf));
            // The exporter sends the prepared body; it is given one span to convert.
            batch.truncate(1);
        }
        let result = self
            .runtime
            .block_on(self.exporter.export(batch))
            .map_err(|err| err.to_string());
        if let Some(direct) = &self.direct {
            direct.body.clear();
        }
        self.stats.exported(items, started.elapsed(), &result);
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
        record.trace_flags = context.trace_flags().to_u8();
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
