//! [`SinkManager`]: list, add, remove, enable and disable sinks while events flow.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::async_sink::{AsyncSink, AsyncSinkAdapter};
use super::health::{SinkHealth, SinkReport};
use super::Sink;
use crate::error::{Error, Result};
use crate::pipeline::{OverflowPolicy, Pipeline, QueueSettings, SinkHandle};
use tracing::level_filters::LevelFilter;

/// The name under which the Prometheus metrics appear among the sinks.
pub const PROMETHEUS_SINK: &str = "prometheus";

/// Queue settings for a sink added at run time.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Records the queue holds (default 8192).
    pub queue_capacity: usize,
    /// Bytes the queued records may hold (default 64 MiB); a record that
    /// does not fit is handled like one meeting a full queue.
    pub queue_max_bytes: u64,
    /// What happens when the queue is full (default [`OverflowPolicy::Drop`]:
    /// a slow or stuck custom sink must never hold up the kernel).
    pub overflow: OverflowPolicy,
    /// Least severe level delivered to the sink (default: everything recorded).
    pub min_level: LevelFilter,
    /// For [`AsyncSink`]s: longest a single call may take before it counts
    /// as failed (default 30 s).
    pub call_timeout: Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            queue_capacity: 8192,
            queue_max_bytes: crate::pipeline::DEFAULT_QUEUE_MAX_BYTES,
            overflow: OverflowPolicy::Drop,
            min_level: LevelFilter::TRACE,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// Manages the running stack's sinks: every built-in sink (console, file,
/// store) is managed exactly like a custom one. The Prometheus metrics appear
/// as the sink `prometheus`: disabling it stops metric updates (and the
/// summary figures) while `/metrics` keeps serving the last values; it cannot
/// be removed.
///
/// Changes take effect for the next event; a sink that stays enabled
/// throughout receives every record exactly once.
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
/// let (_dispatch, telemetry) = build(Config::builder().no_server().no_sinks().build()?)?;
/// let sinks = telemetry.sinks();
/// sinks.add("nothing", Nothing, SinkOptions::default())?;
/// sinks.disable("nothing")?;
/// assert!(!sinks.health("nothing")?.enabled);
/// assert!(sinks.add("nothing", Nothing, SinkOptions::default()).is_err());
/// let report = sinks.remove("nothing", std::time::Duration::from_secs(1))?;
/// assert!(report.completed);
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Clone)]
pub struct SinkManager {
    pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for SinkManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list().iter().map(|h| &h.name)).finish()
    }
}

impl SinkManager {
    pub(crate) fn new(pipeline: Arc<Pipeline>) -> Self {
        SinkManager { pipeline }
    }

    /// Health of every sink, in the order they were added.
    pub fn list(&self) -> Vec<SinkHealth> {
        let mut list = crate::telemetry::health_of(&self.pipeline);
        if let Some(metrics) = &self.pipeline.metrics {
            list.push(metrics.health());
        }
        list
    }

