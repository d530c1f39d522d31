//! [`AsyncSink`]: sinks whose calls are `async` (a webhook, a database).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Sink, SinkError};
use crate::error::{Error, Result};
use crate::record::Record;

/// A destination whose calls are asynchronous. Added with
/// [`SinkManager::add_async`](super::SinkManager::add_async), it runs on its
/// own worker thread with its own single-threaded tokio runtime, so it can use
/// tokio I/O (e.g. an HTTP client) without touching the application's runtime;
/// every call is bounded by a timeout and counts as failed when it expires.
///
/// ```
/// use std::sync::Arc;
/// use aureus_observability::{AsyncSink, Record, SinkError};
///
/// /// Posts each batch somewhere (here: just counts).
/// struct Webhook { sent: usize }
///
/// impl AsyncSink for Webhook {
///     async fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
///         tokio::task::yield_now().await; // e.g. `client.post(url).body(..).send().await?`
///         self.sent += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait AsyncSink: Send + 'static {
    /// Delivers a batch of records.
    fn write(&mut self, batch: &[Arc<Record>]) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Pushes anything buffered to its destination.
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }

    /// Flushes and releases resources; the last call the sink receives.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.flush()
    }
}

/// Runs an [`AsyncSink`] as a [`Sink`] on the worker thread.
pub(crate) struct AsyncSinkAdapter<S> {
    sink: S,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
}

impl<S: AsyncSink> AsyncSinkAdapter<S> {
    pub(crate) fn new(name: &str, sink: S, timeout: Duration) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Worker {
                sink: name.to_owned(),
                source,
            })?;
        Ok(AsyncSinkAdapter { sink, runtime, timeout })
    }

    fn run<F>(runtime: &tokio::runtime::Runtime, timeout: Duration, call: F) -> Result<(), SinkError>
    where
        F: Future<Output = Result<(), SinkError>>,
    {
        runtime.block_on(async {
            match tokio::time::timeout(timeout, call).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("call timed out after {timeout:?}").into()),
            }
        })
    }
}

impl<S: AsyncSink> Sink for AsyncSinkAdapter<S> {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        Self::run(&self.runtime, self.timeout, self.sink.write(batch))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Self::run(&self.runtime, self.timeout, self.sink.flush())
    }

    fn shutdown(&mut self) -> Result<(), SinkError> {
        Self::run(&self.runtime, self.timeout, self.sink.shutdown())
    }
}
