//! One sink's producer side: its bounded queue, overflow policy and on/off switch.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use tracing::level_filters::LevelFilter;
use tracing::Level;

use super::pool::RecordPool;
use super::stats::SinkStats;
use super::worker::{Message, Worker};
use super::worker_thread;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::sinks::file::FileStats;
use crate::sinks::Sink;

/// What a sink's queue does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowPolicy {
    /// Wait for room: lossless, applies back-pressure to the instrumented code.
    #[default]
    Block,
    /// Drop the record and count it (`dropped_queue_full`).
    Drop,
}

/// How often a producer waiting for room checks whether the sink closed.
const CLOSED_CHECK: Duration = Duration::from_millis(10);

/// Default byte bound of a sink's queue (64 MiB).
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 64 << 20;

/// Settings of one sink's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSettings {
    pub(crate) capacity: usize,
    /// Bytes the queued records may hold (see `Record::heap_bytes`); a
    /// record that does not fit is handled like one meeting a full queue.
    pub(crate) max_bytes: u64,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) min_level: LevelFilter,
    /// Largest batch the worker hands to the sink.
    pub(crate) max_batch: usize,
    /// How long a partial batch waits to fill.
    pub(crate) linger: Duration,
    /// Whether consecutive failures back the sink off (circuit breaker). Off
    /// for sinks that recover by themselves at every call (the file sink):
    /// what they cannot write is then counted as failed, not dropped.
    pub(crate) circuit_breaker: bool,
    /// The longest the circuit stays open before one batch is tried again
    /// (the wait doubles from 1 s up to this).
    pub(crate) longest_backoff: Duration,
}

impl QueueSettings {
    /// A queue of `capacity` with the default batching (up to 512, no wait).
    pub(crate) fn new(capacity: usize, overflow: OverflowPolicy, min_level: LevelFilter) -> Self {
        QueueSettings {
            capacity,
            max_bytes: DEFAULT_QUEUE_MAX_BYTES,
            overflow,
            min_level,
            max_batch: super::worker::DEFAULT_MAX_BATCH,
            linger: Duration::ZERO,
            circuit_breaker: true,
            longest_backoff: super::worker::LONGEST_BACKOFF,
        }
    }
}

