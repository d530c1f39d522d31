//! [`WithCorrelation`]: a future that carries a correlation id across `.await`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;

use super::id::CorrelationId;
use super::resolve::enter;

/// A future that runs its inner future inside a correlation scope on every
/// poll, so everything it records carries the id — whichever thread polls it.
///
/// Build it with [`CorrelationExt::with_correlation`].
///
/// ```
/// use aureus_observability::correlation::{self, CorrelationExt, CorrelationId};
///
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let id = CorrelationId::new("wf-9")?;
/// let seen = async { correlation::current() }.with_correlation(id.clone()).await;
/// assert_eq!(seen, Some(id));
/// # Ok::<(), aureus_observability::Error>(())
/// # }).unwrap();
/// ```
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithCorrelation<F> {
    id: Option<CorrelationId>,
    #[pin]
    inner: F,
}

impl<F> WithCorrelation<F> {
    /// Wraps `inner` so it runs under `id`.
    pub fn new(id: CorrelationId, inner: F) -> Self {
        WithCorrelation { id: Some(id), inner }
    }

    /// Wraps `inner`; with `None` it runs as it would unwrapped.
    pub(crate) fn maybe(id: Option<CorrelationId>, inner: F) -> Self {
        WithCorrelation { id, inner }
    }

    /// The id this future runs under.
    pub fn correlation_id(&self) -> Option<&CorrelationId> {
        self.id.as_ref()
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Future> Future for WithCorrelation<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _guard = this.id.as_ref().map(enter);
        this.inner.poll(cx)
    }
}

/// Attaches a correlation id to any future.
pub trait CorrelationExt: Sized {
    /// Runs `self` under correlation id `id`.
    fn with_correlation(self, id: CorrelationId) -> WithCorrelation<Self> {
        WithCorrelation::new(id, self)
    }

    /// Runs `self` under the correlation id in force where this is called.
    fn with_current_correlation(self) -> WithCorrelation<Self> {
        WithCorrelation::maybe(super::current(), self)
    }
}

impl<F: Future> CorrelationExt for F {}