    /// Health of the sink called `name`.
    pub fn health(&self, name: &str) -> Result<SinkHealth> {
        self.list()
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::UnknownSink { name: name.to_owned() })
    }

    /// Resumes delivery to `name`.
    pub fn enable(&self, name: &str) -> Result<()> {
        self.switch(name, true)
    }

    /// Stops delivery to `name`; records recorded meanwhile are not queued
    /// for it (they are not counted as losses). Its queue still drains.
    pub fn disable(&self, name: &str) -> Result<()> {
        self.switch(name, false)
    }

    /// Sets the least severe level delivered to `name` (e.g.
    /// [`LevelFilter::WARN`]: warnings and errors only; [`LevelFilter::OFF`]:
    /// nothing), from the next record on. A sink only ever receives what our
    /// layer's level filter ([`crate::Telemetry::set_log_level`]) lets
    /// through: a sink level narrows it, never widens it.
    ///
    /// The metrics (`prometheus`) count every Aureus event whatever the
    /// level: they have no level ([`Error::BuiltInSink`]).
    pub fn set_level(&self, name: &str, level: LevelFilter) -> Result<()> {
        if name == PROMETHEUS_SINK && self.pipeline.metrics.is_some() {
            return Err(Error::BuiltInSink {
                name: name.to_owned(),
                reason: "the metrics count every Aureus event and have no level; disable them instead",
            });
        }
        self.find(name)?.set_min_level(level);
        Ok(())
    }

    /// The least severe level delivered to `name` (`None` for the metrics,
    /// which have no level).
    pub fn level(&self, name: &str) -> Result<Option<LevelFilter>> {
        if name == PROMETHEUS_SINK && self.pipeline.metrics.is_some() {
            return Ok(None);
        }
        Ok(Some(self.find(name)?.min_level()))
    }

    fn switch(&self, name: &str, enabled: bool) -> Result<()> {
        if name == PROMETHEUS_SINK {
            if let Some(metrics) = &self.pipeline.metrics {
                metrics.enabled.store(enabled, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.find(name)?.set_enabled(enabled);
        Ok(())
    }

    fn find(&self, name: &str) -> Result<Arc<SinkHandle>> {
        self.pipeline
            .sinks
            .load()
            .iter()
            .find(|s| &*s.name == name)
            .cloned()
            .ok_or_else(|| Error::UnknownSink { name: name.to_owned() })
    }

    /// Starts `sink` on its own worker thread behind a bounded queue; it
    /// receives every record recorded from now on.
    pub fn add(&self, name: &str, sink: impl Sink, options: SinkOptions) -> Result<()> {
        self.add_boxed(name, "custom", Box::new(sink), options)
    }

    /// Like [`add`](Self::add), for a sink whose calls are `async` (it runs
    /// on its own single-threaded tokio runtime; each call is bounded by
    /// `options.call_timeout`).
    pub fn add_async(&self, name: &str, sink: impl AsyncSink, options: SinkOptions) -> Result<()> {
        let adapter = AsyncSinkAdapter::new(name, sink, options.call_timeout)?;
        self.add_boxed(name, "custom", Box::new(adapter), options)
    }

    pub(crate) fn add_boxed(
        &self,
        name: &str,
        kind: &'static str,
        sink: Box<dyn Sink>,
        options: SinkOptions,
    ) -> Result<()> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(Error::config("sink name", name, "use 1 or more of [A-Za-z0-9._-]"));
        }
        let _one_change_at_a_time = self.pipeline.changes.lock().unwrap_or_else(|p| p.into_inner());
        if name == PROMETHEUS_SINK || self.find(name).is_ok() {
            return Err(Error::DuplicateSink { name: name.to_owned() });
        }
        let mut settings = QueueSettings::new(options.queue_capacity.max(1), options.overflow, options.min_level);
        settings.max_bytes = options.queue_max_bytes.max(1);
        let handle = Arc::new(SinkHandle::spawn(
            name,
            kind,
            sink,
            settings,
            Arc::clone(&self.pipeline.pool),
        )?);
        handle.stats.redact_errors_with(Arc::clone(&self.pipeline.redactor));
        self.pipeline.sinks.rcu(|current| {
            let mut next = Vec::clone(current);
            next.push(Arc::clone(&handle));
            next
        });
        Ok(())
    }

    /// Removes `name`: it receives nothing more, delivers what is queued and
    /// shuts down within `deadline`. Returns its final report.
    pub fn remove(&self, name: &str, deadline: Duration) -> Result<SinkReport> {
        if name == PROMETHEUS_SINK {
            return Err(Error::BuiltInSink {
                name: name.to_owned(),
                reason: "the metrics cannot be removed; disable them instead",
            });
        }
        let handle = {
            let _one_change_at_a_time = self.pipeline.changes.lock().unwrap_or_else(|p| p.into_inner());
            let handle = self.find(name)?;
            self.pipeline.sinks.rcu(|current| {
                current
                    .iter()
                    .filter(|s| !Arc::ptr_eq(s, &handle))
                    .cloned()
                    .collect::<Vec<_>>()
            });
            handle
        };
        let completed = handle.shutdown(Instant::now() + deadline);
        Ok(SinkReport::new(SinkHealth::of(&handle), completed))
    }
}
