//! Spawning work that keeps the caller's span, correlation id and subscriber.

use std::future::Future;

use tracing::instrument::WithSubscriber;
use tracing::Instrument;

use super::future::WithCorrelation;
use super::resolve::{current, scope};

/// Like [`tokio::spawn`], but the task keeps the caller's current span and
/// correlation id. Must be called within a tokio runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let id = current();
    tokio::spawn(WithCorrelation::maybe(id, future.in_current_span()).with_current_subscriber())
}

/// Like [`tokio::task::spawn_blocking`], but the closure keeps the caller's
/// current span and correlation id. Must be called within a tokio runtime.
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let carried = carry(f);
    tokio::task::spawn_blocking(carried)
}

/// Like [`std::thread::spawn`], but the thread keeps the caller's current
/// span and correlation id.
pub fn spawn_thread<F, R>(f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let carried = carry(f);
    std::thread::spawn(carried)
}

fn carry<F, R>(f: F) -> impl FnOnce() -> R + Send + 'static
where
    F: FnOnce() -> R + Send + 'static,
{
    let id = current();
    let span = tracing::Span::current();
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    move || {
        tracing::dispatcher::with_default(&dispatch, || {
            span.in_scope(|| match id {
                Some(id) => scope(id, f),
                None => f(),
            })
        })
    }
}
