//! [`Telemetry`]: the handle [`crate::init`] returns — health, flush, shutdown.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::level_filters::LevelFilter;

use crate::metrics::MetricsHandle;
use crate::pipeline::{OverflowPolicy, Pipeline, QueueSettings, SinkHandle};
use crate::server::Server;
use crate::sinks::Sink;

/// Queue settings for a sink added with [`Telemetry::add_sink`].
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Records the queue holds (default 8192).
    pub queue_capacity: usize,
    /// What happens when the queue is full (default [`OverflowPolicy::Drop`]).
    pub overflow: OverflowPolicy,
    /// Least severe level delivered to the sink (default: everything recorded).
    pub min_level: LevelFilter,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            queue_capacity: 8192,
            overflow: OverflowPolicy::Drop,
            min_level: LevelFilter::TRACE,
        }
    }
}

/// How long dropping a [`Telemetry`] waits for sinks to drain.
pub const DROP_DEADLINE: Duration = Duration::from_secs(5);

/// The running telemetry stack. Dropping it shuts every sink down (flushing
/// what is queued, within [`DROP_DEADLINE`]); call [`Telemetry::shutdown`] to
/// choose the deadline and read the report.
pub struct Telemetry {
    pipeline: Arc<Pipeline>,
    metrics: Option<MetricsHandle>,
    server: Option<Server>,
    done: bool,
}

/// Health of every sink of `pipeline`.
pub(crate) fn health_of(pipeline: &Pipeline) -> Vec<SinkHealth> {
    pipeline.sinks.load().iter().map(|s| SinkHealth::of(s)).collect()
}

/// A snapshot of one sink's state.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkHealth {
    /// The sink's name.
    pub name: String,
    /// Records waiting in its queue.
    pub queue_depth: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// Records accepted into the queue.
    pub accepted: u64,
    /// Records the sink wrote successfully.
    pub delivered: u64,
    /// Records in batches the sink failed (error or panic).
    pub failed: u64,
    /// Records dropped because the queue was full (`drop` policy).
    pub dropped_queue_full: u64,
    /// Records refused because the sink was shut down.
    pub dropped_closed: u64,
    /// Panics caught in the sink.
    pub panics: u64,
    /// The last error and when it happened.
    pub last_error: Option<(String, SystemTime)>,
}

impl SinkHealth {
    fn of(sink: &SinkHandle) -> Self {
        let s = &sink.stats;
        SinkHealth {
            name: sink.name.to_string(),
            queue_depth: sink.queue_depth(),
            queue_capacity: sink.settings.capacity,
            accepted: s.accepted.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
            dropped_closed: s.dropped_closed.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            last_error: s.last_error(),
        }
    }

    /// Every record lost so far, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_closed
    }
}

/// What one sink delivered by the end of shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkReport {
    /// The sink's final counters.
    pub health: SinkHealth,
    /// Accepted records neither delivered nor failed (still queued when the deadline passed).
    pub undelivered: u64,
    /// Whether the sink's worker finished before the deadline.
    pub completed: bool,
}

/// What [`Telemetry::shutdown`] achieved, per sink.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// One entry per sink, in configuration order.
    pub sinks: Vec<SinkReport>,
    /// How long shutdown took.
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// Whether every sink finished in time and nothing was lost.
    pub fn is_clean(&self) -> bool {
        self.sinks
            .iter()
            .all(|s| s.completed && s.undelivered == 0 && s.health.failed == 0 && s.health.dropped() == 0)
    }

    /// The report of the sink called `name`.
    pub fn sink(&self, name: &str) -> Option<&SinkReport> {
        self.sinks.iter().find(|s| s.health.name == name)
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "telemetry shutdown in {:?}:", self.elapsed)?;
        for s in &self.sinks {
            let h = &s.health;
            writeln!(
                f,
                "  {}: delivered {}, dropped {}, failed {}, undelivered {}{}",
                h.name,
                h.delivered,
                h.dropped(),
                h.failed,
                s.undelivered,
                if s.completed { "" } else { " (deadline passed)" }
            )?;
        }
        Ok(())
    }
}

