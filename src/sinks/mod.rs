//! Sinks: where records go.
//!
//! Every sink implements [`Sink`] (or [`AsyncSink`]) and runs on its own
//! worker thread behind a bounded queue (see [`crate::pipeline`]); the
//! instrumented code never waits on a sink's I/O. An error, a panic or a hang
//! in one sink is caught, counted and visible in its [`SinkHealth`], and a
//! sink that keeps failing is backed off (circuit breaker). Built-in sinks:
//! [`console`], [`mod@file`] and the event store; [`SinkManager`] adds, removes,
//! enables and disables any of them at run time.

mod async_sink;
pub mod console;
pub mod file;
mod health;
mod manager;

pub use async_sink::AsyncSink;
pub use health::{FileHealth, SinkHealth, SinkReport};
pub use manager::{SinkManager, SinkOptions, PROMETHEUS_SINK};

use std::sync::Arc;

use crate::record::Record;

/// An error a sink reports; counted and kept as the sink's last error.
pub type SinkError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error a sink returns when only the first `delivered` records of a
/// batch reached their destination: those count as delivered, the rest of
/// the batch as failed. Any other error fails the whole batch.
///
/// ```
/// use std::sync::Arc;
/// use aureus_observability::{PartialDelivery, Record, Sink, SinkError};
///
/// /// Accepts at most 10 records, ever.
/// struct Small(usize);
///
/// impl Sink for Small {
///     fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
///         let room = 10 - self.0;
///         self.0 += batch.len().min(room);
///         if batch.len() > room {
///             return Err(Box::new(PartialDelivery { delivered: room, source: "full".into() }));
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{delivered} record(s) of the batch delivered, the rest failed: {source}")]
pub struct PartialDelivery {
    /// How many records, from the start of the batch, were delivered.
    pub delivered: usize,
    /// Why the others were not.
    #[source]
    pub source: SinkError,
}

/// A destination for records.
///
/// A sink receives shared records in batches on its own worker thread, in
/// the order they were recorded. It must not assume anything about batch
/// sizes. Errors are counted against the records of the batch (all of them,
/// or those after the delivered ones of a [`PartialDelivery`]); a panic is
/// caught and counted the same way.
///
/// ```
/// use std::sync::Arc;
/// use aureus_observability::{Record, Sink, SinkError};
///
/// struct CountingSink(u64);
///
/// impl Sink for CountingSink {
///     fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
///         self.0 += batch.len() as u64;
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// Delivers a batch of records.
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError>;

    /// Pushes anything buffered to its destination. Called when the queue
    /// runs empty and on request.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes and releases resources; the last call the sink receives.
    fn shutdown(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}
