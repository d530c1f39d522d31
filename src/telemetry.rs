//! [`Telemetry`]: the handle [`crate::init`] returns — health, flush, shutdown.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alerts::{AckError, Alert, Alerting};
use crate::metrics::MetricsHandle;
use crate::otlp::{ExportCounts, Otlp};
use crate::pipeline::Pipeline;
use crate::server::Server;
use crate::sinks::{SinkHealth, SinkManager, SinkReport};
use crate::store::EventStore;

/// How long dropping a [`Telemetry`] waits for sinks to drain.
pub const DROP_DEADLINE: Duration = Duration::from_secs(5);

/// The running telemetry stack. Dropping it shuts every sink down (flushing
/// what is queued, within [`DROP_DEADLINE`]); call [`Telemetry::shutdown`] to
/// choose the deadline and read the report.
pub struct Telemetry {
    pipeline: Arc<Pipeline>,
    metrics: Option<MetricsHandle>,
    server: Option<Server>,
    store: Option<EventStore>,
    alerting: Option<Arc<Alerting>>,
    otlp: Option<Otlp>,
    done: bool,
}

/// Health of every sink of `pipeline`.
pub(crate) fn health_of(pipeline: &Pipeline) -> Vec<SinkHealth> {
    pipeline.sinks.load().iter().map(|s| SinkHealth::of(s)).collect()
}

/// What [`Telemetry::shutdown`] achieved, per sink.
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownReport {
    /// One entry per sink, in configuration order.
    pub sinks: Vec<SinkReport>,
    /// One entry per OTLP signal with its own exporter (traces, metrics;
    /// log records are the `otlp` sink's entry in `sinks`).
    pub otlp: Vec<OtlpReport>,
    /// How long shutdown took.
    pub elapsed: Duration,
}

/// What happened to one OTLP signal by shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpReport {
    /// `traces` or `metrics`.
    pub signal: &'static str,
    /// Whether its exporter flushed and stopped before the deadline.
    pub completed: bool,
    /// Its export counters at the end.
    pub counts: ExportCounts,
}

impl ShutdownReport {
    /// Whether every sink finished in time and nothing was lost.
    pub fn is_clean(&self) -> bool {
        let sinks_clean = self
            .sinks
            .iter()
            .all(|s| s.completed && s.undelivered == 0 && s.health.failed == 0 && s.health.dropped() == 0);
        let otlp_clean = self.otlp.iter().all(|o| {
            let c = &o.counts;
            o.completed && c.lost() == 0
        });
        sinks_clean && otlp_clean
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
        for o in &self.otlp {
            let c = &o.counts;
            writeln!(
                f,
                "  otlp {}: created {}, exported {}, dropped {}, failed {}, undelivered {}{}{}",
                o.signal,
                c.created,
                c.exported,
                c.dropped_queue_full + c.dropped_closed,
                c.failed,
                c.undelivered(),
                if c.rejected > 0 {
                    format!(", rejected by the collector {}", c.rejected)
                } else {
                    String::new()
                },
                if o.completed { "" } else { " (deadline passed)" }
            )?;
        }
        Ok(())
    }
}