/// 1 for ERROR … 5 for TRACE.
#[inline]
fn rank(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// 0 for OFF, else the [`rank`] of the most verbose level let through.
fn filter_rank(filter: LevelFilter) -> u8 {
    filter.into_level().map_or(0, rank)
}

/// The producer side of one sink: its queue, policy, switch and counters.
pub(crate) struct SinkHandle {
    pub(crate) name: Arc<str>,
    /// What kind of sink: `console`, `file`, `store`, `custom`.
    pub(crate) kind: &'static str,
    pub(crate) settings: QueueSettings,
    pub(crate) stats: Arc<SinkStats>,
    /// A file sink's own counters (retention, reopens).
    pub(crate) file: Option<Arc<FileStats>>,
    enabled: AtomicBool,
    /// The least severe level delivered, as [`rank`] (changeable at run time).
    min_level: AtomicU8,
    tx: Sender<Message>,
    closed: AtomicBool,
    /// Disconnects when the worker thread ends.
    finished: Receiver<()>,
}

impl SinkHandle {
    /// Starts `sink`'s worker thread behind a queue of `settings.capacity` records.
    pub(crate) fn spawn(
        name: &str,
        kind: &'static str,
        sink: Box<dyn Sink>,
        settings: QueueSettings,
        pool: Arc<RecordPool>,
    ) -> Result<Self> {
        let (tx, rx) = bounded(settings.capacity.max(1));
        let (finished_tx, finished) = bounded::<()>(0);
        let stats = Arc::new(SinkStats::default());
        let worker_stats = Arc::clone(&stats);
        let (max_batch, linger, max_bytes) = (settings.max_batch.max(1), settings.linger, settings.max_bytes);
        let (circuit_breaker, longest_backoff) = (settings.circuit_breaker, settings.longest_backoff);
        std::thread::Builder::new()
            .name(format!("aureus-sink-{name}"))
            .spawn(move || {
                worker_thread::mark_current();
                Worker {
                    sink,
                    rx,
                    stats: worker_stats,
                    pool,
                    max_batch,
                    linger,
                    circuit_breaker,
                    longest_backoff,
                    max_bytes,
                }
                .run();
                drop(finished_tx);
            })
            .map_err(|source| Error::Worker {
                sink: name.to_owned(),
                source,
            })?;
        Ok(SinkHandle {
            name: Arc::from(name),
            kind,
            enabled: AtomicBool::new(true),
            min_level: AtomicU8::new(filter_rank(settings.min_level)),
            settings,
            stats,
            file: None,
            tx,
            closed: AtomicBool::new(false),
            finished,
        })
    }

    /// Attaches a file sink's own counters, shown in its health.
    pub(crate) fn with_file_stats(mut self, stats: Arc<FileStats>) -> Self {
        self.file = Some(stats);
        self
    }

    /// Whether this sink is enabled and wants records of `level`.
    #[inline]
    pub(crate) fn accepts(&self, level: Level) -> bool {
        rank(level) <= self.min_level.load(Ordering::Relaxed) && self.enabled.load(Ordering::Relaxed)
    }

    /// The least severe level delivered to this sink.
    pub(crate) fn min_level(&self) -> LevelFilter {
        match self.min_level.load(Ordering::Relaxed) {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }
    }

    /// Changes the least severe level delivered, from the next record on.
    pub(crate) fn set_min_level(&self, level: LevelFilter) {
        self.min_level.store(filter_rank(level), Ordering::Relaxed);
    }

    /// Turns delivery to this sink on or off (records offered while off are not queued).
    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether delivery is on.
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Queues a record according to the overflow policy; never fails, counts every loss.
    pub(crate) fn offer(&self, record: &Arc<Record>) {
        if self.closed.load(Ordering::Acquire) {
            self.stats.dropped_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.stats.shedding() {
            // The sink is backed off: settle the record here (accepted, then
            // dropped with the circuit open) rather than queue it for the
            // worker to drop; during an outage offering stays this cheap.
            self.stats.accepted.fetch_add(1, Ordering::Relaxed);
            self.stats.dropped_circuit_open.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let bytes = record.heap_bytes() as u64;
        if !self.reserve(bytes) {
            let counter = if self.closed.load(Ordering::Acquire) {
                &self.stats.dropped_closed
            } else {
                &self.stats.dropped_queue_full
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let message = Message::Record(Arc::clone(record));
        let outcome = match self.settings.overflow {
            OverflowPolicy::Block => self.send_waiting(message),
            OverflowPolicy::Drop => self.tx.try_send(message).map_err(|err| match err {
                TrySendError::Full(_) => TrySendError::Full(()),
                TrySendError::Disconnected(_) => TrySendError::Disconnected(()),
            }),
        };
        if outcome.is_err() {
            self.stats.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
        let counter = match outcome {
            Ok(()) => &self.stats.accepted,
            Err(TrySendError::Full(())) => &self.stats.dropped_queue_full,
            Err(TrySendError::Disconnected(())) => &self.stats.dropped_closed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for room in the channel, until the sink closes (then the
    /// record counts as `dropped_closed`, so shutdown releases a producer
    /// even while the worker is stuck in a slow sink call).
    fn send_waiting(&self, message: Message) -> std::result::Result<(), TrySendError<()>> {
        // The common case first: room at once, no clock read.
        let mut message = match self.tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Disconnected(_)) => return Err(TrySendError::Disconnected(())),
            Err(TrySendError::Full(back)) => back,
        };
        loop {
            match self.tx.send_timeout(message, CLOSED_CHECK) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(TrySendError::Disconnected(())),
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.closed.load(Ordering::Acquire) {
                        return Err(TrySendError::Disconnected(()));
                    }
                    message = back;
                }
            }
        }
    }

    /// Reserves `bytes` in the queue's byte bound: with `drop`, at once or
    /// not at all; with `block`, waiting for room (lossless) unless the sink
    /// closes meanwhile. A record larger than the bound fits an empty queue.
    fn reserve(&self, bytes: u64) -> bool {
        let max = self.settings.max_bytes;
        let mut nap = Duration::from_micros(20);
        loop {
            let before = self.stats.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
            if before == 0 || before.saturating_add(bytes) <= max {
                return true;
            }
            self.stats.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            if self.settings.overflow == OverflowPolicy::Drop || self.closed.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(1));
        }
    }

    /// Records waiting in the queue.
    pub(crate) fn queue_depth(&self) -> usize {
        self.tx.len()
    }

    /// Bytes the records waiting for the worker hold (an estimate).
    pub(crate) fn queued_bytes(&self) -> u64 {
        self.stats.queued_bytes.load(Ordering::Relaxed)
    }

    /// Waits until everything queued before this call is written and flushed.
    /// Returns false if that did not happen within `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack_tx, ack_rx) = bounded(1);
        match self.tx.send_deadline(Message::Flush(ack_tx), deadline) {
            Ok(()) => ack_rx.recv_deadline(deadline).is_ok(),
            Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => false,
        }
    }

    /// Stops accepting records, lets the worker deliver what is queued and
    /// shut the sink down. Returns whether the worker finished by `deadline`.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        self.closed.store(true, Ordering::Release);
        if self.tx.send_deadline(Message::Shutdown, deadline).is_err() {
            // Worker gone already (disconnected) or still stuck (timeout).
            return matches!(
                self.finished.try_recv(),
                Err(crossbeam_channel::TryRecvError::Disconnected)
            );
        }
        matches!(
            self.finished.recv_deadline(deadline),
            Err(RecvTimeoutError::Disconnected)
        )
    }
}
