//! One sink's bounded queue, its overflow policy, its worker thread and its counters.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use tracing::level_filters::LevelFilter;
use tracing::Level;

use super::pool::RecordPool;
use super::worker_thread;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::sinks::{Sink, SinkError};

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

/// Largest batch a worker hands to its sink at once.
const MAX_BATCH: usize = 512;

pub(crate) enum Message {
    Record(Arc<Record>),
    Flush(Sender<()>),
    Shutdown,
}

/// Live counters of one sink.
#[derive(Debug, Default)]
pub(crate) struct SinkStats {
    pub(crate) accepted: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_closed: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) last_error: Mutex<Option<(String, SystemTime)>>,
}

impl SinkStats {
    fn note_error(&self, message: String) {
        let entry = Some((message, SystemTime::now()));
        match self.last_error.lock() {
            Ok(mut slot) => *slot = entry,
            Err(poisoned) => *poisoned.into_inner() = entry,
        }
    }

    pub(crate) fn last_error(&self) -> Option<(String, SystemTime)> {
        match self.last_error.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Settings of one sink's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueSettings {
    pub(crate) capacity: usize,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) min_level: LevelFilter,
}

/// The producer side of one sink: its queue, policy and counters.
pub(crate) struct SinkHandle {
    pub(crate) name: Arc<str>,
    pub(crate) settings: QueueSettings,
    pub(crate) stats: Arc<SinkStats>,
    tx: Sender<Message>,
    closed: AtomicBool,
    /// Disconnects when the worker thread ends.
    finished: Receiver<()>,
}

impl SinkHandle {
    /// Starts `sink`'s worker thread behind a queue of `settings.capacity` records.
    pub(crate) fn spawn(
        name: &str,
        sink: Box<dyn Sink>,
        settings: QueueSettings,
        pool: Arc<RecordPool>,
    ) -> Result<Self> {
        let (tx, rx) = bounded(settings.capacity.max(1));
        let (finished_tx, finished) = bounded::<()>(0);
        let stats = Arc::new(SinkStats::default());
        let worker_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name(format!("aureus-sink-{name}"))
            .spawn(move || {
                worker_thread::mark_current();
                run_worker(sink, rx, &worker_stats, &pool);
                drop(finished_tx);
            })
            .map_err(|source| Error::Worker {
                sink: name.to_owned(),
                source,
            })?;
        Ok(SinkHandle {
            name: Arc::from(name),
            settings,
            stats,
            tx,
            closed: AtomicBool::new(false),
            finished,
        })
    }

    /// Whether this sink wants records of `level`.
    #[inline]
    pub(crate) fn accepts(&self, level: Level) -> bool {
        self.settings.min_level >= level
    }

    /// Queues a record according to the overflow policy; never fails, counts every loss.
    pub(crate) fn offer(&self, record: &Arc<Record>) {
        if self.closed.load(Ordering::Acquire) {
            self.stats.dropped_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let message = Message::Record(Arc::clone(record));
        let outcome = match self.settings.overflow {
            OverflowPolicy::Block => self.tx.send(message).map_err(|_| TrySendError::Disconnected(())),
            OverflowPolicy::Drop => self.tx.try_send(message).map_err(|err| match err {
                TrySendError::Full(_) => TrySendError::Full(()),
                TrySendError::Disconnected(_) => TrySendError::Disconnected(()),
            }),
        };
        let counter = match outcome {
            Ok(()) => &self.stats.accepted,
            Err(TrySendError::Full(())) => &self.stats.dropped_queue_full,
            Err(TrySendError::Disconnected(())) => &self.stats.dropped_closed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records waiting in the queue.
    pub(crate) fn queue_depth(&self) -> usize {
        self.tx.len()
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

/// How long a worker naps between polls of an empty queue, at first and at most.
const FIRST_NAP: Duration = Duration::from_micros(50);
const LONGEST_NAP: Duration = Duration::from_millis(5);
/// After this long without records, the worker parks until woken by a send.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// Waits for the next message. While records keep coming the worker polls
/// with short naps instead of parking, so producers never pay for a wake-up
/// system call; after [`PARK_AFTER`] of silence it parks (one wake-up then).
fn next_message(rx: &Receiver<Message>) -> Option<Message> {
    let idle_since = Instant::now();
    let mut nap = FIRST_NAP;
    loop {
        match rx.try_recv() {
            Ok(message) => return Some(message),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if idle_since.elapsed() >= PARK_AFTER {
            return rx.recv().ok();
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(LONGEST_NAP);
    }
}

fn run_worker(mut sink: Box<dyn Sink>, rx: Receiver<Message>, stats: &SinkStats, pool: &RecordPool) {
    let mut batch: Vec<Arc<Record>> = Vec::with_capacity(MAX_BATCH);
    let mut acks: Vec<Sender<()>> = Vec::new();
    let mut stopping = false;
    while !stopping {
        match next_message(&rx) {
            Some(message) => accept(message, &mut batch, &mut acks, &mut stopping),
            None => stopping = true,
        }
        // Drain what is already queued (everything, once stopping).
        while stopping || batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(message) => accept(message, &mut batch, &mut acks, &mut stopping),
                Err(_) => break,
            }
            if batch.len() >= MAX_BATCH {
                deliver(&mut *sink, &mut batch, stats, pool);
            }
        }
        deliver(&mut *sink, &mut batch, stats, pool);
        if !stopping && (rx.is_empty() || !acks.is_empty()) {
            guarded(stats, 0, || sink.flush());
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    guarded(stats, 0, || sink.shutdown());
}

fn accept(message: Message, batch: &mut Vec<Arc<Record>>, acks: &mut Vec<Sender<()>>, stopping: &mut bool) {
    match message {
        Message::Record(record) => batch.push(record),
        Message::Flush(ack) => acks.push(ack),
        Message::Shutdown => *stopping = true,
    }
}

fn deliver(sink: &mut dyn Sink, batch: &mut Vec<Arc<Record>>, stats: &SinkStats, pool: &RecordPool) {
    if batch.is_empty() {
        return;
    }
    let count = batch.len() as u64;
    if guarded(stats, count, || sink.write(batch)) {
        stats.delivered.fetch_add(count, Ordering::Relaxed);
    }
    for record in batch.drain(..) {
        pool.recycle(record);
    }
}

/// Runs one sink call, catching errors and panics; `count` records fail with it.
fn guarded(stats: &SinkStats, count: u64, call: impl FnOnce() -> Result<(), SinkError>) -> bool {
    let message = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => return true,
        Ok(Err(err)) => err.to_string(),
        Err(panic) => {
            stats.panics.fetch_add(1, Ordering::Relaxed);
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".to_owned());
            format!("sink panicked: {text}")
        }
    };
    stats.failed.fetch_add(count, Ordering::Relaxed);
    stats.note_error(message);
    false
}
