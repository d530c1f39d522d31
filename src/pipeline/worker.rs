//! A sink's worker: drains its queue in batches, calls the sink with errors,
//! panics and hangs contained, and backs a failing sink off (circuit breaker).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::pool::RecordPool;
use super::stats::SinkStats;
use crate::record::Record;
use crate::sinks::{PartialDelivery, Sink, SinkError};

/// Largest batch a worker hands to its sink at once, unless the sink's
/// settings say otherwise.
pub(crate) const DEFAULT_MAX_BATCH: usize = 512;

/// How long a worker naps between polls of an empty queue, at first and at most.
const FIRST_NAP: Duration = Duration::from_micros(50);
const LONGEST_NAP: Duration = Duration::from_millis(5);
/// After this long without records, the worker parks until woken by a send.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// Consecutive failed batches that open the circuit.
const TRIP_AFTER: u32 = 5;
/// First and (by default) longest time the circuit stays open.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub(crate) const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

pub(crate) enum Message {
    Record(Arc<Record>),
    Flush(Sender<()>),
    Shutdown,
}

/// Backs a failing sink off: after [`TRIP_AFTER`] consecutive failed batches
/// the sink is not called for a while (batches are dropped and counted), then
/// one batch is tried; success closes the circuit, failure doubles the wait.
struct Breaker {
    /// Off: failures are counted but never open the circuit.
    enabled: bool,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    backoff: Duration,
    longest: Duration,
}

impl Breaker {
    fn new(enabled: bool, longest: Duration) -> Self {
        Breaker {
            enabled,
            consecutive_failures: 0,
            open_until: None,
            backoff: FIRST_BACKOFF.min(longest),
            longest,
        }
    }

    fn allows_call(&self) -> bool {
        self.open_until.is_none_or(|until| Instant::now() >= until)
    }

    fn succeeded(&mut self, stats: &SinkStats) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.backoff = FIRST_BACKOFF.min(self.longest);
        stats.circuit_open.store(false, Ordering::Relaxed);
        stats.shed_until_ms.store(0, Ordering::Relaxed);
    }

    fn failed(&mut self, stats: &SinkStats) {
        self.consecutive_failures += 1;
        if self.enabled && self.consecutive_failures >= TRIP_AFTER {
            self.open_until = Some(Instant::now() + self.backoff);
            let until = super::stats::now_ms().saturating_add(self.backoff.as_millis() as u64);
            stats.shed_until_ms.store(until, Ordering::Relaxed);
            self.backoff = (self.backoff * 2).min(self.longest);
            stats.circuit_open.store(true, Ordering::Relaxed);
        }
    }
}

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

/// The worker's state.
pub(crate) struct Worker {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) rx: Receiver<Message>,
    pub(crate) stats: Arc<SinkStats>,
    pub(crate) pool: Arc<RecordPool>,
    /// Largest batch handed to the sink.
    pub(crate) max_batch: usize,
    /// How long a partial batch waits for more records (zero: deliver at once).
    pub(crate) linger: Duration,
    /// Whether consecutive failures open the circuit.
    pub(crate) circuit_breaker: bool,
    /// The longest the circuit stays open.
    pub(crate) longest_backoff: Duration,
    /// The queue's byte bound: a partial batch stops waiting once half of
    /// it is taken, so producers are not kept short of room by the linger.
    pub(crate) max_bytes: u64,
}

impl Worker {
    /// Runs until shut down (or until every sender is gone).
    pub(crate) fn run(mut self) {
        let mut batch: Vec<Arc<Record>> = Vec::with_capacity(self.max_batch.min(4096));
        let mut acks: Vec<Sender<()>> = Vec::new();
        let mut breaker = Breaker::new(self.circuit_breaker, self.longest_backoff);
        let mut stopping = false;
        while !stopping {
            match next_message(&self.rx) {
                Some(message) => accept(message, &mut batch, &mut acks, &mut stopping),
                None => stopping = true,
            }
            // Drain what is already queued (everything, once stopping).
            loop {
                match self.rx.try_recv() {
                    Ok(message) => accept(message, &mut batch, &mut acks, &mut stopping),
                    Err(_) => break,
                }
                if batch.len() >= self.max_batch {
                    self.deliver(&mut batch, &mut breaker);
                    if !stopping {
                        break;
                    }
                }
            }
            self.linger(&mut batch, &mut acks, &mut stopping);
            self.deliver(&mut batch, &mut breaker);
            if !stopping && (self.rx.is_empty() || !acks.is_empty()) && breaker.allows_call() {
                let sink = &mut self.sink;
                guarded(&self.stats, 0, || sink.flush());
            }
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
        let sink = &mut self.sink;
        guarded(&self.stats, 0, || sink.shutdown());
    }

    /// Lets a partial batch fill for up to `linger` (not while a flush waits).
    fn linger(&mut self, batch: &mut Vec<Arc<Record>>, acks: &mut Vec<Sender<()>>, stopping: &mut bool) {
        if self.linger.is_zero() || batch.is_empty() {
            return;
        }
        let deadline = Instant::now() + self.linger;
        let room_needed = || self.stats.queued_bytes.load(Ordering::Acquire) >= self.max_bytes / 2;
        while batch.len() < self.max_batch && !*stopping && acks.is_empty() && !room_needed() {
            match self.rx.recv_deadline(deadline) {
                Ok(message) => accept(message, batch, acks, stopping),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => *stopping = true,
            }
        }
    }

    fn deliver(&mut self, batch: &mut Vec<Arc<Record>>, breaker: &mut Breaker) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len() as u64;
        if !breaker.allows_call() {
            self.stats.dropped_circuit_open.fetch_add(count, Ordering::Relaxed);
        } else {
            let sink = &mut self.sink;
            let delivered = guarded(&self.stats, count, || sink.write(batch));
            self.stats.delivered.fetch_add(delivered, Ordering::Relaxed);
            if delivered == count {
                breaker.succeeded(&self.stats);
            } else {
                breaker.failed(&self.stats);
            }
        }
        let mut bytes = 0;
        for record in batch.drain(..) {
            bytes += record.heap_bytes() as u64;
            self.pool.recycle(record);
        }
        self.stats.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}

fn accept(message: Message, batch: &mut Vec<Arc<Record>>, acks: &mut Vec<Sender<()>>, stopping: &mut bool) {
    match message {
        Message::Record(record) => batch.push(record),
        Message::Flush(ack) => acks.push(ack),
        Message::Shutdown => *stopping = true,
    }
}

/// Runs one sink call for `count` records, catching errors and panics.
/// Returns how many were delivered; the others are counted as failed (all of
/// them on an error or panic, those past the delivered ones of a
/// [`PartialDelivery`]).
fn guarded(stats: &SinkStats, count: u64, call: impl FnOnce() -> Result<(), SinkError>) -> u64 {
    stats.call_started();
    let outcome = catch_unwind(AssertUnwindSafe(call));
    stats.call_finished();
    let mut delivered = 0;
    let message = match outcome {
        Ok(Ok(())) => return count,
        Ok(Err(err)) => {
            if let Some(partial) = err.downcast_ref::<PartialDelivery>() {
                delivered = (partial.delivered as u64).min(count);
            }
            err.to_string()
        }
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
    stats.failed.fetch_add(count - delivered, Ordering::Relaxed);
    stats.note_error(message);
    delivered
}