impl Telemetry {
    pub(crate) fn new(pipeline: Arc<Pipeline>, metrics: Option<MetricsHandle>, server: Option<Server>) -> Self {
        Telemetry {
            pipeline,
            metrics,
            server,
            done: false,
        }
    }

    /// The metrics (render `/metrics`, summary figures), unless metrics are disabled.
    pub fn metrics(&self) -> Option<&MetricsHandle> {
        self.metrics.as_ref()
    }

    /// The address the HTTP listener is bound to, when it runs.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(Server::addr)
    }

    /// Starts `sink` on its own worker behind a bounded queue and feeds it
    /// every record from now on. Sink names are unique.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aureus_observability::{build, Config, Record, Sink, SinkError, SinkOptions};
    ///
    /// struct Nothing;
    /// impl Sink for Nothing {
    ///     fn write(&mut self, _: &[Arc<Record>]) -> Result<(), SinkError> { Ok(()) }
    /// }
    ///
    /// let (dispatch, telemetry) = build(Config::builder().no_server().no_sinks().build()?)?;
    /// telemetry.add_sink("nothing", Nothing, SinkOptions::default())?;
    /// assert!(telemetry.add_sink("nothing", Nothing, SinkOptions::default()).is_err());
    /// # Ok::<(), aureus_observability::Error>(())
    /// ```
    pub fn add_sink(&self, name: &str, sink: impl Sink, options: SinkOptions) -> crate::Result<()> {
        if name.is_empty() || self.pipeline.sinks.load().iter().any(|s| &*s.name == name) {
            return Err(crate::Error::config("sink name", name, "empty or already in use"));
        }
        let handle = Arc::new(SinkHandle::spawn(
            name,
            Box::new(sink),
            QueueSettings {
                capacity: options.queue_capacity.max(1),
                overflow: options.overflow,
                min_level: options.min_level,
            },
            Arc::clone(&self.pipeline.pool),
        )?);
        self.pipeline.sinks.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(Arc::clone(&handle));
            next
        });
        Ok(())
    }

    /// Health of every sink.
    pub fn sinks(&self) -> Vec<SinkHealth> {
        health_of(&self.pipeline)
    }

    /// Events recorded on sink worker threads and deliberately not fed back
    /// into the pipeline (so a sink's own logging cannot loop).
    pub fn suppressed_feedback_events(&self) -> u64 {
        self.pipeline.suppressed.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is written and
    /// flushed by its sink. Returns false if some sink did not manage within `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.pipeline
            .sinks
            .load()
            .iter()
            .map(|s| s.flush(deadline.saturating_duration_since(Instant::now())))
            .filter(|flushed| !flushed)
            .count()
            == 0
    }

    /// Stops accepting records, delivers everything queued, shuts every sink
    /// down, and reports per sink. Never waits past `deadline`.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.shutdown_inner(deadline)
    }

    fn shutdown_inner(&mut self, deadline: Duration) -> ShutdownReport {
        self.done = true;
        let started = Instant::now();
        let until = started + deadline;
        let sinks = self.pipeline.sinks.load();
        // Ask every sink first so they drain in parallel, then collect.
        let completed: Vec<bool> = std::thread::scope(|scope| {
            let waits: Vec<_> = sinks.iter().map(|s| scope.spawn(move || s.shutdown(until))).collect();
            waits.into_iter().map(|w| w.join().unwrap_or(false)).collect()
        });
        if let Some(server) = self.server.as_mut() {
            server.stop(until);
        }
        let reports = sinks
            .iter()
            .zip(completed)
            .map(|(sink, completed)| {
                let health = SinkHealth::of(sink);
                let undelivered = health.accepted.saturating_sub(health.delivered + health.failed);
                SinkReport {
                    health,
                    undelivered,
                    completed,
                }
            })
            .collect();
        ShutdownReport {
            sinks: reports,
            elapsed: started.elapsed(),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if !self.done {
            let report = self.shutdown_inner(DROP_DEADLINE);
            if !report.is_clean() {
                eprintln!("{report}");
            }
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry").field("sinks", &self.sinks()).finish()
    }
}