impl Telemetry {
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        metrics: Option<MetricsHandle>,
        server: Option<Server>,
        store: Option<EventStore>,
        alerting: Option<Arc<Alerting>>,
        otlp: Option<Otlp>,
    ) -> Self {
        Telemetry {
            pipeline,
            metrics,
            server,
            store,
            alerting,
            otlp,
            done: false,
        }
    }

    /// Current alerts (pending, firing, recently resolved), when monitoring is on.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerting.as_ref().map(|a| a.engine.alerts()).unwrap_or_default()
    }

    /// Acknowledges alert `id` (as the dashboard's button does).
    pub fn acknowledge_alert(&self, id: &str, by: &str, comment: Option<&str>) -> Result<Alert, AckError> {
        match &self.alerting {
            Some(alerting) => alerting.acknowledge(id, by, comment),
            None => Err(AckError::UnknownAlert(id.to_owned())),
        }
    }

    /// The in-memory store of recent records, unless disabled.
    pub fn store(&self) -> Option<&EventStore> {
        self.store.as_ref()
    }

    /// The metrics (render `/metrics`, summary figures), unless metrics are disabled.
    pub fn metrics(&self) -> Option<&MetricsHandle> {
        self.metrics.as_ref()
    }

    /// The address the HTTP listener is bound to, when it runs.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(Server::addr)
    }

    /// The sink manager: health of every sink; add, remove, enable, disable at run time.
    pub fn sinks(&self) -> SinkManager {
        SinkManager::new(Arc::clone(&self.pipeline))
    }

    /// Replaces the level filter of our layer (`EnvFilter` syntax, e.g.
    /// `info,aureus::planner=debug`), from the next event on, without
    /// restarting anything. Bad directives are an [`Error::InvalidConfig`]
    /// naming `log_level`, and change nothing. Returns the previous filter.
    ///
    /// Correlation spans and (with metrics on) Aureus events still reach
    /// the metrics whatever the level; span-scoped directives
    /// (`[span{field=value}]`) apply to spans created after the change.
    /// Sinks can narrow it further ([`SinkManager::set_level`]).
    ///
    /// [`Error::InvalidConfig`]: crate::Error::InvalidConfig
    pub fn set_log_level(&self, filter: &str) -> crate::Result<String> {
        self.pipeline.levels.set(filter)
    }

    /// The level filter in force, as text.
    pub fn log_level(&self) -> String {
        self.pipeline.levels.text()
    }

    /// Events recorded on sink worker threads and deliberately not fed back
    /// into the pipeline (so a sink's own logging cannot loop).
    pub fn suppressed_feedback_events(&self) -> u64 {
        self.pipeline.suppressed.load(Ordering::Relaxed)
    }

    /// Waits until every record queued before this call is written and
    /// flushed by its sink. Returns false if some sink did not manage within `timeout`.
    /// With OTLP export on, also exports the queued spans and a fresh
    /// collection of the metrics.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let sinks_flushed = self
            .pipeline
            .sinks
            .load()
            .iter()
            .map(|s| s.flush(deadline.saturating_duration_since(Instant::now())))
            .filter(|flushed| !flushed)
            .count()
            == 0;
        let otlp_flushed = self
            .otlp
            .as_ref()
            .is_none_or(|o| o.flush(deadline.saturating_duration_since(Instant::now())));
        sinks_flushed && otlp_flushed
    }

    /// Export counters of one OTLP signal (`traces`, `logs` or `metrics`),
    /// when it is exported. Log records queue in the `otlp` sink, so their
    /// queue drops are that sink's ([`Telemetry::sinks`]); `logs` counts
    /// their exports.
    pub fn otlp_counts(&self, signal: &str) -> Option<ExportCounts> {
        self.otlp.as_ref().and_then(|o| o.counts(signal))
    }

    /// Stops accepting records, delivers everything queued, shuts every sink
    /// down, and reports per sink. Never waits past `deadline`.
    pub fn shutdown(mut self, deadline: Duration) -> ShutdownReport {
        self.shutdown_inner(deadline)
    }

    fn shutdown_inner(&mut self, deadline: Duration) -> ShutdownReport {
        self.done = true;
        let started = Instant::now();
        if let Some(metrics) = &self.metrics {
            metrics.release_global();
        }
        let until = started + deadline;
        if let Some(alerting) = &self.alerting {
            alerting.stop(until);
        }
        let sinks = self.pipeline.sinks.load();
        // Ask every sink and the OTLP exporters at once so they drain in
        // parallel (one stuck destination does not eat the others' time),
        // then collect.
        let otlp = self.otlp.as_mut();
        let (completed, late): (Vec<bool>, Vec<&'static str>) = std::thread::scope(|scope| {
            let waits: Vec<_> = sinks.iter().map(|s| scope.spawn(move || s.shutdown(until))).collect();
            let late = otlp.map(|o| o.shutdown(until)).unwrap_or_default();
            (waits.into_iter().map(|w| w.join().unwrap_or(false)).collect(), late)
        });
        let otlp = self
            .otlp
            .as_ref()
            .map(|o| {
                o.stats()
                    .iter()
                    .map(|(signal, stats)| OtlpReport {
                        signal,
                        completed: !late.contains(signal),
                        counts: o.counts(signal).unwrap_or_else(|| stats.snapshot()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(server) = self.server.as_mut() {
            server.stop(until);
        }
        let reports = sinks
            .iter()
            .zip(completed)
            .map(|(sink, completed)| SinkReport::new(SinkHealth::of(sink), completed))
            .collect();
        ShutdownReport {
            sinks: reports,
            otlp,
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
        f.debug_struct("Telemetry")
            .field("sinks", &self.sinks().list())
            .finish()
    }
}
